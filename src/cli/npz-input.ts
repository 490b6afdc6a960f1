import { NpzError, openNpz, type NpzArrayEntry, type NpzEntry, type NpzFile } from '../index.js';
import type { CliContext } from './context.js';
import { itemsizeOf } from './elements.js';

/** Opening input archives and picking arrays from them, the same way for every command. */

export function isUrlInput(path: string): boolean {
  return /^https?:\/\//i.test(path);
}

/** An input as safe to print: URLs lose their user info and query string (a pre-signed signature). */
export function inputLabel(path: string): string {
  if (!isUrlInput(path)) return path;
  try {
    const url = new URL(path);
    return `${url.protocol}//${url.host}${url.pathname}${url.search === '' ? '' : '?…'}`;
  } catch {
    return '<invalid URL>';
  }
}

/** Opens a path or an http(s):// URL; a URL gets a byte progress bar while the directory and headers arrive. */
export async function openInput(path: string, context: CliContext): Promise<NpzFile> {
  if (!isUrlInput(path)) return openNpz(path, { ...context.read, signal: context.signal });
  const progress = context.progress('fetch', 0);
  const onBytes = (bytes: number, objectSize: number): void => {
    progress.setTotal(objectSize);
    progress.add(bytes, inputLabel(path));
  };
  try {
    return await openNpz(path, { ...context.read, signal: context.signal, http: { ...context.read.http, onBytes } });
  } finally {
    progress.finish();
  }
}

export async function withNpz<T>(path: string, context: CliContext, use: (file: NpzFile) => Promise<T>): Promise<T> {
  const file = await openInput(path, context);
  try {
    return await use(file);
  } finally {
    await file.close();
  }
}

export function isArrayEntry(entry: NpzEntry): entry is NpzArrayEntry {
  return entry.isArray;
}

/** The arrays named (keys or member names), in the order given; every array when no name is given. */
export function selectArrays(file: NpzFile, names: readonly string[]): NpzArrayEntry[] {
  const arrays = file.entries.filter(isArrayEntry);
  if (names.length === 0) return arrays;
  return names.map((name) => {
    const entry = file.entries.find((candidate) => candidate.name === name || candidate.memberName === name);
    if (entry === undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in the file`, { entry: name });
    if (!isArrayEntry(entry)) {
      throw new NpzError('ERR_NPZ_NOT_ARRAY', `member ${JSON.stringify(entry.memberName)} is not an .npy array`, { entry: name });
    }
    return entry;
  });
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/** Bytes per item; for raw descrs (strings, structs) it follows from the data length and the shape. */
export function entryItemsize(entry: NpzArrayEntry): number {
  const count = elementCount(entry.shape);
  return itemsizeOf(entry.dtype, count > 0 ? entry.byteLength / count : 1);
}

/** Where a member starts in the file (its local header), and where its array data starts when stored. */
export function entryOffsets(entry: NpzEntry): { offset: number; dataOffset?: number } {
  return {
    offset: entry.localHeaderOffset,
    ...(entry.isArray && entry.dataOffset !== undefined ? { dataOffset: entry.dataOffset } : {}),
  };
}
