/**
 * Finding and walking the central directory with the project's own record decoders: the end records are
 * located and checked first, then the whole directory is fetched in one read and decoded record by record.
 * Layout and checks follow CPython's zipfile (np.load's reader) where it is strict, and are stricter where it
 * is lenient in ways that hide damage (a sentinel without its zip64 extra, records past the directory's end).
 */
import { NpzError } from '../../errors.js';
import type { RandomAccessSource } from '../../source/random-access.js';
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
import { decodeZipName } from '../format/names.js';
import {
  CENTRAL_DIRECTORY_FIXED,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  LOCAL_HEADER_FIXED,
  METHOD_STORED,
  SIG_CENTRAL_DIRECTORY,
  SIG_DIGITAL_SIGNATURE,
  SIG_LOCAL_HEADER,
  decodeCentralDirectoryEntry,
} from '../format/records.js';

/** The end record, its longest comment, and the zip64 locator and record right before it: one read finds all. */
const TAIL_BYTES = END_LENGTH + 0xffff + ZIP64_LOCATOR_LENGTH + ZIP64_END_LENGTH;
/** A directory this large would describe ~18 million members; refusing it bounds what one open may allocate. */
export const MAX_CENTRAL_DIRECTORY_BYTES = 1 << 30;

export interface ZipEntry {
  /** Position in the central directory. */
  readonly index: number;
  readonly name: string;
  readonly rawName: Uint8Array;
  readonly flags: number;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** Where the next member's local header (or the central directory) starts: this member must end before it. */
  readonly regionEnd: number;
}

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
  if (head.length === 4 && viewOf(head).getUint32(0, true) === SIG_LOCAL_HEADER) {
    return new NpzError(
      'ERR_ZIP_TRUNCATED',
      'the archive starts like a zip but has no end of central directory record: the file is truncated or still being written',
    );
  }
  return new NpzError('ERR_ZIP_NOT_ZIP', 'input is not a zip archive (no end of central directory record found)');
}

interface EndRecords {
  /** The last bytes of the file, already read: a small directory lies inside them. */
  tail: Uint8Array;
  tailStart: number;
  entries: number;
  directoryOffset: number;
  /** Offset of the first end record: the directory must end exactly here (or at a digital signature before it). */
  recordsStart: number;
}

/** A 64-bit offset or count past 2^53 lies past the end of any file this reader can open: a bounds error. */
function bounded<T>(decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof NpzError && error.code === 'ERR_ZIP_TOO_LARGE') {
      throw new NpzError('ERR_ZIP_BOUNDS', `zip64 end record: ${error.message}, so it lies past the end of the file`, { cause: error });
    }
    throw error;
  }
}

/** The last end record whose comment reaches exactly to the end of the file, resolved through zip64 records. */
async function readEndRecords(source: RandomAccessSource): Promise<EndRecords> {
  const size = source.size;
  const tailStart = Math.max(0, size - TAIL_BYTES);
  const tail = await readExact(source, tailStart, size - tailStart, 'end of the archive');
  const view = viewOf(tail);
  let at = tail.length - END_LENGTH;
  while (at >= 0 && view.getUint32(at, true) !== SIG_END) at--;
  if (at < 0) throw await missingEnd(source);

  const commentLength = view.getUint16(at + 20, true);
  const trailing = tail.length - at - END_LENGTH;
  if (commentLength !== trailing) {
    throw new NpzError(
      'ERR_ZIP_EOCD',
      `end of central directory record declares a ${commentLength}-byte comment but ${trailing} bytes follow it: bytes were appended or cut`,
      { offset: tailStart + at, expected: trailing, actual: commentLength },
    );
  }
  const end = decodeEndOfCentralDirectory(tail, at);
  const endOffset = tailStart + at;
  const locatorAt = at - ZIP64_LOCATOR_LENGTH;
  if (locatorAt < 0 || view.getUint32(locatorAt, true) !== SIG_ZIP64_LOCATOR) {
    if (end.diskNumber !== 0 || end.centralDirectoryDisk !== 0) throw multiDisk(end.diskNumber);
    return { tail, tailStart, entries: end.entries, directoryOffset: end.centralDirectoryOffset, recordsStart: endOffset };
  }

  const locator = bounded(() => decodeZip64Locator(tail, locatorAt));
  if (locator.zip64EndDisk !== 0 || locator.totalDisks > 1) throw multiDisk(locator.zip64EndDisk);
  const recordAt = locator.zip64EndOffset;
  if (recordAt + ZIP64_END_LENGTH > endOffset - ZIP64_LOCATOR_LENGTH) {
    throw new NpzError('ERR_ZIP_ZIP64', `zip64 end record offset ${recordAt} does not lie before its locator`, { offset: recordAt });
  }
  const recordBytes = recordAt >= tailStart ? tail.subarray(recordAt - tailStart) : await readExact(source, recordAt, ZIP64_END_LENGTH, 'zip64 end record');
  const record = bounded(() => decodeZip64EndOfCentralDirectory(recordBytes, 0));
  if (record.diskNumber !== 0 || record.centralDirectoryDisk !== 0) throw multiDisk(record.diskNumber);
  return { tail, tailStart, entries: record.entries, directoryOffset: record.centralDirectoryOffset, recordsStart: recordAt };
}

function multiDisk(disk: number): NpzError {
  return new NpzError('ERR_ZIP_MULTIDISK', `multi-disk (split) zip archives are not supported (disk number ${disk})`, { actual: disk });
}

/**
 * Reads the end records and the whole central directory (one read for the tail, which holds a small directory
 * too; one for a larger directory; one more only when a zip64 record lies outside the tail), checks that the directory lies inside the file and
 * ends where the end records begin, and decodes every record.
 */
export async function readCentralDirectory(source: RandomAccessSource): Promise<CentralDirectory> {
  const size = source.size;
  if (size === 0) throw await missingEnd(source);
  const { tail, tailStart, entries: count, directoryOffset, recordsStart } = await readEndRecords(source);
  if (directoryOffset > recordsStart) {
    throw new NpzError(
      'ERR_ZIP_BOUNDS',
      `central directory offset ${directoryOffset} lies past the end records at ${recordsStart} (file size ${size})`,
      { offset: directoryOffset, expected: recordsStart, actual: directoryOffset },
    );
  }
  const length = recordsStart - directoryOffset;
  if (length > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw new NpzError('ERR_ZIP_TOO_LARGE', `central directory of ${length} bytes exceeds the ${MAX_CENTRAL_DIRECTORY_BYTES}-byte limit`, {
      expected: MAX_CENTRAL_DIRECTORY_BYTES,
      actual: length,
    });
  }
  // Copied once: names are kept as views of it, and a source's result may alias memory the caller can change.
  const bytes = new Uint8Array(
    directoryOffset >= tailStart
      ? tail.subarray(directoryOffset - tailStart, recordsStart - tailStart)
      : await readExact(source, directoryOffset, length, 'central directory'),
  );
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let index = 0; index < count; index++) {
    if (at + CENTRAL_DIRECTORY_FIXED > length) {
      throw new NpzError(
        'ERR_ZIP_BOUNDS',
        `the end record counts ${count} entries but the central directory holds only ${index} (entry ${index} would start at ${directoryOffset + at})`,
        { offset: directoryOffset + at, expected: count, actual: index },
      );
    }
    const { entry, length: recordLength } = toZipEntry(bytes, at, index, directoryOffset);
    entries.push(entry);
    at += recordLength;
  }
  checkDirectoryEnd(bytes, at, directoryOffset);
  return { entries: assignRegions(entries, directoryOffset, size), offset: directoryOffset, end: recordsStart };
}

function toZipEntry(bytes: Uint8Array, at: number, index: number, directoryOffset: number): { entry: ZipEntry; length: number } {
  let record;
  try {
    record = decodeCentralDirectoryEntry(bytes, at);
  } catch (error) {
    if (!(error instanceof NpzError)) throw error;
    // The decoder sees one buffer; a record cut by the directory's end is a record running into the end records.
    // A size or offset past 2^53 cannot fit in any file this reader can open: a bounds error, like any too-large one.
    const code = error.code === 'ERR_ZIP_TRUNCATED' || error.code === 'ERR_ZIP_TOO_LARGE' ? 'ERR_ZIP_BOUNDS' : error.code;
    throw new NpzError(code, `central directory entry ${index}: ${error.message}`, {
      offset: directoryOffset + (error.offset ?? at),
      cause: error,
    });
  }
  let name: string;
  try {
    name = decodeZipName(record.name, record.flags);
  } catch (error) {
    throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `central directory entry ${index}: ${(error as Error).message}`, {
      offset: directoryOffset + at,
      cause: error,
    });
  }
  if ((record.flags & FLAG_STRONG_ENCRYPTION) !== 0) {
    throw new NpzError('ERR_ZIP_ENCRYPTED', `member ${JSON.stringify(name)} uses strong encryption`, { entry: name });
  }
  // Traditional encryption adds a 12-byte header to stored data; such members are refused later, by name.
  if (record.method === METHOD_STORED && (record.flags & FLAG_ENCRYPTED) === 0 && record.compressedSize !== record.uncompressedSize) {
    throw new NpzError(
      'ERR_ZIP_SIZE_MISMATCH',
      `stored member ${JSON.stringify(name)} has compressed size ${record.compressedSize} but uncompressed size ${record.uncompressedSize}`,
      { entry: name, expected: record.uncompressedSize, actual: record.compressedSize },
    );
  }
  const entry: ZipEntry = {
    index,
    name,
    // A view of the directory's private copy (one allocation for all names, not one per member).
    rawName: record.name,
    flags: record.flags,
    method: record.method,
    crc32: record.crc32,
    compressedSize: record.compressedSize,
    uncompressedSize: record.uncompressedSize,
    localHeaderOffset: record.localHeaderOffset,
    regionEnd: 0,
  };
  return { entry, length: record.length };
}

/** The directory must end where an end record starts (a digital signature may sit between); else the count lied. */
function checkDirectoryEnd(bytes: Uint8Array, at: number, directoryOffset: number): void {
  if (at === bytes.length) return;
  const signature = at + 4 <= bytes.length ? viewOf(bytes).getUint32(at, true) : -1;
  if (signature === SIG_DIGITAL_SIGNATURE) return;
  const detail = signature === SIG_CENTRAL_DIRECTORY ? 'more entries than the end record counts' : 'unexpected bytes after the last entry';
  throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `central directory has ${detail} (offset ${directoryOffset + at})`, {
    offset: directoryOffset + at,
  });
}

/** Each member may extend only up to the next local header in file order, or to the central directory. */
function assignRegions(entries: ZipEntry[], directoryStart: number, size: number): ZipEntry[] {
  const byOffset = inFileOrder(entries);
  for (let i = 0; i < byOffset.length; i++) {
    const entry = byOffset[i] as ZipEntry;
    const next = byOffset[i + 1];
    const regionEnd = next === undefined ? directoryStart : next.localHeaderOffset;
    // Smallest possible extent: the local name equals the CD name, so only the local extra field is unknown.
    const minimalEnd = entry.localHeaderOffset + LOCAL_HEADER_FIXED + entry.rawName.length + entry.compressedSize;
    if (minimalEnd > size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${JSON.stringify(entry.name)} would end at ${minimalEnd}, past the ${size}-byte file`, {
        entry: entry.name,
        offset: entry.localHeaderOffset,
        expected: size,
        actual: minimalEnd,
      });
    }
    if (minimalEnd > regionEnd) {
      const what = next === undefined ? 'the central directory' : `member ${JSON.stringify(next.name)}`;
      throw new NpzError(
        'ERR_ZIP_OVERLAP',
        `member ${JSON.stringify(entry.name)} (offset ${entry.localHeaderOffset}) overlaps ${what} at ${regionEnd} (possible zip bomb)`,
        { entry: entry.name, offset: entry.localHeaderOffset, expected: regionEnd, actual: minimalEnd },
      );
    }
    // Set once, here, before the entries are handed out (copying every entry to set it was a measurable cost).
    (entry as { regionEnd: number }).regionEnd = regionEnd;
  }
  return entries;
}

/** Entries sorted by local header offset; writers list them in that order already, which is checked first. */
export function inFileOrder(entries: readonly ZipEntry[]): readonly ZipEntry[] {
  for (let i = 1; i < entries.length; i++) {
    if ((entries[i - 1] as ZipEntry).localHeaderOffset > (entries[i] as ZipEntry).localHeaderOffset) {
      return [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
    }
  }
  return entries;
}
