import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runPython } from '../helpers/python.js';

/** Helpers for the reader tests: numpy-written inputs made at test time, and byte surgery on zip structures. */

export const GOOD_DIR = fileURLToPath(new URL('../fixtures/good/', import.meta.url));

export function goodFixtures(): string[] {
  return readdirSync(GOOD_DIR)
    .filter((name) => name.endsWith('.npz'))
    .sort();
}

/** Runs python with numpy/ml_dtypes imported and `out` bound to the given path; returns the file's bytes. */
export function pythonArchive(out: string, body: string): Uint8Array {
  runPython(`import sys, io, zipfile, numpy as np, ml_dtypes\nout = sys.argv[1]\n${body}`, [out]);
  return new Uint8Array(readFileSync(out));
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

const u16 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint16(at, true);
const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

export function setU16(b: Uint8Array, at: number, value: number): void {
  new DataView(b.buffer, b.byteOffset).setUint16(at, value, true);
}

export function setU32(b: Uint8Array, at: number, value: number): void {
  new DataView(b.buffer, b.byteOffset).setUint32(at, value, true);
}

export interface CdRecord {
  /** Offset of this central directory record in the file. */
  at: number;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  nameLength: number;
  localHeaderOffset: number;
  name: string;
}

export interface ZipLayout {
  eocd: number;
  cdOffset: number;
  cdSize: number;
  records: CdRecord[];
}

/** Parses a small (non-ZIP64 end record) archive independently of the library, for locating bytes to patch. */
export function zipLayout(bytes: Uint8Array): ZipLayout {
  let eocd = bytes.length - 22;
  while (eocd >= 0 && u32(bytes, eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('test helper: no EOCD');
  const count = u16(bytes, eocd + 10);
  const cdSize = u32(bytes, eocd + 12);
  const cdOffset = u32(bytes, eocd + 16);
  const records: CdRecord[] = [];
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (u32(bytes, at) !== 0x02014b50) throw new Error('test helper: bad CD signature');
    const nameLength = u16(bytes, at + 28);
    const extraLength = u16(bytes, at + 30);
    const commentLength = u16(bytes, at + 32);
    records.push({
      at,
      flags: u16(bytes, at + 8),
      method: u16(bytes, at + 10),
      crc: u32(bytes, at + 16),
      compressedSize: u32(bytes, at + 20),
      uncompressedSize: u32(bytes, at + 24),
      nameLength,
      localHeaderOffset: u32(bytes, at + 42),
      name: Buffer.from(bytes.subarray(at + 46, at + 46 + nameLength)).toString('utf8'),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return { eocd, cdOffset, cdSize, records };
}

/** Offset of the first data byte of a member, from its local header. */
export function localDataStart(bytes: Uint8Array, record: CdRecord): number {
  const lh = record.localHeaderOffset;
  return lh + 30 + u16(bytes, lh + 26) + u16(bytes, lh + 28);
}

export function record(layout: ZipLayout, name: string): CdRecord {
  const found = layout.records.find((r) => r.name === name);
  if (found === undefined) throw new Error(`test helper: no member ${name}`);
  return found;
}

/**
 * Bytes whose reads are counted and can be made to come up short from some offset on (`cut`), as a file that
 * shrinks or a server that drops the connection would.
 */
export function countingSource(bytes: Uint8Array) {
  const stats = { reads: 0, bytesRead: 0, closed: 0, maxRead: 0 };
  const options: { shortAfter?: number } = {};
  const size = bytes.length;
  return {
    stats,
    cut(offset: number): void {
      options.shortAfter = offset;
    },
    source: {
      size,
      async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
        stats.reads++;
        stats.maxRead = Math.max(stats.maxRead, length);
        const limit = options.shortAfter ?? bytes.length;
        const available = bytes.subarray(Math.min(offset, limit), Math.min(offset + length, limit));
        stats.bytesRead += available.length;
        if (into === undefined) return available.slice();
        into.set(available);
        return into.subarray(0, available.length);
      },
      async close(): Promise<void> {
        stats.closed++;
      },
    },
  };
}

/**
 * A stored single-member archive whose data region is virtual (zeros served on demand), so members past 4 GiB can
 * be exercised without writing them: ZIP64 extras in both headers, a ZIP64 end record and locator. The CRC is
 * left at 0, so only code paths that stop before verifying can succeed on it.
 */
/**
 * Byte `index` of a virtual archive's data region: a period of 251 (prime), so a read from any offset that is off by
 * anything but a multiple of 251 shows up in the bytes.
 */
export function virtualDataByte(index: number): number {
  return index % 251;
}

export function virtualZip64Archive(name: string, npyHeader: Uint8Array, dataBytes: number) {
  const nameBytes = new TextEncoder().encode(name);
  const memberSize = npyHeader.length + dataBytes;
  const local = new Uint8Array(30 + nameBytes.length + 20);
  setU32(local, 0, 0x04034b50);
  setU16(local, 4, 45);
  setU32(local, 18, 0xffffffff);
  setU32(local, 22, 0xffffffff);
  setU16(local, 26, nameBytes.length);
  setU16(local, 28, 20);
  local.set(nameBytes, 30);
  const view = new DataView(local.buffer);
  setU16(local, 30 + nameBytes.length, 1);
  setU16(local, 32 + nameBytes.length, 16);
  view.setBigUint64(34 + nameBytes.length, BigInt(memberSize), true);
  view.setBigUint64(42 + nameBytes.length, BigInt(memberSize), true);
  const head = Buffer.concat([local, npyHeader]);
  const cdOffset = head.length + dataBytes;

  const cd = new Uint8Array(46 + nameBytes.length + 20);
  const cdView = new DataView(cd.buffer);
  setU32(cd, 0, 0x02014b50);
  setU16(cd, 4, 45);
  setU16(cd, 6, 45);
  setU32(cd, 20, 0xffffffff);
  setU32(cd, 24, 0xffffffff);
  setU16(cd, 28, nameBytes.length);
  setU16(cd, 30, 20);
  cd.set(nameBytes, 46);
  setU16(cd, 46 + nameBytes.length, 1);
  setU16(cd, 48 + nameBytes.length, 16);
  cdView.setBigUint64(50 + nameBytes.length, BigInt(memberSize), true);
  cdView.setBigUint64(58 + nameBytes.length, BigInt(memberSize), true);

  const end = new Uint8Array(56 + 20 + 22);
  const endView = new DataView(end.buffer);
  setU32(end, 0, 0x06064b50);
  endView.setBigUint64(4, 44n, true);
  setU16(end, 12, 45);
  setU16(end, 14, 45);
  endView.setBigUint64(24, 1n, true);
  endView.setBigUint64(32, 1n, true);
  endView.setBigUint64(40, BigInt(cd.length), true);
  endView.setBigUint64(48, BigInt(cdOffset), true);
  setU32(end, 56, 0x07064b50);
  endView.setBigUint64(64, BigInt(cdOffset + cd.length), true);
  setU32(end, 72, 1);
  setU32(end, 76, 0x06054b50);
  setU16(end, 84, 0xffff);
  setU16(end, 86, 0xffff);
  setU32(end, 88, cd.length);
  setU32(end, 92, 0xffffffff);
  const tail = Buffer.concat([cd, end]);

  const size = cdOffset + tail.length;
  const stats = { bytesRead: 0 };
  const source = {
    size,
    async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
      const n = Math.max(0, Math.min(length, size - offset));
      const out = into ?? new Uint8Array(n);
      const dataStart = head.length;
      for (let i = 0; i < n; i++) out[i] = virtualDataByte(offset + i - dataStart);
      // Copy whichever real regions overlap [offset, offset + n); the rest is the patterned data region.
      for (const [start, bytes] of [[0, head], [cdOffset, tail]] as const) {
        const from = Math.max(offset, start);
        const to = Math.min(offset + n, start + bytes.length);
        if (from < to) out.set(bytes.subarray(from - start, to - start), from - offset);
      }
      stats.bytesRead += n;
      return out.subarray(0, n);
    },
    async close(): Promise<void> {},
  };
  return { source, stats, dataStart: head.length };
}
