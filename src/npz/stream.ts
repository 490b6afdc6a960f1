import { NpzError } from '../errors.js';
import { byteSwapInPlace, typedArrayFor, type ArrayDType, type NpyTypedArray } from '../npy/dtype.js';
import { decodeNpyHeader, npyHeaderLength, type Descr, type NpyHeader } from '../npy/header.js';
import type { ByteStream } from '../source/byte-stream.js';
import type { NpyArray } from '../npy/array.js';
import { reportedDescr } from '../npy/read.js';
import { throwIfAborted } from '../util/abort.js';
import { DEFAULT_CHUNK_SIZE } from '../zip/member-reader.js';
import { METHOD_DEFLATED, METHOD_STORED } from '../zip/records.js';
import { SequentialZipReader, type StreamMember } from '../zip/sequential.js';
import type { NpzReadOptions } from './arrays.js';
import { keyOfMember, type Compression, type DuplicateNamePolicy } from './keys.js';

/**
 * An npz read front to back from a stream that cannot seek (stdin, a pipe, an HTTP body): members in stream
 * order, each array's npy header giving the length of its data, each member's CRC-32 checked as it ends, and the
 * central directory checked against all of it at the very end. Errors found there (a member the directory does
 * not list, a different CRC) are thrown after the earlier arrays were already handed out, each of which had
 * verified on its own: a stream can only be judged complete at its end.
 */

export interface StreamNpzOptions extends NpzReadOptions {
  /**
   * A key seen twice: `'error'` (default) throws when the second arrives (the first was already handed out);
   * `'last'` hands out both in stream order, so a map filled from them keeps the last, as np.load does.
   */
  duplicates?: DuplicateNamePolicy;
}

export interface StreamChunksOptions {
  /** Largest chunk in bytes (default 4 MiB). */
  chunkSize?: number;
}

interface StreamEntryBase {
  /** The key: the member name with one `.npy` removed. */
  name: string;
  /** The member name in the archive. */
  memberName: string;
  compression: Compression;
  /** Stream offset of the member's local header. */
  localHeaderOffset: number;
}

/** An array member whose npy header has been read; its data is still in the stream. */
export interface StreamNpzArrayEntry extends StreamEntryBase {
  isArray: true;
  dtype: ArrayDType;
  descr: Descr;
  shape: number[];
  fortranOrder: boolean;
  /** Data bytes after the npy header: prod(shape) × itemsize. */
  byteLength: number;
  npyVersion: 1 | 2 | 3;
  /**
   * The data bytes, little-endian, in chunks of at most `chunkSize`. Once only, and only before the next entry
   * is requested. Completing the loop means the member's CRC-32 and sizes verified.
   */
  chunks(options?: StreamChunksOptions): AsyncGenerator<Uint8Array, void, undefined>;
  /** The whole array in a buffer of its own, verified before it resolves. Once only, like `chunks()`. */
  read(): Promise<NpyArray>;
}

/** A member whose name does not end in `.npy`. */
export interface StreamNpzOtherEntry extends StreamEntryBase {
  isArray: false;
  /** The member's uncompressed bytes; once only, before the next entry. */
  chunks(options?: StreamChunksOptions): AsyncGenerator<Uint8Array, void, undefined>;
}

export type StreamNpzEntry = StreamNpzArrayEntry | StreamNpzOtherEntry;

function compressionOfMethod(method: number): Compression {
  return method === METHOD_STORED ? 'stored' : method === METHOD_DEFLATED ? 'deflate' : 'unsupported';
}

/** Names the member in errors from the pure npy codec, which does not know it. */
function inMember(name: string, error: unknown): unknown {
  if (!(error instanceof NpzError) || error.entry !== undefined) return error;
  return new NpzError(error.code, `member ${JSON.stringify(name)}: ${error.message}`, {
    entry: name,
    ...(error.offset === undefined ? {} : { offset: error.offset }),
    expected: error.expected,
    actual: error.actual,
    cause: error,
  });
}

/**
 * Reads the npy header at the start of a member and delimits the member by it: header plus shape × itemsize is
 * where a stored member written with a data descriptor ends, and must equal a size the local header states.
 */
async function readStreamArrayHeader(member: StreamMember, options: StreamNpzOptions): Promise<NpyHeader> {
  try {
    const declared = member.declaredSize;
    const prefix = await member.readExact(declared === undefined ? 12 : Math.min(12, declared));
    const headerLength = npyHeaderLength(prefix, options);
    if (declared !== undefined && headerLength > declared) {
      throw new NpzError('ERR_NPY_TRUNCATED', `npy header needs ${headerLength} bytes but the member holds ${declared}`, {
        expected: headerLength,
        actual: declared,
      });
    }
    const bytes = new Uint8Array(Math.max(headerLength, prefix.length));
    bytes.set(prefix);
    if (headerLength > prefix.length) await member.readExact(headerLength - prefix.length, bytes.subarray(prefix.length));
    const header = decodeNpyHeader(bytes, options);
    if (declared !== undefined && declared - headerLength !== header.byteLength) {
      throw new NpzError(
        'ERR_NPY_SIZE_MISMATCH',
        `shape (${header.shape.join(', ')}) × ${header.itemsize} bytes = ${header.byteLength}, but the member holds ${declared - headerLength} data bytes`,
        { expected: header.byteLength, actual: declared - headerLength },
      );
    }
    if (prefix.length > headerLength) {
      throw new NpzError('ERR_NPY_HEADER_SYNTAX', `npy header of ${headerLength} bytes is too short to hold a dictionary`, { actual: headerLength });
    }
    member.delimit(headerLength + header.byteLength);
    return header;
  } catch (error) {
    member.abandon();
    throw inMember(member.name, error);
  }
}

/** SEGMENT_BYTES-sized pieces keep Uint8Array views and byte swaps within their limits for huge arrays. */
const SEGMENT_BYTES = 1 << 30;

function allocate(name: string, header: NpyHeader, maxArrayBytes: number): NpyTypedArray {
  if (header.byteLength > maxArrayBytes) {
    throw new NpzError(
      'ERR_NPY_TOO_LARGE',
      `member ${JSON.stringify(name)}: ${header.byteLength} bytes exceed the maxArrayBytes limit of ${maxArrayBytes}; stream it with chunks() or raise the limit`,
      { entry: name, expected: maxArrayBytes, actual: header.byteLength },
    );
  }
  try {
    return typedArrayFor(header.dtype, new ArrayBuffer(header.byteLength), 0, header.byteLength);
  } catch (cause) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `member ${JSON.stringify(name)}: ${header.byteLength} bytes do not fit in one typed array here; use chunks() instead`, {
      entry: name,
      actual: header.byteLength,
      cause,
    });
  }
}

/** Hands out a member's bytes once, and only while it is the current entry. */
class Claim {
  #claimed = false;
  #moved = false;
  constructor(readonly memberName: string) {}

  take(): void {
    if (this.#moved) {
      throw new NpzError('ERR_NPZ_CLOSED', `member ${JSON.stringify(this.memberName)} was passed over: a stream's entries must be read before asking for the next`, {
        entry: this.memberName,
      });
    }
    if (this.#claimed) throw new NpzError('ERR_NPZ_CLOSED', `member ${JSON.stringify(this.memberName)} was already read; a stream is read once`, { entry: this.memberName });
    this.#claimed = true;
  }

  moveOn(): void {
    this.#moved = true;
  }
}

/**
 * Chunks like the file reader's: fresh buffers (aligned for any typed array view), whole items each, so a
 * consumer can view them as the array's type. The copy out of the input's buffers is what makes that possible.
 */
async function* arrayChunks(member: StreamMember, header: NpyHeader, chunkSize: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  const item = Math.max(1, header.itemsize);
  const pieceSize = Math.max(item, chunkSize - (chunkSize % item));
  for (let left = header.byteLength; left > 0; ) {
    throwIfAborted(signal);
    const piece = await member.readExact(Math.min(pieceSize, left));
    left -= piece.length;
    byteSwapInPlace(piece, header.swapUnit);
    yield piece;
  }
  // An empty array never completed a read: the member's end (and its CRC) is checked here.
  if ((await member.read(1)) !== undefined) throw new NpzError('ERR_ZIP_BOMB', `member ${JSON.stringify(member.name)} holds more than its npy header says`, { entry: member.name });
}

async function readWholeArray(member: StreamMember, header: NpyHeader, options: StreamNpzOptions): Promise<NpyArray> {
  const data = allocate(member.name, header, options.maxArrayBytes ?? Number.POSITIVE_INFINITY);
  const bytes = (at: number): Uint8Array => new Uint8Array(data.buffer, at, Math.min(SEGMENT_BYTES, header.byteLength - at));
  for (let at = 0; at < header.byteLength; at += SEGMENT_BYTES) {
    throwIfAborted(options.signal);
    await member.readExact(Math.min(SEGMENT_BYTES, header.byteLength - at), bytes(at));
  }
  if ((await member.read(1)) !== undefined) throw new NpzError('ERR_ZIP_BOMB', `member ${JSON.stringify(member.name)} holds more than its npy header says`, { entry: member.name });
  throwIfAborted(options.signal);
  for (let at = 0; at < header.byteLength; at += SEGMENT_BYTES) byteSwapInPlace(bytes(at), header.swapUnit);
  return { dtype: header.dtype, descr: reportedDescr(header), shape: header.shape, fortranOrder: header.fortranOrder, data };
}

function arrayEntry(member: StreamMember, header: NpyHeader, claim: Claim, options: StreamNpzOptions): StreamNpzArrayEntry {
  return {
    isArray: true,
    name: keyOfMember(member.name),
    memberName: member.name,
    compression: compressionOfMethod(member.method),
    localHeaderOffset: member.localHeaderOffset,
    dtype: header.dtype,
    descr: reportedDescr(header),
    shape: header.shape,
    fortranOrder: header.fortranOrder,
    byteLength: header.byteLength,
    npyVersion: header.version,
    chunks(chunkOptions: StreamChunksOptions = {}) {
      claim.take();
      return arrayChunks(member, header, chunkOptions.chunkSize ?? options.chunkSize ?? DEFAULT_CHUNK_SIZE, options.signal);
    },
    read() {
      try {
        claim.take();
      } catch (error) {
        return Promise.reject(error);
      }
      return readWholeArray(member, header, options);
    },
  };
}

function otherEntry(member: StreamMember, claim: Claim, options: StreamNpzOptions): StreamNpzOtherEntry {
  return {
    isArray: false,
    name: keyOfMember(member.name),
    memberName: member.name,
    compression: compressionOfMethod(member.method),
    localHeaderOffset: member.localHeaderOffset,
    async *chunks(chunkOptions: StreamChunksOptions = {}) {
      claim.take();
      member.checkDecodable();
      const size = chunkOptions.chunkSize ?? options.chunkSize ?? DEFAULT_CHUNK_SIZE;
      for (;;) {
        throwIfAborted(options.signal);
        const piece = await member.read(size);
        if (piece === undefined) return;
        yield piece;
      }
    },
  };
}

/**
 * The entries of an npz stream, lazily, in stream order (like tar-stream): each array entry carries its npy header;
 * its data is read by `chunks()` or `read()` before the next entry is requested, or skipped (still verified) when
 * the next entry is requested first. Memory stays at a few chunks whatever the member sizes. The central
 * directory is checked when the loop reaches the end; leaving the loop early stops reading the input.
 */
export async function* streamNpz(input: ByteStream, options: StreamNpzOptions = {}): AsyncGenerator<StreamNpzEntry, void, undefined> {
  const zip = new SequentialZipReader(input);
  const keys = new Set<string>();
  const policy = options.duplicates ?? 'error';
  let previous: Claim | undefined;
  try {
    for (;;) {
      throwIfAborted(options.signal);
      const member = await zip.next();
      previous?.moveOn();
      if (member === undefined) return;
      const key = keyOfMember(member.name);
      if (keys.has(key) && policy === 'error') {
        throw new NpzError('ERR_NPZ_DUPLICATE_NAME', `the key ${JSON.stringify(key)} appears twice in the stream (member ${JSON.stringify(member.name)}); option duplicates: 'last' hands out both`, {
          entry: key,
        });
      }
      keys.add(key);
      const claim = new Claim(member.name);
      previous = claim;
      if (!member.name.endsWith('.npy')) {
        // A stored member with its size after the data cannot be delimited: refuse it where it is met.
        if (!member.selfDelimiting) await member.skip();
        yield otherEntry(member, claim, options);
        continue;
      }
      member.checkDecodable();
      yield arrayEntry(member, await readStreamArrayHeader(member, options), claim, options);
    }
  } finally {
    await zip.close();
  }
}

/** readNpz over a stream: every array in stream order, each read whole and verified before it is yielded. */
export async function* readNpzStream(input: ByteStream, options: StreamNpzOptions = {}): AsyncGenerator<[string, NpyArray], void, undefined> {
  for await (const entry of streamNpz(input, options)) {
    if (entry.isArray) yield [entry.name, await entry.read()];
  }
}
