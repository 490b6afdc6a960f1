/**
 * openNpz's coalesced header scan: the central directory and every member's local and npy headers cost a few
 * large reads whatever the member count, and the data of large members is skipped. Counted through a wrapping
 * source, so a regression to one read per member (or per record) fails here, not only in a benchmark.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource, openNpz, saveNpzStream, type RandomAccessSource } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { zipLayout } from '../helpers/zip-layout.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

interface Counted {
  source: RandomAccessSource;
  reads: Array<[offset: number, length: number]>;
  bytesRead(): number;
}

function counted(bytes: Uint8Array): Counted {
  const inner = bufferSource(bytes);
  const reads: Array<[number, number]> = [];
  return {
    reads,
    bytesRead: () => reads.reduce((sum, [, length]) => sum + length, 0),
    source: {
      size: inner.size,
      read(offset, length, into) {
        reads.push([offset, length]);
        return inner.read(offset, length, into);
      },
      close: () => inner.close(),
    },
  };
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'openNpz header scan'), () => {
  let dir: TempDir;
  let many: Uint8Array;
  let large: Uint8Array;
  let longHeaders: Uint8Array;
  let compressed: Uint8Array;
  const MEMBERS = 70_000;

  beforeAll(() => {
    dir = makeTempDir('open-scan');
    // np.savez of 70 000 arrays of a few bytes: more than 65535 members, so zip64 end records too.
    many = pythonArchive(dir.file('many.npz'), `np.savez(out, **{f'a{i}': np.arange(i % 3, dtype=np.float32) for i in range(${MEMBERS})})`);
    // PaliGemma-like: a few members far larger than a read window, small ones between them.
    large = pythonArchive(
      dir.file('large.npz'),
      "np.savez(out, small0=np.arange(3, dtype=np.int8), big0=np.zeros((3, 1024, 1024), np.float32), small1=np.ones(2), big1=np.zeros(6 * 1024 * 1024, np.uint8), small2=np.arange(4, dtype=np.int16))",
    );
    // Headers longer than the scan's peek: a structured dtype with many fields.
    longHeaders = pythonArchive(
      dir.file('long-headers.npz'),
      "dt = np.dtype([(f'field_{i}', '<f4') for i in range(40)])\nnp.savez(out, s=np.zeros(3, dt), t=np.arange(5, dtype=np.float64), u=np.zeros(2, dt))",
    );
    // np.savez_compressed: headers come from inflating the first compressed bytes the scan fetched.
    compressed = pythonArchive(
      dir.file('compressed.npz'),
      "np.savez_compressed(out, **{f'c{i}': np.full((i % 4, 2), i, dtype=np.int16) for i in range(5000)}, wide=np.zeros((300, 1000), np.float32))",
    );
  }, 120_000);
  afterAll(() => dir.remove());

  it('opens 70 000 tiny members in at most 100 reads, with every header right', async () => {
    const { source, reads } = counted(many);
    const file = await openNpz(source);
    try {
      expect(reads.length).toBeLessThanOrEqual(100);
      // No read larger than a window (4 MiB) plus a local header: the scan never fetches a whole file at once.
      expect(Math.max(...reads.slice(2).map(([, length]) => length))).toBeLessThanOrEqual(4 * 1024 * 1024 + 1024);
      expect(file.entries).toHaveLength(MEMBERS);
      const wrong = file.entries.filter((entry, i) => !(entry.isArray && entry.name === `a${i}` && entry.dtype === 'float32' && entry.shape.join() === String(i % 3 === 0 ? 0 : i % 3)));
      expect(wrong).toEqual([]);
      // The data offsets the scan computed are where the bytes are.
      const last = await file.get(`a${MEMBERS - 2}`);
      expect(Array.from(last.data as Float32Array)).toEqual([0, 1]);
      expect(Array.from((await file.get('a5')).data as Float32Array)).toEqual([0, 1]);
    } finally {
      await file.close();
    }
  }, 60_000);

  it('skips the data of large members: reads stay few and far smaller than the file', async () => {
    const { source, reads, bytesRead } = counted(large);
    const file = await openNpz(source);
    try {
      expect(file.entries.map((entry) => entry.name)).toEqual(['small0', 'big0', 'small1', 'big1', 'small2']);
      const big = file.entries[1]!;
      expect(big.isArray && big.shape).toEqual([3, 1024, 1024]);
      // tail + one window per run of neighbouring headers (each big member ends a run).
      expect(reads.length).toBeLessThanOrEqual(4);
      expect(bytesRead()).toBeLessThan(200 * 1024);
      expect(Array.from((await file.get('small2')).data as Int16Array)).toEqual([0, 1, 2, 3]);
    } finally {
      await file.close();
    }
  });

  it('an npy header longer than the scan peeked is read on its own, and agrees with numpy', async () => {
    const { source } = counted(longHeaders);
    const file = await openNpz(source);
    try {
      const s = file.entries.find((entry) => entry.name === 's');
      expect(s?.isArray).toBe(true);
      if (!s?.isArray) return;
      const numpy = JSON.parse(
        runPython(
          "import sys, json, numpy as np\nf = np.load(sys.argv[1])\nprint(json.dumps({k: [list(f[k].shape), f[k].dtype.itemsize] for k in f.files}))",
          [dir.file('long-headers.npz')],
        ),
      ) as Record<string, [number[], number]>;
      for (const entry of file.entries) {
        if (!entry.isArray) continue;
        const [shape, itemsize] = numpy[entry.name]!;
        expect(entry.shape).toEqual(shape);
        expect(entry.byteLength).toBe(shape.reduce((a, b) => a * b, 1) * itemsize);
      }
      expect((s.dataOffset ?? 0) - s.localHeaderOffset).toBeGreaterThan(256);
      expect((await file.get('t')).data).toEqual(Float64Array.from([0, 1, 2, 3, 4]));
    } finally {
      await file.close();
    }
  });

  it('a compressed file of 5000 members opens in few reads; headers inflated from the scan agree with the data', async () => {
    const { source, reads } = counted(compressed);
    const file = await openNpz(source);
    try {
      expect(reads.length).toBeLessThanOrEqual(10);
      expect(file.entries).toHaveLength(5001);
      const wrong = file.entries.filter((entry, i) => i < 5000 && !(entry.isArray && entry.compression === 'deflate' && entry.dtype === 'int16' && entry.shape.join() === `${i % 4},2`));
      expect(wrong).toEqual([]);
      const wide = file.entries[5000]!;
      expect(wide.isArray && [wide.dtype, wide.shape]).toEqual(['float32', [300, 1000]]);
      expect(Array.from((await file.get('c4999')).data as Int16Array)).toEqual([4999, 4999, 4999, 4999, 4999, 4999]);
      expect((await file.get('wide')).data.byteLength).toBe(1_200_000);
    } finally {
      await file.close();
    }
  }, 60_000);
});

/** An archive of two small members, as saveNpzStream writes it to a pipe. */
async function twoMembers(): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (part: Buffer) => parts.push(part));
  await saveNpzStream({ a: new Float32Array(16), b: new Float32Array(16) }, out);
  return Buffer.concat(parts);
}

/** The code opening `bytes` with `damaged: 'error'` fails with, or 'opened'. */
function strictOpen(bytes: Uint8Array): Promise<string | undefined> {
  return openNpz(bytes, { damaged: 'error' }).then(
    async (file) => {
      await file.close();
      return 'opened';
    },
    (error: { code?: string }) => error.code,
  );
}

describe('local headers that disagree with the directory', () => {
  it('a local extra field longer than the directory allows pushes the data over the next header: ERR_ZIP_OVERLAP', async () => {
    const bytes = await twoMembers();
    const layout = zipLayout(bytes);
    for (const target of layout.records) {
      const damaged = Buffer.from(bytes);
      const lh = target.localHeaderOffset;
      // Eight more bytes of extra field: the zeros at the start of the array data read as two empty records.
      damaged.writeUInt16LE(damaged.readUInt16LE(lh + 28) + 8, lh + 28);
      expect(await strictOpen(new Uint8Array(damaged)), target.name).toBe('ERR_ZIP_OVERLAP');
      // Listed instead by default: the damaged member carries the code, the other still reads.
      const listed = await openNpz(new Uint8Array(damaged));
      const entry = listed.entries.find((candidate) => candidate.name === target.name.replace(/\.npy$/, ''));
      expect(entry?.damaged === true ? entry.error.code : 'not damaged', target.name).toBe('ERR_ZIP_OVERLAP');
      await listed.close();
    }
  });

  it('a local extra field that runs past the end of the file is a damaged member, not an endless re-read', async () => {
    const bytes = await twoMembers();
    for (const target of zipLayout(bytes).records) {
      const damaged = Buffer.from(bytes);
      // 2 KiB more extra field than the file has bytes after the header: the scan's read comes up short, and so
      // does the member's own read of its longer header.
      damaged.writeUInt16LE(damaged.readUInt16LE(target.localHeaderOffset + 28) + 2048, target.localHeaderOffset + 28);
      expect(await strictOpen(new Uint8Array(damaged)), target.name).toBe('ERR_ZIP_BOUNDS');
      const listed = await openNpz(new Uint8Array(damaged));
      const codes = listed.entries.map((entry) => [entry.name, entry.damaged === true ? entry.error.code : 'ok']);
      const other = target.name === 'a.npy' ? 'b' : 'a';
      expect(codes, target.name).toEqual(expect.arrayContaining([[target.name.replace(/\.npy$/, ''), 'ERR_ZIP_BOUNDS'], [other, 'ok']]));
      expect((await listed.get(other)).shape).toEqual([16]);
      await listed.close();
    }
  });
});
