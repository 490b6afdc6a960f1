/**
 * Finding and reading the central directory of a random-access source: the end records are located and read
 * first, checked by the shared rules (../format/rules.ts), then the whole directory is fetched in one read and
 * decoded record by record by the same rules the stream reader applies.
 */
import { NpzError } from '../../errors.js';
import type { RandomAccessSource } from '../../io/random-access.js';
import { viewOf } from '../format/bytes.js';
import {
  END_LENGTH,
  SIG_END,
  SIG_ZIP64_LOCATOR,
  ZIP64_END_LENGTH,
  ZIP64_LOCATOR_LENGTH,
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
} from '../format/end-records.js';
import { SIG_LOCAL_HEADER } from '../format/records.js';
import {
  assignRegions,
  checkComment,
  checkZip64Locator,
  checkZip64Record,
  decodeDirectory,
  noEndRecord,
  resolveEndRecords,
  zip64Value,
  type EndRecords,
  type ZipEntry,
} from '../format/rules.js';

export { MAX_CENTRAL_DIRECTORY_BYTES, inFileOrder, type ZipEntry } from '../format/rules.js';

/** The end record, its longest comment, and the zip64 locator and record right before it: one read finds all. */
const TAIL_BYTES = END_LENGTH + 0xffff + ZIP64_LOCATOR_LENGTH + ZIP64_END_LENGTH;

export interface CentralDirectory {
  /** Every record, in directory order. */
  entries: ZipEntry[];
  offset: number;
  /** Where the end records start (the zip64 record when there is one). */
  end: number;
}

async function readExact(source: RandomAccessSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.length < length) {
    throw new NpzError('ERR_ZIP_TRUNCATED', `source ended at offset ${offset + bytes.length} inside the ${what}`, {
      offset: offset + bytes.length,
      expected: offset + length,
    });
  }
  return bytes;
}

/** Tells "not a zip at all" from "a zip whose end is missing" when no end of central directory record exists. */
async function missingEnd(source: RandomAccessSource): Promise<NpzError> {
  if (source.size === 0) return new NpzError('ERR_ZIP_NOT_ZIP', 'input is empty, not a zip archive');
  const head = await source.read(0, Math.min(4, source.size));
  return noEndRecord(head.length === 4 && viewOf(head).getUint32(0, true) === SIG_LOCAL_HEADER);
}

/** The last end record whose comment reaches exactly to the end of the file, and the zip64 records it leads to. */
async function readEndRecords(source: RandomAccessSource): Promise<{ found: EndRecords; tail: Uint8Array; tailStart: number }> {
  const size = source.size;
  const tailStart = Math.max(0, size - TAIL_BYTES);
  const tail = await readExact(source, tailStart, size - tailStart, 'end of the archive');
  const view = viewOf(tail);
  let at = tail.length - END_LENGTH;
  while (at >= 0 && view.getUint32(at, true) !== SIG_END) at--;
  if (at < 0) throw await missingEnd(source);

  const endOffset = tailStart + at;
  checkComment(endOffset, view.getUint16(at + 20, true), tail.length - at - END_LENGTH);
  const end = decodeEndOfCentralDirectory(tail, at);
  const locatorAt = at - ZIP64_LOCATOR_LENGTH;
  if (locatorAt < 0 || view.getUint32(locatorAt, true) !== SIG_ZIP64_LOCATOR) return { found: { end, endOffset }, tail, tailStart };

  const locatorOffset = tailStart + locatorAt;
  const locator = zip64Value(() => decodeZip64Locator(tail, locatorAt));
  checkZip64Locator(locator, locatorOffset);
  const recordOffset = locator.zip64EndOffset;
  const recordBytes =
    recordOffset >= tailStart ? tail.subarray(recordOffset - tailStart) : await readExact(source, recordOffset, ZIP64_END_LENGTH, 'zip64 end record');
  const record = zip64Value(() => decodeZip64EndOfCentralDirectory(recordBytes, 0));
  checkZip64Record(record, recordOffset, locatorOffset);
  return { found: { end, endOffset, zip64: { record, recordOffset } }, tail, tailStart };
}

/**
 * Reads the end records and the whole central directory (one read for the tail, which holds a small directory
 * too; one for a larger directory; one more only when a zip64 record lies outside the tail), checks them with the
 * shared rules, and decodes every record.
 */
export async function readCentralDirectory(source: RandomAccessSource): Promise<CentralDirectory> {
  const size = source.size;
  if (size === 0) throw await missingEnd(source);
  const { found, tail, tailStart } = await readEndRecords(source);
  const { entries: count, offset, size: length, recordsStart } = resolveEndRecords(found, size);
  // Copied once: names are kept as views of it, and a source's result may alias memory the caller can change.
  const bytes = new Uint8Array(
    offset >= tailStart ? tail.subarray(offset - tailStart, recordsStart - tailStart) : await readExact(source, offset, length, 'central directory'),
  );
  const entries = decodeDirectory(bytes, count, offset);
  return { entries: assignRegions(entries, offset, size), offset, end: recordsStart };
}
