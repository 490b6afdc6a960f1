import {
  NpzError,
  isDamagedEntry,
  openNpy,
  openNpz,
  openSafetensors,
  openSafetensorsIndex,
  type ArrayEntry,
  type ArrayFile,
  type ArrayInfo,
  type DamagedEntry,
  type DamagedPolicy,
} from '../index.js';
import type { CliContext } from './context.js';
import { itemsizeOf } from './elements.js';

/** Opening input files (npz, safetensors, a shard index, a bare .npy) and picking arrays from them, the same way for every command. */

export type InputFormat = 'npz' | 'safetensors' | 'npy';

/** The file type a path names, by extension: `.safetensors` and `*.index.json` are safetensors, `.npy` a bare array, the rest npz. */
export function formatOf(path: string): InputFormat {
  const named = formatPath(path);
  if (/\.safetensors$|\.index\.json$/i.test(named)) return 'safetensors';
  return /\.npy$/i.test(named) ? 'npy' : 'npz';
}

/** The part of an input whose extension names its format: a URL's path, without its query. */
function formatPath(path: string): string {
  return isUrlInput(path) ? urlPathname(path) : path;
}

function urlPathname(url: string): string {
  // An object store key is taken as written (`s3://b/a b.npz`), not as a URL path.
  if (/^(s3|gs|hf):\/\//i.test(url)) return url.replace(/[?#].*$/, '');
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** An entry that is an array, whatever the format. */
export type TensorEntry = Extract<ArrayEntry, { isArray: true }>;

/** What commands read array data through: an opened file, or the one array of a stream at hand. */
export type ArrayReader = Pick<ArrayFile, 'get' | 'chunks'>;

/** An input read over the network: an http(s):// URL, or an object store's (s3://, gs://, hf://). */
export function isUrlInput(path: string): boolean {
  return /^(https?|s3|gs|hf):\/\//i.test(path);
}

/** An input as safe to print: URLs lose their user info and query string (a pre-signed signature). */
export function inputLabel(path: string): string {
  if (!isUrlInput(path)) return path;
  // An object store URL holds no credentials (they come from the environment); it takes no query either.
  if (/^(s3|gs|hf):\/\//i.test(path)) return path.replace(/[?#].*$/, '');
  try {
    const url = new URL(path);
    return `${url.protocol}//${url.host}${url.pathname}${url.search === '' ? '' : '?…'}`;
  } catch {
    return '<invalid URL>';
  }
}

/**
 * Opens a path or a URL (http(s)://, s3://, gs://, hf://), as npz, safetensors (a file or a shard index) or a bare
 * .npy by extension; a URL gets a byte progress bar while the directory and headers arrive. Damaged members are
 * listed as damaged entries: each command reports them in their place and fails at the end.
 */
export async function openInput(path: string, context: CliContext, choices: { damaged?: DamagedPolicy } = {}): Promise<ArrayFile> {
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
    const format = formatOf(path);
    if (format === 'npz') return await openNpz(path, { ...context.read, signal: context.signal, ...withHttp, ...choices });
    if (format === 'npy') return await openNpy(path, { ...context.read, signal: context.signal, ...withHttp, ...choices });
    const options = { signal: context.signal, ...withHttp };
    if (!/\.json$/i.test(formatPath(path))) return await openSafetensors(path, options);
    // The shards are read beside the index: files in its directory, keys beside its key, URLs relative to it.
    return await openSafetensorsIndex(path, options);
  } finally {
    progress?.finish();
  }
}

export async function withNpz<T>(path: string, context: CliContext, use: (file: ArrayFile) => Promise<T>): Promise<T> {
  const file = await openInput(path, context);
  try {
    return await use(file);
  } finally {
    await file.close();
  }
}

export function isArrayEntry(entry: ArrayEntry): entry is TensorEntry {
  return entry.isArray;
}

export { isDamagedEntry };
export type { DamagedEntry };

/** An array, or a member that was meant to be one and is damaged: what commands that read arrays report on. */
export type ReportedEntry = TensorEntry | DamagedEntry;

export function isReported(entry: ArrayEntry): entry is ReportedEntry {
  return entry.isArray || isDamagedEntry(entry);
}

/** The member's name in its file: an npz member name, else the entry's name. */
export function memberNameOf(entry: ArrayEntry): string {
  return entry.format === 'npz' ? entry.memberName : entry.name;
}

/** The error reading a damaged entry throws (what `get` and `chunks` would throw for it). */
export function errorOf(entry: DamagedEntry): NpzError {
  return new NpzError(entry.error.code, entry.error.message, { entry: entry.name });
}

/**
 * The arrays named (keys, or npz member names), in the order given; every array when no name is given. Damaged
 * members are included (named, or among every array), so a command can report them in their place.
 */
export function selectEntries(file: ArrayFile, names: readonly string[]): ReportedEntry[] {
  if (names.length === 0) return file.entries.filter(isReported);
  return names.map((name) => {
    const entry = file.entries.find((candidate) => candidate.name === name || (candidate.format === 'npz' && candidate.memberName === name));
    if (entry === undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in the file`, { entry: name });
    if (!isReported(entry)) {
      throw new NpzError('ERR_NPZ_NOT_ARRAY', `member ${JSON.stringify(memberNameOf(entry))} is not an .npy array`, { entry: name });
    }
    return entry;
  });
}

/** The arrays named, as `selectEntries`, with a damaged one refused with its error. */
export function selectArrays(file: ArrayFile, names: readonly string[]): TensorEntry[] {
  return selectEntries(file, names).map((entry) => {
    if (isDamagedEntry(entry)) throw errorOf(entry);
    return entry;
  });
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/** Bytes per item; for raw descrs (strings, structs) it follows from the data length and the shape. */
export function entryItemsize(entry: ArrayInfo): number {
  const count = elementCount(entry.shape);
  return itemsizeOf(entry.dtype, count > 0 ? entry.byteLength / count : 1);
}

/**
 * Where an entry sits in its file, as `ls` and the viewer show it. A safetensors tensor is one uncompressed range
 * of the file: its member is the tensor, its sizes the data size, its offset where the data starts.
 */
export interface Placement {
  member: string;
  compression: 'stored' | 'deflate' | 'unsupported';
  memberSize: number;
  compressedSize: number;
  /** Where the entry starts in the file: an npz member's local header, a tensor's data. */
  offset: number;
  /** Where the array's data starts, when it is one uncompressed run of the file. */
  dataOffset?: number;
}

export function placementOf(entry: ArrayEntry): Placement {
  if (entry.format === 'safetensors') {
    const { byteLength, dataOffset } = entry;
    return { member: entry.name, compression: 'stored', memberSize: byteLength, compressedSize: byteLength, offset: dataOffset, dataOffset };
  }
  if (entry.format === 'npy') {
    // The whole file is the array: its header from byte 0, its data after the header.
    if (!entry.isArray) return { member: entry.name, compression: 'stored', memberSize: 0, compressedSize: 0, offset: 0 };
    const size = entry.dataOffset + entry.byteLength;
    return { member: entry.name, compression: 'stored', memberSize: size, compressedSize: size, offset: 0, dataOffset: entry.dataOffset };
  }
  return {
    member: entry.memberName,
    compression: entry.compression,
    memberSize: entry.memberSize,
    compressedSize: entry.compressedSize,
    offset: entry.localHeaderOffset,
    ...(entry.isArray && entry.dataOffset !== undefined ? { dataOffset: entry.dataOffset } : {}),
  };
}
