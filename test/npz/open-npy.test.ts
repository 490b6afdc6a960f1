/**
 * A bare `.npy` file as an ArrayFile of one array named after the file: its header checked against the file's
 * size, its data read like any array's (little-endian out, whatever the file stored).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { NpzError, isDamagedEntry, openNpy, saveNpy, type ArrayFile, type NpyFileArrayEntry } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('open-npy');
afterAll(() => dir.remove());

async function chunked(file: ArrayFile, name: string, chunkSize: number): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of file.chunks(name, { chunkSize })) out.push(...chunk);
  return out;
}

async function rejection(work: () => Promise<unknown>): Promise<NpzError> {
  const caught = await work().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(NpzError);
  return caught as NpzError;
}

describe('openNpy', () => {
  it('one array named after the file; get and chunks give its data; the entry says where it is', async () => {
    const path = dir.file('weights.npy');
    await saveNpy(path, { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    const file = await openNpy(path);
    try {
      expect(file.format).toBe('npy');
      expect(file.entries).toHaveLength(1);
      const entry = file.entries[0] as NpyFileArrayEntry;
      expect(entry).toMatchObject({ format: 'npy', isArray: true, name: 'weights', dtype: 'float32', descr: '<f4', storedDescr: '<f4', shape: [2, 3], byteLength: 24, npyVersion: 1 });
      expect(entry.dataOffset).toBe(readFileSync(path).length - 24);
      expect(file.has('weights')).toBe(true);
      expect([...(await file.get('weights')).data]).toEqual([1, 2, 3, 4, 5, 6]);
      const bytes = await chunked(file, 'weights', 5);
      expect(bytes).toEqual([...new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer)]);
      expect((await rejection(() => file.get('other'))).code).toBe('ERR_NPZ_NOT_FOUND');
    } finally {
      await file.close();
    }
    const named = await openNpy(readFileSync(path), { name: 'w' });
    try {
      expect(named.entries[0]!.name).toBe('w');
    } finally {
      await named.close();
    }
  });

  it('a file shorter or longer than its header says is one damaged entry (strict: the error)', async () => {
    const path = dir.file('full.npy');
    await saveNpy(path, { dtype: 'int16', shape: [4], data: new Int16Array([1, 2, 3, 4]) });
    const bytes = readFileSync(path);
    for (const [name, cut] of [['short.npy', bytes.subarray(0, bytes.length - 3)], ['long.npy', Buffer.concat([bytes, Buffer.from([0])])]] as const) {
      writeFileSync(dir.file(name), cut);
      const file = await openNpy(dir.file(name));
      try {
        const [entry] = file.entries;
        expect(isDamagedEntry(entry!)).toBe(true);
        expect(entry).toMatchObject({ format: 'npy', isArray: false, name: name.replace('.npy', ''), error: { code: 'ERR_NPY_SIZE_MISMATCH' } });
        expect((await rejection(() => file.get(entry!.name))).code).toBe('ERR_NPY_SIZE_MISMATCH');
      } finally {
        await file.close();
      }
      expect((await rejection(() => openNpy(dir.file(name), { damaged: 'error' }))).code).toBe('ERR_NPY_SIZE_MISMATCH');
    }
    writeFileSync(dir.file('not.npy'), 'not an npy file at all');
    const file = await openNpy(dir.file('not.npy'));
    try {
      expect(file.entries[0]).toMatchObject({ damaged: true, error: { code: 'ERR_NPY_MAGIC' } });
    } finally {
      await file.close();
    }
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'openNpy on files numpy wrote'), () => {
  it("big-endian and Fortran-order files: values as numpy reads them, the stored descr kept", async () => {
    const be = dir.file('be.npy');
    const fortran = dir.file('fortran.npy');
    runPython(
      `import sys, numpy as np
np.save(sys.argv[1], (np.arange(5) / 4).astype('>f8'))
np.save(sys.argv[2], np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)))`,
      [be, fortran],
    );
    const file = await openNpy(be);
    try {
      expect(file.entries[0]).toMatchObject({ name: 'be', dtype: 'float64', descr: '<f8', storedDescr: '>f8' });
      expect([...(await file.get('be')).data]).toEqual([0, 0.25, 0.5, 0.75, 1]);
      expect(new Float64Array(new Uint8Array(await chunked(file, 'be', 3)).buffer)).toEqual(new Float64Array([0, 0.25, 0.5, 0.75, 1]));
    } finally {
      await file.close();
    }
    const f = await openNpy(fortran);
    try {
      expect(f.entries[0]).toMatchObject({ fortranOrder: true, shape: [2, 3] });
      // Fortran storage order: column by column.
      expect([...(await f.get('fortran')).data]).toEqual([0, 3, 1, 4, 2, 5]);
    } finally {
      await f.close();
    }
  });
});

describe('slices of a bare .npy file', () => {
  it('get and chunks with a slice, and shard, give the selected values in C order; readStats counts the reads', async () => {
    const path = dir.file("grid.npy");
    // A big-endian, Fortran-order float32 [4, 6] holding 0..23 in C order (column-major bytes, swapped).
    const bytes = new Uint8Array(24 * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) view.setFloat32((i + 4 * j) * 4, i * 6 + j, false);
    await saveNpy(path, { dtype: 'float32', descr: '>f4', shape: [4, 6], fortranOrder: true, data: bytes });
    const file = await openNpy(path);
    try {
      const part = await file.get('grid', { slice: [[1, 3], [null, null, 2]] });
      expect(part.shape).toEqual([2, 3]);
      expect([...(part.data as Float32Array)]).toEqual([6, 8, 10, 12, 14, 16]);
      const column: number[] = [];
      for await (const chunk of file.chunks('grid', { slice: [null, 4], chunkSize: 4 })) column.push(...new Float32Array(Uint8Array.from(chunk).buffer));
      expect(column).toEqual([4, 10, 16, 22]);
      const shard = await file.shard('grid', { axis: 1, index: 1, count: 3 });
      expect([...(shard.data as Float32Array)]).toEqual([2, 3, 8, 9, 14, 15, 20, 21]);
      expect(file.readStats.reads).toBeGreaterThan(0);
    } finally {
      await file.close();
    }
  });
});
