/**
 * ZIP record codecs, byte-exact to what CPython's zipfile writes for `np.savez` (numpy forces zip64 on every
 * member): local headers, central directory entries, data descriptors. End records are in
 * end-records.ts. Pure functions over Uint8Array: no I/O. Sizes and offsets are JS numbers up to 2^53; 64-bit
 * fields are split into 32-bit halves, never truncated with bit operators.
 */
import { NpzError } from '../../errors.js';
import { getU64, need, setU64, viewOf } from './bytes.js';

export const SIG_LOCAL_HEADER = 0x04034b50;
export const SIG_CENTRAL_DIRECTORY = 0x02014b50;
export const SIG_DATA_DESCRIPTOR = 0x08074b50;
/** Follows the central directory in some archives (APPNOTE 4.3.13); never written by zipfile. */
export const SIG_DIGITAL_SIGNATURE = 0x05054b50;

export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;
export const FLAG_DATA_DESCRIPTOR = 0x0008;
export const FLAG_UTF8_NAME = 0x0800;
export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_STRONG_ENCRYPTION = 0x0040;

/** CPython's ZIP64_LIMIT: values above 2^31-1 (not 2^32-1) get zip64 fields. */
export const ZIP64_LIMIT = 2 ** 31 - 1;
export const U32_SENTINEL = 0xffffffff;
export const ZIP64_EXTRA_ID = 0x0001;
/** Version 4.5 (zip64), which numpy's forced zip64 puts in every header. */
export const VERSION_ZIP64 = 45;
/** Made-by: version 4.5 on Unix (create_system 3), as CPython on POSIX writes it. */
const VERSION_MADE_BY = (3 << 8) | VERSION_ZIP64;
/** 0o600 << 16: zipfile's default permissions for members opened for writing. */
const EXTERNAL_ATTRIBUTES = 0x01800000;
/** ZipInfo's default timestamp 1980-01-01 00:00:00 in DOS form. */
export const DOS_TIME = 0x0000;
export const DOS_DATE = 0x0021;

export const LOCAL_HEADER_FIXED = 30;
export const LOCAL_ZIP64_EXTRA = 20;
export const CENTRAL_DIRECTORY_FIXED = 46;
export const DATA_DESCRIPTOR64_LENGTH = 24;

const asciiOnly = /^[\x00-\x7f]*$/;
const utf8 = new TextEncoder();

/** Encodes a member name like zipfile: ASCII as is with no flag, anything else as UTF-8 with bit 11. */
export function encodeEntryName(name: string): { bytes: Uint8Array; flags: number } {
  const bytes = utf8.encode(name);
  return { bytes, flags: asciiOnly.test(name) ? 0 : FLAG_UTF8_NAME };
}

// ---------------------------------------------------------------------------------------------------------
// Local file header

export interface LocalHeaderFields {
  name: Uint8Array;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** An alignment record after the zip64 extra (local header only; the central directory never has one). */
  alignment?: AlignmentRecord;
}

/**
 * Length of the local header whose fixed part starts at `bytes[at]` (fixed part, name, extra), from its fixed part
 * alone: where its data starts. The fixed part must be there; the signature is the decoder's business.
 */
export function localHeaderSpan(bytes: Uint8Array, at = 0): number {
  const view = viewOf(bytes);
  return LOCAL_HEADER_FIXED + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
}

export function localHeaderLength(nameLength: number, alignment?: AlignmentRecord): number {
  return LOCAL_HEADER_FIXED + nameLength + LOCAL_ZIP64_EXTRA + (alignment?.length ?? 0);
}

/**
 * Alignment padding, as Android's apksigner writes it: an extra record with ID 0xd935 whose data is the
 * alignment (u16) and zeros. Readers skip extra records by their stated length, so only the data moves.
 */
export const ALIGNMENT_EXTRA_ID = 0xd935;
const ALIGNMENT_RECORD_MIN = 6;

export interface AlignmentRecord {
  /** The multiple the member's data starts at. */
  multiple: number;
  /** Total record length, its 4-byte ID and size included. */
  length: number;
}

/**
 * The record that makes the byte `dataSkip` bytes past the end of a local header written at `offset` land on
 * a multiple of `multiple` (a power of two); undefined when no alignment is asked for.
 */
export function alignmentRecord(offset: number, nameLength: number, dataSkip: number, multiple: number | undefined): AlignmentRecord | undefined {
  if (multiple === undefined || multiple <= 1) return undefined;
  const unpadded = offset + localHeaderLength(nameLength) + ALIGNMENT_RECORD_MIN + dataSkip;
  return { multiple, length: ALIGNMENT_RECORD_MIN + ((multiple - (unpadded % multiple)) % multiple) };
}

/**
 * numpy's local header: version 45, 32-bit sizes 0xFFFFFFFF and a 20-byte zip64 extra holding the real
 * sizes. With the data-descriptor flag, CRC and sizes are zero here, as zipfile writes them to a pipe.
 */
export function encodeLocalHeader(fields: LocalHeaderFields): Uint8Array {
  const { name } = fields;
  const out = new Uint8Array(localHeaderLength(name.byteLength, fields.alignment));
  const view = viewOf(out);
  const deferred = (fields.flags & FLAG_DATA_DESCRIPTOR) !== 0;
  view.setUint32(0, SIG_LOCAL_HEADER, true);
  view.setUint16(4, VERSION_ZIP64, true);
  view.setUint16(6, fields.flags, true);
  view.setUint16(8, fields.method, true);
  view.setUint16(10, DOS_TIME, true);
  view.setUint16(12, DOS_DATE, true);
  view.setUint32(14, deferred ? 0 : fields.crc32, true);
  view.setUint32(18, U32_SENTINEL, true);
  view.setUint32(22, U32_SENTINEL, true);
  view.setUint16(26, name.byteLength, true);
  view.setUint16(28, LOCAL_ZIP64_EXTRA + (fields.alignment?.length ?? 0), true);
  out.set(name, LOCAL_HEADER_FIXED);
  const extra = LOCAL_HEADER_FIXED + name.byteLength;
  view.setUint16(extra, ZIP64_EXTRA_ID, true);
  view.setUint16(extra + 2, 16, true);
  setU64(view, extra + 4, deferred ? 0 : fields.uncompressedSize);
  setU64(view, extra + 12, deferred ? 0 : fields.compressedSize);
  if (fields.alignment !== undefined) {
    const at = extra + LOCAL_ZIP64_EXTRA;
    view.setUint16(at, ALIGNMENT_EXTRA_ID, true);
    view.setUint16(at + 2, fields.alignment.length - 4, true);
    view.setUint16(at + 4, fields.alignment.multiple, true);
  }
  return out;
}

export interface LocalHeader {
  versionNeeded: number;
  flags: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  /** Sizes after applying the zip64 extra where the 32-bit fields hold the sentinel. */
  compressedSize: number;
  uncompressedSize: number;
  name: Uint8Array;
  extra: Uint8Array;
  /** 30 + name + extra: where the member data starts, relative to the header. */
  length: number;
}

export function decodeLocalHeader(bytes: Uint8Array, offset = 0): LocalHeader {
  need(bytes, offset, LOCAL_HEADER_FIXED, 'local file header');
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== SIG_LOCAL_HEADER) {
    throw new NpzError('ERR_ZIP_LOCAL_HEADER', 'bad local file header signature', { offset });
  }
  const nameLength = view.getUint16(offset + 26, true);
  const length = localHeaderSpan(bytes, offset);
  need(bytes, offset, length, 'local file header');
  const extra = bytes.subarray(offset + LOCAL_HEADER_FIXED + nameLength, offset + length);
  const resolved = applyZip64Extra(extra, offset + LOCAL_HEADER_FIXED + nameLength, {
    uncompressedSize: view.getUint32(offset + 22, true),
    compressedSize: view.getUint32(offset + 18, true),
  }).fields;
  return {
    versionNeeded: view.getUint16(offset + 4, true),
    flags: view.getUint16(offset + 6, true),
    method: view.getUint16(offset + 8, true),
    dosTime: view.getUint16(offset + 10, true),
    dosDate: view.getUint16(offset + 12, true),
    crc32: view.getUint32(offset + 14, true),
    compressedSize: resolved.compressedSize,
    uncompressedSize: resolved.uncompressedSize,
    name: bytes.subarray(offset + LOCAL_HEADER_FIXED, offset + LOCAL_HEADER_FIXED + nameLength),
    extra,
    length,
  };
}

interface Zip64Fields {
  uncompressedSize: number;
  compressedSize: number;
  localHeaderOffset?: number;
}

/**
 * Replaces sentinel 32-bit fields by their zip64 values, in zipfile's order and presence rules. `found` tells
 * whether a zip64 extra was there at all: a sentinel without one is damage, not a 4 GiB size.
 */
function applyZip64Extra(extra: Uint8Array, extraOffset: number, raw: Zip64Fields): { fields: Zip64Fields; found: boolean } {
  const view = viewOf(extra);
  const out: Zip64Fields = { ...raw };
  for (let at = 0; at + 4 <= extra.byteLength; ) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 4 + size > extra.byteLength) {
      throw new NpzError('ERR_ZIP_ZIP64', 'extra field overruns its record', { offset: extraOffset + at });
    }
    if (id === ZIP64_EXTRA_ID) {
      let field = at + 4;
      const end = field + size;
      const take = (what: string): number => {
        if (field + 8 > end) {
          throw new NpzError('ERR_ZIP_ZIP64', `zip64 extra lacks the ${what}`, { offset: extraOffset + at });
        }
        const value = getU64(view, field, what);
        field += 8;
        return value;
      };
      if (raw.uncompressedSize === U32_SENTINEL) out.uncompressedSize = take('uncompressed size');
      if (raw.compressedSize === U32_SENTINEL) out.compressedSize = take('compressed size');
      if (raw.localHeaderOffset === U32_SENTINEL) out.localHeaderOffset = take('local header offset');
      return { fields: out, found: true };
    }
    at += 4 + size;
  }
  return { fields: out, found: false };
}

/** True when `extra` holds a zip64 extra record. */
export function hasZip64Extra(extra: Uint8Array): boolean {
  const view = viewOf(extra);
  for (let at = 0; at + 4 <= extra.length; at += 4 + view.getUint16(at + 2, true)) {
    if (view.getUint16(at, true) === ZIP64_EXTRA_ID) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Central directory

/** Length of the central directory record whose fixed part starts at `bytes[at]`, from its fixed part alone. */
export function centralDirectoryEntrySpan(bytes: Uint8Array, at = 0): number {
  const view = viewOf(bytes);
  return CENTRAL_DIRECTORY_FIXED + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
}

export interface CentralDirectoryFields extends LocalHeaderFields {
  localHeaderOffset: number;
  /** Put every size and the offset in a zip64 extra even when small, to exercise readers. */
  forceZip64?: boolean;
}

function centralZip64Needs(fields: Omit<CentralDirectoryFields, 'name' | 'flags' | 'method' | 'crc32'>): {
  sizes: boolean;
  offset: boolean;
} {
  const force = fields.forceZip64 === true;
  return {
    sizes: force || fields.uncompressedSize > ZIP64_LIMIT || fields.compressedSize > ZIP64_LIMIT,
    offset: force || fields.localHeaderOffset > ZIP64_LIMIT,
  };
}

export function centralDirectoryEntryLength(
  fields: Omit<CentralDirectoryFields, 'name' | 'flags' | 'method' | 'crc32'> & { nameLength: number },
): number {
  const needs = centralZip64Needs(fields);
  const values = (needs.sizes ? 2 : 0) + (needs.offset ? 1 : 0);
  return CENTRAL_DIRECTORY_FIXED + fields.nameLength + (values === 0 ? 0 : 4 + 8 * values);
}

/** A central directory entry as zipfile's `_write_end_record` writes it (no extra unless needed). */
export function encodeCentralDirectoryEntry(fields: CentralDirectoryFields): Uint8Array {
  const { name } = fields;
  const needs = centralZip64Needs(fields);
  const values: number[] = [];
  if (needs.sizes) values.push(fields.uncompressedSize, fields.compressedSize);
  if (needs.offset) values.push(fields.localHeaderOffset);
  const extraLength = values.length === 0 ? 0 : 4 + 8 * values.length;
  const out = new Uint8Array(CENTRAL_DIRECTORY_FIXED + name.byteLength + extraLength);
  const view = viewOf(out);
  view.setUint32(0, SIG_CENTRAL_DIRECTORY, true);
  view.setUint16(4, VERSION_MADE_BY, true);
  view.setUint16(6, VERSION_ZIP64, true);
  view.setUint16(8, fields.flags, true);
  view.setUint16(10, fields.method, true);
  view.setUint16(12, DOS_TIME, true);
  view.setUint16(14, DOS_DATE, true);
  view.setUint32(16, fields.crc32, true);
  view.setUint32(20, needs.sizes ? U32_SENTINEL : fields.compressedSize, true);
  view.setUint32(24, needs.sizes ? U32_SENTINEL : fields.uncompressedSize, true);
  view.setUint16(28, name.byteLength, true);
  view.setUint16(30, extraLength, true);
  // comment length, disk number start, internal attributes: all zero
  view.setUint32(38, EXTERNAL_ATTRIBUTES, true);
  view.setUint32(42, needs.offset ? U32_SENTINEL : fields.localHeaderOffset, true);
  out.set(name, CENTRAL_DIRECTORY_FIXED);
  if (values.length > 0) {
    const at = CENTRAL_DIRECTORY_FIXED + name.byteLength;
    view.setUint16(at, ZIP64_EXTRA_ID, true);
    view.setUint16(at + 2, 8 * values.length, true);
    values.forEach((value, i) => setU64(view, at + 4 + 8 * i, value));
  }
  return out;
}

export interface CentralDirectoryEntry {
  versionMadeBy: number;
  versionNeeded: number;
  flags: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  diskNumberStart: number;
  internalAttributes: number;
  externalAttributes: number;
  name: Uint8Array;
  extra: Uint8Array;
  comment: Uint8Array;
  /** Bytes this record occupies, to step to the next one. */
  length: number;
}

export function decodeCentralDirectoryEntry(bytes: Uint8Array, offset = 0): CentralDirectoryEntry {
  need(bytes, offset, CENTRAL_DIRECTORY_FIXED, 'central directory entry');
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== SIG_CENTRAL_DIRECTORY) {
    throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', 'bad central directory entry signature', { offset });
  }
  const nameLength = view.getUint16(offset + 28, true);
  const extraLength = view.getUint16(offset + 30, true);
  const length = centralDirectoryEntrySpan(bytes, offset);
  need(bytes, offset, length, 'central directory entry');
  const nameStart = offset + CENTRAL_DIRECTORY_FIXED;
  const extra = bytes.subarray(nameStart + nameLength, nameStart + nameLength + extraLength);
  const raw = {
    compressedSize: view.getUint32(offset + 20, true),
    uncompressedSize: view.getUint32(offset + 24, true),
    localHeaderOffset: view.getUint32(offset + 42, true),
  };
  const { fields: resolved, found } = applyZip64Extra(extra, nameStart + nameLength, raw);
  // Without a zip64 extra a sentinel would be taken as a real 4 GiB size or offset, and the damage reported as a
  // bounds or overlap error far from its cause.
  if (!found && Object.values(raw).includes(U32_SENTINEL)) {
    throw new NpzError('ERR_ZIP_ZIP64', 'zip64 sentinel 0xFFFFFFFF in a central directory entry that has no zip64 extra field', { offset });
  }
  return {
    versionMadeBy: view.getUint16(offset + 4, true),
    versionNeeded: view.getUint16(offset + 6, true),
    flags: view.getUint16(offset + 8, true),
    method: view.getUint16(offset + 10, true),
    dosTime: view.getUint16(offset + 12, true),
    dosDate: view.getUint16(offset + 14, true),
    crc32: view.getUint32(offset + 16, true),
    compressedSize: resolved.compressedSize,
    uncompressedSize: resolved.uncompressedSize,
    localHeaderOffset: resolved.localHeaderOffset ?? 0,
    diskNumberStart: view.getUint16(offset + 34, true),
    internalAttributes: view.getUint16(offset + 36, true),
    externalAttributes: view.getUint32(offset + 38, true),
    name: bytes.subarray(nameStart, nameStart + nameLength),
    extra,
    comment: bytes.subarray(nameStart + nameLength + extraLength, offset + length),
    length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Data descriptor (zip64 form: numpy's members are always zip64)

export function encodeDataDescriptor(crc: number, compressedSize: number, uncompressedSize: number): Uint8Array {
  const out = new Uint8Array(DATA_DESCRIPTOR64_LENGTH);
  const view = viewOf(out);
  view.setUint32(0, SIG_DATA_DESCRIPTOR, true);
  view.setUint32(4, crc, true);
  setU64(view, 8, compressedSize);
  setU64(view, 16, uncompressedSize);
  return out;
}

export function decodeDataDescriptor(
  bytes: Uint8Array,
  offset = 0,
): { crc32: number; compressedSize: number; uncompressedSize: number } {
  need(bytes, offset, DATA_DESCRIPTOR64_LENGTH, 'data descriptor');
  const view = viewOf(bytes);
  if (view.getUint32(offset, true) !== SIG_DATA_DESCRIPTOR) {
    throw new NpzError('ERR_ZIP_LOCAL_HEADER', 'bad data descriptor signature', { offset });
  }
  return {
    crc32: view.getUint32(offset + 4, true),
    compressedSize: getU64(view, offset + 8, 'compressed size'),
    uncompressedSize: getU64(view, offset + 16, 'uncompressed size'),
  };
}

/** CRC-32 and sizes, as a local header, a descriptor or the central directory records them, or as read. */
export interface MemberSizes {
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
}

/**
 * The four forms a data descriptor takes in the wild: with or without its signature (APPNOTE 4.3.9.3 makes it
 * optional), with 8-byte sizes (zip64: what zipfile and numpy write) or 4-byte ones.
 */
export interface DescriptorLayout {
  signature: boolean;
  zip64: boolean;
}

/** The descriptor of layout `layout` at the start of `bytes`, with its length; undefined when `bytes` is too short. */
export function decodeDescriptorLayout(bytes: Uint8Array, layout: DescriptorLayout): (MemberSizes & { length: number }) | undefined {
  const start = layout.signature ? 4 : 0;
  const length = start + (layout.zip64 ? 20 : 12);
  if (bytes.length < length) return undefined;
  const view = viewOf(bytes);
  const size = (at: number): number => (layout.zip64 ? view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32 : view.getUint32(at, true));
  const sizeWidth = layout.zip64 ? 8 : 4;
  return { length, crc32: view.getUint32(start, true), compressedSize: size(start + 4), uncompressedSize: size(start + 4 + sizeWidth) };
}

/** Signatures of the records that may follow a data descriptor. */
// The zip64 end record and end record signatures are spelled out: end-records.ts imports this module.
const AFTER_DESCRIPTOR = new Set([SIG_LOCAL_HEADER, SIG_CENTRAL_DIRECTORY, SIG_DIGITAL_SIGNATURE, 0x06064b50, 0x06054b50]);

/**
 * Which descriptor layout the bytes after a member hold. A reader cannot tell the forms apart by their bytes, so
 * the one that repeats what was read (`actual`) and is followed by a record signature, or by the end of `bytes`,
 * is taken; then one that only repeats what was read; else the most likely form (signed when the signature is
 * there; zip64 first when the local header had a zip64 extra), for the caller to compare and report. Undefined
 * when `bytes` is too short for that form. `bytes`: what follows the member's data, up to 32 bytes of it.
 */
export function pickDataDescriptor(bytes: Uint8Array, zip64First: boolean, actual: MemberSizes): (MemberSizes & { length: number }) | undefined {
  const view = viewOf(bytes);
  const signed = bytes.length >= 4 && view.getUint32(0, true) === SIG_DATA_DESCRIPTOR;
  const layouts: DescriptorLayout[] = [];
  for (const signature of signed ? [true, false] : [false]) {
    for (const zip64 of zip64First ? [true, false] : [false, true]) layouts.push({ signature, zip64 });
  }
  let repeating: (MemberSizes & { length: number }) | undefined;
  for (const layout of layouts) {
    const found = decodeDescriptorLayout(bytes, layout);
    if (found === undefined) continue;
    const agrees = found.crc32 === actual.crc32 && found.compressedSize === actual.compressedSize && found.uncompressedSize === actual.uncompressedSize;
    if (!agrees) continue;
    const followed = bytes.length === found.length || (bytes.length >= found.length + 4 && AFTER_DESCRIPTOR.has(view.getUint32(found.length, true)));
    if (followed) return found;
    repeating ??= found;
  }
  return repeating ?? decodeDescriptorLayout(bytes, layouts[0] as DescriptorLayout);
}
