/**
 * The one file interface: what `openNpz`, `openSafetensors` and `openSafetensorsIndex` all return. Code that
 * lists, reads or compares arrays works on `ArrayFile` and `ArrayEntry` whatever the format; what only one format
 * has is declared on that format's entry type (narrow on `format`), never carried as an undeclared property.
 *
 * Room to grow without breaking callers: `get` and `chunks` take an options object (`slice` joined it), and code
 * that narrows on `isArray` before using array fields stays correct when entries that cannot be read as arrays
 * (damaged members, which carry their error) join the non-array side of the union.
 *
 * This module holds the generic part, which each format's module builds on; the union over the formats'
 * entry types (`ArrayEntry`, and `ArrayFile` with it as its default) lives above the formats, in
 * `src/array-entry.ts`, so no format imports a module that imports it back.
 */
import type { NpyArray } from '../npy/array.js';
import { NpzError, type NpzErrorCode } from '../errors.js';
import type { ArrayDType } from '../npy/dtype.js';
import type { Descr } from '../npy/header.js';
import { shardSlice, type Slice } from '../npy/slice.js';
import type { ReadStats } from './planner/index.js';

/** The formats behind an `ArrayFile`: an npz, a safetensors file (or shard index), a bare `.npy` file. */
export type ArrayFormat = 'npz' | 'safetensors' | 'npy';

/**
 * What every array says, in every format and from a stream too: enough to interpret the bytes `get` and `chunks`
 * hand out (always little-endian, in storage order).
 */
export interface ArrayInfo {
  /** The name `get` and `chunks` take: an npz key (the member name without `.npy`), a safetensors tensor name. */
  name: string;
  dtype: ArrayDType;
  /** The descr an `.npy` of the data carries: little-endian, as the data is handed out; raw descrs as stored. */
  descr: Descr;
  shape: number[];
  /** True when the data is in Fortran (column-major) order; npz only, safetensors is always C order. */
  fortranOrder: boolean;
  /** Data bytes: prod(shape) × itemsize. */
  byteLength: number;
  /**
   * File offset of the first data byte when the data is one uncompressed run of the file (stored npz members,
   * safetensors tensors), so ranges of it can be read directly; absent otherwise.
   */
  dataOffset?: number;
}

/**
 * What every entry of every format declares: `format` says which format's fields it has; `isArray` whether it is
 * an array (`get` and `chunks` read it) or a member listed only: an npz member whose name does not end in `.npy`,
 * or a damaged member (`damaged: true`), whose `error` is what reading it throws.
 */
export interface EntryOfFormat {
  readonly format: ArrayFormat;
  name: string;
  isArray: boolean;
  damaged?: boolean;
}

/** Why a damaged entry cannot be read: the code and message of the error that reading it throws. */
export interface EntryError {
  readonly code: NpzErrorCode;
  readonly message: string;
}

/**
 * What opening a file does with a member that cannot be read as an array (a bad npy header, an unsupported
 * compression method, a local header that disagrees with the directory) while the file's directory is intact:
 *
 * - `'list'` (default): the file opens, and the member is an entry with `damaged: true`, `isArray: false` and its
 *   `error`; `get` and `chunks` of it throw that error. A damaged member does not hide the intact ones.
 * - `'error'`: opening throws the first such error, as a strict reader would.
 *
 * Damage found only by reading the data (a CRC-32 mismatch, a truncated member) is thrown by `get` and `chunks`
 * in both modes: opening reads no data.
 */
export type DamagedPolicy = 'list' | 'error';

/**
 * Codes that say something about the outside world or the caller, never about a member's bytes: an error with one
 * of these while a member is described ends the open, whatever the policy.
 */
const NOT_DAMAGE: ReadonlySet<NpzErrorCode> = new Set<NpzErrorCode>([
  'ERR_IO',
  'ERR_REMOTE_RANGE',
  'ERR_REMOTE_CHANGED',
  'ERR_REMOTE_STATUS',
  'ERR_REMOTE_NETWORK',
  'ERR_REMOTE_CREDENTIALS',
  'ERR_ABORTED',
  'ERR_INVALID_ARGUMENT',
  'ERR_NPZ_CLOSED',
]);

/** True for an error that marks one member as damaged (rather than failing the whole read). */
export function isMemberDamage(error: unknown): error is NpzError {
  return error instanceof NpzError && !NOT_DAMAGE.has(error.code);
}

/** The error a damaged entry's reads throw: a fresh NpzError with the original's code, message and context. */
export function damageError(error: NpzError): NpzError {
  return new NpzError(error.code, error.message, {
    ...(error.entry === undefined ? {} : { entry: error.entry }),
    ...(error.offset === undefined ? {} : { offset: error.offset }),
    expected: error.expected,
    actual: error.actual,
    cause: error,
  });
}

export interface ArrayGetOptions {
  /** Stops this read (ERR_ABORTED); replaces, for this read, the signal the file was opened with. */
  signal?: AbortSignal;
  /**
   * Read only this part, as numpy's `a[…]` selects it: one item per leading axis, each an index (the axis is
   * dropped; negative counts from the end), `[start, stop]` or `[start, stop, step]` (half-open, `null` for an
   * omitted bound, negative bounds from the end, clipped as Python clips, step ≥ 1), or `null` for the whole axis;
   * later axes are whole. The result is C order (also for Fortran-order arrays), little-endian as `get` converts.
   * Only the bytes the slice needs are read where the format allows (see docs/slices.md); a partial read cannot
   * check a CRC-32.
   */
  slice?: Slice;
}

export interface ArrayChunksOptions {
  /** Largest chunk in bytes (default 4 MiB; 1 MiB for npz with `reuseBuffers`). */
  chunkSize?: number;
  /** Stops the chunks (ERR_ABORTED); replaces, for this read, the signal the file was opened with. */
  signal?: AbortSignal;
  /**
   * Allows chunks from a small ring of reused buffers instead of a fresh buffer each (stored npz members use
   * it): a chunk is then valid only until the next one is requested, so copy what you keep. Faster where fresh
   * memory is expensive (page faults on VMs). Default false. A format may hand out fresh buffers anyway.
   */
  reuseBuffers?: boolean;
  /** Stream only this part, in C order, as `get`'s `slice` selects it; chunks then hold whole items. */
  slice?: Slice;
}

/** One of `count` equal parts of an array along `axis`, as tensor-parallel loaders split weights. */
export interface ShardOptions {
  /** The axis split; negative counts from the end. */
  axis: number;
  /** Which part: 0…count-1. */
  index: number;
  /** How many equal parts; must divide the axis. */
  count: number;
  /** Stops this read (ERR_ABORTED); replaces, for this read, the signal the file was opened with. */
  signal?: AbortSignal;
}

/** The `get` options of a shard of an array of `shape`: its slice, and the shard's signal if it has one. */
export function shardGetOptions(shape: readonly number[], options: ShardOptions): { slice: Slice; signal?: AbortSignal } {
  const slice = shardSlice(shape, options);
  return options.signal === undefined ? { slice } : { slice, signal: options.signal };
}

/**
 * An opened file of arrays, read by name in any order; what every `open*` function returns. The public name is
 * `ArrayFile` (src/array-entry.ts), with every format's entries as its default.
 */
export interface FileOfEntries<Entry extends EntryOfFormat> {
  readonly format: Entry['format'];
  /** Every entry, in the format's order (npz: central directory order; safetensors: data order). */
  readonly entries: readonly Entry[];
  /** True when `name` names an entry (for npz also a full member name). */
  has(name: string): boolean;
  /** One array in a fresh buffer of its own, aligned for its typed array, checked as the format allows. */
  get(name: string, options?: ArrayGetOptions): Promise<NpyArray>;
  /** The array's little-endian data bytes in chunks of at most `chunkSize`, in bounded memory whatever its size. */
  chunks(name: string, options?: ArrayChunksOptions): AsyncIterable<Uint8Array>;
  /**
   * The `index`-th of `count` equal parts along `axis` (TGI's `get_sharded`): `get` with the slice that selects
   * it. An axis that does not divide evenly is refused.
   */
  shard(name: string, options: ShardOptions): Promise<NpyArray>;
  /**
   * Reads that reached the file's source since it was opened, and the bytes they returned (over HTTP: requests,
   * retries aside, and body bytes; the opening request included). Read it before and after a call to see what it
   * cost.
   */
  readonly readStats: Readonly<ReadStats>;
  /** Closes what the file opened itself (a path, URL or bytes); a caller's RandomAccessSource stays open. Idempotent. */
  close(): Promise<void>;
}
