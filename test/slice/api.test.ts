/**
 * The slice API on every ArrayFile (npz, safetensors, a shard index) beyond what numpy can say: refusals and their
 * words, 0-d arrays, the whole-array slice still checked, partial reads not checked (the CRC covers the member),
 * deflated members read as a prefix, sources that end early, limits, aborts, and the read statistics.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bufferSource,
  isNpzError,
  openNpz,
  openSafetensors,
  openSafetensorsIndex,
  saveNpz,
  saveSafetensors,
  saveSafetensorsShards,
  type ArrayFile,
  type NpyArray,
  type RandomAccessSource,
  type Slice,
} from '../../src/index.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

function bytesOf(array: NpyArray): Buffer {
  return Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

async function refusal(work: () => Promise<unknown>): Promise<Error> {
  const error = await work().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof Error)) throw new Error('expected a refusal');
  return error;
}

const float32 = (shape: number[], seed = 1): NpyArray => {
  const count = shape.reduce((product, dim) => product * dim, 1);
  return { dtype: 'float32', descr: '<f4', shape, fortranOrder: false, data: Float32Array.from({ length: count }, (_, i) => i * 0.5 + seed) };
};

/** Bytes whose deflate barely shrinks them, so a prefix of the member is a prefix of the file. */
function noise(count: number): Uint8Array {
  const out = new Uint8Array(count);
  let x = 0x12345678;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

describe('the slice API', () => {
  let dir: TempDir;
  const matrix = float32([6, 5]);
  const scalar: NpyArray = { dtype: 'int32', descr: '<i4', shape: [], fortranOrder: false, data: Int32Array.of(42) };
  const fortran: NpyArray = { dtype: 'uint8', descr: '|u1', shape: [2, 3], fortranOrder: true, data: Uint8Array.of(1, 4, 2, 5, 3, 6) };

  beforeAll(async () => {
    dir = makeTempDir('slice-api');
    await saveNpz(dir.file('a.npz'), { m: matrix, s: scalar, f: fortran });
    await saveNpz(dir.file('c.npz'), { m: matrix, s: scalar, f: fortran }, { compress: true });
    await saveSafetensors(dir.file('a.safetensors'), { m: matrix, s: scalar });
    await saveSafetensorsShards(dir.file('model.safetensors'), { m: matrix, n: float32([4, 4], 7) }, { maxShardSize: 100 });
  });

  afterAll(() => dir?.remove());

  const opens: Array<[string, () => Promise<ArrayFile>]> = [
    ['stored npz', () => openNpz(dir.file('a.npz'))],
    ['deflated npz', () => openNpz(dir.file('c.npz'))],
    ['safetensors', () => openSafetensors(dir.file('a.safetensors'))],
    ['shard index', () => openSafetensorsIndex(dir.file('model.safetensors.index.json'))],
  ];

  for (const [label, open] of opens) {
    it(`${label}: slices, shards and refusals that name the axis or the sizes`, async () => {
      const file = await open();
      try {
        const rows = await file.get('m', { slice: [[1, 3], [null, null, 2]] });
        expect(rows.shape).toEqual([2, 3]);
        expect([...(rows.data as Float32Array)]).toEqual([3.5, 4.5, 5.5, 6, 7, 8]);
        const shard = await file.shard('m', { axis: 0, index: 2, count: 3 });
        expect(shard.shape).toEqual([2, 5]);
        expect(bytesOf(shard).equals(bytesOf(await file.get('m', { slice: [[4, 6]] })))).toBe(true);
        const cell = await file.get('m', { slice: [-1, -1] });
        expect(cell.shape).toEqual([]);
        expect([...(cell.data as Float32Array)]).toEqual([30 * 0.5 - 0.5 + 1]);
        const cases: Array<[Slice, RegExp]> = [
          [[6], /axis 0: index 6 is out of range for size 6/],
          [[null, -6], /axis 1: index -6 is out of range for size 5/],
          [[null, [0, 5, 0]], /axis 1: step must be at least 1, got 0/],
          [[0.5], /axis 0: index 0.5 is not an integer/],
          [[0, 0, 0], /axis 2: the slice has 3 items but the array has 2 axes/],
        ];
        for (const [slice, message] of cases) {
          const error = await refusal(() => file.get('m', { slice }));
          expect(isNpzError(error, 'ERR_INVALID_ARGUMENT'), JSON.stringify(slice)).toBe(true);
          expect(error.message).toMatch(message);
          // chunks refuses the same slice, at the latest when iterated.
          const streamed = await refusal(async () => {
            for await (const _ of file.chunks('m', { slice })) void _;
          });
          expect(streamed.message).toMatch(message);
        }
        const uneven = await refusal(() => file.shard('m', { axis: 1, index: 0, count: 2 }));
        expect(isNpzError(uneven, 'ERR_INVALID_ARGUMENT')).toBe(true);
        expect(uneven.message).toMatch(/axis 1 of size 5 does not divide into 2 equal shards \(shape \(6, 5\)\)/);
        expect((await refusal(() => file.shard('m', { axis: 2, index: 0, count: 1 }))).message).toMatch(/axis 2 is outside an array of 2 axes/);
        expect((await refusal(() => file.shard('m', { axis: 0, index: 3, count: 3 }))).message).toMatch(/index 3 is outside 0…2/);
        expect(isNpzError(await refusal(() => file.get('nope', { slice: [0] })), 'ERR_NPZ_NOT_FOUND')).toBe(true);
      } finally {
        await file.close();
      }
      expect(isNpzError(await refusal(() => file.get('m', { slice: [0] })), 'ERR_NPZ_CLOSED')).toBe(true);
    });
  }

  it('0-d arrays: an empty slice is the array, any item is one too many', async () => {
    for (const path of ['a.npz', 'c.npz', 'a.safetensors']) {
      const file = path.endsWith('npz') ? await openNpz(dir.file(path)) : await openSafetensors(dir.file(path));
      try {
        const whole = await file.get('s', { slice: [] });
        expect(whole.shape).toEqual([]);
        expect([...(whole.data as Int32Array)]).toEqual([42]);
        for (const slice of [[0], [null], [[0, 1]]] as Slice[]) {
          const error = await refusal(() => file.get('s', { slice }));
          expect(error.message, `${path} ${JSON.stringify(slice)}`).toMatch(/^axis 0: the slice has 1 items but the array has 0 axes/);
        }
        expect((await refusal(() => file.shard('s', { axis: 0, index: 0, count: 1 }))).message).toMatch(/outside an array of 0 axes/);
      } finally {
        await file.close();
      }
    }
  });

  it('Fortran order: slices and shards come back in C order, in get and in chunks', async () => {
    for (const path of ['a.npz', 'c.npz']) {
      const file = await openNpz(dir.file(path));
      try {
        const whole = await file.get('f', { slice: [] });
        expect(whole.fortranOrder).toBe(false);
        expect([...(whole.data as Uint8Array)]).toEqual([1, 2, 3, 4, 5, 6]);
        expect([...((await file.shard('f', { axis: 1, index: 1, count: 3 })).data as Uint8Array)]).toEqual([2, 5]);
        const chunks: number[][] = [];
        for await (const chunk of file.chunks('f', { slice: [null, [1, 3]], chunkSize: 64 })) chunks.push([...chunk]);
        expect(chunks.flat()).toEqual([2, 3, 5, 6]);
        // Without a slice, get keeps the storage order as before.
        expect((await file.get('f')).fortranOrder).toBe(true);
      } finally {
        await file.close();
      }
    }
  });

  it('a partial read of a stored member does not check its CRC-32; the whole-array slice still does', async () => {
    const path = dir.file('damaged.npz');
    const bytes = new Uint8Array(readFileSync(dir.file('a.npz')));
    const file = await openNpz(bytes);
    const entry = file.entries.find((candidate) => candidate.name === 'm');
    await file.close();
    const dataOffset = (entry as { dataOffset: number }).dataOffset;
    // Flip a byte of element [5, 4] (the last float): its slice reads it, damaged, without a word.
    bytes[dataOffset + 29 * 4 + 1] = (bytes[dataOffset + 29 * 4 + 1] as number) ^ 0xff;
    writeFileSync(path, bytes);
    const damaged = await openNpz(path);
    try {
      const last = await damaged.get('m', { slice: [5, 4] });
      expect(last.data[0]).not.toBe(matrix.data[29]);
      expect((await damaged.get('m', { slice: [[0, 5]] })).data).toEqual((matrix.data as Float32Array).subarray(0, 25));
      expect(isNpzError(await refusal(() => damaged.get('m', { slice: [] })), 'ERR_ZIP_CRC_MISMATCH')).toBe(true);
      expect(isNpzError(await refusal(() => damaged.get('m')), 'ERR_ZIP_CRC_MISMATCH')).toBe(true);
    } finally {
      await damaged.close();
    }
  });

  it('a deflated member is read from its start only as far as the slice needs', async () => {
    const bigData = noise(64 * 65536);
    const big = { dtype: 'uint8', descr: '|u1', shape: [64, 65536], fortranOrder: false, data: bigData } as NpyArray & { data: Uint8Array };
    const path = dir.file('noise.npz');
    await saveNpz(path, { big }, { compress: true });
    // Compressed bytes are read 256 KiB at a time (a couple of reads ahead of the inflater).
    const file = await openNpz(path, { chunkSize: 256 * 1024 });
    try {
      const entry = file.entries[0] as { compressedSize: number };
      const before = file.readStats.bytes;
      const head = await file.get('big', { slice: [[1, 3], [100, 200]] });
      const prefix = file.readStats.bytes - before;
      expect(bytesOf(head).equals(Buffer.concat([Buffer.from(big.data.subarray(65536 + 100, 65536 + 200)), Buffer.from(big.data.subarray(2 * 65536 + 100, 2 * 65536 + 200))]))).toBe(true);
      // Three rows of 64 are needed; the reader's read-ahead adds a few of its reads, far below the whole member.
      expect(prefix).toBeLessThan(entry.compressedSize / 3);
      const tail = await file.get('big', { slice: [-1, [-5, null]] });
      expect([...(tail.data as Uint8Array)]).toEqual([...big.data.subarray(big.data.length - 5)]);
    } finally {
      await file.close();
    }
  });

  it('a source that ends inside the slice is reported as the format reports a cut file', async () => {
    for (const [path, code] of [
      ['a.npz', 'ERR_ZIP_TRUNCATED'],
      ['a.safetensors', 'ERR_SAFETENSORS_BUFFER_LENGTH'],
    ] as const) {
      const bytes = new Uint8Array(readFileSync(dir.file(path)));
      const probe = path.endsWith('npz') ? await openNpz(bytes) : await openSafetensors(bytes);
      const dataOffset = (probe.entries.find((entry) => entry.name === 'm') as { dataOffset: number }).dataOffset;
      await probe.close();
      const inner = bufferSource(bytes);
      // Once opened, reads that reach past the start of the matrix's last row come back short, as from a file cut
      // while being read.
      const cutAt = dataOffset + 5 * 20 + 4;
      let armed = false;
      const cut: RandomAccessSource = {
        size: inner.size,
        read: async (offset, length, into) => {
          const bytesRead = await inner.read(offset, length, into);
          return armed && offset + length > cutAt ? bytesRead.subarray(0, Math.max(0, cutAt - offset)) : bytesRead;
        },
        close: () => inner.close(),
      };
      const file = path.endsWith('npz') ? await openNpz(cut) : await openSafetensors(cut);
      armed = true;
      try {
        expect(isNpzError(await refusal(() => file.get('m', { slice: [5, [1, 3]] })), code), path).toBe(true);
        expect(isNpzError(await refusal(() => file.get('m', { slice: [null, 2] })), code), path).toBe(true);
      } finally {
        await file.close();
      }
    }
  });

  it('maxArrayBytes limits the slice, not the array', async () => {
    for (const open of [() => openNpz(dir.file('a.npz'), { maxArrayBytes: 40 }), () => openSafetensors(dir.file('a.safetensors'), { maxArrayBytes: 40 })]) {
      const file = await open();
      try {
        expect((await file.get('m', { slice: [[0, 2]] })).shape).toEqual([2, 5]);
        expect(isNpzError(await refusal(() => file.get('m', { slice: [[0, 3]] })), 'ERR_NPY_TOO_LARGE')).toBe(true);
      } finally {
        await file.close();
      }
    }
  });

  it('an aborted signal stops a slice and its chunks', async () => {
    for (const [, open] of opens) {
      const file = await open();
      try {
        const signal = AbortSignal.abort();
        expect(isNpzError(await refusal(() => file.get('m', { slice: [[0, 2], 1], signal })), 'ERR_ABORTED')).toBe(true);
        expect(isNpzError(await refusal(() => file.shard('m', { axis: 0, index: 0, count: 2, signal })), 'ERR_ABORTED')).toBe(true);
        const stopped = await refusal(async () => {
          for await (const _ of file.chunks('m', { slice: [[0, 4], [1, 3]], signal, chunkSize: 64 })) void _;
        });
        expect(isNpzError(stopped, 'ERR_ABORTED')).toBe(true);
      } finally {
        await file.close();
      }
    }
  });

  it('readStats count what reached the source: a shard index sums its files', async () => {
    const single = await openSafetensors(dir.file('a.safetensors'));
    try {
      const opened = { ...single.readStats };
      expect(opened.reads).toBeGreaterThan(0);
      await single.get('m', { slice: [2] });
      expect(single.readStats.reads).toBe(opened.reads + 1);
      expect(single.readStats.bytes).toBe(opened.bytes + 20);
    } finally {
      await single.close();
    }
    const index = await openSafetensorsIndex(dir.file('model.safetensors.index.json'));
    try {
      const before = { ...index.readStats };
      await index.get('n', { slice: [1, [0, 2]] });
      await index.get('m', { slice: [0, 0] });
      expect(index.readStats.reads).toBe(before.reads + 2);
      expect(index.readStats.bytes).toBe(before.bytes + 8 + 4);
    } finally {
      await index.close();
    }
  });
});
