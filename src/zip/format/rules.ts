/**
 * The record-level rules both ZIP readers apply: the random-access reader (random/), which reads the end records
 * first, and the front-to-back reader (stream/), which meets them last. Each rule is a pure function over decoded
 * records and offsets, so the same damage gives the same code and message whichever way the archive is read.
 * Layout and checks follow CPython's zipfile (np.load's reader) where it is strict, and are stricter where it is
 * lenient in ways that hide damage (a sentinel without its zip64 extra, end records that disagree, bytes between
 * the central directory and the end records).
 */
import { NpzError } from '../../errors.js';
import { viewOf } from './bytes.js';
import {
  U16_SENTINEL,
  ZIP64_END_HEAD,
  ZIP64_END_LENGTH,
  type EndOfCentralDirectory,
  type Zip64EndOfCentralDirectory,
  type Zip64Locator,
} from './end-records.js';
import { decodeZipName } from './names.js';
import {
  CENTRAL_DIRECTORY_FIXED,
  FLAG_ENCRYPTED,
  FLAG_STRONG_ENCRYPTION,
  LOCAL_HEADER_FIXED,
  METHOD_DEFLATED,
  METHOD_STORED,
  SIG_CENTRAL_DIRECTORY,
  SIG_DIGITAL_SIGNATURE,
  U32_SENTINEL,
  decodeCentralDirectoryEntry,
  type LocalHeader,
} from './records.js';

/** A directory this large would describe ~18 million members; refusing it bounds what one open may allocate. */
export const MAX_CENTRAL_DIRECTORY_BYTES = 1 << 30;

/** One central directory record, decoded and checked. */
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

const quoted = (name: string): string => JSON.stringify(name);

// ---------------------------------------------------------------------------------------------------------
// Members the library cannot decode

/** Refuses members this library cannot decode (encryption, methods other than stored and deflate), naming the member. */
export function checkDecodable(name: string, flags: number, method: number): void {
  if ((flags & FLAG_STRONG_ENCRYPTION) !== 0) throw strongEncryption(name);
  if ((flags & FLAG_ENCRYPTED) !== 0) {
    throw new NpzError('ERR_ZIP_ENCRYPTED', `member ${quoted(name)} is encrypted`, { entry: name });
  }
  if (method !== METHOD_STORED && method !== METHOD_DEFLATED) {
    throw new NpzError(
      'ERR_ZIP_UNSUPPORTED_METHOD',
      `member ${quoted(name)} uses compression method ${method}; only stored (0) and deflate (8) are supported`,
      { entry: name, actual: method },
    );
  }
}

function strongEncryption(name: string): NpzError {
  return new NpzError('ERR_ZIP_ENCRYPTED', `member ${quoted(name)} uses strong encryption`, { entry: name });
}

/** A stored member's two sizes must agree (traditional encryption adds a 12-byte header; such members are refused later, by name). */
export function checkStoredSizes(name: string, flags: number, method: number, compressedSize: number, uncompressedSize: number): void {
  if (method === METHOD_STORED && (flags & FLAG_ENCRYPTED) === 0 && compressedSize !== uncompressedSize) {
    throw new NpzError(
      'ERR_ZIP_SIZE_MISMATCH',
      `stored member ${quoted(name)} has compressed size ${compressedSize} but uncompressed size ${uncompressedSize}`,
      { entry: name, expected: uncompressedSize, actual: compressedSize },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Disks

/** The one refusal of split archives: `where` names the record, `disk` the disk number it gives. */
export function multiDisk(where: string, disk: number, offset?: number): NpzError {
  return new NpzError('ERR_ZIP_MULTIDISK', `multi-disk (split) zip archives are not supported: ${where} names disk ${disk}`, {
    actual: disk,
    ...(offset === undefined ? {} : { offset }),
  });
}

// ---------------------------------------------------------------------------------------------------------
// End records

/**
 * No end record where one can be: the last END_LENGTH + 0xffff + zip64 records' bytes of the archive hold none.
 * `startsLikeZip`: the archive starts with a local header, so it is a zip cut short (or still being written).
 */
export function noEndRecord(startsLikeZip: boolean): NpzError {
  if (startsLikeZip) {
    return new NpzError(
      'ERR_ZIP_TRUNCATED',
      'the archive starts like a zip but has no end of central directory record: the file is truncated or still being written',
    );
  }
  return new NpzError('ERR_ZIP_NOT_ZIP', 'input is not a zip archive (no end of central directory record found)');
}

/** The end record's comment must reach exactly to the end of the archive. */
export function checkComment(endOffset: number, declared: number, trailing: number): void {
  if (declared === trailing) return;
  throw new NpzError(
    'ERR_ZIP_EOCD',
    `end of central directory record declares a ${declared}-byte comment but ${trailing} bytes follow it: bytes were appended or cut`,
    { offset: endOffset, expected: trailing, actual: declared },
  );
}

/**
 * A 64-bit offset or count past 2^53 in a zip64 end record or locator lies past the end of any archive this
 * library can read: a bounds error, whichever reader decodes it.
 */
export function zip64Value<T>(decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof NpzError && error.code === 'ERR_ZIP_TOO_LARGE') {
      throw new NpzError('ERR_ZIP_BOUNDS', `zip64 end record: ${error.message}, so it lies past the end of the archive`, { cause: error });
    }
    throw error;
  }
}

/** The zip64 end locator: one disk, and room for a zip64 end record before it. */
export function checkZip64Locator(locator: Zip64Locator, locatorOffset: number): void {
  if (locator.zip64EndDisk !== 0) throw multiDisk('the zip64 end locator', locator.zip64EndDisk, locatorOffset);
  if (locator.totalDisks > 1) throw multiDisk('the zip64 end locator', locator.totalDisks - 1, locatorOffset);
  if (locator.zip64EndOffset + ZIP64_END_LENGTH > locatorOffset) {
    throw new NpzError(
      'ERR_ZIP_ZIP64',
      `the zip64 end locator at ${locatorOffset} points at ${locator.zip64EndOffset}, which leaves no room for the zip64 end record before it`,
      { offset: locatorOffset, expected: locatorOffset - ZIP64_END_LENGTH, actual: locator.zip64EndOffset },
    );
  }
}

/** The zip64 end record's stated size must cover at least its own fixed fields. */
export function checkZip64RecordSize(record: Zip64EndOfCentralDirectory, recordOffset: number): void {
  if (record.recordSize < ZIP64_END_LENGTH - ZIP64_END_HEAD) {
    throw new NpzError(
      'ERR_ZIP_ZIP64',
      `the zip64 end record at ${recordOffset} states a size of ${record.recordSize} bytes, less than its ${ZIP64_END_LENGTH - ZIP64_END_HEAD} bytes of fields`,
      { offset: recordOffset, expected: ZIP64_END_LENGTH - ZIP64_END_HEAD, actual: record.recordSize },
    );
  }
}

/** The zip64 end record: one disk, a plausible size, and (extensible data included) it ends where its locator starts. */
export function checkZip64Record(record: Zip64EndOfCentralDirectory, recordOffset: number, locatorOffset: number): void {
  if (record.diskNumber !== 0) throw multiDisk('the zip64 end record', record.diskNumber, recordOffset);
  if (record.centralDirectoryDisk !== 0) throw multiDisk('the zip64 end record', record.centralDirectoryDisk, recordOffset);
  checkZip64RecordSize(record, recordOffset);
  const end = recordOffset + ZIP64_END_HEAD + record.recordSize;
  if (end !== locatorOffset) {
    throw new NpzError(
      'ERR_ZIP_ZIP64',
      `the zip64 end record at ${recordOffset} states a size of ${record.recordSize} bytes, so it ends at ${end}, not at its locator (${locatorOffset})`,
      { offset: recordOffset, expected: locatorOffset, actual: end },
    );
  }
}

/** The end records as a reader found them: the end record, and the zip64 end record when a locator points to one. */
export interface EndRecords {
  end: EndOfCentralDirectory;
  endOffset: number;
  /** Checked already by checkZip64Locator and checkZip64Record. */
  zip64?: { record: Zip64EndOfCentralDirectory; recordOffset: number } | undefined;
}

/** Where the central directory lies and how many entries it holds, once the end records agree on it. */
export interface DirectoryExtent {
  entries: number;
  offset: number;
  size: number;
  /** Offset of the first end record (the zip64 end record when there is one): the directory ends exactly here. */
  recordsStart: number;
}

/**
 * Resolves the end records into the central directory's extent, checking that they agree with each other and
 * with where they lie: with a zip64 end record, each end record field holds the same value or its sentinel; the
 * entry count for this disk equals the total; the directory lies inside the `archiveSize` bytes and ends exactly
 * where the end records start (a digital signature, APPNOTE 4.3.13, counts as part of it); and it is not over 1 GiB.
 */
export function resolveEndRecords(found: EndRecords, archiveSize: number): DirectoryExtent {
  const { end, endOffset, zip64 } = found;
  let extent: DirectoryExtent;
  let entriesOnDisk: number;
  if (zip64 === undefined) {
    if (end.diskNumber !== 0) throw multiDisk('the end record', end.diskNumber, endOffset);
    if (end.centralDirectoryDisk !== 0) throw multiDisk('the end record', end.centralDirectoryDisk, endOffset);
    entriesOnDisk = end.entriesOnDisk;
    extent = { entries: end.entries, offset: end.centralDirectoryOffset, size: end.centralDirectorySize, recordsStart: endOffset };
  } else {
    const { record, recordOffset } = zip64;
    for (const disk of [end.diskNumber, end.centralDirectoryDisk]) {
      if (disk !== 0 && disk !== U16_SENTINEL) throw multiDisk('the end record', disk, endOffset);
    }
    const fields = [
      ['entry count for this disk', end.entriesOnDisk, record.entriesOnDisk, U16_SENTINEL],
      ['entry count', end.entries, record.entries, U16_SENTINEL],
      ['central directory size', end.centralDirectorySize, record.centralDirectorySize, U32_SENTINEL],
      ['central directory offset', end.centralDirectoryOffset, record.centralDirectoryOffset, U32_SENTINEL],
    ] as const;
    for (const [what, short, long, sentinel] of fields) {
      if (short !== long && short !== sentinel) {
        throw new NpzError('ERR_ZIP_ZIP64', `the end record and the zip64 end record disagree on the ${what}: ${short} and ${long}`, {
          offset: endOffset,
          expected: long,
          actual: short,
        });
      }
    }
    entriesOnDisk = record.entriesOnDisk;
    extent = { entries: record.entries, offset: record.centralDirectoryOffset, size: record.centralDirectorySize, recordsStart: recordOffset };
  }
  if (entriesOnDisk !== extent.entries) {
    throw new NpzError('ERR_ZIP_EOCD', `the end record counts ${entriesOnDisk} entries on this disk but ${extent.entries} in all`, {
      offset: endOffset,
      expected: extent.entries,
      actual: entriesOnDisk,
    });
  }
  const { offset, size, recordsStart } = extent;
  if (offset > recordsStart) {
    throw new NpzError('ERR_ZIP_BOUNDS', `central directory offset ${offset} lies past the end records at ${recordsStart}`, {
      offset,
      expected: recordsStart,
      actual: offset,
    });
  }
  if (offset + size > archiveSize) {
    throw new NpzError(
      'ERR_ZIP_BOUNDS',
      `the end record puts the central directory at ${offset}..${offset + size} (${size} bytes), past the end of the ${archiveSize}-byte archive`,
      { offset, expected: recordsStart - offset, actual: size },
    );
  }
  if (offset + size !== recordsStart) {
    throw new NpzError(
      'ERR_ZIP_CENTRAL_DIRECTORY',
      `the end record puts the central directory at ${offset}..${offset + size} (${size} bytes), but the end records start at ${recordsStart}`,
      { offset, expected: recordsStart - offset, actual: size },
    );
  }
  if (size > MAX_CENTRAL_DIRECTORY_BYTES) throw directoryTooLarge(size);
  return extent;
}

/** The refusal of a central directory over 1 GiB, from its stated size or from the bytes a stream has met. */
export function directoryTooLarge(size: number): NpzError {
  return new NpzError('ERR_ZIP_TOO_LARGE', `central directory of ${size} bytes exceeds the ${MAX_CENTRAL_DIRECTORY_BYTES}-byte limit`, {
    expected: MAX_CENTRAL_DIRECTORY_BYTES,
    actual: size,
  });
}

// ---------------------------------------------------------------------------------------------------------
// The central directory

/**
 * Decodes the `count` records of the central directory `bytes` (which lies at `directoryOffset` and is exactly as
 * long as the end records say): every record checked, then whatever follows the last one must be nothing or a
 * digital signature. Names are kept as views of `bytes`.
 */
export function decodeDirectory(bytes: Uint8Array, count: number, directoryOffset: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let index = 0; index < count; index++) {
    if (at + CENTRAL_DIRECTORY_FIXED > bytes.length) {
      throw new NpzError(
        'ERR_ZIP_BOUNDS',
        `the end record counts ${count} entries but the central directory holds only ${index} (entry ${index} would start at ${directoryOffset + at})`,
        { offset: directoryOffset + at, expected: count, actual: index },
      );
    }
    const { entry, length } = directoryEntry(bytes, at, index, directoryOffset);
    entries.push(entry);
    at += length;
  }
  if (at !== bytes.length) {
    const signature = at + 4 <= bytes.length ? viewOf(bytes).getUint32(at, true) : -1;
    if (signature !== SIG_DIGITAL_SIGNATURE) {
      const detail = signature === SIG_CENTRAL_DIRECTORY ? 'more entries than the end record counts' : 'unexpected bytes after the last entry';
      throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `central directory has ${detail} (offset ${directoryOffset + at})`, {
        offset: directoryOffset + at,
      });
    }
  }
  return entries;
}

function directoryEntry(bytes: Uint8Array, at: number, index: number, directoryOffset: number): { entry: ZipEntry; length: number } {
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
  if (record.diskNumberStart !== 0) throw multiDisk(`central directory entry ${index} (${quoted(name)})`, record.diskNumberStart, directoryOffset + at);
  // Refused when the directory is read, not only when the member is: its sizes and data cannot be trusted.
  if ((record.flags & FLAG_STRONG_ENCRYPTION) !== 0) throw strongEncryption(name);
  checkStoredSizes(name, record.flags, record.method, record.compressedSize, record.uncompressedSize);
  const entry: ZipEntry = {
    index,
    name,
    // A view of the directory's bytes (one allocation for all names, not one per member).
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

/**
 * Bounds every member: it must fit in the archive (`size` bytes), and extend only up to the next local header in
 * file order, or to the central directory. Sets each entry's `regionEnd`.
 */
export function assignRegions(entries: ZipEntry[], directoryStart: number, size: number): ZipEntry[] {
  const byOffset = inFileOrder(entries);
  for (let i = 0; i < byOffset.length; i++) {
    const entry = byOffset[i] as ZipEntry;
    const next = byOffset[i + 1];
    const regionEnd = next === undefined ? directoryStart : next.localHeaderOffset;
    // Smallest possible extent: the local name equals the CD name, so only the local extra field is unknown.
    const minimalEnd = entry.localHeaderOffset + LOCAL_HEADER_FIXED + entry.rawName.length + entry.compressedSize;
    if (minimalEnd > size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${quoted(entry.name)} would end at ${minimalEnd}, past the ${size}-byte archive`, {
        entry: entry.name,
        offset: entry.localHeaderOffset,
        expected: size,
        actual: minimalEnd,
      });
    }
    if (minimalEnd > regionEnd) {
      const what = next === undefined ? 'the central directory' : `member ${quoted(next.name)}`;
      throw new NpzError(
        'ERR_ZIP_OVERLAP',
        `member ${quoted(entry.name)} (offset ${entry.localHeaderOffset}) overlaps ${what} at ${regionEnd} (possible zip bomb)`,
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

// ---------------------------------------------------------------------------------------------------------
// Local headers

/** The member name a local header at `offset` gives; a name flagged UTF-8 that is not UTF-8 is a damaged header. */
export function localName(header: LocalHeader, offset: number): string {
  try {
    return decodeZipName(header.name, header.flags);
  } catch (cause) {
    throw new NpzError('ERR_ZIP_LOCAL_HEADER', `local file header at offset ${offset}: ${(cause as Error).message}`, { offset, cause });
  }
}

/** A member's local header must name it as the central directory does. */
export function checkLocalName(entry: ZipEntry, local: string): void {
  if (local === entry.name) return;
  throw new NpzError(
    'ERR_ZIP_NAME_MISMATCH',
    `member name in the central directory ${quoted(entry.name)} differs from its local header ${quoted(local)}`,
    { entry: entry.name, offset: entry.localHeaderOffset, expected: entry.name, actual: local },
  );
}
