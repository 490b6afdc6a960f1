/**
 * A bare `.npy` file (what `np.save` writes) as an `ArrayFile` of one array, named after the file, so every
 * command and function that reads an npz or a safetensors file reads one too. The header is read when the file
 * is opened; the data is one range of the file, read through the read planner like a stored npz member.
 */
import { NpzError } from '../errors.js';
import { throwIfAborted } from '../io/abort.js';
import {
  damageError,
  isMemberDamage,
  shardGetOptions,
  type ArrayChunksOptions,
  type FileOfEntries,
  type ArrayGetOptions,
  type ArrayInfo,
  type DamagedPolicy,
  type EntryError,
  type ShardOptions,
} from '../io/array-file.js';
import type { ReadStats } from '../io/planner/index.js';
import { readStoredSlice, storedSliceChunks, type SlicedArray } from '../io/slice-read.js';
import { normalizeSlice } from '../npy/slice.js';
import type { HttpReadOptions } from '../http/options.js';
import { isByteStream } from '../io/byte-stream.js';
import { ReadPlanner } from '../io/planner/index.js';
import type { Platform } from '../io/platform.js';
import type { NpzSource } from '../io/random-access.js';
import type { NpyArray } from '../npy/array.js';
import type { NpyHeader } from '../npy/header.js';
import { npyDataChunks, readNpyArray, readNpyHeader, reportedDescr, type NpyByteReader, type NpyReadOptions } from '../npy/read.js';
import { DEFAULT_CHUNK_SIZE } from '../zip/random/member-reader.js';
import { npyArrayFields, type NpyArrayFields } from './entry-fields.js';

export interface OpenNpyOptions extends NpyReadOptions {
  /**
   * The array's name (what `get` and `chunks` take). Default: the file name without `.npy` (`weights.npy` →
   * `weights`); `'array'` for bytes or a RandomAccessSource.
   */
  name?: string;
  /** Largest chunk `chunks()` yields (default 4 MiB). */
  chunkSize?: number;
  /** How an `http(s):` URL input is fetched: headers, concurrency, retries, timeouts. */
  http?: HttpReadOptions;
  /**
   * A file whose npy header is damaged, or whose size is not the header plus the data it declares: `'list'`
   * (default) opens it with one entry that has `damaged: true` and the error, which `get` and `chunks` throw;
   * `'error'` makes opening throw it.
   */
  damaged?: DamagedPolicy;
}

/** The array of an `.npy` file: what its header says, and where its data starts. */
export interface NpyFileArrayEntry extends NpyArrayFields, ArrayInfo {
  format: 'npy';
  isArray: true;
  damaged?: false;
  /** The header's length: the data starts here and runs to the end of the file. */
  dataOffset: number;
}

/** An `.npy` file whose header could not be read or does not account for the file's size (option `damaged: 'list'`). */
export interface NpyFileDamagedEntry {
  format: 'npy';
  isArray: false;
  damaged: true;
  name: string;
  error: EntryError;
}

export type NpyFileEntry = NpyFileArrayEntry | NpyFileDamagedEntry;

/** A bare `.npy` file opened for random access: the `ArrayFile` of the npy format, with exactly one entry. */
export interface NpyFile extends FileOfEntries<NpyFileEntry> {
  readonly format: 'npy';
  readonly entries: readonly NpyFileEntry[];
}

/** The array's name from the input: the last path segment without `.npy`. */
function defaultName(input: NpzSource): string {
  let path: string | undefined;
  if (input instanceof URL) path = decodeURIComponent(input.pathname);
  else if (typeof input === 'string') {
    path = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? decodeURIComponent(new URL(input).pathname) : input;
  }
  if (path === undefined) return 'array';
  const base = path.split(/[\\/]/).filter((segment) => segment !== '').pop() ?? '';
  const name = base.endsWith('.npy') ? base.slice(0, -'.npy'.length) : base;
  return name === '' ? 'array' : name;
}

/** The npy layer's view of the file: sequential reads from the start, the file's size the stream's. */
class FileNpyReader implements NpyByteReader {
  #position = 0;

  constructor(
    private readonly source: ReadPlanner,
    readonly size: number,
  ) {}

  get remaining(): number {
    return this.size - this.#position;
  }

  async read(length: number): Promise<Uint8Array> {
    const wanted = Math.min(length, this.remaining);
    const bytes = await this.source.read(this.#position, wanted);
    this.#check(bytes.length, wanted);
    this.#position += bytes.length;
    return bytes;
  }

  async readInto(dest: Uint8Array): Promise<void> {
    const bytes = await this.source.read(this.#position, dest.length, dest);
    this.#check(bytes.length, dest.length);
    if (bytes.buffer !== dest.buffer || bytes.byteOffset !== dest.byteOffset) dest.set(bytes);
    this.#position += bytes.length;
  }

  async *chunks(chunkSize: number, recycle: boolean): AsyncGenerator<Uint8Array> {
    const pieces = this.source.pieces(this.#position, this.remaining, {
      pieceBytes: chunkSize,
      recycle,
      shortRead: (end, expectedEnd) => truncated(end, expectedEnd),
    });
    for await (const piece of pieces) {
      this.#position += piece.length;
      yield piece;
    }
  }

  async finish(): Promise<void> {
    // No checksum in an .npy: the size was checked against the header when the file was opened.
  }

  #check(got: number, wanted: number): void {
    if (got < wanted) throw truncated(this.#position + got, this.#position + wanted);
  }
}

function truncated(end: number, expectedEnd: number): NpzError {
  return new NpzError('ERR_NPY_TRUNCATED', `the file ended at byte ${end}, before byte ${expectedEnd}: it changed after it was opened`, {
    offset: end,
    expected: expectedEnd,
    actual: end,
  });
}

/** Adds the file's array name to the npy layer's errors. */
function named(name: string, error: unknown): unknown {
  if (!(error instanceof NpzError) || error.entry !== undefined) return error;
  return new NpzError(error.code, `${JSON.stringify(name)}: ${error.message}`, {
    entry: name,
    ...(error.offset === undefined ? {} : { offset: error.offset }),
    expected: error.expected,
    actual: error.actual,
    cause: error,
  });
}

class OpenedNpy implements NpyFile {
  readonly format = 'npy';
  readonly entries: readonly NpyFileEntry[];
  readonly #source: ReadPlanner;
  readonly #owned: boolean;
  readonly #options: OpenNpyOptions;
  readonly #header: NpyHeader | undefined;
  readonly #damage: NpzError | undefined;
  #closed = false;

  constructor(source: ReadPlanner, owned: boolean, entry: NpyFileEntry, header: NpyHeader | undefined, damage: NpzError | undefined, options: OpenNpyOptions) {
    this.#source = source;
    this.#owned = owned;
    this.#options = options;
    this.#header = header;
    this.#damage = damage;
    this.entries = Object.freeze([entry]);
  }

  has(name: string): boolean {
    return name === this.entries[0]!.name;
  }

  get readStats(): Readonly<ReadStats> {
    return this.#source.readStats;
  }

  /** What a slice of the array needs to know: its item size, byte order and storage order. */
  #sliced(name: string, header: NpyHeader): SlicedArray {
    return { name, dtype: header.dtype, descr: reportedDescr(header), itemsize: header.itemsize, swapUnit: header.swapUnit, fortranOrder: header.fortranOrder };
  }

  #sliceOptions(header: NpyHeader, signal: AbortSignal | undefined) {
    const dataOffset = header.headerLength;
    return {
      dataOffset,
      shortRead: (end: number, expectedEnd: number) =>
        new NpzError('ERR_NPY_SIZE_MISMATCH', `the npy file ends at byte ${end}, before byte ${expectedEnd} where its data ends`, { expected: expectedEnd, actual: end }),
      signal,
      maxArrayBytes: this.#options.maxArrayBytes,
    };
  }

  async get(name: string, options: ArrayGetOptions = {}): Promise<NpyArray> {
    const header = this.#headerOf(name);
    const signal = options.signal ?? this.#options.signal;
    throwIfAborted(signal, 'reading');
    if (options.slice !== undefined) {
      // A slice reads only the runs it selects, in C order, as every format's does.
      return await readStoredSlice(this.#source, this.#sliced(name, header), normalizeSlice(header.shape, options.slice), this.#sliceOptions(header, signal));
    }
    const reader = new FileNpyReader(this.#source, this.#source.size);
    try {
      await reader.read(header.headerLength);
      return await readNpyArray(reader, header, signal === undefined ? this.#options : { ...this.#options, signal });
    } catch (error) {
      throw named(name, error);
    }
  }

  chunks(name: string, options: ArrayChunksOptions = {}): AsyncIterable<Uint8Array> {
    const header = this.#headerOf(name);
    const chunkSize = options.chunkSize ?? this.#options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { actual: chunkSize });
    }
    const signal = options.signal ?? this.#options.signal;
    const source = this.#source;
    if (options.slice !== undefined) {
      return storedSliceChunks(source, this.#sliced(name, header), normalizeSlice(header.shape, options.slice), chunkSize, this.#sliceOptions(header, signal));
    }
    return (async function* () {
      throwIfAborted(signal, 'reading');
      const reader = new FileNpyReader(source, source.size);
      try {
        await reader.read(header.headerLength);
        yield* npyDataChunks(reader, header, chunkSize, { recycle: options.reuseBuffers === true, ...(signal === undefined ? {} : { signal }) });
      } catch (error) {
        throw named(name, error);
      }
    })();
  }

  async shard(name: string, options: ShardOptions): Promise<NpyArray> {
    return this.get(name, shardGetOptions(this.#headerOf(name).shape, options));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#source.close();
  }

  #headerOf(name: string): NpyHeader {
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `cannot read ${JSON.stringify(name)}: the npy file is closed`, { entry: name });
    if (!this.has(name)) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in the npy file (its array is ${JSON.stringify(this.entries[0]!.name)})`, { entry: name });
    if (this.#damage !== undefined) throw damageError(this.#damage);
    return this.#header!;
  }
}

/** `openNpy` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function openNpy(platform: Platform, input: NpzSource, options: OpenNpyOptions = {}): Promise<NpyFile> {
  if (isByteStream(input)) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'openNpy needs random access (a path, URL, bytes or a RandomAccessSource)');
  }
  const name = options.name ?? defaultName(input);
  if (typeof name !== 'string' || name === '') throw new NpzError('ERR_INVALID_ARGUMENT', 'the array name must be a non-empty string', { actual: name });
  const { source, owned } = await platform.openSource(input, options);
  try {
    throwIfAborted(options.signal, 'reading');
    const planner = ReadPlanner.over(source);
    let header: NpyHeader;
    try {
      // The header must account for the whole file: its length plus prod(shape) × itemsize bytes, no more, no less.
      header = await readNpyHeader(new FileNpyReader(planner, planner.size), options);
    } catch (caught) {
      const error = named(name, caught);
      if (options.damaged === 'error' || !isMemberDamage(error)) throw error;
      const entry: NpyFileDamagedEntry = { format: 'npy', isArray: false, damaged: true, name, error: { code: error.code, message: error.message } };
      return new OpenedNpy(planner, owned, entry, undefined, error, options);
    }
    const entry: NpyFileArrayEntry = {
      format: 'npy',
      isArray: true,
      name,
      ...npyArrayFields(header),
      dataOffset: header.headerLength,
    };
    return new OpenedNpy(planner, owned, entry, header, undefined, options);
  } catch (error) {
    if (owned) await source.close().catch(() => undefined);
    throw error;
  }
}
