import { NpzError, type NpzErrorCode } from '../../errors.js';
import { viewOf } from '../format/bytes.js';
import { StreamByteReader, type ByteStream } from '../../source/byte-stream.js';
import {
  END_LENGTH,
  SIG_END,
  SIG_ZIP64_END,
  ZIP64_LOCATOR_LENGTH,
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
} from '../format/end-records.js';
import { decodeZipName } from '../format/names.js';
import {
  CENTRAL_DIRECTORY_FIXED,
  LOCAL_HEADER_FIXED,
  SIG_CENTRAL_DIRECTORY,
  SIG_DIGITAL_SIGNATURE,
  SIG_LOCAL_HEADER,
  U32_SENTINEL,
  decodeCentralDirectoryEntry,
  decodeLocalHeader,
  type CentralDirectoryEntry,
} from '../format/records.js';
import { StreamMember, hasZip64Extra, hex, truncated, u32, type SeenMember } from './stream-member.js';

export { StreamMember, type SeenMember } from './stream-member.js';

/** Zip64 end records carry an extensible data sector; this much of it is read through, more is refused. */
const MAX_ZIP64_END_RECORD = 1 << 20;

/**
 * A zip read front to back, from a stream that cannot seek. Each member is found by its local header; its end by
 * the sizes there, by the end of its deflate stream, or (stored members written with unknown sizes) by a length
 * the caller learns from the member's own contents. Every member's CRC-32 and sizes are checked against its local
 * header or data descriptor as it is read, and at the end the central directory and end records must agree with
 * everything seen: same members in the same order, same CRCs, sizes and offsets. The stream can only be judged
 * complete at its end: members handed out earlier were verified one by one, the archive as a whole only then.
 */
export class SequentialZipReader {
  readonly #reader: StreamByteReader;
  readonly #seen: SeenMember[] = [];
  #current: StreamMember | undefined;
  #finished = false;
  /** Total stream length, known once the end records have been read. */
  totalLength: number | undefined;

  /** With `signal`, an abort rejects a read waiting on the stream at once. */
  constructor(stream: ByteStream, signal?: AbortSignal) {
    this.#reader = new StreamByteReader(stream, signal);
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
