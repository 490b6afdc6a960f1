import { NpzError } from '../errors.js';
import { byteSwapInPlace, typedArrayFor, type ArrayDType, type NpyTypedArray } from '../npy/dtype.js';
import { decodeNpyHeader, npyHeaderLength, type DecodeNpyHeaderOptions, type Descr, type NpyHeader } from '../npy/header.js';
import { MemberReader, type MemberReadOptions } from '../zip/member.js';
import type { DuplicateNamePolicy, ZipArchive, ZipEntry } from '../zip/reader.js';
import { METHOD_DEFLATED, METHOD_STORED } from '../zip/records.js';

/**
 * One npz member as an array: its npy header, its data read into a fresh aligned buffer, or its data streamed.
 * Shared by openNpz (random access) and readNpz (one pass).
 */

export type NpzReadOptions = DecodeNpyHeaderOptions &
  MemberReadOptions & {
    /**
     * Refuse (ERR_NPY_TOO_LARGE) to load an array whose data exceeds this many bytes, before allocating it: a
     * guard for files from strangers, whose headers can declare any size. `chunks()` is not limited. Default: none.
     */
    maxArrayBytes?: number;
  };

/** An array as read from an npz: data is little-endian, in the order the header says (C or Fortran). */
export interface NpzArray {
  dtype: ArrayDType;
  /** The stored descr; big-endian descrs are reported with '<' because the data was converted. */
  descr: Descr;
  shape: number[];
  fortranOrder: boolean;
  data: NpyTypedArray;
}

export type Compression = 'stored' | 'deflate' | 'unsupported';

/** The array key of a member: numpy's `name.removesuffix('.npy')`. */
export function keyOfMember(memberName: string): string {
  return memberName.endsWith('.npy') ? memberName.slice(0, -'.npy'.length) : memberName;
}

/**
 * Members by key, after the duplicate policy: 'x.npy' and a non-array member 'x' share the key 'x', so keys can
 * collide even when member names do not. `kept` lists the surviving members in central directory order.
 */
export function indexByKey(entries: readonly ZipEntry[], policy: DuplicateNamePolicy): { byKey: Map<string, ZipEntry>; kept: ZipEntry[] } {
  const byKey = new Map<string, ZipEntry>();
  for (const entry of entries) {
    const key = keyOfMember(entry.name);
    const previous = byKey.get(key);
    if (previous !== undefined && policy === 'error') {
      throw new NpzError(
        'ERR_NPZ_DUPLICATE_NAME',
        `members ${JSON.stringify(previous.name)} and ${JSON.stringify(entry.name)} both have the key ${JSON.stringify(key)}; option duplicates: 'last' keeps the last`,
        { entry: key },
      );
    }
    byKey.set(key, entry);
  }
  return { byKey, kept: entries.filter((entry) => byKey.get(keyOfMember(entry.name)) === entry) };
}

export function isArrayMember(entry: ZipEntry): boolean {
  return entry.name.endsWith('.npy');
}

export function compressionOf(entry: ZipEntry): Compression {
  return entry.method === METHOD_STORED ? 'stored' : entry.method === METHOD_DEFLATED ? 'deflate' : 'unsupported';
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) {
    throw new NpzError('ERR_ABORTED', 'reading was aborted', { cause: signal.reason });
  }
}

/** Adds the member name to errors raised by the pure npy codec, which does not know it. */
function inMember(entry: ZipEntry, error: unknown): unknown {
  if (!(error instanceof NpzError) || error.entry !== undefined) return error;
  return new NpzError(error.code, `member ${JSON.stringify(entry.name)}: ${error.message}`, {
    entry: entry.name,
    ...(error.offset === undefined ? {} : { offset: error.offset }),
    expected: error.expected,
    actual: error.actual,
    cause: error,
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The descr callers see: data that was byte-swapped is little-endian now, and its descr says so. */
export function reportedDescr(header: NpyHeader): Descr {
  return header.swapUnit > 1 && typeof header.descr === 'string' ? header.descr.replace(/^>/, '<') : header.descr;
}

/**
 * Reads the npy header from the start of a member and checks that it accounts for the member exactly:
 * headerLength + prod(shape)·itemsize must equal the member size.
 */
export async function readArrayHeader(member: MemberReader, options: NpzReadOptions): Promise<NpyHeader> {
  const { entry } = member;
  try {
    const prefix = await member.read(Math.min(12, member.remaining));
    const headerLength = npyHeaderLength(prefix, options);
    if (headerLength > entry.uncompressedSize) {
      throw new NpzError('ERR_NPY_TRUNCATED', `npy header needs ${headerLength} bytes but the member holds ${entry.uncompressedSize}`, {
        expected: headerLength,
        actual: entry.uncompressedSize,
      });
    }
    const header = decodeNpyHeader(concat(prefix, await member.read(headerLength - prefix.length)), options);
    const dataSize = entry.uncompressedSize - header.headerLength;
    if (dataSize !== header.byteLength) {
      throw new NpzError(
        'ERR_NPY_SIZE_MISMATCH',
        `shape (${header.shape.join(', ')}) × ${header.itemsize} bytes = ${header.byteLength}, but the member holds ${dataSize} data bytes`,
        { expected: header.byteLength, actual: dataSize },
      );
    }
    return header;
  } catch (error) {
    throw inMember(entry, error);
  }
}

function tooLarge(entry: ZipEntry, byteLength: number, cause: unknown): NpzError {
  return new NpzError(
    'ERR_NPY_TOO_LARGE',
    `member ${JSON.stringify(entry.name)}: ${byteLength} bytes do not fit in one typed array here; stream them with chunks() instead`,
    { entry: entry.name, actual: byteLength, cause },
  );
}

/** A typed array over a fresh buffer of its own (aligned for any element type), or ERR_NPY_TOO_LARGE. */
function allocate(entry: ZipEntry, header: NpyHeader, maxArrayBytes: number): NpyTypedArray {
  if (header.byteLength > maxArrayBytes) {
    throw new NpzError(
      'ERR_NPY_TOO_LARGE',
      `member ${JSON.stringify(entry.name)}: ${header.byteLength} bytes exceed the maxArrayBytes limit of ${maxArrayBytes}; stream it with chunks() or raise the limit`,
      { entry: entry.name, expected: maxArrayBytes, actual: header.byteLength },
    );
  }
  try {
    return typedArrayFor(header.dtype, new ArrayBuffer(header.byteLength), 0, header.byteLength);
  } catch (cause) {
    // Allocation failure, or more elements than a typed array may hold (a Uint8Array stops at 2^32).
    throw tooLarge(entry, header.byteLength, cause);
  }
}

/** Uint8Array views are limited in length, and so is byteSwapInPlace (Buffer); larger arrays go in pieces. */
const SEGMENT_BYTES = 1 << 30;

/** Reads a whole array into a buffer of its own (aligned for any typed array), verified before it is returned. */
export async function readArray(archive: ZipArchive, entry: ZipEntry, options: NpzReadOptions): Promise<NpzArray> {
  checkAborted(options.signal);
  const member = await MemberReader.open(archive, entry, options);
  try {
    const header = await readArrayHeader(member, options);
    const data = allocate(entry, header, options.maxArrayBytes ?? Number.POSITIVE_INFINITY);
    // SEGMENT_BYTES is a multiple of every swap unit, so each segment swaps whole items.
    for (let at = 0; at < header.byteLength; at += SEGMENT_BYTES) {
      const segment = new Uint8Array(data.buffer, at, Math.min(SEGMENT_BYTES, header.byteLength - at));
      await member.readInto(segment);
    }
    await member.finish();
    checkAborted(options.signal);
    for (let at = 0; at < header.byteLength; at += SEGMENT_BYTES) {
      byteSwapInPlace(new Uint8Array(data.buffer, at, Math.min(SEGMENT_BYTES, header.byteLength - at)), header.swapUnit);
    }
    return {
      dtype: header.dtype,
      descr: reportedDescr(header),
      shape: header.shape,
      fortranOrder: header.fortranOrder,
      data,
    };
  } finally {
    member.close();
  }
}

/** Reads only the npy header of an array member (no data, no CRC check: that needs the whole member). */
export async function peekArrayHeader(archive: ZipArchive, entry: ZipEntry, options: NpzReadOptions): Promise<NpyHeader> {
  const member = await MemberReader.open(archive, entry, options);
  try {
    return await readArrayHeader(member, options);
  } finally {
    member.close();
  }
}

/**
 * The data bytes after the header, little-endian, in chunks of at most `chunkSize` (a multiple of the swap unit
 * when big-endian data is converted). Completing the loop means the member's CRC-32 verified.
 */
export async function* arrayChunks(
  archive: ZipArchive,
  entry: ZipEntry,
  options: NpzReadOptions,
  chunkSize: number,
  recycle = false,
): AsyncGenerator<Uint8Array, void, undefined> {
  checkAborted(options.signal);
  const member = await MemberReader.open(archive, entry, options);
  try {
    const header = await readArrayHeader(member, options);
    const unit = header.swapUnit;
    const pieceSize = unit > 1 ? Math.max(unit, chunkSize - (chunkSize % unit)) : chunkSize;
    let carry = new Uint8Array(0);
    for await (const piece of member.chunks(pieceSize, recycle)) {
      checkAborted(options.signal);
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
  } finally {
    member.close();
  }
}
