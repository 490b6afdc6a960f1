import { readFileSync } from 'node:fs';

/**
 * Where things are in a ZIP archive, found independently of the library (for locating bytes to patch, and as the
 * plan a reader's reads are checked against), and the little-endian field access tests use to patch them.
 */

export const u16 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(at, true);
export const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
const u64 = (b: Uint8Array, at: number): number => {
  const value = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('test helper: a zip64 field past 2^53');
  return Number(value);
};

export function setU16(b: Uint8Array, at: number, value: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint16(at, value, true);
}

export function setU32(b: Uint8Array, at: number, value: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, value, true);
}

export interface CdRecord {
  /** Offset of this central directory record in the file. */
  at: number;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Length of the name in bytes (UTF-8 as stored). */
  nameLength: number;
  localHeaderOffset: number;
  name: string;
}

export interface ZipLayout {
  /** Length of the whole archive. */
  size: number;
  /** Offset of the classic end of central directory record. */
  eocd: number;
  cdOffset: number;
  cdSize: number;
  records: CdRecord[];
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;

/**
 * Parses an archive's end records and central directory, zip64 included (end record through its locator, sizes
 * and offsets from the zip64 extra where the 32-bit fields hold the sentinel). Throws on anything it cannot place
 * rather than guess. Takes the bytes, or the path of a file to read them from.
 */
export function zipLayout(input: Uint8Array | string): ZipLayout {
  const bytes = typeof input === 'string' ? new Uint8Array(readFileSync(input)) : input;
  let eocd = bytes.length - 22;
  while (eocd >= 0 && u32(bytes, eocd) !== EOCD) eocd--;
  if (eocd < 0) throw new Error('test helper: no EOCD');
  let count = u16(bytes, eocd + 10);
  let cdSize = u32(bytes, eocd + 12);
  let cdOffset = u32(bytes, eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || u32(bytes, locator) !== ZIP64_LOCATOR) throw new Error('test helper: EOCD sentinels without a zip64 locator');
    const record = u64(bytes, locator + 8);
    if (u32(bytes, record) !== ZIP64_EOCD) throw new Error('test helper: the zip64 locator points at no zip64 end record');
    count = u64(bytes, record + 32);
    cdSize = u64(bytes, record + 40);
    cdOffset = u64(bytes, record + 48);
  }
  const records: CdRecord[] = [];
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (u32(bytes, at) !== CENTRAL) throw new Error('test helper: bad CD signature');
    const nameLength = u16(bytes, at + 28);
    const extraLength = u16(bytes, at + 30);
    const commentLength = u16(bytes, at + 32);
    const fields = { uncompressedSize: u32(bytes, at + 24), compressedSize: u32(bytes, at + 20), localHeaderOffset: u32(bytes, at + 42) };
    zip64Fields(bytes.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength), fields);
    records.push({
      at,
      flags: u16(bytes, at + 8),
      method: u16(bytes, at + 10),
      crc: u32(bytes, at + 16),
      ...fields,
      nameLength,
      name: Buffer.from(bytes.subarray(at + 46, at + 46 + nameLength)).toString('utf8'),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return { size: bytes.length, eocd, cdOffset, cdSize, records };
}

/** Replaces sentinel fields by the zip64 extra's values, in the order the format gives them. */
function zip64Fields(extra: Uint8Array, fields: { uncompressedSize: number; compressedSize: number; localHeaderOffset: number }): void {
  const wanted = (['uncompressedSize', 'compressedSize', 'localHeaderOffset'] as const).filter((key) => fields[key] === 0xffffffff);
  if (wanted.length === 0) return;
  for (let at = 0; at + 4 <= extra.length; at += 4 + u16(extra, at + 2)) {
    if (u16(extra, at) !== 1) continue;
    if (u16(extra, at + 2) < 8 * wanted.length) throw new Error('test helper: zip64 extra too short for its sentinels');
    wanted.forEach((key, i) => (fields[key] = u64(extra, at + 4 + 8 * i)));
    return;
  }
  throw new Error('test helper: a size or offset sentinel without a zip64 extra');
}

/** Offset of the first data byte of a member, from its local header. */
export function localDataStart(bytes: Uint8Array, record: CdRecord): number {
  const lh = record.localHeaderOffset;
  return lh + 30 + u16(bytes, lh + 26) + u16(bytes, lh + 28);
}

/** The member named `name`; a test helper error when there is none. */
export function record(layout: ZipLayout, name: string): CdRecord {
  const found = layout.records.find((r) => r.name === name);
  if (found === undefined) throw new Error(`test helper: no member ${name}`);
  return found;
}
