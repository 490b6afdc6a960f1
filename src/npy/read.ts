/**
 * The read side of npy: an npy header and array from any sequential byte reader (an npz member today; a
 * safetensors tensor or a plain .npy file tomorrow). Knows nothing of zip: the reader hands out verified bytes.
 */
import { NpzError } from '../errors.js';
import { abortError, throwIfAborted } from '../io/abort.js';
import { MAX_VIEW_BYTES } from '../io/chunks.js';
import type { NpyArray } from './array.js';
import { byteSwapInPlace, typedArrayFor, type NpyTypedArray } from './dtype.js';
import { decodeNpyHeader, npyHeaderLength, type DecodeNpyHeaderOptions, type Descr, type NpyHeader } from './header.js';

/** What the npy layer needs from a byte source: sequential reads over a stream of known total size. */
export interface NpyByteReader {
  /** Bytes the whole npy stream holds, header included. */
  readonly size: number;
  /** Bytes not yet read. */
  readonly remaining: number;
  /** The next `min(length, remaining)` bytes. */
  read(length: number): Promise<Uint8Array>;
  /** Fills `dest` with the next `dest.length` bytes. */
  readInto(dest: Uint8Array): Promise<void>;
  /** The remaining bytes; with `recycle` a chunk is valid only until the next one is requested. */
  chunks(chunkSize: number, recycle: boolean): AsyncIterable<Uint8Array>;
  /** Reads and verifies whatever is left. */
  finish(): Promise<void>;
}

export interface NpyReadOptions extends DecodeNpyHeaderOptions {
  /**
   * Refuse (ERR_NPY_TOO_LARGE) to load an array whose data exceeds this many bytes, before allocating it: a
   * guard for files from strangers, whose headers can declare any size. Streaming is not limited. Default: none.
   */
  maxArrayBytes?: number;
  signal?: AbortSignal;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** An npy stream must be its header plus exactly prod(shape)·itemsize data bytes. */
function checkAccounts(header: NpyHeader, streamSize: number): NpyHeader {
  const dataSize = streamSize - header.headerLength;
  if (dataSize !== header.byteLength) {
    throw new NpzError(
      'ERR_NPY_SIZE_MISMATCH',
      `shape (${header.shape.join(', ')}) × ${header.itemsize} bytes = ${header.byteLength}, but the stream holds ${dataSize} data bytes`,
      { expected: header.byteLength, actual: dataSize },
    );
  }
  return header;
}

function headerLengthWithin(prefix: Uint8Array, streamSize: number, options: DecodeNpyHeaderOptions): number {
  const headerLength = npyHeaderLength(prefix, options);
  if (headerLength > streamSize) {
    throw new NpzError('ERR_NPY_TRUNCATED', `npy header needs ${headerLength} bytes but the stream holds ${streamSize}`, {
      expected: headerLength,
      actual: streamSize,
    });
  }
  return headerLength;
}

/**
 * The header decoded from the first bytes of a stream of `streamSize` bytes, or undefined when `head` is too
 * short to tell (then read it with `readNpyHeader`). Lets a scan that already fetched the bytes skip a read.
 */
export function npyHeaderFromHead(head: Uint8Array, streamSize: number, options: DecodeNpyHeaderOptions = {}): NpyHeader | undefined {
  const complete = head.length >= streamSize;
  if (!complete && head.length < 12) return undefined;
  const headerLength = headerLengthWithin(head.subarray(0, 12), streamSize, options);
  if (head.length < headerLength) return undefined;
  return checkAccounts(decodeNpyHeader(head.subarray(0, headerLength), options), streamSize);
}

/**
 * Reads the npy header from the start of a stream of `size` bytes (header and data) and checks that it accounts
 * for the stream exactly. `read(n)` returns the next `min(n, bytes left)` bytes. A size of undefined is a
 * stream whose end only the header can tell (a zip member read front to back, with its sizes in a data
 * descriptor after the data): the caller then delimits it by the header's length plus `byteLength`.
 */
export async function readNpyHeaderFrom(
  read: (length: number) => Promise<Uint8Array>,
  size: number | undefined,
  options: DecodeNpyHeaderOptions = {},
): Promise<NpyHeader> {
  const prefix = await read(size === undefined ? 12 : Math.min(12, size));
  const headerLength = size === undefined ? npyHeaderLength(prefix, options) : headerLengthWithin(prefix, size, options);
  if (headerLength < prefix.length) {
    // A v1 header of 10 or 11 bytes: too short for any dictionary, and shorter than the prefix already read.
    throw new NpzError('ERR_NPY_HEADER_SYNTAX', `npy header of ${headerLength} bytes is too short to hold a dictionary`, { actual: headerLength });
  }
  const header = decodeNpyHeader(concat(prefix, await read(headerLength - prefix.length)), options);
  return size === undefined ? header : checkAccounts(header, size);
}

/** Reads the npy header from the start of the stream and checks that it accounts for the stream exactly. */
export function readNpyHeader(reader: NpyByteReader, options: DecodeNpyHeaderOptions = {}): Promise<NpyHeader> {
  return readNpyHeaderFrom((length) => reader.read(length), reader.size, options);
}

/** The descr callers see: data that was byte-swapped is little-endian now, and its descr says so. */
export function reportedDescr(header: NpyHeader): Descr {
  return header.swapUnit > 1 && typeof header.descr === 'string' ? header.descr.replace(/^>/, '<') : header.descr;
}

/**
 * Where an array's data goes: a buffer of at least `byteLength` bytes, whose start the array then occupies
 * (e.g. one reused from an earlier array). The default is a fresh ArrayBuffer of exactly that size.
 */
export type ArrayMemory = (byteLength: number) => ArrayBuffer;

/** A typed array at the start of a buffer (aligned for any element type), or ERR_NPY_TOO_LARGE. */
function allocate(header: NpyHeader, maxArrayBytes: number, memory: ArrayMemory | undefined): NpyTypedArray {
  if (header.byteLength > maxArrayBytes) {
    throw new NpzError(
      'ERR_NPY_TOO_LARGE',
      `${header.byteLength} bytes exceed the maxArrayBytes limit of ${maxArrayBytes}; stream the array in chunks or raise the limit`,
      { expected: maxArrayBytes, actual: header.byteLength },
    );
  }
  try {
    const buffer = memory === undefined ? new ArrayBuffer(header.byteLength) : memory(header.byteLength);
    return typedArrayFor(header.dtype, buffer, 0, header.byteLength);
  } catch (cause) {
    // Allocation failure, or more elements than a typed array may hold (a Uint8Array stops at 2^32).
    throw new NpzError('ERR_NPY_TOO_LARGE', `${header.byteLength} bytes do not fit in one typed array here; stream them in chunks instead`, {
      actual: header.byteLength,
      cause,
    });
  }
}

/**
 * The views one array is read and byte-swapped through: at most `viewBytes` each (MAX_VIEW_BYTES, 1 GiB, in
 * every real read; smaller in tests, through this same code), cut to whole swap units so that no view ever splits
 * an item that is byte-swapped. The data buffer may be larger than any one Uint8Array may be.
 */
export function arrayViews(buffer: ArrayBufferLike, byteLength: number, swapUnit: number, viewBytes: number = MAX_VIEW_BYTES): Uint8Array[] {
  const unit = Math.max(1, swapUnit);
  const step = viewBytes - (viewBytes % unit);
  if (!Number.isSafeInteger(step) || step <= 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `views of ${viewBytes} bytes cannot hold whole ${unit}-byte items`, { actual: viewBytes });
  }
  const views: Uint8Array[] = [];
  for (let at = 0; at < byteLength; at += step) views.push(new Uint8Array(buffer, at, Math.min(step, byteLength - at)));
  return views;
}

/**
 * Reads the data after `header` into a buffer of its own (or `memory`'s), verified (`finish`) before it is
 * returned. `viewBytes` is for tests: the largest view handed to one read or swap.
 */
export async function readNpyArray(
  reader: NpyByteReader,
  header: NpyHeader,
  options: NpyReadOptions = {},
  memory?: ArrayMemory,
  viewBytes: number = MAX_VIEW_BYTES,
): Promise<NpyArray> {
  const data = allocate(header, options.maxArrayBytes ?? Number.POSITIVE_INFINITY, memory);
  const views = arrayViews(data.buffer, header.byteLength, header.swapUnit, viewBytes);
  for (const view of views) await reader.readInto(view);
  await reader.finish();
  throwIfAborted(options.signal, 'reading');
  for (const view of views) byteSwapInPlace(view, header.swapUnit);
  return { dtype: header.dtype, descr: reportedDescr(header), shape: header.shape, fortranOrder: header.fortranOrder, data };
}

/**
 * The data bytes after `header`, little-endian, in chunks of at most `chunkSize` (a multiple of the swap unit
 * when big-endian data is converted). Completing the loop means the reader verified every byte.
 */
export async function* npyDataChunks(
  reader: NpyByteReader,
  header: NpyHeader,
  chunkSize: number,
  options: { recycle?: boolean; signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const unit = header.swapUnit;
  const pieceSize = unit > 1 ? Math.max(unit, chunkSize - (chunkSize % unit)) : chunkSize;
  let carry = new Uint8Array(0);
  for await (const piece of reader.chunks(pieceSize, options.recycle === true)) {
    if (options.signal?.aborted === true) throw abortError(options.signal, 'reading');
    if (unit <= 1) {
      yield piece;
      continue;
    }
    // Swap whole items only, on a private copy: stored chunks from an in-memory source alias the caller's bytes.
    const joined = concat(carry, piece);
    const whole = joined.length - (joined.length % unit);
    carry = joined.slice(whole);
    const out = joined.subarray(0, whole);
    byteSwapInPlace(out, unit);
    if (out.length > 0) yield out;
  }
}
