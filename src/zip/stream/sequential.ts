import { NpzError, type NpzErrorCode } from '../../errors.js';
import type { Codecs } from '../../io/codecs.js';
import { StreamByteReader, type ByteStream } from '../../io/byte-stream.js';
import { viewOf } from '../format/bytes.js';
import {
  END_LENGTH,
  SIG_END,
  SIG_ZIP64_END,
  ZIP64_END_HEAD,
  ZIP64_END_LENGTH,
  ZIP64_LOCATOR_LENGTH,
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
} from '../format/end-records.js';
import { crcMismatch } from '../format/member-check.js';
import {
  CENTRAL_DIRECTORY_FIXED,
  FLAG_DATA_DESCRIPTOR,
  LOCAL_HEADER_FIXED,
  SIG_CENTRAL_DIRECTORY,
  SIG_DIGITAL_SIGNATURE,
  SIG_LOCAL_HEADER,
  centralDirectoryEntrySpan,
  decodeLocalHeader,
  localHeaderSpan,
} from '../format/records.js';
import {
  MAX_CENTRAL_DIRECTORY_BYTES,
  assignRegions,
  checkComment,
  checkLocalName,
  checkStoredSizes,
  checkZip64Locator,
  checkZip64Record,
  checkZip64RecordSize,
  decodeDirectory,
  directoryTooLarge,
  localName,
  noEndRecord,
  resolveEndRecords,
  zip64Value,
  type EndRecords,
  type ZipEntry,
} from '../format/rules.js';
import { StreamMember, truncated, u32, type SeenMember } from './stream-member.js';

export { StreamMember, type SeenMember } from './stream-member.js';

/** Zip64 end records carry an extensible data sector; this much of it is read through, more is refused. */
const MAX_ZIP64_EXTENSIBLE_DATA = 1 << 20;
/**
 * Bytes after the end record that are still counted, to report them as a random-access reader does: it looks for
 * the end record only in the last END_LENGTH + 0xffff + zip64 records' bytes of the file, and past that finds none.
 */
const MAX_TRAILING_COUNTED = 0xffff + ZIP64_LOCATOR_LENGTH + ZIP64_END_LENGTH;

/** The central directory's bytes as they stream past, copied (a producer may reuse its buffers). */
class DirectoryBytes {
  #bytes = new Uint8Array(4096);
  length = 0;

  add(piece: Uint8Array): void {
    if (this.length + piece.length > MAX_CENTRAL_DIRECTORY_BYTES) throw directoryTooLarge(this.length + piece.length);
    if (this.length + piece.length > this.#bytes.length) {
      const grown = new Uint8Array(Math.min(MAX_CENTRAL_DIRECTORY_BYTES, Math.max(2 * this.#bytes.length, this.length + piece.length)));
      grown.set(this.#bytes.subarray(0, this.length));
      this.#bytes = grown;
    }
    this.#bytes.set(piece, this.length);
    this.length += piece.length;
  }

  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }
}

/**
 * A zip read front to back, from a stream that cannot seek. Each member is found by its local header; its end by
 * the sizes there, by the end of its deflate stream, or (stored members written with unknown sizes) by a length
 * the caller learns from the member's own contents. Every member's CRC-32 and sizes are checked against its local
 * header or data descriptor as it is read. At the end, the central directory and end records go through the same
 * rules as in the random-access reader (../format/rules.ts), and must then repeat everything seen: same members
 * in the same order, same CRCs, sizes and offsets. The stream can only be judged complete at its end: members
 * handed out earlier were verified one by one, the archive as a whole only then.
 */
export class SequentialZipReader {
  readonly #reader: StreamByteReader;
  readonly #codecs: Codecs;
  readonly #seen: SeenMember[] = [];
  #current: StreamMember | undefined;
  #finished = false;
  /** The stream's first record was a local header. */
  #startedWithMember = false;
  /** Total stream length, known once the end records have been read. */
  totalLength: number | undefined;

  /** `codecs`: CRC-32 and inflate from the host. With `signal`, an abort rejects a read waiting on the stream at once. */
  constructor(stream: ByteStream, codecs: Codecs, signal?: AbortSignal) {
    this.#reader = new StreamByteReader(stream, signal);
    this.#codecs = codecs;
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
      if (at === 0 && signature.length === 0) throw new NpzError('ERR_ZIP_NOT_ZIP', 'input is empty, not a zip archive');
      if (at === 0) throw new NpzError('ERR_ZIP_NOT_ZIP', 'the input stream is not a zip archive (too short)');
      throw truncated('the archive: no central directory', at);
    }
    const sig = u32(signature, 0);
    if (sig === SIG_LOCAL_HEADER) {
      if (at === 0) this.#startedWithMember = true;
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

  async #readAhead(length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.#reader.peek(length);
    if (bytes.length < length) throw truncated(what, this.#reader.position);
    return bytes;
  }

  /** Reads and drops up to `max` bytes; returns how many the stream had. */
  async #drain(max: number): Promise<number> {
    let count = 0;
    while (count < max) {
      const piece = await this.#reader.next(max - count);
      if (piece === undefined) break;
      count += piece.length;
    }
    return count;
  }

  async #localHeader(at: number): Promise<StreamMember> {
    const fixed = await this.#readRecord(LOCAL_HEADER_FIXED, 'a local file header');
    const rest = await this.#readRecord(localHeaderSpan(fixed) - LOCAL_HEADER_FIXED, 'a local file header');
    const whole = new Uint8Array(fixed.length + rest.length);
    whole.set(fixed);
    whole.set(rest, fixed.length);
    const header = decodeLocalHeader(whole);
    const name = localName(header, at);
    // Without a descriptor the local header's sizes delimit the member: the directory's rule holds for them too.
    if ((header.flags & FLAG_DATA_DESCRIPTOR) === 0) checkStoredSizes(name, header.flags, header.method, header.compressedSize, header.uncompressedSize);
    return new StreamMember(this.#reader, this.#codecs, header, name, at, (seen) => this.#seen.push(seen));
  }

  /**
   * From the directory's first record (at `start`) to the end of the stream: the directory's bytes are collected,
   * the end records read, and both checked by the shared rules before the directory is compared with the stream.
   */
  async #directory(start: number): Promise<void> {
    const directory = new DirectoryBytes();
    for (;;) {
      const signature = u32(await this.#readAhead(4, 'the central directory'), 0);
      if (signature === SIG_CENTRAL_DIRECTORY) {
        const fixed = await this.#readRecord(CENTRAL_DIRECTORY_FIXED, 'a central directory entry');
        directory.add(fixed);
        directory.add(await this.#readRecord(centralDirectoryEntrySpan(fixed) - CENTRAL_DIRECTORY_FIXED, 'a central directory entry'));
        continue;
      }
      if (signature === SIG_DIGITAL_SIGNATURE) {
        // Part of the central directory (APPNOTE 4.3.12), after its last record.
        const head = await this.#readRecord(6, 'a digital signature record');
        directory.add(head);
        directory.add(await this.#readRecord(viewOf(head).getUint16(4, true), 'a digital signature record'));
      }
      break;
    }
    const found = await this.#endRecords();
    const extent = resolveEndRecords(found, this.totalLength as number);
    if (extent.offset !== start) {
      throw new NpzError(
        'ERR_ZIP_CENTRAL_DIRECTORY',
        `the end record puts the central directory at ${extent.offset}, but in the stream it starts at ${start}`,
        { offset: found.endOffset, expected: start, actual: extent.offset },
      );
    }
    const entries = decodeDirectory(directory.bytes, extent.entries, start);
    assignRegions(entries, start, this.totalLength as number);
    this.#compareWithStream(entries);
  }

  /** The zip64 end record and locator when there are, then the end record and its comment, which must end the stream. */
  async #endRecords(): Promise<EndRecords> {
    let signature = u32(await this.#readAhead(4, 'the end records'), 0);
    let zip64: EndRecords['zip64'];
    if (signature === SIG_ZIP64_END) {
      const recordOffset = this.#reader.position;
      const fixed = await this.#readRecord(ZIP64_END_LENGTH, 'the zip64 end of central directory record');
      const record = zip64Value(() => decodeZip64EndOfCentralDirectory(fixed, 0));
      checkZip64RecordSize(record, recordOffset);
      const extensible = record.recordSize - (ZIP64_END_LENGTH - ZIP64_END_HEAD);
      if (extensible > MAX_ZIP64_EXTENSIBLE_DATA) {
        throw new NpzError('ERR_ZIP_ZIP64', `the zip64 end record at ${recordOffset} states a size of ${record.recordSize} bytes, too large to read through`, {
          offset: recordOffset,
          actual: record.recordSize,
        });
      }
      if ((await this.#drain(extensible)) < extensible) throw truncated('the zip64 end of central directory record', this.#reader.position);
      const locatorOffset = this.#reader.position;
      const locatorBytes = await this.#readRecord(ZIP64_LOCATOR_LENGTH, 'the zip64 end locator');
      const locator = zip64Value(() => decodeZip64Locator(locatorBytes, 0));
      checkZip64Locator(locator, locatorOffset);
      if (locator.zip64EndOffset !== recordOffset) {
        throw new NpzError('ERR_ZIP_ZIP64', `the zip64 end locator at ${locatorOffset} points at ${locator.zip64EndOffset}, but the zip64 end record is at ${recordOffset}`, {
          offset: locatorOffset,
          expected: recordOffset,
          actual: locator.zip64EndOffset,
        });
      }
      checkZip64Record(record, recordOffset, locatorOffset);
      zip64 = { record, recordOffset };
      signature = u32(await this.#readAhead(4, 'the end of central directory record'), 0);
    }
    return this.#endRecord(signature, zip64);
  }

  async #endRecord(signature: number, zip64: EndRecords['zip64']): Promise<EndRecords> {
    if (signature !== SIG_END) {
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `unexpected bytes after the central directory at offset ${this.#reader.position}`, {
        offset: this.#reader.position,
      });
    }
    const endOffset = this.#reader.position;
    const fixed = await this.#readRecord(END_LENGTH, 'the end of central directory record');
    const declared = viewOf(fixed).getUint16(20, true);
    const whole = new Uint8Array(END_LENGTH + declared);
    whole.set(fixed);
    let comment = 0;
    while (comment < declared) {
      const piece = await this.#reader.next(declared - comment);
      if (piece === undefined) break;
      whole.set(piece, END_LENGTH + comment);
      comment += piece.length;
    }
    const trailing = comment < declared ? comment : comment + (await this.#drain(MAX_TRAILING_COUNTED - comment + 1));
    if (trailing > MAX_TRAILING_COUNTED) throw noEndRecord(this.#seen.length > 0 || this.#startedWithMember);
    checkComment(endOffset, declared, trailing);
    this.totalLength = this.#reader.position;
    return { end: decodeEndOfCentralDirectory(whole, 0), endOffset, zip64 };
  }

  /** The directory must list exactly the members the stream held, in stream order, with what was read of each. */
  #compareWithStream(entries: readonly ZipEntry[]): void {
    for (const entry of entries) {
      const seen = this.#seen[entry.index];
      if (seen === undefined) {
        throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `the central directory lists ${JSON.stringify(entry.name)}, which the stream did not contain`, {
          entry: entry.name,
          offset: entry.localHeaderOffset,
        });
      }
      const mismatch = (code: NpzErrorCode, what: string, expected: unknown, actual: unknown): NpzError =>
        new NpzError(
          code,
          `the central directory disagrees with the stream about member ${JSON.stringify(seen.name)}: ${what} ${String(expected)} in the stream, ${String(actual)} in the directory`,
          { entry: seen.name, offset: seen.localHeaderOffset, expected, actual },
        );
      // The rules a random-access reader applies at this point, with the same words: the local header's name,
      // then the member's bytes against the directory's CRC-32.
      checkLocalName(entry, seen.name);
      if (entry.method !== seen.method) throw mismatch('ERR_ZIP_CENTRAL_DIRECTORY', 'compression method', seen.method, entry.method);
      if (entry.crc32 !== seen.crc32) throw crcMismatch(entry.name, seen.crc32, entry.crc32);
      if (entry.compressedSize !== seen.compressedSize || entry.uncompressedSize !== seen.uncompressedSize) {
        throw mismatch('ERR_ZIP_SIZE_MISMATCH', 'sizes', `${seen.compressedSize}/${seen.uncompressedSize}`, `${entry.compressedSize}/${entry.uncompressedSize}`);
      }
      if (entry.localHeaderOffset !== seen.localHeaderOffset) {
        throw mismatch('ERR_ZIP_CENTRAL_DIRECTORY', 'local header offset', seen.localHeaderOffset, entry.localHeaderOffset);
      }
    }
    if (entries.length < this.#seen.length) {
      const missing = this.#seen[entries.length] as SeenMember;
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `member ${JSON.stringify(missing.name)} was in the stream but is missing from the central directory`, {
        entry: missing.name,
        expected: this.#seen.length,
        actual: entries.length,
      });
    }
  }
}
