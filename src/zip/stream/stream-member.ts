import { NpzError, type NpzErrorCode } from '../../errors.js';
import { viewOf } from '../format/bytes.js';
import type { StreamByteReader } from '../../source/byte-stream.js';
import { crc32 } from '../write/crc32.js';
import { SIG_END, SIG_ZIP64_END } from '../format/end-records.js';
import {
  FLAG_DATA_DESCRIPTOR,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  METHOD_DEFLATED,
  METHOD_STORED,
  SIG_CENTRAL_DIRECTORY,
  SIG_DATA_DESCRIPTOR,
  SIG_DIGITAL_SIGNATURE,
  SIG_LOCAL_HEADER,
  ZIP64_EXTRA_ID,
  type LocalHeader,
} from '../format/records.js';
import { StreamInflater } from '../../node/codecs.js';

/**
 * One zip member read from a stream, front to back: its end found from the sizes in its local header, from the
 * end of its deflate stream, or (stored, sizes in a data descriptor) from a length the caller learns from the
 * member's contents; its CRC-32 and sizes checked against the local header or the descriptor before its last
 * bytes are handed out. Used by sequential.ts, which walks the members and checks the central directory.
 */

const STORED_PIECE = 1 << 20;

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

export function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

export function hasZip64Extra(extra: Uint8Array): boolean {
  const view = viewOf(extra);
  for (let at = 0; at + 4 <= extra.length; at += 4 + view.getUint16(at + 2, true)) {
    if (view.getUint16(at, true) === ZIP64_EXTRA_ID) return true;
  }
  return false;
}

export function truncated(what: string, offset: number): NpzError {
  return new NpzError('ERR_ZIP_TRUNCATED', `the stream ended inside ${what} (offset ${offset})`, { offset });
}

interface DescriptorLayout {
  signature: boolean;
  zip64: boolean;
}

/** Decodes a descriptor candidate; undefined when the bytes are too few for it. */
function descriptorAt(bytes: Uint8Array, layout: DescriptorLayout): { length: number; crc32: number; compressedSize: number; uncompressedSize: number } | undefined {
  const start = layout.signature ? 4 : 0;
  const length = start + (layout.zip64 ? 20 : 12);
  if (bytes.length < length) return undefined;
  const view = viewOf(bytes);
  const size = (at: number): number => (layout.zip64 ? view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32 : view.getUint32(at, true));
  const sizeWidth = layout.zip64 ? 8 : 4;
  return {
    length,
    crc32: view.getUint32(start, true),
    compressedSize: size(start + 4),
    uncompressedSize: size(start + 4 + sizeWidth),
  };
}

const RECORD_SIGNATURES = new Set([SIG_LOCAL_HEADER, SIG_CENTRAL_DIRECTORY, SIG_END, SIG_ZIP64_END, SIG_DIGITAL_SIGNATURE]);

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
  readonly #onDone: (seen: SeenMember) => void;
  #inflater: StreamInflater | undefined;
  #lookahead: Uint8Array | undefined;
  /** Uncompressed length, when known: from the local header, or from the caller (`delimit`). */
  #length: number | undefined;
  #delimited = false;
  #produced = 0;
  #crc = 0;
  #done = false;
  #failed: unknown;

  constructor(reader: StreamByteReader, header: LocalHeader, name: string, offset: number, onDone: (seen: SeenMember) => void) {
    this.#reader = reader;
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
    return this.#produced;
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
    const { flags, method } = this.header;
    if ((flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) {
      throw this.#fail(new NpzError('ERR_ZIP_ENCRYPTED', `member ${JSON.stringify(this.name)} is encrypted`, { entry: this.name }));
    }
    if (method !== METHOD_STORED && method !== METHOD_DEFLATED) {
      throw this.#fail(
        new NpzError('ERR_ZIP_UNSUPPORTED_METHOD', `member ${JSON.stringify(this.name)} uses compression method ${method}; only stored (0) and deflate (8) are supported`, {
          entry: this.name,
          actual: method,
        }),
      );
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
    this.#delimited = this.hasDescriptor;
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
      this.#crc = crc32(piece, this.#crc);
      this.#produced += piece.length;
      if (this.#length !== undefined && this.#produced === this.#length) await this.#finish();
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
          new NpzError('ERR_NPY_TRUNCATED', `member ${JSON.stringify(this.name)} ends after ${this.#produced} bytes, ${length - at} more were expected`, {
            entry: this.name,
            expected: this.#produced + length - at,
            actual: this.#produced,
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
    this.#inflater?.destroy();
    this.#inflater = undefined;
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
    const left = this.#length - this.#produced;
    if (left === 0) return undefined;
    const piece = await this.#reader.next(Math.min(max, left));
    if (piece === undefined) throw truncated(`member ${JSON.stringify(this.name)}`, this.#reader.position);
    return piece;
  }

  async #readDeflated(max: number): Promise<Uint8Array | undefined> {
    let piece = this.#lookahead;
    this.#lookahead = undefined;
    if (piece === undefined) {
      this.#inflater ??= new StreamInflater(this.#reader, this.name, this.hasDescriptor ? undefined : this.header.compressedSize);
      piece = await this.#inflater.next();
      if (piece === undefined) return undefined;
    }
    if (piece.length > max) {
      this.#lookahead = piece.subarray(max);
      piece = piece.subarray(0, max);
    }
    if (this.#length !== undefined && this.#produced + piece.length > this.#length) {
      throw new NpzError('ERR_ZIP_BOMB', `member ${JSON.stringify(this.name)} inflates past its ${this.#length} bytes`, {
        entry: this.name,
        expected: this.#length,
        actual: this.#produced + piece.length,
      });
    }
    return piece;
  }

  /** For a deflated member of unknown length: pulls one piece ahead to learn whether the stream just ended. */
  async #deflateEnded(): Promise<boolean> {
    if (this.#lookahead !== undefined) return false;
    const next = await (this.#inflater as StreamInflater).next();
    if (next === undefined) return true;
    this.#lookahead = next;
    return false;
  }

  async #finish(): Promise<void> {
    if (this.#done) return;
    let compressedSize = this.#produced;
    if (this.header.method === METHOD_DEFLATED) {
      const inflater = this.#inflater ?? new StreamInflater(this.#reader, this.name, this.hasDescriptor ? undefined : this.header.compressedSize);
      this.#inflater = inflater;
      if (this.#lookahead !== undefined || (await inflater.next()) !== undefined) {
        throw new NpzError('ERR_ZIP_BOMB', `member ${JSON.stringify(this.name)} inflates past its ${this.#produced} bytes`, {
          entry: this.name,
          expected: this.#produced,
        });
      }
      compressedSize = inflater.consumed;
    }
    if (this.#length !== undefined && this.#produced !== this.#length) {
      throw new NpzError('ERR_ZIP_SIZE_MISMATCH', `member ${JSON.stringify(this.name)} holds ${this.#produced} bytes, ${this.#length} were expected`, {
        entry: this.name,
        expected: this.#length,
        actual: this.#produced,
      });
    }
    const actual = { crc32: this.#crc >>> 0, compressedSize, uncompressedSize: this.#produced };
    if (this.hasDescriptor) await this.#checkDescriptor(actual);
    else this.#compare(actual, this.header, 'local header');
    this.#done = true;
    this.#onDone({ ...this.#seenBase(), ...actual });
  }

  #seenBase(): Omit<SeenMember, 'crc32' | 'compressedSize' | 'uncompressedSize'> {
    return { name: this.name, rawName: this.rawName, flags: this.header.flags, method: this.header.method, localHeaderOffset: this.localHeaderOffset };
  }

  #compare(actual: { crc32: number; compressedSize: number; uncompressedSize: number }, stated: { crc32: number; compressedSize: number; uncompressedSize: number }, where: string): void {
    if (stated.uncompressedSize !== actual.uncompressedSize || stated.compressedSize !== actual.compressedSize) {
      // A stored member delimited by its npy header that disagrees with its descriptor: the header is what lied.
      const code: NpzErrorCode = this.#delimited ? 'ERR_NPY_SIZE_MISMATCH' : 'ERR_ZIP_SIZE_MISMATCH';
      throw new NpzError(
        code,
        `member ${JSON.stringify(this.name)}: read ${actual.compressedSize} bytes inflating to ${actual.uncompressedSize}, the ${where} says ${stated.compressedSize} and ${stated.uncompressedSize}`,
        { entry: this.name, expected: stated.uncompressedSize, actual: actual.uncompressedSize },
      );
    }
    if (stated.crc32 !== actual.crc32) {
      throw new NpzError(
        'ERR_ZIP_CRC_MISMATCH',
        `member ${JSON.stringify(this.name)} is corrupt: CRC-32 ${hex(actual.crc32)} does not match ${hex(stated.crc32)} from its ${where}`,
        { entry: this.name, expected: stated.crc32, actual: actual.crc32 },
      );
    }
  }

  /**
   * The descriptor comes with or without its signature, with 4- or 8-byte sizes (8 when the local header had a
   * zip64 extra, but writers differ). The layout that repeats what was read and is followed by a record
   * signature (or the end of the stream) is taken; if none repeats it, the most likely layout reports the error.
   */
  async #checkDescriptor(actual: { crc32: number; compressedSize: number; uncompressedSize: number }): Promise<void> {
    const bytes = await this.#reader.peek(32);
    const zip64First = hasZip64Extra(this.header.extra);
    const signed = bytes.length >= 4 && u32(bytes, 0) === SIG_DATA_DESCRIPTOR;
    const layouts: DescriptorLayout[] = [];
    for (const signature of signed ? [true, false] : [false]) {
      for (const zip64 of zip64First ? [true, false] : [false, true]) layouts.push({ signature, zip64 });
    }
    let fallback: number | undefined;
    for (const layout of layouts) {
      const found = descriptorAt(bytes, layout);
      if (found === undefined) continue;
      const agrees = found.crc32 === actual.crc32 && found.compressedSize === actual.compressedSize && found.uncompressedSize === actual.uncompressedSize;
      if (!agrees) continue;
      const followed = bytes.length === found.length || (bytes.length >= found.length + 4 && RECORD_SIGNATURES.has(u32(bytes, found.length)));
      if (followed) {
        await this.#reader.read(found.length);
        return;
      }
      fallback ??= found.length;
    }
    if (fallback !== undefined) {
      await this.#reader.read(fallback);
      return;
    }
    const primary = descriptorAt(bytes, layouts[0] as DescriptorLayout);
    if (primary === undefined) throw truncated(`the data descriptor of ${JSON.stringify(this.name)}`, this.#reader.position);
    this.#compare(actual, primary, 'data descriptor');
    // Values agree but the layout was not a clean fit: cannot happen, since the primary layout was tried above.
    throw new NpzError('ERR_ZIP_LOCAL_HEADER', `member ${JSON.stringify(this.name)}: unreadable data descriptor`, { entry: this.name });
  }

  #fail(error: unknown): unknown {
    this.#failed ??= error;
    this.abandon();
    return this.#failed;
  }
}
