/**
 * Reading safetensors files through any RandomAccessSource: `openSafetensors` (random access, the same shape as
 * `openNpz`) and `readSafetensors` (`[name, array]` pairs, like `readNpz`). The header is read in two small
 * reads and validated whole before a tensor is handed out; tensors are then plain ranges of the file.
 */
import { NpzError } from '../errors.js';
import { throwIfAborted } from '../io/abort.js';
import { shardGetOptions, type ArrayChunksOptions, type ArrayGetOptions, type ArrayInfo, type FileOfEntries, type ShardOptions } from '../io/array-file.js';
import type { Platform } from '../io/platform.js';
import { typedArrayFor, type ArrayDType } from '../npy/dtype.js';
import type { NpyArray } from '../npy/array.js';
import type { HttpReadOptions } from '../http/options.js';
import type { RemoteOptions } from '../objectstore/options.js';
import { ReadPlanner, type ReadStats } from '../io/planner/index.js';
import { readStoredSlice, storedSliceChunks, type SlicedArray } from '../io/slice-read.js';
import { normalizeSlice, type Slice } from '../npy/slice.js';
import { safetensorsDType } from './dtypes.js';
import type { NpzSource, RandomAccessSource } from '../io/random-access.js';
import { MAX_VIEW_BYTES } from '../io/chunks.js';
import { DEFAULT_CHUNK_SIZE } from '../zip/random/member-reader.js';
import { LENGTH_PREFIX, MAX_HEADER_LENGTH, decodeHeaderLength, decodeSafetensorsHeader } from './header.js';

export interface OpenSafetensorsOptions {
  /** Longest header accepted, in bytes (default and maximum 100 000 000, the reference reader's limit). */
  maxHeaderLength?: number;
  /** Refuse (ERR_NPY_TOO_LARGE) to `get` a tensor larger than this before allocating it. Default: none. */
  maxArrayBytes?: number;
  /** Largest chunk `chunks()` yields (default 4 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
  /** How an `http(s):` URL input (or an object store URL) is fetched: headers, concurrency, retries, timeouts. */
  http?: HttpReadOptions;
  /** Credentials and endpoints for `s3://`, `gs://` and `hf://` inputs (default: from the environment). */
  remote?: RemoteOptions;
}

/** A tensor: the `ArrayEntry` of the safetensors format. */
export interface SafetensorsEntry extends ArrayInfo {
  format: 'safetensors';
  /** Every safetensors entry is a tensor. */
  isArray: true;
  damaged?: false;
  name: string;
  /** The project dtype; float8 kinds are `'raw'` (their `descr` is '|V1', as numpy + ml_dtypes saves them). */
  dtype: ArrayDType;
  /** The descr an `.npy` of this tensor carries. */
  descr: string;
  /** The dtype name in the file: 'BF16', 'F8_E4M3'... */
  safetensorsDType: string;
  shape: number[];
  /** safetensors has no Fortran order; present so entries read like npz entries. */
  fortranOrder: false;
  byteLength: number;
  /** File offset of the first data byte (in its shard, for a file opened from a shard index). */
  dataOffset: number;
  /** The shard file holding the tensor (its name beside the index), for a file opened with `openSafetensorsIndex`. */
  shard?: string;
}

/** `chunks` options for safetensors: fresh buffers are handed out whatever `reuseBuffers` says. */
export interface SafetensorsChunksOptions extends ArrayChunksOptions {}

/** A safetensors file (or a shard index) opened for random access: the `ArrayFile` of the safetensors format. */
export interface SafetensorsFile<Entry extends SafetensorsEntry = SafetensorsEntry> extends FileOfEntries<Entry> {
  readonly format: 'safetensors';
  /** Every tensor, in the order of its data in the file (shard by shard for an index). */
  readonly entries: readonly Entry[];
  /** The `__metadata__` map, when the file has one. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  has(name: string): boolean;
  /** One tensor in a fresh buffer of its own, aligned for its typed array; with `slice`, only the bytes it selects are read. */
  get(name: string, options?: ArrayGetOptions): Promise<NpyArray>;
  /** The tensor's bytes in chunks of at most `chunkSize`, in bounded memory whatever its size; with `slice`, the slice's. */
  chunks(name: string, options?: SafetensorsChunksOptions): AsyncIterable<Uint8Array>;
  /** Closes the source if it was opened from a path or bytes. Idempotent. */
  close(): Promise<void>;
}

/** A file that ends early has changed since its header was checked. */
function endedEarly(end: number, expectedEnd: number, start: number): NpzError {
  return new NpzError('ERR_SAFETENSORS_BUFFER_LENGTH', `the file ended at byte ${end}, before byte ${expectedEnd}`, {
    offset: end,
    expected: expectedEnd - start,
    actual: end - start,
  });
}

/** Reads exactly `length` bytes. */
async function readExactly(source: RandomAccessSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.byteLength !== length) throw endedEarly(offset + bytes.byteLength, offset + length, offset);
  return bytes;
}

async function readEntries(source: RandomAccessSource, options: OpenSafetensorsOptions): Promise<{ entries: SafetensorsEntry[]; metadata?: Record<string, string> }> {
  const limit = Math.min(options.maxHeaderLength ?? MAX_HEADER_LENGTH, MAX_HEADER_LENGTH);
  const prefix = await source.read(0, Math.min(LENGTH_PREFIX, source.size));
  const length = decodeHeaderLength(prefix, source.size, limit);
  const json = await readExactly(source, LENGTH_PREFIX, length);
  const dataStart = LENGTH_PREFIX + length;
  const header = decodeSafetensorsHeader(json, source.size - dataStart);
  const entries = header.tensors.map((tensor): SafetensorsEntry => ({
    format: 'safetensors',
    isArray: true,
    name: tensor.name,
    dtype: tensor.dtype.dtype,
    descr: tensor.dtype.descr,
    safetensorsDType: tensor.dtype.name,
    shape: tensor.shape,
    fortranOrder: false as const,
    byteLength: tensor.end - tensor.begin,
    dataOffset: dataStart + tensor.begin,
  }));
  return header.metadata === undefined ? { entries } : { entries, metadata: header.metadata };
}

/** One tensor read into a buffer of its own, in pieces the read planner keeps in flight. */
async function readTensor(source: ReadPlanner, entry: SafetensorsEntry, options: OpenSafetensorsOptions): Promise<NpyArray> {
  throwIfAborted(options.signal);
  const max = options.maxArrayBytes ?? Number.POSITIVE_INFINITY;
  if (entry.byteLength > max) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `tensor ${JSON.stringify(entry.name)}: ${entry.byteLength} bytes exceed the maxArrayBytes limit of ${max}`, {
      entry: entry.name,
      expected: max,
      actual: entry.byteLength,
    });
  }
  let buffer: ArrayBuffer;
  try {
    buffer = new ArrayBuffer(entry.byteLength);
  } catch (cause) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `tensor ${JSON.stringify(entry.name)}: ${entry.byteLength} bytes cannot be allocated here; use chunks()`, {
      entry: entry.name,
      actual: entry.byteLength,
      cause,
    });
  }
  // Nothing is done per piece (no CRC here), so pieces are as large as one read can be: abort is checked between them.
  const pieces = source.pieces(entry.dataOffset, entry.byteLength, {
    pieceBytes: MAX_VIEW_BYTES,
    into: new Uint8Array(buffer),
    shortRead: (end, expectedEnd) => endedEarly(end, expectedEnd, entry.dataOffset),
  });
  for await (const _ of pieces) throwIfAborted(options.signal);
  return {
    dtype: entry.dtype,
    descr: entry.descr,
    shape: [...entry.shape],
    fortranOrder: false,
    data: typedArrayFor(entry.dtype, buffer, 0, entry.byteLength),
  };
}

/** The tensor's bytes in fresh chunks, the next ones read while the consumer holds the current one. */
async function* tensorChunks(source: ReadPlanner, entry: SafetensorsEntry, chunkSize: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { actual: chunkSize });
  }
  throwIfAborted(signal);
  const pieces = source.pieces(entry.dataOffset, entry.byteLength, {
    pieceBytes: chunkSize,
    shortRead: (end, expectedEnd) => endedEarly(end, expectedEnd, entry.dataOffset),
  });
  for await (const chunk of pieces) {
    yield chunk;
    throwIfAborted(signal);
  }
}

function slicedTensor(entry: SafetensorsEntry): SlicedArray {
  return {
    name: entry.name,
    dtype: entry.dtype,
    descr: entry.descr,
    itemsize: safetensorsDType(entry.safetensorsDType, entry.name).itemsize,
    swapUnit: 1,
    fortranOrder: false,
  };
}

/** `get(name, { slice })`: the runs the slice selects, through the read planner; the whole tensor reads as `get`. */
function readTensorSlice(source: ReadPlanner, entry: SafetensorsEntry, slice: Slice, options: OpenSafetensorsOptions): Promise<NpyArray> {
  const box = normalizeSlice(entry.shape, slice);
  if (box.whole) return readTensor(source, entry, options);
  return readStoredSlice(source, slicedTensor(entry), box, {
    dataOffset: entry.dataOffset,
    shortRead: (end, expectedEnd) => endedEarly(end, expectedEnd, entry.dataOffset),
    signal: options.signal,
    maxArrayBytes: options.maxArrayBytes,
  });
}

function tensorSliceChunks(source: ReadPlanner, entry: SafetensorsEntry, slice: Slice, chunkSize: number, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
  const box = normalizeSlice(entry.shape, slice);
  if (box.whole) return tensorChunks(source, entry, chunkSize, signal);
  return storedSliceChunks(source, slicedTensor(entry), box, chunkSize, {
    dataOffset: entry.dataOffset,
    shortRead: (end, expectedEnd) => endedEarly(end, expectedEnd, entry.dataOffset),
    signal,
  });
}

class OpenedSafetensors implements SafetensorsFile {
  readonly format = 'safetensors';
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly #source: ReadPlanner;
  readonly #owned: boolean;
  readonly #options: OpenSafetensorsOptions;
  readonly #byName: Map<string, SafetensorsEntry>;
  #closed = false;

  constructor(source: ReadPlanner, owned: boolean, entries: SafetensorsEntry[], metadata: Record<string, string> | undefined, options: OpenSafetensorsOptions) {
    this.#source = source;
    this.#owned = owned;
    this.#options = options;
    this.entries = Object.freeze(entries);
    this.metadata = metadata === undefined ? undefined : Object.freeze(metadata);
    this.#byName = new Map(entries.map((entry) => [entry.name, entry]));
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  get readStats(): Readonly<ReadStats> {
    return this.#source.readStats;
  }

  get(name: string, options: ArrayGetOptions = {}): Promise<NpyArray> {
    try {
      const entry = this.#entry(name);
      const readOptions = options.signal === undefined ? this.#options : { ...this.#options, signal: options.signal };
      if (options.slice !== undefined) return readTensorSlice(this.#source, entry, options.slice, readOptions);
      return readTensor(this.#source, entry, readOptions);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  chunks(name: string, options: SafetensorsChunksOptions = {}): AsyncIterable<Uint8Array> {
    const entry = this.#entry(name);
    const chunkSize = options.chunkSize ?? this.#options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const signal = options.signal ?? this.#options.signal;
    if (options.slice !== undefined) return tensorSliceChunks(this.#source, entry, options.slice, chunkSize, signal);
    return tensorChunks(this.#source, entry, chunkSize, signal);
  }

  async shard(name: string, options: ShardOptions): Promise<NpyArray> {
    return this.get(name, shardGetOptions(this.#entry(name).shape, options));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#source.close();
  }

  #entry(name: string): SafetensorsEntry {
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `cannot read ${JSON.stringify(name)}: the safetensors file is closed`, { entry: name });
    const entry = this.#byName.get(name);
    if (entry === undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no tensor named ${JSON.stringify(name)} in the safetensors file`, { entry: name });
    return entry;
  }
}

/** `openSafetensors` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function openSafetensors(platform: Platform, input: NpzSource, options: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const { source, owned } = await platform.openSource(input, options);
  try {
    throwIfAborted(options.signal);
    const planner = ReadPlanner.over(source);
    const { entries, metadata } = await readEntries(planner, options);
    return new OpenedSafetensors(planner, owned, entries, metadata, options);
  } catch (error) {
    if (owned) await source.close().catch(() => undefined);
    throw error;
  }
}

/** `readSafetensors` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function* readSafetensors(
  platform: Platform,
  input: NpzSource,
  options: OpenSafetensorsOptions = {},
): AsyncGenerator<[string, NpyArray], void, undefined> {
  const file = await openSafetensors(platform, input, options);
  try {
    for (const entry of file.entries) yield [entry.name, await file.get(entry.name)];
  } finally {
    await file.close();
  }
}
