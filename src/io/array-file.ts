/**
 * The one file interface: what `openNpz`, `openSafetensors` and `openSafetensorsIndex` all return. Code that
 * lists, reads or compares arrays works on `ArrayFile` and `ArrayEntry` whatever the format; what only one format
 * has is declared on that format's entry type (narrow on `format`), never carried as an undeclared property.
 *
 * Room to grow without breaking callers: `get` and `chunks` take an options object (`slice` joined it), and code
 * that narrows on `isArray` before using array fields stays correct when entries that cannot be read as arrays
 * (damaged members, which will carry their error) join the non-array side of the union.
 *
 * This module holds the generic part, which each format's module builds on; the union over the formats'
 * entry types (`ArrayEntry`, and `ArrayFile` with it as its default) lives above the formats, in
 * `src/array-entry.ts`, so no format imports a module that imports it back.
 */
import type { NpyArray } from '../npy/array.js';
import type { ArrayDType } from '../npy/dtype.js';
import type { Descr } from '../npy/header.js';
import type { Slice } from '../npy/slice.js';
import type { ReadStats } from './planner/index.js';

/** The formats behind an `ArrayFile`. */
export type ArrayFormat = 'npz' | 'safetensors';

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
 * an array (`get` and `chunks` read it) or a member listed only (an npz member whose name does not end in `.npy`).
 */
export interface EntryOfFormat {
  readonly format: ArrayFormat;
  name: string;
  isArray: boolean;
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
