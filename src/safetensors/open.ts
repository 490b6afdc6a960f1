/**
 * Reading safetensors files through any RandomAccessSource: `openSafetensors` (random access, the same shape as
 * `openNpz`) and `readSafetensors` (`[name, array]` pairs, like `readNpz`). The header is read in two small
 * reads and validated whole before a tensor is handed out; tensors are then plain ranges of the file.
 */
import { NpzError } from '../errors.js';
import { typedArrayFor, type ArrayDType } from '../npy/dtype.js';
import type { NpyArray } from '../npy/array.js';
import type { HttpSourceOptions } from '../source/http.js';
import { resolveSource, type NpzSource, type RandomAccessSource } from '../source/index.js';
import { throwIfAborted } from '../util/abort.js';
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
  /** How an `http(s):` URL input is fetched: headers, concurrency, retries, timeouts. */
  http?: HttpSourceOptions;
}

export interface SafetensorsEntry {
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
  /** File offset of the first data byte. */
  dataOffset: number;
}

export interface SafetensorsChunksOptions {
  chunkSize?: number;
  signal?: AbortSignal;
}

export interface SafetensorsFile {
  /** Every tensor, in the order of its data in the file. */
  readonly entries: readonly SafetensorsEntry[];
  /** The `__metadata__` map, when the file has one. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
  has(name: string): boolean;
  /** One tensor in a fresh buffer of its own, aligned for its typed array. */
  get(name: string): Promise<NpyArray>;
  /** The tensor's bytes in chunks of at most `chunkSize`, in bounded memory whatever its size. */
  chunks(name: string, options?: SafetensorsChunksOptions): AsyncIterable<Uint8Array>;
  /** Closes the source if it was opened from a path or bytes. Idempotent. */
  close(): Promise<void>;
}

/** Reads exactly `length` bytes; a file that ends early has changed since its header was checked. */
async function readExactly(source: RandomAccessSource, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
  const bytes = await source.read(offset, length, into);
  if (bytes.byteLength !== length) {
    throw new NpzError('ERR_SAFETENSORS_BUFFER_LENGTH', `the file ended at byte ${offset + bytes.byteLength}, before byte ${offset + length}`, {
      offset: offset + bytes.byteLength,
      expected: length,
      actual: bytes.byteLength,
    });
  }
  return bytes;
}

async function readEntries(source: RandomAccessSource, options: OpenSafetensorsOptions): Promise<{ entries: SafetensorsEntry[]; metadata?: Record<string, string> }> {
  const limit = Math.min(options.maxHeaderLength ?? MAX_HEADER_LENGTH, MAX_HEADER_LENGTH);
  const prefix = await source.read(0, Math.min(LENGTH_PREFIX, source.size));
  const length = decodeHeaderLength(prefix, source.size, limit);
  const json = await readExactly(source, LENGTH_PREFIX, length);
  const dataStart = LENGTH_PREFIX + length;
  const header = decodeSafetensorsHeader(json, source.size - dataStart);
  const entries = header.tensors.map((tensor) => ({
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

/** One tensor read into a buffer of its own. */
async function readTensor(source: RandomAccessSource, entry: SafetensorsEntry, options: OpenSafetensorsOptions): Promise<NpyArray> {
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
  const segment = 1 << 30;
  for (let at = 0; at < entry.byteLength; at += segment) {
    const length = Math.min(segment, entry.byteLength - at);
    await readExactly(source, entry.dataOffset + at, length, new Uint8Array(buffer, at, length));
    throwIfAborted(options.signal);
  }
  return {
    dtype: entry.dtype,
    descr: entry.descr,
    shape: [...entry.shape],
    fortranOrder: false,
    data: typedArrayFor(entry.dtype, buffer, 0, entry.byteLength),
  };
}

async function* tensorChunks(source: RandomAccessSource, entry: SafetensorsEntry, chunkSize: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { actual: chunkSize });
  }
  for (let at = 0; at < entry.byteLength; at += chunkSize) {
    throwIfAborted(signal);
    yield await readExactly(source, entry.dataOffset + at, Math.min(chunkSize, entry.byteLength - at));
  }
}

class OpenedSafetensors implements SafetensorsFile {
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly #source: RandomAccessSource;
  readonly #owned: boolean;
  readonly #options: OpenSafetensorsOptions;
  readonly #byName: Map<string, SafetensorsEntry>;
  #closed = false;

  constructor(source: RandomAccessSource, owned: boolean, entries: SafetensorsEntry[], metadata: Record<string, string> | undefined, options: OpenSafetensorsOptions) {
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

  get(name: string): Promise<NpyArray> {
    try {
      return readTensor(this.#source, this.#entry(name), this.#options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  chunks(name: string, options: SafetensorsChunksOptions = {}): AsyncIterable<Uint8Array> {
    const entry = this.#entry(name);
    const chunkSize = options.chunkSize ?? this.#options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    return tensorChunks(this.#source, entry, chunkSize, options.signal ?? this.#options.signal);
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

/** Opens a safetensors file for random access: the header is read and validated, no tensor data is read. */
export async function openSafetensors(input: NpzSource, options: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const { source, owned } = await resolveSource(input, options);
  try {
    throwIfAborted(options.signal);
    const { entries, metadata } = await readEntries(source, options);
    return new OpenedSafetensors(source, owned, entries, metadata, options);
  } catch (error) {
    if (owned) await source.close().catch(() => undefined);
    throw error;
  }
}

/** Every tensor of a safetensors file as `[name, array]`, in data order; the file is closed when the loop ends. */
export async function* readSafetensors(input: NpzSource, options: OpenSafetensorsOptions = {}): AsyncGenerator<[string, NpyArray], void, undefined> {
  const file = await openSafetensors(input, options);
  try {
    for (const entry of file.entries) yield [entry.name, await file.get(entry.name)];
  } finally {
    await file.close();
  }
}
