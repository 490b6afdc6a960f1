/**
 * End-of-archive records (zip64 EOCD, locator, EOCD) as CPython's zipfile writes them, and the exact length
 * of a whole archive. Pure functions over Uint8Array: no I/O.
 */
import { NpzError } from '../../errors.js';
import { getU64, need, setU64, viewOf } from './bytes.js';
import {
  DATA_DESCRIPTOR64_LENGTH,
  U32_SENTINEL,
  VERSION_ZIP64,
  ZIP64_LIMIT,
  centralDirectoryEntryLength,
  localHeaderLength,
} from './records.js';

export const SIG_ZIP64_END = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const SIG_END = 0x06054b50;
/** CPython's ZIP_FILECOUNT_LIMIT: more entries than this need the zip64 end records. */
export const ZIP_FILECOUNT_LIMIT = 0xffff;
export const U16_SENTINEL = 0xffff;
/** The zip64 end record's signature and size field: its stated size counts the bytes after them. */
export const ZIP64_END_HEAD = 12;
export const ZIP64_END_LENGTH = 56;
export const ZIP64_LOCATOR_LENGTH = 20;
export const END_LENGTH = 22;

export interface EndFields {
  entries: number;
  centralDirectoryOffset: number;
  centralDirectorySize: number;
  /**
   * Always write the zip64 end records, with sentinels in every EOCD field they override, so tiny archives
   * exercise the paths a reader takes for huge ones.
   */
  forceZip64?: boolean;
}

/** zipfile's rule: more than 65535 entries, or a CD offset or size above 2^31-1. */
export function needsZip64End(fields: EndFields): boolean {
  return (
    fields.forceZip64 === true ||
    fields.entries > ZIP_FILECOUNT_LIMIT ||
    fields.centralDirectoryOffset > ZIP64_LIMIT ||
    fields.centralDirectorySize > ZIP64_LIMIT
  );
}

export function endRecordsLength(fields: EndFields): number {
  return (needsZip64End(fields) ? ZIP64_END_LENGTH + ZIP64_LOCATOR_LENGTH : 0) + END_LENGTH;
}

/**
 * [zip64 EOCD + locator] + EOCD. The zip64 records sit right after the central directory, which is what
 * the locator points to and what both old and patched (CVE-2025-8291) CPython readers require.
 */
export function encodeEndRecords(fields: EndFields): Uint8Array {
  const { entries, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize } = fields;
  const zip64 = needsZip64End(fields);
  const out = new Uint8Array(endRecordsLength(fields));
  const view = viewOf(out);
  let at = 0;
  let count = entries;
  let size = cdSize;
  let offset = cdOffset;
  if (zip64) {
    view.setUint32(0, SIG_ZIP64_END, true);
    setU64(view, 4, ZIP64_END_LENGTH - ZIP64_END_HEAD);
    view.setUint16(12, VERSION_ZIP64, true);
    view.setUint16(14, VERSION_ZIP64, true);
    // disk numbers at 16 and 20 stay zero
    setU64(view, 24, entries);
    setU64(view, 32, entries);
    setU64(view, 40, cdSize);
    setU64(view, 48, cdOffset);
    view.setUint32(56, SIG_ZIP64_LOCATOR, true);
    view.setUint32(60, 0, true);
    setU64(view, 64, cdOffset + cdSize);
    view.setUint32(72, 1, true);
    at = ZIP64_END_LENGTH + ZIP64_LOCATOR_LENGTH;
    const force = fields.forceZip64 === true;
    count = force ? U16_SENTINEL : Math.min(entries, U16_SENTINEL);
    size = force ? U32_SENTINEL : Math.min(cdSize, U32_SENTINEL);
    offset = force ? U32_SENTINEL : Math.min(cdOffset, U32_SENTINEL);
  }
  view.setUint32(at, SIG_END, true);
  view.setUint16(at + 8, count, true);
  view.setUint16(at + 10, count, true);
  view.setUint32(at + 12, size, true);
  view.setUint32(at + 16, offset, true);
  return out;
}

export interface EndOfCentralDirectory {
  diskNumber: number;
  centralDirectoryDisk: number;
  entriesOnDisk: number;
  entries: number;
  centralDirectorySize: number;
  centralDirectoryOffset: number;
  comment: Uint8Array;
}

export function decodeEndOfCentralDirectory(bytes: Uint8Array, offset: number): EndOfCentralDirectory {
  need(bytes, offset, END_LENGTH, 'end of central directory');
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== SIG_END) {
    throw new NpzError('ERR_ZIP_EOCD', 'bad end of central directory signature', { offset });
  }
  const commentLength = view.getUint16(offset + 20, true);
  need(bytes, offset, END_LENGTH + commentLength, 'end of central directory comment');
  return {
    diskNumber: view.getUint16(offset + 4, true),
    centralDirectoryDisk: view.getUint16(offset + 6, true),
    entriesOnDisk: view.getUint16(offset + 8, true),
    entries: view.getUint16(offset + 10, true),
    centralDirectorySize: view.getUint32(offset + 12, true),
    centralDirectoryOffset: view.getUint32(offset + 16, true),
    comment: bytes.subarray(offset + END_LENGTH, offset + END_LENGTH + commentLength),
  };
}

export interface Zip64Locator {
  zip64EndDisk: number;
  zip64EndOffset: number;
  totalDisks: number;
}

export function decodeZip64Locator(bytes: Uint8Array, offset: number): Zip64Locator {
  need(bytes, offset, ZIP64_LOCATOR_LENGTH, 'zip64 end locator');
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== SIG_ZIP64_LOCATOR) {
    throw new NpzError('ERR_ZIP_ZIP64', 'bad zip64 end locator signature', { offset });
  }
  return {
    zip64EndDisk: view.getUint32(offset + 4, true),
    zip64EndOffset: getU64(view, offset + 8, 'zip64 end offset'),
    totalDisks: view.getUint32(offset + 16, true),
  };
}

export interface Zip64EndOfCentralDirectory {
  recordSize: number;
  versionMadeBy: number;
  versionNeeded: number;
  diskNumber: number;
  centralDirectoryDisk: number;
  entriesOnDisk: number;
  entries: number;
  centralDirectorySize: number;
  centralDirectoryOffset: number;
}

export function decodeZip64EndOfCentralDirectory(bytes: Uint8Array, offset: number): Zip64EndOfCentralDirectory {
  need(bytes, offset, ZIP64_END_LENGTH, 'zip64 end of central directory');
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== SIG_ZIP64_END) {
    throw new NpzError('ERR_ZIP_ZIP64', 'bad zip64 end of central directory signature', { offset });
  }
  return {
    recordSize: getU64(view, offset + 4, 'zip64 end record size'),
    versionMadeBy: view.getUint16(offset + 12, true),
    versionNeeded: view.getUint16(offset + 14, true),
    diskNumber: view.getUint32(offset + 16, true),
    centralDirectoryDisk: view.getUint32(offset + 20, true),
    entriesOnDisk: getU64(view, offset + 24, 'entries on disk'),
    entries: getU64(view, offset + 32, 'entries'),
    centralDirectorySize: getU64(view, offset + 40, 'central directory size'),
    centralDirectoryOffset: getU64(view, offset + 48, 'central directory offset'),
  };
}

export interface PlannedEntry {
  nameLength: number;
  compressedSize: number;
  uncompressedSize: number;
  dataDescriptor: boolean;
}

/** Exact length of the archive the writer produces for these entries, in order. */
export function plannedArchiveLength(entries: Iterable<PlannedEntry>, forceZip64 = false): number {
  let offset = 0;
  let centralDirectorySize = 0;
  let count = 0;
  for (const entry of entries) {
    centralDirectorySize += centralDirectoryEntryLength({ ...entry, localHeaderOffset: offset, forceZip64 });
    offset +=
      localHeaderLength(entry.nameLength) +
      entry.compressedSize +
      (entry.dataDescriptor ? DATA_DESCRIPTOR64_LENGTH : 0);
    count += 1;
  }
  const end = { entries: count, centralDirectoryOffset: offset, centralDirectorySize, forceZip64 };
  return offset + centralDirectorySize + endRecordsLength(end);
}
