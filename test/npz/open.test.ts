import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNpyHeader } from '../../src/npy/header.js';
import { type NpzFile } from '../../src/npz/open.js';
import { openNpz, readNpz } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { GOOD_DIR, goodFixtures, expectMatchesManifest, expectedDescr, manifestOf } from '../helpers/fixtures.js';
import { bytesOf, sha256 } from '../helpers/bytes.js';
import { countingSource, virtualDataByte, virtualZip64Archive } from '../helpers/sources.js';
import { localDataStart, record, zipLayout } from '../helpers/zip-layout.js';
import { expectCode } from '../helpers/errors.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { openFdCount } from '../helpers/fds.js';

async function concatChunks(file: NpzFile, name: string, chunkSize?: number): Promise<{ bytes: Uint8Array; sizes: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of file.chunks(name, chunkSize === undefined ? {} : { chunkSize })) parts.push(chunk);
  return { bytes: Buffer.concat(parts), sizes: parts.map((part) => part.length) };
}

describe('openNpz on the committed numpy fixtures', () => {
  it.each(goodFixtures())('%s: entries describe every member as numpy does', async (name) => {
    const manifest = manifestOf(name);
    const file = await openNpz(join(GOOD_DIR, name), {
      ...(name === 'dup-names.npz' ? { duplicates: 'last' as const } : {}),
      ...(name === 'npy-v2.npz' ? { maxHeaderSize: 200_000 } : {}),
    });
    try {
      const members = name === 'dup-names.npz' ? manifest.members.slice(1) : manifest.members;
      expect(file.entries.map((e) => e.name)).toEqual(members.map((m) => m.key));
      for (const [i, entry] of file.entries.entries()) {
        const member = members[i]!;
        expect(entry.memberName).toBe(member.member);
        expect(entry.compression).toBe(member.zip.method === 0 ? 'stored' : 'deflate');
        expect(entry.compressedSize).toBe(member.zip.compressed_size);
        expect(entry.memberSize).toBe(member.zip.uncompressed_size);
        expect(entry.isArray).toBe(member.npy);
        if (!entry.isArray) continue;
        expect(entry.dtype).toBe(member.dtype);
        expect(entry.descr).toEqual(expectedDescr(member));
        expect(entry.shape).toEqual(member.shape);
        expect(entry.fortranOrder).toBe(member.fortran_order);
        expect(entry.byteLength).toBe(member.byte_length);
        expect(entry.npyVersion).toBe(member.version);
        expectMatchesManifest(member, await file.get(entry.name));
      }
    } finally {
      await file.close();
    }
  });

  it('get and has accept the key or the full member name, like np.load', async () => {
    const file = await openNpz(join(GOOD_DIR, 'unicode-names.npz'));
    try {
      expect(file.has('名/x')).toBe(true);
      expect(file.has('名/x.npy')).toBe(true);
      expect(file.has('名')).toBe(false);
      const byKey = await file.get('名/x');
      const byMember = await file.get('名/x.npy');
      expect([...(byMember.data as Int16Array)]).toEqual([...(byKey.data as Int16Array)]);
      await expectCode(file.get('nope'), 'ERR_NPZ_NOT_FOUND');
    } finally {
      await file.close();
    }
  });

  it('lists non-.npy members but refuses to read them as arrays', async () => {
    const file = await openNpz(join(GOOD_DIR, 'with-notes.npz'));
    const notes = file.entries.find((e) => e.name === 'notes.txt')!;
    expect(notes.isArray).toBe(false);
    expect(file.has('notes.txt')).toBe(true);
    await expectCode(file.get('notes.txt'), 'ERR_NPZ_NOT_ARRAY');
    await expectCode(async () => {
      for await (const _ of file.chunks('notes.txt')) break;
    }, 'ERR_NPZ_NOT_ARRAY');
    await file.close();
  });

  it('refuses duplicate keys unless asked to keep the last', async () => {
    await expectCode(openNpz(join(GOOD_DIR, 'dup-names.npz')), 'ERR_NPZ_DUPLICATE_NAME');
  });

  it('an empty archive has no entries', async () => {
    const file = await openNpz(join(GOOD_DIR, 'empty.npz'));
    expect(file.entries).toEqual([]);
    await file.close();
  });

  it('after close, reads fail with ERR_NPZ_CLOSED and the file handle is gone', async () => {
    const before = openFdCount();
    const file = await openNpz(join(GOOD_DIR, 'compressed.npz'));
    expect(openFdCount()).toBe(before + 1);
    await file.close();
    await file.close();
    expect(openFdCount()).toBe(before);
    await expectCode(file.get('weights/dense'), 'ERR_NPZ_CLOSED');
  });
});

describe('chunks()', () => {
  it.each(['all-dtypes.npz', 'compressed.npz', 'pipe.npz', 'pipe-compressed.npz'])(
    '%s: the chunks of every array concatenate to what get() returns',
    async (name) => {
      const file = await openNpz(join(GOOD_DIR, name));
      try {
        for (const entry of file.entries.filter((e) => e.isArray)) {
          const array = await file.get(entry.name);
          const { bytes } = await concatChunks(file, entry.name, 1000);
          expect(sha256(bytes), entry.name).toBe(sha256(bytesOf(array.data)));
        }
      } finally {
        await file.close();
      }
    },
  );

  it.each(['all-dtypes.npz', 'compressed.npz'])('%s: reuseBuffers gives the same bytes from a few recycled buffers', async (name) => {
    const file = await openNpz(readFileSync(join(GOOD_DIR, name)));
    try {
      for (const entry of file.entries.filter((e) => e.isArray)) {
        const expected = sha256(bytesOf((await file.get(entry.name)).data));
        const hash = createHash('sha256');
        const buffers = new Set<ArrayBufferLike>();
        let chunks = 0;
        // Hash each chunk before asking for the next: that is all the recycling contract promises.
        for await (const chunk of file.chunks(entry.name, { chunkSize: 64, reuseBuffers: true })) {
          hash.update(chunk);
          buffers.add(chunk.buffer);
          chunks++;
        }
        expect(hash.digest('hex'), entry.name).toBe(expected);
        if (entry.compression === 'stored' && chunks > 3) expect(buffers.size, entry.name).toBeLessThanOrEqual(3);
      }
    } finally {
      await file.close();
    }
  });

  it('stops with ERR_ABORTED when the signal fires', async () => {
    const file = await openNpz(join(GOOD_DIR, 'all-dtypes.npz'));
    const controller = new AbortController();
    await expectCode(async () => {
      for await (const _ of file.chunks('img/embedding/kernel', { chunkSize: 4096, signal: controller.signal })) controller.abort();
    }, 'ERR_ABORTED');
    await file.close();
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'openNpz random access'), () => {
  let dir: TempDir;
  let bytes: Uint8Array;
  beforeAll(() => {
    dir = makeTempDir('open');
    bytes = pythonArchive(
      dir.file('big-and-small.npz'),
      'np.savez(out, big=np.arange(4_000_000, dtype=np.float32), small=np.arange(5, dtype=np.int8), tail=np.ones(3))',
    );
  });
  afterAll(() => dir.remove());

  it('opening reads headers only, and get() reads only the member asked for', async () => {
    const { source, stats } = countingSource(bytes);
    const file = await openNpz(source);
    expect(file.entries.map((e) => (e.isArray ? [e.name, e.shape] : []))).toEqual([
      ['big', [4_000_000]],
      ['small', [5]],
      ['tail', [3]],
    ]);
    expect(stats.bytesRead).toBeLessThan(300_000);
    const before = stats.bytesRead;
    expect([...((await file.get('small')).data as Int8Array)]).toEqual([0, 1, 2, 3, 4]);
    expect(stats.bytesRead - before).toBeLessThan(70_000);
    await file.close();
    expect(stats.closed).toBe(0);
  });

  it('chunks() verifies the CRC: corruption surfaces before the loop completes', async () => {
    const damaged = bytes.slice();
    damaged[localDataStart(damaged, record(zipLayout(damaged), 'big.npy')) + 15_000_000]! ^= 4;
    const file = await openNpz(damaged);
    let seen = 0;
    await expectCode(async () => {
      for await (const chunk of file.chunks('big', { chunkSize: 1 << 20 })) seen += chunk.length;
    }, 'ERR_ZIP_CRC_MISMATCH');
    expect(seen).toBeLessThan(16_000_000);
    await expectCode(file.get('big'), 'ERR_ZIP_CRC_MISMATCH');
    expect([...((await file.get('tail')).data as Float64Array)]).toEqual([1, 1, 1]);
    await file.close();
  });

  it('converts big-endian data chunk by chunk, every chunk holding whole swap units', async () => {
    for (const writer of ['savez', 'savez_compressed']) {
      const path = dir.file(`be-${writer}.npz`);
      const report = runPython(
        String.raw`
import sys, json, hashlib, numpy as np
rng = np.random.default_rng(3)
arrays = {'f8': rng.standard_normal(5000).astype('>f8'), 'c8': (rng.standard_normal(3000) * 1j).astype('>c8'),
          'i2': rng.integers(-999, 999, 7001).astype('>i2')}
getattr(np, sys.argv[2])(sys.argv[1], **arrays)
print(json.dumps({k: hashlib.sha256(v.astype(v.dtype.newbyteorder('<')).tobytes()).hexdigest() for k, v in arrays.items()}))
`,
        [path, writer],
      );
      const expected = JSON.parse(report) as Record<string, string>;
      const file = await openNpz(path);
      try {
        for (const [name, unit] of [['f8', 8], ['c8', 4], ['i2', 2]] as const) {
          const { bytes, sizes } = await concatChunks(file, name, 1001);
          expect(sizes.every((size) => size % unit === 0 && size <= 1001), `${writer} ${name}`).toBe(true);
          expect(sha256(bytes)).toBe(expected[name]);
          expect(sha256(bytesOf((await file.get(name)).data))).toBe(expected[name]);
        }
      } finally {
        await file.close();
      }
    }
  });

  it("resolves a name that is both a key and a member name as np.load does ('x.npy' next to 'x.npy.npy')", async () => {
    const path = dir.file('quirk.npz');
    pythonArchive(path, "np.savez(out, **{'x': np.arange(2), 'x.npy': np.arange(5)})");
    const oracle = runPython("import sys, numpy as np\nz = np.load(sys.argv[1])\nprint(z.files, z['x.npy'].shape[0], z['x'].shape[0])", [path]).trim();
    expect(oracle).toBe("['x', 'x.npy'] 2 2");
    const file = await openNpz(path);
    expect(file.entries.map((e) => e.name)).toEqual(['x', 'x.npy']);
    expect((await file.get('x.npy')).shape).toEqual([2]);
    expect((await file.get('x.npy.npy')).shape).toEqual([5]);
    await file.close();
  });

  it('a failure while opening closes the file it opened', async () => {
    const path = dir.file('pickle.npz');
    pythonArchive(path, "np.savez(out, obj=np.array([None], dtype=object))");
    const before = openFdCount();
    // The strict open refuses the file; the default lists the member as damaged, and close() releases the file.
    await expectCode(openNpz(path, { damaged: 'error' }), 'ERR_NPY_PICKLE');
    expect(openFdCount()).toBe(before);
    const listed = await openNpz(path);
    expect(listed.entries.map((entry) => [entry.name, entry.damaged === true ? entry.error.code : 'ok'])).toEqual([['obj', 'ERR_NPY_PICKLE']]);
    await listed.close();
    expect(openFdCount()).toBe(before);
  });
});

describe('a member past 4 GiB (virtual archive, nothing written to disk)', () => {
  const elements = 2 ** 32 + 1024;

  it('is listed from its ZIP64 fields, streams from the right offset, and get() refuses a too-long Uint8Array', async () => {
    const header = encodeNpyHeader({ dtype: 'uint8', shape: [elements] });
    const { source, stats } = virtualZip64Archive('huge.npy', header, elements);
    const file = await openNpz(source);
    const [entry] = file.entries;
    expect(entry).toMatchObject({ name: 'huge', isArray: true, dtype: 'uint8', shape: [elements], byteLength: elements, memberSize: elements + header.length });
    const firstChunks: Uint8Array[] = [];
    for await (const chunk of file.chunks('huge', { chunkSize: 1 << 20 })) {
      firstChunks.push(chunk.slice());
      if (firstChunks.length === 2) break;
    }
    expect(firstChunks.map((chunk) => chunk.length)).toEqual([1 << 20, 1 << 20]);
    const expected = Uint8Array.from({ length: 2 << 20 }, (_, i) => virtualDataByte(i));
    expect(Buffer.concat(firstChunks).equals(expected), 'the data starts right after the npy header').toBe(true);
    const before = stats.bytesRead;
    await expectCode(file.get('huge'), 'ERR_NPY_TOO_LARGE');
    // Refused before any data was read.
    expect(stats.bytesRead - before).toBeLessThan(1 << 20);
    await expectCode(async () => {
      for await (const _ of readNpz(source)) break;
    }, 'ERR_NPY_TOO_LARGE');
    await file.close();
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'openNpz entry offsets'), () => {
  it('reports local header and data offsets that match CPython zipfile', async () => {
    const path = new URL('../fixtures/good/all-dtypes.npz', import.meta.url);
    const expected = JSON.parse(
      runPython(
        String.raw`
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
out = {}
with open(sys.argv[1], 'rb') as f:
    for i in z.infolist():
        f.seek(i.header_offset + 26)
        n, m = int.from_bytes(f.read(2), 'little'), int.from_bytes(f.read(2), 'little')
        out[i.filename] = [i.header_offset, i.header_offset + 30 + n + m, i.CRC]
print(json.dumps(out))
`,
        [fileURLToPath(path)],
      ),
    ) as Record<string, [number, number, number]>;
    const file = await openNpz(path);
    try {
      for (const entry of file.entries) {
        const [headerOffset, memberStart, crc] = expected[entry.memberName]!;
        expect(entry.localHeaderOffset).toBe(headerOffset);
        expect(entry.crc32).toBe(crc);
        if (entry.isArray) {
          const npyHeaderLength = entry.memberSize - entry.byteLength;
          expect(entry.dataOffset).toBe(memberStart + npyHeaderLength);
        }
      }
    } finally {
      await file.close();
    }
  });
});
