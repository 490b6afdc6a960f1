import { NpzError } from '../../errors.js';
import type { Codecs, InflateInput, Inflation } from '../../io/codecs.js';
import { viewOf } from '../format/bytes.js';
import type { StreamByteReader } from '../../io/byte-stream.js';
import { MemberCheck } from '../format/member-check.js';
import {
  FLAG_DATA_DESCRIPTOR,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  METHOD_DEFLATED,
  METHOD_STORED,
  hasZip64Extra,
  pickDataDescriptor,
  type LocalHeader,
  type MemberSizes,
} from '../format/records.js';
import { checkDecodable } from '../format/rules.js';

/**
 * One zip member read from a stream, front to back: its end found from the sizes in its local header, from the
 * end of its deflate stream, or (stored, sizes in a data descriptor) from a length the caller learns from the
 * member's contents; its CRC-32 and sizes checked against the local header or the descriptor, by the shared member
 * check, before its last bytes are handed out. Used by sequential.ts, which walks the members and checks the
 * central directory.
 */

const STORED_PIECE = 1 << 20;
/** Compressed bytes handed to the inflater at a time: what it may take past the member's end is put back. */
const INPUT_CHUNK = 64 * 1024;
const OUTPUT_CHUNK = 256 * 1024;

/** A member as it was read from the stream: what the central directory must repeat. */
export interface SeenMember {
  name: string;
  rawName: Uint8Array;
  flags: number;
  method: number;
  localHeaderOffset: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

export function u32(bytes: Uint8Array, at: number): number {
  return viewOf(bytes).getUint32(at, true);
}

export function truncated(what: string, offset: number): NpzError {
  return new NpzError('ERR_ZIP_TRUNCATED', `the stream ended inside ${what} (offset ${offset})`, { offset });
}

/** A member's compressed bytes from the stream, at most `limit` of them (the local header's compressed size) when known. */
class MemberInput implements InflateInput {
  #fed = 0;
  /** The stream ended before the deflate stream did. */
  cut = false;

  constructor(
    private readonly reader: StreamByteReader,
    private readonly limit: number | undefined,
  ) {}

  async next(): Promise<Uint8Array | undefined> {
    const room = this.limit === undefined ? INPUT_CHUNK : Math.min(INPUT_CHUNK, this.limit - this.#fed);
    if (room <= 0) return undefined;
    const chunk = await this.reader.next(room);
    if (chunk === undefined) {
      this.cut = true;
      return undefined;
    }
    this.#fed += chunk.length;
    return chunk;
  }
}

/** One member's uncompressed bytes, read once, front to back. */
export class StreamMember {
  readonly name: string;
  readonly rawName: Uint8Array;
  readonly header: LocalHeader;
  readonly localHeaderOffset: number;
  readonly dataOffset: number;
  /** Sizes and CRC follow the data in a descriptor (flag bit 3): the local header does not know them. */
  readonly hasDescriptor: boolean;
  readonly #reader: StreamByteReader;
  readonly #codecs: Codecs;
  readonly #onDone: (seen: SeenMember) => void;
  /** CRC-32 and count of the uncompressed bytes handed out. */
  readonly #check: MemberCheck;
  #inflation: Inflation | undefined;
  #input: MemberInput | undefined;
  #inflationEnded = false;
  #lookahead: Uint8Array | undefined;
  /** Uncompressed length, when known: from the local header, or from the caller (`delimit`). */
  #length: number | undefined;
  #delimited = false;
  #done = false;
  #failed: unknown;

  constructor(
    reader: StreamByteReader,
    codecs: Codecs,
    header: LocalHeader,
    name: string,
    offset: number,
    onDone: (seen: SeenMember) => void,
  ) {
    this.#reader = reader;
    this.#codecs = codecs;
    this.#check = new MemberCheck(name, header.method, codecs.crc32);
    this.header = header;
    this.name = name;
    this.rawName = header.name.slice();
    this.localHeaderOffset = offset;
    this.dataOffset = offset + header.length;
    this.hasDescriptor = (header.flags & FLAG_DATA_DESCRIPTOR) !== 0;
    this.#onDone = onDone;
    if (!this.hasDescriptor) this.#length = header.uncompressedSize;
  }

  get method(): number {
    return this.header.method;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Uncompressed bytes handed out so far. */
  get position(): number {
    return this.#check.length;
  }

  /** The uncompressed size, when the local header states it (no data descriptor). */
  get declaredSize(): number | undefined {
    return this.hasDescriptor ? undefined : this.header.uncompressedSize;
  }

  /** True when the member's end can be found without help: sizes in the local header, or a deflate stream. */
  get selfDelimiting(): boolean {
    return !this.hasDescriptor || this.header.method === METHOD_DEFLATED;
  }

  /** Refuses what cannot be decoded: encryption, methods other than stored and deflate. */
  checkDecodable(): void {
    try {
      checkDecodable(this.name, this.header.flags, this.header.method);
    } catch (error) {
      throw this.#fail(error);
    }
  }

  /**
   * Sets the uncompressed length the caller worked out from the member's contents (an npy member: header plus
   * shape × itemsize). A stored member with a data descriptor can only be delimited this way; for the others it
   * caps inflation, and any disagreement with the sizes read later is an error.
   */
  delimit(length: number): void {
    if (this.#length !== undefined && this.#length !== length) {
      throw this.#fail(
        new NpzError('ERR_NPY_SIZE_MISMATCH', `member ${JSON.stringify(this.name)} holds ${this.#length} bytes, its contents account for ${length}`, {
          entry: this.name,
          expected: length,
          actual: this.#length,
        }),
      );
    }
    this.#length = length;
    // Only a stored member's end is where its contents say; a deflate stream ends by itself.
    this.#delimited = this.hasDescriptor && this.header.method === METHOD_STORED;
  }

  /**
   * The next piece of uncompressed bytes, at most `max`, or undefined at the member's end. The piece that
   * completes the member is handed out only after the CRC-32 and sizes verified.
   */
  async read(max: number): Promise<Uint8Array | undefined> {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#done) return undefined;
    try {
      const piece = this.header.method === METHOD_STORED ? await this.#readStored(max) : await this.#readDeflated(max);
      if (piece === undefined) {
        await this.#finish();
        return undefined;
      }
      this.#check.update(piece);
      if (this.#length !== undefined && this.#check.length === this.#length) await this.#finish();
      else if (this.#length === undefined && this.header.method === METHOD_DEFLATED && (await this.#deflateEnded())) await this.#finish();
      return piece;
    } catch (error) {
      throw this.#fail(error);
    }
  }

  /** Exactly `length` bytes (ERR_ZIP_TRUNCATED-like errors when the member ends first), copied into one buffer. */
  async readExact(length: number, into: Uint8Array = new Uint8Array(length)): Promise<Uint8Array> {
    let at = 0;
    while (at < length) {
      const piece = await this.read(length - at);
      if (piece === undefined) {
        throw this.#fail(
          new NpzError('ERR_NPY_TRUNCATED', `member ${JSON.stringify(this.name)} ends after ${this.#check.length} bytes, ${length - at} more were expected`, {
            entry: this.name,
            expected: this.#check.length + length - at,
            actual: this.#check.length,
          }),
        );
      }
      into.set(piece, at);
      at += piece.length;
    }
    return into;
  }

  /** Reads (and verifies) the rest of the member, discarding it. */
  async skip(): Promise<void> {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#done) return;
    if (!this.selfDelimiting && this.#length === undefined) {
      throw this.#fail(
        new NpzError(
          'ERR_ZIP_STREAM_UNDELIMITED',
          `member ${JSON.stringify(this.name)} is stored with its size in a data descriptor after the data, and it is not an .npy array whose header gives its length: a stream reader cannot find where it ends (read the file with openNpz instead)`,
          { entry: this.name, offset: this.localHeaderOffset },
        ),
      );
    }
    const { flags, method } = this.header;
    if ((flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0 || (method !== METHOD_STORED && method !== METHOD_DEFLATED)) {
      // Undecodable but delimited by its local header: skipped as raw bytes, like the file reader skips it.
      if (this.hasDescriptor) this.checkDecodable();
      await this.#skipRaw(this.header.compressedSize);
      return;
    }
    while ((await this.read(STORED_PIECE)) !== undefined);
  }

  /** Stops any inflation; the stream is left mid-member (the walker refuses to go on). */
  abandon(): void {
    this.#inflation?.destroy();
    this.#inflation = undefined;
  }

  async #skipRaw(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      const piece = await this.#reader.next(Math.min(left, STORED_PIECE));
      if (piece === undefined) throw this.#fail(truncated(`member ${JSON.stringify(this.name)}`, this.#reader.position));
      left -= piece.length;
    }
    this.#done = true;
    this.#onDone({ ...this.#seenBase(), crc32: this.header.crc32, compressedSize: length, uncompressedSize: this.header.uncompressedSize });
  }

  async #readStored(max: number): Promise<Uint8Array | undefined> {
    if (this.#length === undefined) {
      // Only the npy header is read before the length is known; it lies within the member.
      const piece = await this.#reader.next(max);
      if (piece === undefined) throw truncated(`member ${JSON.stringify(this.name)}`, this.#reader.position);
      return piece;
    }
    const left = this.#length - this.#check.length;
    if (left === 0) return undefined;
    const piece = await this.#reader.next(Math.min(max, left));
    if (piece === undefined) throw truncated(`member ${JSON.stringify(this.name)}`, this.#reader.position);
    return piece;
  }

  async #readDeflated(max: number): Promise<Uint8Array | undefined> {
    let piece = this.#lookahead;
    this.#lookahead = undefined;
    if (piece === undefined) {
      piece = await this.#inflate();
      if (piece === undefined) return undefined;
    }
    if (piece.length > max) {
      this.#lookahead = piece.subarray(max);
      piece = piece.subarray(0, max);
    }
    if (this.#length !== undefined) this.#check.limitInflation(this.#check.length + piece.length, this.#length);
    return piece;
  }

  /**
   * The next inflated piece, or undefined once the deflate stream ended, at which point the compressed bytes the
   * inflater took past it go back to the reader (once).
   */
  async #inflate(): Promise<Uint8Array | undefined> {
    if (this.#inflation === undefined) {
      this.#input = new MemberInput(this.#reader, this.hasDescriptor ? undefined : this.header.compressedSize);
      this.#inflation = this.#codecs.inflateRaw(this.#input, { chunkSize: OUTPUT_CHUNK });
    }
    let piece: Uint8Array | undefined;
    try {
      piece = await this.#inflation.next();
    } catch (cause) {
      if (cause instanceof NpzError) throw cause;
      if (this.#input?.cut === true) {
        throw new NpzError('ERR_ZIP_TRUNCATED', `the stream ended inside the deflate data of member ${JSON.stringify(this.name)}`, {
          entry: this.name,
          offset: this.#reader.position,
          cause,
        });
      }
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new NpzError('ERR_ZIP_INFLATE', `member ${JSON.stringify(this.name)}: corrupt deflate data (${message})`, { entry: this.name, cause });
    }
    if (piece === undefined && !this.#inflationEnded) {
      this.#inflationEnded = true;
      const unused = this.#inflation.unused();
      if (unused.length > 0) this.#reader.unread(unused);
    }
    return piece;
  }

  /** For a deflated member of unknown length: pulls one piece ahead to learn whether the stream just ended. */
  async #deflateEnded(): Promise<boolean> {
    if (this.#lookahead !== undefined) return false;
    const next = await this.#inflate();
    if (next === undefined) return true;
    this.#lookahead = next;
    return false;
  }

  async #finish(): Promise<void> {
    if (this.#done) return;
    const check = this.#check;
    let compressedSize = check.length;
    if (this.header.method === METHOD_DEFLATED) {
      const extra = this.#lookahead ?? (await this.#inflate());
      // Output past the member's known length: the deflate stream goes on where the member should end.
      if (extra !== undefined) check.limitInflation(check.length + extra.length, check.length);
      compressedSize = (this.#inflation as Inflation).consumed;
    }
    const sizeCode = this.#delimited ? 'ERR_NPY_SIZE_MISMATCH' : 'ERR_ZIP_SIZE_MISMATCH';
    if (this.#length !== undefined && check.length !== this.#length) {
      // The deflate stream ended short of the length the member's contents gave.
      check.verify({ crc32: check.crc, compressedSize, uncompressedSize: this.#length }, compressedSize);
    }
    const actual: MemberSizes = { crc32: check.crc >>> 0, compressedSize, uncompressedSize: check.length };
    if (this.hasDescriptor) {
      // The descriptor follows the data; up to 32 bytes of what comes next tell which of its forms it has.
      const bytes = await this.#reader.peek(32);
      const descriptor = pickDataDescriptor(bytes, hasZip64Extra(this.header.extra), actual);
      if (descriptor === undefined) throw truncated(`the data descriptor of ${JSON.stringify(this.name)}`, this.#reader.position);
      check.verify(descriptor, compressedSize, sizeCode);
      await this.#reader.read(descriptor.length);
    } else {
      check.verify(this.header, compressedSize, sizeCode);
    }
    this.#done = true;
    this.#onDone({ ...this.#seenBase(), ...actual });
  }

  #seenBase(): Omit<SeenMember, 'crc32' | 'compressedSize' | 'uncompressedSize'> {
    return { name: this.name, rawName: this.rawName, flags: this.header.flags, method: this.header.method, localHeaderOffset: this.localHeaderOffset };
  }

  #fail(error: unknown): unknown {
    this.#failed ??= error;
    this.abandon();
    return this.#failed;
  }
}
