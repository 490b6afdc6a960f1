import { NpzError } from '../errors.js';
import type { NpyArray } from '../npy/array.js';
import type { NpyHeader } from '../npy/header.js';
import { npyDataChunks, readNpyArray, readNpyHeaderFrom, type NpyByteReader } from '../npy/read.js';
import type { Platform } from '../io/platform.js';
import type { ByteStream } from '../io/byte-stream.js';
import { throwIfAborted } from '../io/abort.js';
import { DEFAULT_CHUNK_SIZE } from '../zip/random/member-reader.js';
import { SequentialZipReader, type StreamMember } from '../zip/stream/sequential.js';
import { inMember, type NpzReadOptions } from './arrays.js';
import { npyArrayFields, type NpyArrayFields, type NpzMemberFields } from './entry-fields.js';
import { compressionOf, isArrayMember, keyOfMember, type DuplicateNamePolicy } from './keys.js';

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

/** An array member whose npy header has been read; its data is still in the stream. */
export interface StreamNpzArrayEntry extends NpzMemberFields, NpyArrayFields {
  format: 'npz';
  isArray: true;
  /**
   * The data bytes, little-endian, in chunks of at most `chunkSize`. Once only, and only before the next entry
   * is requested. Completing the loop means the member's CRC-32 and sizes verified.
   */
  chunks(options?: StreamChunksOptions): AsyncGenerator<Uint8Array, void, undefined>;
  /** The whole array in a buffer of its own, verified before it resolves. Once only, like `chunks()`. */
  read(): Promise<NpyArray>;
}

/** A member whose name does not end in `.npy`. */
export interface StreamNpzOtherEntry extends NpzMemberFields {
  format: 'npz';
  isArray: false;
  /** The member's uncompressed bytes; once only, before the next entry. */
  chunks(options?: StreamChunksOptions): AsyncGenerator<Uint8Array, void, undefined>;
}

export type StreamNpzEntry = StreamNpzArrayEntry | StreamNpzOtherEntry;

/**
 * Reads the npy header at the start of a member and delimits the member by it: header plus shape × itemsize is
 * where a stored member written with a data descriptor ends. The header is read before the member's length is
 * known (no NpyByteReader yet, whose size must be known up front); a size the local header states is checked.
 */
async function readStreamArrayHeader(member: StreamMember, options: StreamNpzOptions): Promise<NpyHeader> {
  try {
    const header = await readNpyHeaderFrom((length) => member.readExact(length), member.declaredSize, options);
    member.delimit(header.headerLength + header.byteLength);
    return header;
  } catch (error) {
    member.abandon();
    throw inMember(member, error);
  }
}

/**
 * The npy read layer's view of an array member once its header has delimited it (`size`: header plus data).
 * Every read goes through `readExact`, so each chunk is a fresh buffer of exactly the length asked for: with
 * `wholeItems` chunk sizes, consumers can view every chunk as the array's type. Nothing is recycled.
 */
class StreamNpyReader implements NpyByteReader {
  readonly #member: StreamMember;
  readonly #signal: AbortSignal | undefined;

  constructor(member: StreamMember, readonly size: number, signal: AbortSignal | undefined) {
    this.#member = member;
    this.#signal = signal;
  }

  get remaining(): number {
    return this.size - this.#member.position;
  }

  read(length: number): Promise<Uint8Array> {
    return this.#member.readExact(Math.min(length, this.remaining));
  }

  async readInto(dest: Uint8Array): Promise<void> {
    throwIfAborted(this.#signal, 'reading');
    await this.#member.readExact(dest.length, dest);
  }

  async *chunks(chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
    while (this.remaining > 0) {
      throwIfAborted(this.#signal, 'reading');
      yield await this.read(chunkSize);
    }
    await this.finish();
  }

  async finish(): Promise<void> {
    while (this.remaining > 0) await this.read(DEFAULT_CHUNK_SIZE);
    // An empty array never completed a read: the member's end (and its CRC) is checked here.
    if ((await this.#member.read(1)) !== undefined) {
      throw new NpzError('ERR_ZIP_BOMB', `member ${JSON.stringify(this.#member.name)} holds more than its npy header says`, { entry: this.#member.name });
    }
  }
}

/** The largest multiple of the item size within `chunkSize` (at least one item), so chunks hold whole items. */
function wholeItems(header: NpyHeader, chunkSize: number): number {
  const item = Math.max(1, header.itemsize);
  return Math.max(item, chunkSize - (chunkSize % item));
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

async function* arrayChunks(member: StreamMember, header: NpyHeader, chunkSize: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array, void, undefined> {
  const reader = new StreamNpyReader(member, header.headerLength + header.byteLength, signal);
  try {
    yield* npyDataChunks(reader, header, wholeItems(header, chunkSize), signal === undefined ? {} : { signal });
  } catch (error) {
    throw inMember(member, error);
  }
}

async function readWholeArray(member: StreamMember, header: NpyHeader, options: StreamNpzOptions): Promise<NpyArray> {
  try {
    return await readNpyArray(new StreamNpyReader(member, header.headerLength + header.byteLength, options.signal), header, options);
  } catch (error) {
    throw inMember(member, error);
  }
}

function arrayEntry(member: StreamMember, header: NpyHeader, claim: Claim, options: StreamNpzOptions): StreamNpzArrayEntry {
  return {
    format: 'npz',
    isArray: true,
    name: keyOfMember(member.name),
    memberName: member.name,
    compression: compressionOf(member),
    localHeaderOffset: member.localHeaderOffset,
    ...npyArrayFields(header),
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
    format: 'npz',
    isArray: false,
    name: keyOfMember(member.name),
    memberName: member.name,
    compression: compressionOf(member),
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
 * `streamNpz` on an explicit platform (the public function, documented in src/index.ts, passes Node's). The
 * front-to-back zip reader inflates with zlib itself on this branch; it takes `platform.codecs` once the zip
 * rework of issue 21 lands.
 */
export async function* streamNpz(
  platform: Platform,
  input: ByteStream,
  options: StreamNpzOptions = {},
): AsyncGenerator<StreamNpzEntry, void, undefined> {
  const zip = new SequentialZipReader(input, platform.codecs, options.signal);
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
      if (!isArrayMember(member)) {
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
export async function* readNpzStream(
  platform: Platform,
  input: ByteStream,
  options: StreamNpzOptions = {},
): AsyncGenerator<[string, NpyArray], void, undefined> {
  for await (const entry of streamNpz(platform, input, options)) {
    if (entry.isArray) yield [entry.name, await entry.read()];
  }
}
