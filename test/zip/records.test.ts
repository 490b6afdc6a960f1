import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import {
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
  encodeEndRecords,
  endRecordsLength,
} from '../../src/zip/format/end-records.js';
import {
  FLAG_DATA_DESCRIPTOR,
  FLAG_UTF8_NAME,
  METHOD_DEFLATED,
  METHOD_STORED,
  ZIP64_LIMIT,
  decodeCentralDirectoryEntry,
  decodeDataDescriptor,
  decodeLocalHeader,
  encodeCentralDirectoryEntry,
  encodeDataDescriptor,
  encodeEntryName,
  encodeLocalHeader,
  centralDirectoryEntryLength,
} from '../../src/zip/format/records.js';
import { hasPython, runPython, withSkipReason, NO_PYTHON } from '../helpers/python.js';
import { hex } from '../helpers/bytes.js';
import { withTempDir } from '../helpers/tmp.js';

interface OracleEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  usize: number;
  csize: number;
  offset: number;
}

/**
 * CPython writes the records itself: FileHeader(zip64=True) for each local header (numpy's forced zip64),
 * the zip64 data descriptor, and `_write_end_record` over a fake file whose tell() starts at the central
 * directory offset, so multi-GiB offsets need no multi-GiB file.
 */
const ORACLE = String.raw`
import json, struct, sys, io, zipfile
spec = json.load(open(sys.argv[1]))
class Fake:
    def __init__(self, pos): self.pos = pos; self.buf = bytearray()
    def write(self, b): self.buf += b; self.pos += len(b); return len(b)
    def tell(self): return self.pos
    def flush(self): pass
zf = zipfile.ZipFile(io.BytesIO(), 'w')
fake = Fake(spec['cdOffset'])
zf.fp = fake
zf.start_dir = spec['cdOffset']
local = []
dd = []
for e in spec['entries']:
    zi = zipfile.ZipInfo(e['name'])
    zi.flag_bits = e['flags']; zi.compress_type = e['method']; zi.CRC = e['crc']
    zi.file_size = e['usize']; zi.compress_size = e['csize']; zi.header_offset = e['offset']
    zi.create_version = zi.extract_version = 45
    zi.external_attr = 0o600 << 16
    zf.filelist.append(zi)
    if spec['withLocal']:
        local.append(zi.FileHeader(True).hex())
        dd.append(struct.pack('<LLQQ', 0x08074b50, e['crc'], e['csize'], e['usize']).hex())
zf._write_end_record()
zf.fp = None
print(json.dumps({'end': bytes(fake.buf).hex(), 'local': local, 'dd': dd}))
`;

function oracle(entries: OracleEntry[], cdOffset: number, withLocal: boolean): { end: string; local: string[]; dd: string[] } {
  return withTempDir('records-oracle', (dir) => {
    const path = dir.file('entries.json');
    writeFileSync(path, JSON.stringify({ entries, cdOffset, withLocal }));
    return JSON.parse(runPython(ORACLE, [path])) as { end: string; local: string[]; dd: string[] };
  });
}

function ours(entries: OracleEntry[], cdOffset: number): string {
  const parts: string[] = [];
  let cdSize = 0;
  for (const e of entries) {
    const { bytes, flags } = encodeEntryName(e.name);
    const record = encodeCentralDirectoryEntry({
      name: bytes,
      flags: flags | e.flags,
      method: e.method,
      crc32: e.crc,
      compressedSize: e.csize,
      uncompressedSize: e.usize,
      localHeaderOffset: e.offset,
    });
    expect(record.byteLength).toBe(
      centralDirectoryEntryLength({
        nameLength: bytes.byteLength,
        compressedSize: e.csize,
        uncompressedSize: e.usize,
        localHeaderOffset: e.offset,
      }),
    );
    cdSize += record.byteLength;
    parts.push(hex(record));
  }
  const end = encodeEndRecords({ entries: entries.length, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize });
  expect(end.byteLength).toBe(endRecordsLength({ entries: entries.length, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize }));
  return parts.join('') + hex(end);
}

const entry = (over: Partial<OracleEntry>): OracleEntry => ({
  name: 'a/b.npy',
  flags: 0,
  method: METHOD_STORED,
  crc: 0x53868cb6,
  usize: 140,
  csize: 140,
  offset: 0,
  ...over,
});

describe.skipIf(!hasPython())(withSkipReason(!hasPython(), NO_PYTHON, 'records against CPython zipfile'), () => {
  it('encodes local headers, descriptors, CD entries and end records like zipfile around every threshold', () => {
    const big = [ZIP64_LIMIT - 1, ZIP64_LIMIT, ZIP64_LIMIT + 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 3, 2 ** 52 + 1];
    const entries: OracleEntry[] = [
      entry({}),
      entry({ name: 'ü/é.npy', method: METHOD_DEFLATED, csize: 75, crc: 0xffffffff }),
      entry({ name: '名前.npy', flags: FLAG_DATA_DESCRIPTOR, crc: 1 }),
      entry({ name: 'empty.npy', usize: 0, csize: 0, crc: 0 }),
    ];
    for (const value of big) {
      entries.push(entry({ name: `u${value}.npy`, usize: value, csize: 1000 }));
      entries.push(entry({ name: `c${value}.npy`, usize: 1000, csize: value, method: METHOD_DEFLATED }));
      entries.push(entry({ name: `o${value}.npy`, offset: value }));
      entries.push(entry({ name: `all${value}.npy`, usize: value, csize: value, offset: value, flags: FLAG_DATA_DESCRIPTOR }));
    }
    const expected = oracle(entries, 4096, true);
    expect(ours(entries, 4096)).toBe(expected.end);
    entries.forEach((e, i) => {
      const { bytes, flags } = encodeEntryName(e.name);
      const fields = { name: bytes, flags: flags | e.flags, method: e.method, crc32: e.crc, compressedSize: e.csize, uncompressedSize: e.usize };
      expect(hex(encodeLocalHeader(fields)), e.name).toBe(expected.local[i]);
      expect(hex(encodeDataDescriptor(e.crc, e.csize, e.usize))).toBe(expected.dd[i]);
    });
  });

  it('writes zip64 end records exactly when zipfile does (CD offset and size above 2^31-1)', () => {
    const two = [entry({}), entry({ name: 'x.npy', offset: 197 })];
    for (const cdOffset of [0, ZIP64_LIMIT, ZIP64_LIMIT + 1, 0x80000568, 2 ** 32 - 1, 2 ** 32, 2 ** 33 + 17]) {
      expect(ours(two, cdOffset), `cd offset ${cdOffset}`).toBe(oracle(two, cdOffset, false).end);
    }
    // No entries at all: numpy's empty savez is the bare 22-byte EOCD.
    expect(ours([], 0)).toBe(oracle([], 0, false).end);
    expect(ours([], 0)).toHaveLength(44);
  });

  it('switches to zip64 end records above 65535 entries, not at 65535', () => {
    for (const count of [65535, 65536]) {
      const many = Array.from({ length: count }, (_, i) => entry({ name: `${i}.npy`, offset: i * 100, usize: 2, csize: 2 }));
      expect(ours(many, count * 100), `${count} entries`).toBe(oracle(many, count * 100, false).end);
    }
  });
});

describe('record codecs', () => {
  const size = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 2 ** 52 }));
  const name = fc.string({ minLength: 0, maxLength: 40, unit: 'grapheme' }).map((s) => encodeEntryName(s));

  it('decodes local headers back to the fields they were encoded from', () => {
    fc.assert(
      fc.property(name, size, size, fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), (n, usize, csize, crc, deferred) => {
        const flags = n.flags | (deferred ? FLAG_DATA_DESCRIPTOR : 0);
        const bytes = encodeLocalHeader({ name: n.bytes, flags, method: 8, crc32: crc, compressedSize: csize, uncompressedSize: usize });
        const decoded = decodeLocalHeader(bytes);
        expect(decoded).toMatchObject({ versionNeeded: 45, flags, method: 8, dosTime: 0, dosDate: 0x21, length: bytes.byteLength });
        expect(hex(decoded.name)).toBe(hex(n.bytes));
        if (deferred) {
          expect([decoded.crc32, decoded.compressedSize, decoded.uncompressedSize]).toEqual([0, 0, 0]);
        } else {
          expect([decoded.crc32, decoded.compressedSize, decoded.uncompressedSize]).toEqual([crc, csize, usize]);
        }
      }),
    );
  });

  it('decodes CD entries back, with zip64 fields only where the 32-bit field holds the sentinel', () => {
    fc.assert(
      fc.property(name, size, size, size, fc.boolean(), (n, usize, csize, offset, forceZip64) => {
        const bytes = encodeCentralDirectoryEntry({
          name: n.bytes, flags: n.flags, method: 0, crc32: 7, compressedSize: csize, uncompressedSize: usize, localHeaderOffset: offset, forceZip64,
        });
        const decoded = decodeCentralDirectoryEntry(bytes);
        expect(decoded).toMatchObject({ versionMadeBy: 0x032d, versionNeeded: 45, externalAttributes: 0x01800000, length: bytes.byteLength });
        expect([decoded.compressedSize, decoded.uncompressedSize, decoded.localHeaderOffset]).toEqual([csize, usize, offset]);
        const expectedExtra = forceZip64 ? 24 : (usize > ZIP64_LIMIT || csize > ZIP64_LIMIT ? 16 : 0) + (offset > ZIP64_LIMIT ? 8 : 0);
        expect(decoded.extra.byteLength).toBe(expectedExtra === 0 ? 0 : expectedExtra + 4);
      }),
    );
  });

  it('decodes end records and descriptors back; forced zip64 puts sentinels in every EOCD field', () => {
    // zipfile's rule, restated here rather than imported, so a change to the writer's rule cannot agree with itself.
    const zipfileWantsZip64 = (entries: number, cdSize: number, cdOffset: number, force: boolean): boolean =>
      force || entries > 0xffff || cdSize > 2 ** 31 - 1 || cdOffset > 2 ** 31 - 1;
    const seen = { zip64: 0, plain: 0, forced: 0, manyEntries: 0, farOffset: 0 };
    const check = (entries: number, cdSize: number, cdOffset: number, forceZip64: boolean): void => {
      const bytes = encodeEndRecords({ entries, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize, forceZip64 });
      const zip64 = zipfileWantsZip64(entries, cdSize, cdOffset, forceZip64);
      expect(bytes.byteLength).toBe(zip64 ? 56 + 20 + 22 : 22);
      expect(endRecordsLength({ entries, centralDirectoryOffset: cdOffset, centralDirectorySize: cdSize, forceZip64 })).toBe(bytes.byteLength);
      const eocd = decodeEndOfCentralDirectory(bytes, bytes.byteLength - 22);
      expect(eocd.diskNumber).toBe(0);
      expect(eocd.centralDirectoryDisk).toBe(0);
      expect(eocd.comment.byteLength).toBe(0);
      if (!zip64) {
        seen.plain++;
        expect(eocd).toMatchObject({ entriesOnDisk: entries, entries, centralDirectorySize: cdSize, centralDirectoryOffset: cdOffset });
        return;
      }
      seen.zip64++;
      if (forceZip64) seen.forced++;
      if (entries > 0xffff) seen.manyEntries++;
      if (cdOffset > 2 ** 31 - 1) seen.farOffset++;
      const locator = decodeZip64Locator(bytes, 56);
      expect(locator).toEqual({ zip64EndDisk: 0, zip64EndOffset: cdOffset + cdSize, totalDisks: 1 });
      expect(decodeZip64EndOfCentralDirectory(bytes, 0)).toEqual({
        recordSize: 44, versionMadeBy: 45, versionNeeded: 45, diskNumber: 0, centralDirectoryDisk: 0,
        entriesOnDisk: entries, entries, centralDirectorySize: cdSize, centralDirectoryOffset: cdOffset,
      });
      if (forceZip64) {
        expect(eocd).toMatchObject({ entriesOnDisk: 0xffff, entries: 0xffff, centralDirectorySize: 0xffffffff, centralDirectoryOffset: 0xffffffff });
      } else {
        expect(eocd.entriesOnDisk).toBe(Math.min(entries, 0xffff));
        expect(eocd.entries).toBe(Math.min(entries, 0xffff));
        expect(eocd.centralDirectorySize).toBe(Math.min(cdSize, 0xffffffff));
        expect(eocd.centralDirectoryOffset).toBe(Math.min(cdOffset, 0xffffffff));
      }
    };
    // Each trigger on its own, and the boundaries either side of it.
    check(3, 100, 1000, false);
    check(3, 100, 1000, true);
    check(0, 0, 0, true);
    check(0xffff, 100, 1000, false);
    check(0x10000, 100, 1000, false);
    check(3, 100, 2 ** 31 - 1, false);
    check(3, 100, 2 ** 31, false);
    check(3, 2 ** 31 - 1, 0, false);
    check(3, 2 ** 31, 0, false);
    check(70000, 2 ** 33, 2 ** 40, false);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), size, size, fc.boolean(), (entries, cdSize, cdOffset, forceZip64) => {
        check(entries, cdSize, cdOffset, forceZip64);
      }),
    );
    // Every branch above ran, so none of the expectations in it is vacuous.
    for (const [kind, count] of Object.entries(seen)) expect(count, kind).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), size, size, (crc, csize, usize) => {
        expect(decodeDataDescriptor(encodeDataDescriptor(crc, csize, usize))).toEqual({ crc32: crc, compressedSize: csize, uncompressedSize: usize });
      }),
    );
  });

  it('flags exactly the names zipfile flags as UTF-8', () => {
    expect(encodeEntryName('a/b.npy').flags).toBe(0);
    expect(encodeEntryName('\x7f.npy').flags).toBe(0);
    expect(encodeEntryName('é.npy').flags).toBe(FLAG_UTF8_NAME);
    expect(hex(encodeEntryName('é').bytes)).toBe('c3a9');
  });

  it('rejects truncated and foreign records with coded errors', () => {
    const header = encodeLocalHeader({ name: encodeEntryName('x').bytes, flags: 0, method: 0, crc32: 0, compressedSize: 1, uncompressedSize: 1 });
    const codes = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return isNpzError(err) ? err.code : 'not an NpzError';
      }
      return undefined;
    };
    expect(codes(() => decodeLocalHeader(header.subarray(0, 40)))).toBe('ERR_ZIP_TRUNCATED');
    expect(codes(() => decodeLocalHeader(header, 1))).toBe('ERR_ZIP_LOCAL_HEADER');
    expect(codes(() => decodeLocalHeader(header, header.byteLength - 10))).toBe('ERR_ZIP_TRUNCATED');
    expect(codes(() => decodeCentralDirectoryEntry(new Uint8Array(64)))).toBe('ERR_ZIP_CENTRAL_DIRECTORY');
    expect(codes(() => decodeEndOfCentralDirectory(new Uint8Array(22), 0))).toBe('ERR_ZIP_EOCD');
    // A sentinel size whose zip64 extra is missing: what zipfile calls a corrupt zip64 extra.
    const broken = header.slice();
    broken.set([0x01, 0x00, 0x08, 0x00], 31);
    expect(codes(() => decodeLocalHeader(broken))).toBe('ERR_ZIP_ZIP64');
    // 2^53 does not fit a JS number.
    const huge = encodeDataDescriptor(0, 0, 0);
    huge.set([0, 0, 0, 0, 0, 0, 0x20, 0], 16);
    expect(codes(() => decodeDataDescriptor(huge))).toBe('ERR_ZIP_TOO_LARGE');
  });
});
