import {
  NpzError,
  openNpz,
  openSafetensors,
  openSafetensorsIndex,
  type NpzArrayEntry,
  type NpzEntry,
  type NpzFile,
  type SafetensorsFile,
} from '../index.js';
import type { CliContext } from './context.js';
import { itemsizeOf } from './elements.js';

/** Opening input files (npz, safetensors, a shard index) and picking arrays from them, the same way for every command. */

export type InputFormat = 'npz' | 'safetensors';

/** The file type a path names, by extension: `.safetensors` and `*.index.json` are safetensors, the rest npz. */
export function formatOf(path: string): InputFormat {
  return /\.safetensors$|\.index\.json$/i.test(formatPath(path)) ? 'safetensors' : 'npz';
}

/** The part of an input whose extension names its format: a URL's path, without its query. */
function formatPath(path: string): string {
  return isUrlInput(path) ? urlPathname(path) : path;
}

function urlPathname(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** An npz entry, or a safetensors tensor seen as a stored npz array; `safetensorsDType` says which it is. */
export type InputArrayEntry = NpzArrayEntry & { safetensorsDType?: string };

/**
 * A safetensors file behind the npz interface the commands use. A tensor is a stored range of the file: the
 * zip-only fields say so (member = name, sizes = data size, offsets = the data offset) and carry no CRC.
 */
function asNpzFile(file: SafetensorsFile): NpzFile {
  const entries: InputArrayEntry[] = file.entries.map((entry) => ({
    name: entry.name,
    memberName: entry.name,
    compression: 'stored',
    compressedSize: entry.byteLength,
    memberSize: entry.byteLength,
    localHeaderOffset: entry.dataOffset,
    crc32: 0,
    isArray: true,
    dtype: entry.dtype,
    descr: entry.descr,
    shape: entry.shape,
    fortranOrder: false,
    byteLength: entry.byteLength,
    npyVersion: 1,
    dataOffset: entry.dataOffset,
    safetensorsDType: entry.safetensorsDType,
  }));
  return {
    entries,
    has: (name) => file.has(name),
    get: (name) => file.get(name),
    chunks: (name, options = {}) => file.chunks(name, { ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }), ...(options.signal === undefined ? {} : { signal: options.signal }) }),
    close: () => file.close(),
  };
}

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

/**
 * Opens a path or an http(s):// URL, as npz or safetensors by extension; a URL gets a byte progress bar while the
 * directory and headers arrive. A shard index is read from a local path only.
 */
export async function openInput(path: string, context: CliContext): Promise<NpzFile> {
  const remote = isUrlInput(path);
  const progress = remote ? context.progress('fetch', 0) : undefined;
  const http = progress === undefined
    ? context.read.http
    : {
        ...context.read.http,
        onBytes: (bytes: number, objectSize: number): void => {
          progress.setTotal(objectSize);
          progress.add(bytes, inputLabel(path));
        },
      };
  const withHttp = http === undefined ? {} : { http };
  try {
    if (formatOf(path) === 'npz') return await openNpz(path, { ...context.read, signal: context.signal, ...withHttp });
    const options = { signal: context.signal, ...withHttp };
    if (!/\.json$/i.test(formatPath(path))) return asNpzFile(await openSafetensors(path, options));
    // An index names its shards relative to itself; reading them over HTTP would need one source per shard URL.
    if (remote) throw new NpzError('ERR_INVALID_ARGUMENT', `a shard index is read from a local path; open one shard URL at a time instead of ${inputLabel(path)}`);
    return asNpzFile(await openSafetensorsIndex(path, options));
  } finally {
    progress?.finish();
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
