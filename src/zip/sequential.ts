import { NpzError, type NpzErrorCode } from '../errors.js';
import { viewOf } from './bytes.js';
import { StreamByteReader, type ByteStream } from './byte-stream.js';
import { crc32 } from './crc32.js';
import {
  END_LENGTH,
  SIG_END,
  SIG_ZIP64_END,
  ZIP64_LOCATOR_LENGTH,
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
} from './end-records.js';
import { decodeZipName } from './names.js';
import {
  CENTRAL_DIRECTORY_FIXED,
  FLAG_DATA_DESCRIPTOR,
  LOCAL_HEADER_FIXED,
  METHOD_DEFLATED,
  METHOD_STORED,
  SIG_CENTRAL_DIRECTORY,
  SIG_DATA_DESCRIPTOR,
  SIG_LOCAL_HEADER,
  U32_SENTINEL,
  decodeCentralDirectoryEntry,
  decodeLocalHeader,
  type CentralDirectoryEntry,
  type LocalHeader,
} from './records.js';
import { StreamInflater } from './stream-inflate.js';

/**
 * A zip read front to back, from a stream that cannot seek. Each member is found by its local header; its end by
 * the sizes there, by the end of its deflate stream, or (stored members written with unknown sizes) by a length
 * the caller learns from the member's own contents. Every member's CRC-32 and sizes are checked against its local
 * header or data descriptor as it is read, and at the end the central directory and end records must agree with
 * everything seen: same members in the same order, same CRCs, sizes and offsets. The stream can only be judged
 * complete at its end: members handed out earlier were verified one by one, the archive as a whole only then.
 */

const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const SIG_DIGITAL_SIGNATURE = 0x05054b50;
const ZIP64_EXTRA_ID = 0x0001;
/** Zip64 end records carry an extensible data sector; this much of it is read through, more is refused. */
const MAX_ZIP64_END_RECORD = 1 << 20;
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

function u32(bytes: Uint8Array, at: number): number {
  return viewOf(bytes).getUint32(at, true);
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function hasZip64Extra(extra: Uint8Array): boolean {
  const view = viewOf(extra);
  for (let at = 0; at + 4 <= extra.length; at += 4 + view.getUint16(at + 2, true)) {
    if (view.getUint16(at, true) === ZIP64_EXTRA_ID) return true;
  }
  return false;
}

function truncated(what: string, offset: number): NpzError {
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

/** Walks the members of a zip stream in order, then checks the central directory against them. */
export class SequentialZipReader {
  readonly #reader: StreamByteReader;
  readonly #seen: SeenMember[] = [];
  #current: StreamMember | undefined;
  #finished = false;
  /** Total stream length, known once the end records have been read. */
  totalLength: number | undefined;

  constructor(stream: ByteStream) {
    this.#reader = new StreamByteReader(stream);
  }

  get position(): number {
    return this.#reader.position;
  }

  /** Members read to their end so far, in stream order. */
  get seen(): readonly SeenMember[] {
    return this.#seen;
  }

  /**
   * The next member, after reading through what is left of the previous one; undefined after the central
   * directory and end records were read and found to agree with every member seen.
   */
  async next(): Promise<StreamMember | undefined> {
    if (this.#finished) return undefined;
    if (this.#current !== undefined && !this.#current.done) await this.#current.skip();
    this.#current = undefined;
    const at = this.#reader.position;
    const signature = await this.#reader.peek(4);
    if (signature.length < 4) {
      if (at === 0 && signature.length === 0) throw new NpzError('ERR_ZIP_NOT_ZIP', 'the input stream is empty, not a zip archive');
      if (at === 0) throw new NpzError('ERR_ZIP_NOT_ZIP', 'the input stream is not a zip archive (too short)');
      throw truncated('the archive: no central directory', at);
    }
    const sig = u32(signature, 0);
    if (sig === SIG_LOCAL_HEADER) {
      this.#current = await this.#localHeader(at);
      return this.#current;
    }
    if (sig === SIG_CENTRAL_DIRECTORY || sig === SIG_END || sig === SIG_ZIP64_END || sig === SIG_DIGITAL_SIGNATURE) {
      await this.#directory(at);
      this.#finished = true;
      return undefined;
    }
    if (at === 0) throw new NpzError('ERR_ZIP_NOT_ZIP', 'the input stream is not a zip archive (it does not start with a local file header)');
    throw new NpzError('ERR_ZIP_LOCAL_HEADER', `unexpected bytes at offset ${at}: neither a local file header nor the central directory`, { offset: at });
  }

  async close(): Promise<void> {
    this.#current?.abandon();
    await this.#reader.close();
  }

  async #readRecord(length: number, what: string): Promise<Uint8Array> {
    const at = this.#reader.position;
    const bytes = await this.#reader.read(length);
    if (bytes.length < length) throw truncated(what, at);
    return bytes;
  }

  async #localHeader(at: number): Promise<StreamMember> {
    const fixed = await this.#readRecord(LOCAL_HEADER_FIXED, 'a local file header');
    const view = viewOf(fixed);
    const rest = await this.#readRecord(view.getUint16(26, true) + view.getUint16(28, true), 'a local file header');
    const whole = new Uint8Array(fixed.length + rest.length);
    whole.set(fixed);
    whole.set(rest, fixed.length);
    const header = decodeLocalHeader(whole);
    let name: string;
    try {
      name = decodeZipName(header.name, header.flags);
    } catch (cause) {
      throw new NpzError('ERR_ZIP_LOCAL_HEADER', `local file header at offset ${at}: ${(cause as Error).message}`, { offset: at, cause });
    }
    return new StreamMember(this.#reader, header, name, at, (seen) => this.#seen.push(seen));
  }

  async #directory(start: number): Promise<void> {
    let index = 0;
    let directoryEnd = start;
    for (;;) {
      const signature = await this.#reader.peek(4);
      if (signature.length < 4) throw truncated('the central directory', this.#reader.position);
      if (u32(signature, 0) !== SIG_CENTRAL_DIRECTORY) break;
      const at = this.#reader.position;
      const fixed = await this.#readRecord(CENTRAL_DIRECTORY_FIXED, 'a central directory entry');
      const view = viewOf(fixed);
      const rest = await this.#readRecord(view.getUint16(28, true) + view.getUint16(30, true) + view.getUint16(32, true), 'a central directory entry');
      const whole = new Uint8Array(fixed.length + rest.length);
      whole.set(fixed);
      whole.set(rest, fixed.length);
      this.#checkEntry(decodeCentralDirectoryEntry(whole), index, at, start);
      index += 1;
      directoryEnd = this.#reader.position;
    }
    if (index < this.#seen.length) {
      const missing = this.#seen[index] as SeenMember;
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `member ${JSON.stringify(missing.name)} was in the stream but is missing from the central directory`, {
        entry: missing.name,
        offset: directoryEnd,
        expected: this.#seen.length,
        actual: index,
      });
    }
    await this.#endRecords(start, directoryEnd, index);
  }

  #checkEntry(entry: CentralDirectoryEntry, index: number, at: number, directoryStart: number): void {
    let name: string;
    try {
      name = decodeZipName(entry.name, entry.flags);
    } catch (cause) {
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `central directory entry ${index}: ${(cause as Error).message}`, { offset: at, cause });
    }
    const seen = this.#seen[index];
    if (seen === undefined) {
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `the central directory lists ${JSON.stringify(name)}, which the stream did not contain`, {
        entry: name,
        offset: at,
      });
    }
    for (const [field, value] of [['compressed size', entry.compressedSize], ['uncompressed size', entry.uncompressedSize], ['local header offset', entry.localHeaderOffset]] as const) {
      if (value === U32_SENTINEL && !hasZip64Extra(entry.extra)) {
        throw new NpzError('ERR_ZIP_ZIP64', `member ${JSON.stringify(name)}: zip64 sentinel 0xFFFFFFFF as ${field} in the central directory but no zip64 extra field`, {
          entry: name,
          offset: at,
        });
      }
    }
    const mismatch = (code: NpzErrorCode, what: string, expected: unknown, actual: unknown): NpzError =>
      new NpzError(code, `the central directory disagrees with the stream about member ${JSON.stringify(seen.name)}: ${what} ${String(expected)} in the stream, ${String(actual)} in the directory`, {
        entry: seen.name,
        offset: at,
        expected,
        actual,
      });
    if (name !== seen.name) throw mismatch('ERR_ZIP_NAME_MISMATCH', `member ${index}'s name`, JSON.stringify(seen.name), JSON.stringify(name));
    if (entry.method !== seen.method) throw mismatch('ERR_ZIP_CENTRAL_DIRECTORY', 'compression method', seen.method, entry.method);
    if (entry.crc32 !== seen.crc32) throw mismatch('ERR_ZIP_CRC_MISMATCH', 'CRC-32', hex(seen.crc32), hex(entry.crc32));
    if (entry.compressedSize !== seen.compressedSize || entry.uncompressedSize !== seen.uncompressedSize) {
      throw mismatch('ERR_ZIP_SIZE_MISMATCH', 'sizes', `${seen.compressedSize}/${seen.uncompressedSize}`, `${entry.compressedSize}/${entry.uncompressedSize}`);
    }
    if (entry.localHeaderOffset !== seen.localHeaderOffset) {
      const code = entry.localHeaderOffset >= directoryStart ? 'ERR_ZIP_BOUNDS' : 'ERR_ZIP_CENTRAL_DIRECTORY';
      throw mismatch(code, 'local header offset', seen.localHeaderOffset, entry.localHeaderOffset);
    }
    if (entry.diskNumberStart !== 0) throw mismatch('ERR_ZIP_MULTIDISK', 'disk number', 0, entry.diskNumberStart);
  }

  async #endRecords(directoryStart: number, directoryEnd: number, entries: number): Promise<void> {
    let signature = u32(await this.#readAhead(4, 'the end records'), 0);
    if (signature === SIG_DIGITAL_SIGNATURE) {
      const head = await this.#readRecord(6, 'a digital signature record');
      await this.#readRecord(viewOf(head).getUint16(4, true), 'a digital signature record');
      signature = u32(await this.#readAhead(4, 'the end records'), 0);
    }
    let zip64: { entries: number; size: number; offset: number } | undefined;
    if (signature === SIG_ZIP64_END) {
      const zip64At = this.#reader.position;
      const head = await this.#readRecord(12, 'the zip64 end of central directory record');
      const recordSize = viewOf(head).getUint32(4, true) + viewOf(head).getUint32(8, true) * 2 ** 32;
      if (recordSize < 44 || recordSize > MAX_ZIP64_END_RECORD) {
        throw new NpzError('ERR_ZIP_ZIP64', `zip64 end of central directory record claims ${recordSize} bytes`, { offset: zip64At, actual: recordSize });
      }
      const rest = await this.#readRecord(recordSize, 'the zip64 end of central directory record');
      const whole = new Uint8Array(12 + rest.length);
      whole.set(head);
      whole.set(rest, 12);
      const record = decodeZip64EndOfCentralDirectory(whole, 0);
      if (record.diskNumber !== 0 || record.centralDirectoryDisk !== 0) {
        throw new NpzError('ERR_ZIP_MULTIDISK', 'multi-disk zip files are not supported', { offset: zip64At });
      }
      zip64 = { entries: record.entries, size: record.centralDirectorySize, offset: record.centralDirectoryOffset };
      const locator = decodeZip64Locator(await this.#readRecord(ZIP64_LOCATOR_LENGTH, 'the zip64 end locator'), 0);
      if (locator.zip64EndOffset !== zip64At) {
        throw new NpzError('ERR_ZIP_ZIP64', `the zip64 end locator points at ${locator.zip64EndOffset}, the record is at ${zip64At}`, {
          offset: zip64At,
          expected: zip64At,
          actual: locator.zip64EndOffset,
        });
      }
      signature = u32(await this.#readAhead(4, 'the end of central directory record'), 0);
    }
    if (signature !== SIG_END) {
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `unexpected bytes after the central directory at offset ${this.#reader.position}`, {
        offset: this.#reader.position,
      });
    }
    const endAt = this.#reader.position;
    const fixed = await this.#readRecord(END_LENGTH, 'the end of central directory record');
    const comment = await this.#readRecord(viewOf(fixed).getUint16(20, true), 'the end of central directory comment');
    const whole = new Uint8Array(fixed.length + comment.length);
    whole.set(fixed);
    whole.set(comment, fixed.length);
    const end = decodeEndOfCentralDirectory(whole, 0);
    this.totalLength = this.#reader.position;
    if (!(await this.#reader.atEnd())) {
      throw new NpzError('ERR_ZIP_EOCD', `bytes follow the end of central directory record (its comment ends at ${this.totalLength})`, {
        offset: this.totalLength,
      });
    }
    if (end.diskNumber !== 0 || end.centralDirectoryDisk !== 0) throw new NpzError('ERR_ZIP_MULTIDISK', 'multi-disk zip files are not supported', { offset: endAt });
    const stated = {
      entries: zip64 !== undefined && end.entries === 0xffff ? zip64.entries : end.entries,
      size: zip64 !== undefined && end.centralDirectorySize === U32_SENTINEL ? zip64.size : end.centralDirectorySize,
      offset: zip64 !== undefined && end.centralDirectoryOffset === U32_SENTINEL ? zip64.offset : end.centralDirectoryOffset,
    };
    if (stated.offset + stated.size > this.totalLength) {
      throw new NpzError('ERR_ZIP_BOUNDS', `the end record puts the central directory at ${stated.offset}..${stated.offset + stated.size}, past the ${this.totalLength}-byte stream`, {
        offset: endAt,
        expected: this.totalLength,
        actual: stated.offset + stated.size,
      });
    }
    if (stated.entries !== entries || stated.offset !== directoryStart || stated.size !== directoryEnd - directoryStart) {
      throw new NpzError(
        'ERR_ZIP_CENTRAL_DIRECTORY',
        `the end record describes ${stated.entries} entries in ${stated.size} bytes at ${stated.offset}; the stream had ${entries} in ${directoryEnd - directoryStart} bytes at ${directoryStart}`,
        { offset: endAt, expected: { entries, offset: directoryStart, size: directoryEnd - directoryStart }, actual: stated },
      );
    }
  }

  async #readAhead(length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.#reader.peek(length);
    if (bytes.length < length) throw truncated(what, this.#reader.position);
    return bytes;
  }
}
