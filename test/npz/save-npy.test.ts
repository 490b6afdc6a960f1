/**
 * saveNpy: one array as the `.npy` file np.save writes (same header, same bytes), atomically, from any leaf,
 * lazy ones checked against their declared size.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpyHeader, isNpzError, saveNpy } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { rejectionOf } from '../helpers/errors.js';

const dir = makeTempDir('save-npy');
afterAll(() => dir.remove());

describe('saveNpy', () => {
  it('writes the header np.save writes, then the data', async () => {
    const path = dir.file('plain.npy');
    const data = new Float32Array([1, -2.5, 3, 4, 5, 6]);
    const summary = await saveNpy(path, { dtype: 'float32', shape: [2, 3], data });
    const header = encodeNpyHeader({ descr: '<f4', shape: [2, 3], fortranOrder: false });
    const bytes = readFileSync(path);
    expect(summary.bytesWritten).toBe(bytes.byteLength);
    expect(bytes.subarray(0, header.byteLength)).toEqual(Buffer.from(header));
    expect(new Float32Array(bytes.buffer.slice(bytes.byteOffset + header.byteLength, bytes.byteOffset + bytes.byteLength))).toEqual(data);
  });

  it('a lazy leaf streams into the file; one whose chunks do not add up is ERR_SOURCE_LENGTH and leaves nothing', async () => {
    const path = dir.file('lazy.npy');
    await saveNpy(path, { dtype: 'uint8', shape: [5], chunks: () => [Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5)] });
    expect([...readFileSync(path).subarray(-5)]).toEqual([1, 2, 3, 4, 5]);
    writeFileSync(path, 'original');
    const error = await rejectionOf(saveNpy(path, { dtype: 'uint8', shape: [5], chunks: () => [Uint8Array.of(1, 2)] }));
    expect(isNpzError(error, 'ERR_SOURCE_LENGTH'), String(error)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('original');
    expect(readdirSync(dir.path).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a missing path, a leaf that is not an array, and an aborted signal', async () => {
    expect(isNpzError(await rejectionOf(saveNpy('', new Float32Array(1))), 'ERR_INVALID_ARGUMENT')).toBe(true);
    expect(isNpzError(await rejectionOf(saveNpy(dir.file('x.npy'), 'text' as never)), 'ERR_TREE_LEAF')).toBe(true);
    const controller = new AbortController();
    controller.abort();
    expect(isNpzError(await rejectionOf(saveNpy(dir.file('y.npy'), new Float32Array(1), { signal: controller.signal })), 'ERR_ABORTED')).toBe(true);
    expect(readdirSync(dir.path).filter((name) => name === 'x.npy' || name === 'y.npy')).toEqual([]);
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'is byte for byte what np.save writes, big-endian and Fortran order included'), async () => {
    const cases = [
      { name: 'f4', leaf: { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }, numpy: "np.arange(1, 7, dtype='<f4').reshape(2, 3)" },
      {
        name: 'be',
        leaf: { dtype: 'int32' as const, descr: '>i4', shape: [3], data: new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]) },
        numpy: "np.array([1, 2, 3], dtype='>i4')",
      },
      { name: 'fortran', leaf: { dtype: 'uint8' as const, shape: [2, 2], fortranOrder: true, data: new Uint8Array([1, 3, 2, 4]) }, numpy: "np.asfortranarray(np.array([[1, 2], [3, 4]], dtype='u1'))" },
    ];
    for (const { name, leaf } of cases) await saveNpy(dir.file(`${name}.npy`), leaf);
    const script = cases.map(({ name, numpy }) => `np.save(sys.argv[1] + '/${name}.ref.npy', ${numpy})`).join('\n');
    runPython(`import sys\nimport numpy as np\n${script}`, [dir.path]);
    for (const { name } of cases) expect(readFileSync(dir.file(`${name}.npy`)), name).toEqual(readFileSync(dir.file(`${name}.ref.npy`)));
  });
});
