import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipArchive, checkDecodable } from '../../src/zip/random/archive.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { indexByKey } from '../../src/npz/keys.js';
import { bufferSource, fileSource, type RandomAccessSource } from '../../src/index.js';
import { resolveSource } from '../../src/node/resolve.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { GOOD_DIR, goodFixtures } from '../helpers/fixtures.js';
import { countingSource } from '../helpers/sources.js';
import { localDataStart, record, setU16, setU32, zipLayout } from '../helpers/zip-layout.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { expectCode } from '../helpers/errors.js';

async function openBytes(bytes: Uint8Array): Promise<ZipArchive> {
  return ZipArchive.open(bufferSource(bytes), nodeCodecs);
}

/** Opens and locates every member, the way any read would. */
async function openAndLocate(bytes: Uint8Array): Promise<ZipArchive> {
  const archive = await openBytes(bytes);
  for (const entry of archive.entries) await archive.dataStart(entry);
  return archive;
}

describe('bufferSource', () => {
  const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
  const source = bufferSource(bytes);

  it('reads exact ranges and comes up short only at the end', async () => {
    expect(source.size).toBe(100);
    expect([...(await source.read(10, 3))]).toEqual([10, 11, 12]);
    expect([...(await source.read(98, 10))]).toEqual([98, 99]);
    expect((await source.read(150, 10)).length).toBe(0);
  });

  it('writes into a given destination and returns a view of it', async () => {
    const into = new Uint8Array(8).fill(0xee);
    const view = await source.read(50, 4, into);
    expect(view.buffer).toBe(into.buffer);
    expect([...into]).toEqual([50, 51, 52, 53, 0xee, 0xee, 0xee, 0xee]);
  });

  it('rejects negative, fractional and oversized requests', async () => {
    await expectCode(source.read(-1, 4), 'ERR_INVALID_ARGUMENT');
    await expectCode(source.read(1.5, 4), 'ERR_INVALID_ARGUMENT');
    await expectCode(source.read(0, 8, new Uint8Array(4)), 'ERR_INVALID_ARGUMENT');
  });
});

describe('fileSource', () => {
  let dir: TempDir;
  const bytes = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
  beforeAll(() => {
    dir = makeTempDir('reader');
    writeFileSync(dir.file('data.bin'), bytes);
    mkdirSync(dir.file('a-directory'));
  });
  afterAll(() => dir.remove());

  it('reads positionally from a path and from a file: URL', async () => {
    for (const location of [dir.file('data.bin'), pathToFileURL(dir.file('data.bin'))]) {
      const source = await fileSource(location);
      expect(source.size).toBe(5000);
      expect([...(await source.read(4990, 100))]).toEqual([...bytes.subarray(4990)]);
      const into = new Uint8Array(300);
      const view = await source.read(1000, 300, into);
      expect(view.buffer).toBe(into.buffer);
      expect([...view]).toEqual([...bytes.subarray(1000, 1300)]);
      await source.close();
      await source.close();
      await expectCode(source.read(0, 1), 'ERR_NPZ_CLOSED');
    }
  });

  it('reports missing files and non-files as ERR_IO, other URL schemes as invalid', async () => {
    await expectCode(fileSource(dir.file('missing.npz')), 'ERR_IO');
    await expectCode(fileSource(dir.file('a-directory')), 'ERR_IO');
    await expectCode(fileSource(new URL('https://example.com/x.npz')), 'ERR_INVALID_ARGUMENT');
  });

  it('resolveSource owns what it opens and leaves caller sources to the caller', async () => {
    const fromPath = await resolveSource(dir.file('data.bin'));
    expect(fromPath.owned).toBe(true);
    await fromPath.source.close();
    const custom: RandomAccessSource = bufferSource(bytes);
    const resolved = await resolveSource(custom);
    expect(resolved).toEqual({ source: custom, owned: false });
    await expectCode(resolveSource({ size: -1, read: custom.read, close: custom.close }), 'ERR_INVALID_ARGUMENT');
    await expectCode(resolveSource(42 as unknown as string), 'ERR_INVALID_ARGUMENT');
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'central directory against CPython zipfile'), () => {
  const INSPECT = String.raw`
import json, struct, sys, zipfile
report = {}
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as zf, open(path, 'rb') as fh:
        out = []
        for i in zf.infolist():
            fh.seek(i.header_offset)
            head = fh.read(30)
            n, m = struct.unpack('<HH', head[26:30])
            out.append({'name': i.filename, 'flags': i.flag_bits, 'method': i.compress_type, 'crc': i.CRC,
                        'size': i.file_size, 'csize': i.compress_size, 'offset': i.header_offset,
                        'data': i.header_offset + 30 + n + m})
        report[path] = out
print(json.dumps(report))
`;
  let inspected: Record<string, Array<Record<string, number | string>>>;
  beforeAll(() => {
    inspected = JSON.parse(runPython(INSPECT, goodFixtures().map((name) => join(GOOD_DIR, name))));
  });

  it.each(goodFixtures())('%s: entries and data offsets match', async (name) => {
    const path = join(GOOD_DIR, name);
    const expected = inspected[path]!;
    const source = await fileSource(path);
    try {
      // dup-names holds a repeated name on purpose: the zip layer lists every record, naming policy is npz's.
      const archive = await ZipArchive.open(source, nodeCodecs);
      const entries = expected;
      expect(archive.entries.length).toBe(entries.length);
      for (const [i, entry] of archive.entries.entries()) {
        const want = entries[i] as Record<string, number | string>;
        expect(entry.name).toBe(want['name']);
        expect(entry.flags).toBe(want['flags']);
        expect(entry.method).toBe(want['method']);
        expect(entry.crc32).toBe(want['crc']);
        expect(entry.uncompressedSize).toBe(want['size']);
        expect(entry.compressedSize).toBe(want['csize']);
        expect(entry.localHeaderOffset).toBe(want['offset']);
        expect(await archive.dataStart(entry)).toBe(want['data']);
      }
    } finally {
      await source.close();
    }
  });

  it('decodes names without flag bit 11 as cp437, as zipfile does', async () => {
    const dir = makeTempDir('reader');
    try {
      const bytes = pythonArchive(
        dir.file('cp437.zip'),
        `with zipfile.ZipFile(out, 'w') as zf:\n    zf.writestr('caf\\u00e9-\\u00fc.npy', b'x')\n    zf.writestr('plain.txt', b'y')`,
      );
      const layout = zipLayout(bytes);
      const utf8 = layout.records[0]!;
      expect(utf8.flags & 0x800).toBe(0x800);
      // Clearing bit 11 in both headers turns the UTF-8 bytes into a cp437 name for every reader.
      setU16(bytes, utf8.at + 8, utf8.flags & ~0x800);
      setU16(bytes, utf8.localHeaderOffset + 6, utf8.flags & ~0x800);
      writeFileSync(dir.file('patched.zip'), bytes);
      const names = JSON.parse(runPython('import sys, json, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))', [dir.file('patched.zip')]));
      const archive = await openAndLocate(bytes);
      expect(archive.entries.map((e) => e.name)).toEqual(names);
      expect(archive.entries[0]!.name).toBe('caf├⌐-├╝.npy');
    } finally {
      dir.remove();
    }
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'central directory reads'), () => {
  let dir: TempDir;
  let bytes: Uint8Array;
  beforeAll(() => {
    dir = makeTempDir('reader');
    bytes = pythonArchive(
      dir.file('mixed.zip'),
      [
        'rng = np.random.default_rng(1)',
        "big = rng.integers(0, 255, 10 * 1024 * 1024 + 17, dtype=np.uint8).tobytes()",
        "with zipfile.ZipFile(out, 'w') as zf:",
        "    zf.writestr(zipfile.ZipInfo('big.bin'), big, compress_type=zipfile.ZIP_STORED)",
        "    zf.writestr(zipfile.ZipInfo('small.txt'), b'hello ' * 1000, compress_type=zipfile.ZIP_DEFLATED)",
      ].join('\n'),
    );
  });
  afterAll(() => dir.remove());

  it('reads the central directory with few, windowed reads', async () => {
    const { source, stats } = countingSource(bytes);
    const archive = await ZipArchive.open(source, nodeCodecs);
    expect(archive.entries.map((e) => e.name)).toEqual(['big.bin', 'small.txt']);
    // The tail read that finds the end record also holds this small central directory.
    expect(stats.reads).toBe(1);
    expect(stats.closed).toBe(0);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'corrupt and hostile archives'), () => {
  let dir: TempDir;
  let base: Uint8Array;
  let unicode: Uint8Array;
  const copy = (): Uint8Array => base.slice();

  beforeAll(() => {
    dir = makeTempDir('reader');
    base = pythonArchive(
      dir.file('base.npz'),
      // a is larger than the read window, so b's local header is not cached by reading a's.
      "np.savez(out, a=np.arange(100_000, dtype=np.float32), b=np.arange(10, dtype=np.int16), c=np.ones((3, 3)))",
    );
    unicode = pythonArchive(dir.file('unicode.npz'), "np.savez(out, **{'gr\\u00fc\\u00dfe': np.arange(3)})");
  });
  afterAll(() => dir.remove());

  it('accepts the unmodified archive', async () => {
    const archive = await openAndLocate(base);
    expect(archive.entries.map((e) => e.name)).toEqual(['a.npy', 'b.npy', 'c.npy']);
  });

  it('empty and non-zip input: ERR_ZIP_NOT_ZIP', async () => {
    await expectCode(openBytes(new Uint8Array(0)), 'ERR_ZIP_NOT_ZIP');
    await expectCode(openBytes(new TextEncoder().encode('this is not a zip file at all, just some text')), 'ERR_ZIP_NOT_ZIP');
  });

  it('a zip cut short anywhere before its end record: ERR_ZIP_TRUNCATED', async () => {
    for (const keep of [100, base.length / 2, base.length - 1]) {
      await expectCode(openBytes(base.slice(0, Math.floor(keep))), 'ERR_ZIP_TRUNCATED');
    }
  });

  it('bytes after the end record: ERR_ZIP_EOCD', async () => {
    const bytes = new Uint8Array(base.length + 5);
    bytes.set(base);
    await expectCode(openBytes(bytes), 'ERR_ZIP_EOCD');
  });

  it('a multi-disk end record: ERR_ZIP_MULTIDISK', async () => {
    const bytes = copy();
    setU16(bytes, zipLayout(bytes).eocd + 4, 1);
    await expectCode(openBytes(bytes), 'ERR_ZIP_MULTIDISK');
  });

  it('a broken central directory record: ERR_ZIP_CENTRAL_DIRECTORY', async () => {
    const bytes = copy();
    bytes[zipLayout(bytes).records[1]!.at] = 0x51;
    await expectCode(openBytes(bytes), 'ERR_ZIP_CENTRAL_DIRECTORY');
  });

  it('an end record that counts fewer entries than the directory holds: ERR_ZIP_CENTRAL_DIRECTORY', async () => {
    const bytes = copy();
    const { eocd } = zipLayout(bytes);
    setU16(bytes, eocd + 8, 2);
    setU16(bytes, eocd + 10, 2);
    await expectCode(openBytes(bytes), 'ERR_ZIP_CENTRAL_DIRECTORY');
  });

  it('a central directory offset past the end: ERR_ZIP_BOUNDS', async () => {
    const bytes = copy();
    setU32(bytes, zipLayout(bytes).eocd + 16, bytes.length + 1000);
    await expectCode(openBytes(bytes), 'ERR_ZIP_BOUNDS');
  });

  it('a local header offset past the end: ERR_ZIP_BOUNDS', async () => {
    const bytes = copy();
    setU32(bytes, zipLayout(bytes).records[2]!.at + 42, bytes.length - 10);
    await expectCode(openBytes(bytes), 'ERR_ZIP_BOUNDS');
  });

  it('two entries sharing one local header, or data running into the next member: ERR_ZIP_OVERLAP', async () => {
    const shared = copy();
    const layout = zipLayout(shared);
    setU32(shared, layout.records[1]!.at + 42, layout.records[0]!.localHeaderOffset);
    await expectCode(openBytes(shared), 'ERR_ZIP_OVERLAP');

    const grown = copy();
    const first = zipLayout(grown).records[0]!;
    setU32(grown, first.at + 20, first.compressedSize + 40);
    setU32(grown, first.at + 24, first.uncompressedSize + 40);
    await expectCode(openAndLocate(grown), 'ERR_ZIP_OVERLAP');
  });

  it('a damaged local header signature: ERR_ZIP_LOCAL_HEADER', async () => {
    const bytes = copy();
    bytes[zipLayout(bytes).records[1]!.localHeaderOffset + 1] = 0;
    await expectCode(openAndLocate(bytes), 'ERR_ZIP_LOCAL_HEADER');
  });

  it('a local name that differs from the central directory: ERR_ZIP_NAME_MISMATCH', async () => {
    const bytes = copy();
    const b = record(zipLayout(bytes), 'b.npy');
    bytes[b.localHeaderOffset + 30] = 'x'.charCodeAt(0);
    await expectCode(openAndLocate(bytes), 'ERR_ZIP_NAME_MISMATCH');
  });

  it('a UTF-8 name whose local header lacks bit 11: ERR_ZIP_NAME_MISMATCH', async () => {
    const bytes = unicode.slice();
    const entry = zipLayout(bytes).records[0]!;
    expect(entry.flags & 0x800).toBe(0x800);
    setU16(bytes, entry.localHeaderOffset + 6, 0);
    await expectCode(openAndLocate(bytes), 'ERR_ZIP_NAME_MISMATCH');
    expect((await openAndLocate(unicode)).entries[0]!.name).toBe('grüße.npy');
  });

  it('a name flagged UTF-8 that is not UTF-8: ERR_ZIP_CENTRAL_DIRECTORY', async () => {
    const bytes = copy();
    const a = zipLayout(bytes).records[0]!;
    setU16(bytes, a.at + 8, 0x800);
    bytes[a.at + 46] = 0xff;
    await expectCode(openBytes(bytes), 'ERR_ZIP_CENTRAL_DIRECTORY');
  });

  it('duplicate names: every record listed by zip, refused by the npz key index unless the last is kept', async () => {
    const bytes = copy();
    const layout = zipLayout(bytes);
    // Rename c.npy to b.npy in both headers.
    const c = record(layout, 'c.npy');
    bytes[c.at + 46] = 'b'.charCodeAt(0);
    bytes[c.localHeaderOffset + 30] = 'b'.charCodeAt(0);
    const archive = await openAndLocate(bytes);
    expect(archive.entries.map((e) => e.name)).toEqual(['a.npy', 'b.npy', 'b.npy']);
    expect(() => indexByKey(archive.entries, 'error')).toThrow(expect.objectContaining({ code: 'ERR_NPZ_DUPLICATE_NAME' }));
    expect(indexByKey(archive.entries, 'last').kept.map((e) => [e.name, e.localHeaderOffset])).toEqual([
      ['a.npy', 0],
      ['b.npy', c.localHeaderOffset],
    ]);
  });

  it('encrypted members: ERR_ZIP_ENCRYPTED (strong encryption already at open)', async () => {
    const strong = copy();
    setU16(strong, zipLayout(strong).records[0]!.at + 8, 0x41);
    await expectCode(openBytes(strong), 'ERR_ZIP_ENCRYPTED');

    // Traditional encryption adds 12 bytes to stored data, so flag a deflated member instead.
    const classic = pythonArchive(dir.file('deflated.npz'), 'np.savez_compressed(out, a=np.arange(10), b=np.arange(3))');
    setU16(classic, zipLayout(classic).records[0]!.at + 8, 0x1);
    const archive = await openBytes(classic);
    expect(() => checkDecodable(archive.entries[0]!)).toThrow(expect.objectContaining({ code: 'ERR_ZIP_ENCRYPTED' }));
    expect(() => checkDecodable(archive.entries[1]!)).not.toThrow();
  });

  it('a compression method other than stored/deflate: ERR_ZIP_UNSUPPORTED_METHOD', async () => {
    const bytes = pythonArchive(dir.file('bz2.zip'), "with zipfile.ZipFile(out, 'w', zipfile.ZIP_BZIP2) as zf:\n    zf.writestr('a.npy', b'abc' * 100)");
    const archive = await openBytes(bytes);
    expect(archive.entries[0]!.method).toBe(12);
    expect(() => checkDecodable(archive.entries[0]!)).toThrow(expect.objectContaining({ code: 'ERR_ZIP_UNSUPPORTED_METHOD' }));
  });

  it('a stored member whose two sizes disagree: ERR_ZIP_SIZE_MISMATCH', async () => {
    const bytes = copy();
    const b = zipLayout(bytes).records[1]!;
    setU32(bytes, b.at + 24, b.uncompressedSize - 1);
    await expectCode(openBytes(bytes), 'ERR_ZIP_SIZE_MISMATCH');
  });

  it('a source that stops short inside a local header: ERR_ZIP_TRUNCATED', async () => {
    const b = record(zipLayout(base), 'b.npy');
    const counting = countingSource(base);
    const archive = await ZipArchive.open(counting.source, nodeCodecs);
    counting.cut(b.localHeaderOffset + 20);
    expect(await archive.dataStart(archive.entries[0]!)).toBe(localDataStart(base, record(zipLayout(base), 'a.npy')));
    await expectCode(archive.dataStart(archive.entries[1]!), 'ERR_ZIP_TRUNCATED');
  });
});
