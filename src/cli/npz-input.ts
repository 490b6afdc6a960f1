import { NpzError, openNpz, openSafetensors, openSafetensorsIndex, type ArrayEntry, type ArrayFile, type ArrayInfo } from '../index.js';
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
 * Opens a path or a URL (http(s)://, s3://, gs://, hf://), as npz or safetensors by extension; a URL gets a byte
 * progress bar while the directory and headers arrive.
 */
export async function openInput(path: string, context: CliContext): Promise<ArrayFile> {
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

/** The arrays named (keys, or npz member names), in the order given; every array when no name is given. */
export function selectArrays(file: ArrayFile, names: readonly string[]): TensorEntry[] {
  const arrays = file.entries.filter(isArrayEntry);
  if (names.length === 0) return arrays;
  return names.map((name) => {
    const entry = file.entries.find((candidate) => candidate.name === name || (candidate.format === 'npz' && candidate.memberName === name));
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
  return {
    member: entry.memberName,
    compression: entry.compression,
    memberSize: entry.memberSize,
    compressedSize: entry.compressedSize,
    offset: entry.localHeaderOffset,
    ...(entry.isArray && entry.dataOffset !== undefined ? { dataOffset: entry.dataOffset } : {}),
  };
}
