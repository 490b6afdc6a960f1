import { NpzError, isDamagedEntry, type ArrayEntry, type ArrayInfo, type DamagedEntry } from '../index.js';
import { itemsizeOf } from './elements.js';

/**
 * Entries as every command (and the viewer) sees them: which are arrays or damaged members, their item sizes and
 * where they sit in the file, and the format a path names. Nothing here opens or reads anything, and nothing imports
 * Node: the static viewer's worker bundles this module for the browser.
 */

export type InputFormat = 'npz' | 'safetensors' | 'npy';

/** The file type a path names, by extension: `.safetensors` and `*.index.json` are safetensors, `.npy` a bare array, the rest npz. */
export function formatOf(path: string): InputFormat {
  const named = formatPath(path);
  if (/\.safetensors$|\.index\.json$/i.test(named)) return 'safetensors';
  return /\.npy$/i.test(named) ? 'npy' : 'npz';
}

/** The part of an input whose extension names its format: a URL's path, without its query. */
export function formatPath(path: string): string {
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

/** A file's arrays and damaged members (which stand where their array would) by name; the first of a repeated name. */
export function reportedByName(entries: readonly ArrayEntry[]): Map<string, ReportedEntry> {
  const byName = new Map<string, ReportedEntry>();
  for (const entry of entries) if (isReported(entry) && !byName.has(entry.name)) byName.set(entry.name, entry);
  return byName;
}

/** The member's name in its file: an npz member name, else the entry's name. */
export function memberNameOf(entry: ArrayEntry): string {
  return entry.format === 'npz' ? entry.memberName : entry.name;
}

/** The error reading a damaged entry throws (what `get` and `chunks` would throw for it). */
export function errorOf(entry: DamagedEntry): NpzError {
  return new NpzError(entry.error.code, entry.error.message, { entry: entry.name });
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
