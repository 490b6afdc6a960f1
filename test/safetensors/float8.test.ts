/**
 * float8 as numpy with ml_dtypes 0.6 really saves it: float8_e4m3fn (and float8_e8m0fnu) as descr '<V1',
 * float8_e5m2 as '<f1' (checked below with the oracle). Such npz members open, and go to safetensors when their
 * kind is named (rawDType); '<f1' is float8_e5m2, the one kind ml_dtypes gives that descr.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { isNpzError, openNpz, openSafetensors, saveSafetensors, saveSafetensorsStream, type LazyArray } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('safetensors-float8');
afterAll(() => dir.remove());

function raw(descr: string, bytes: number[]): LazyArray {
  return { dtype: 'raw', descr, shape: [bytes.length], chunks: () => [Uint8Array.from(bytes)] };
}

describe('raw one-byte leaves to safetensors', () => {
  it('are refused without a kind (naming the option), and written with the rawDType option', async () => {
    const refused = dir.file('refused.safetensors');
    const error = await saveSafetensors(refused, { q: raw('<V1', [1, 2]) }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isNpzError(error, 'ERR_SAFETENSORS_UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toMatch(/rawDType/);
    expect(existsSync(refused)).toBe(false);

    const path = dir.file('named.safetensors');
    await saveSafetensors(
      path,
      { a: raw('<V1', [1, 2]), b: raw('|V1', [3]), c: raw('<f1', [4]) },
      { rawDType: (name) => (name === 'a' ? 'F8_E4M3' : name === 'b' ? 'F8_E8M0' : undefined) },
    );
    const file = await openSafetensors(path);
    try {
      expect(Object.fromEntries(file.entries.map((entry) => [entry.name, entry.safetensorsDType]))).toEqual({ a: 'F8_E4M3', b: 'F8_E8M0', c: 'F8_E5M2' });
    } finally {
      await file.close();
    }
    const bad = await saveSafetensors(dir.file('bad.safetensors'), { a: raw('<V1', [1]) }, { rawDType: 'F16' as never }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isNpzError(bad, 'ERR_SAFETENSORS_UNSUPPORTED')).toBe(true);
  });

  it('saveSafetensorsStream takes the rawDType option too, and writes what saveSafetensors writes', async () => {
    const tree = { a: raw('<V1', [1, 2]), b: raw('|V1', [3]) };
    const rawDType = (name: string): 'F8_E4M3' | 'F8_E8M0' => (name === 'a' ? 'F8_E4M3' : 'F8_E8M0');
    const path = dir.file('streamed-reference.safetensors');
    await saveSafetensors(path, tree, { rawDType });
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (part: Buffer) => parts.push(part));
    await saveSafetensorsStream(tree, out, { rawDType });
    expect(Buffer.concat(parts).equals(readFileSync(path))).toBe(true);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'float8 from numpy with ml_dtypes'), () => {
  it("ml_dtypes writes '<V1' and '<f1'; openNpz reads them raw, and saveSafetensors with their kinds writes save_file's bytes", async () => {
    const npz = dir.file('f8.npz');
    const arrays = String.raw`
import sys, numpy as np, ml_dtypes
a = {'e4m3': (np.arange(6) / 4 - 0.5).astype(ml_dtypes.float8_e4m3fn), 'e5m2': (np.arange(5) - 2.0).astype(ml_dtypes.float8_e5m2)}
`;
    const descrs = runPython(`${arrays}
np.savez(sys.argv[1], **a)
print(' '.join(np.lib.format.dtype_to_descr(v.dtype) for v in a.values()))`, [npz]);
    expect(descrs.trim()).toBe('<V1 <f1');
    const file = await openNpz(npz);
    const out = dir.file('f8.safetensors');
    try {
      expect(file.entries.map((entry) => (entry.isArray ? [entry.name, entry.dtype, entry.descr] : [entry.name]))).toEqual([
        ['e4m3', 'raw', '<V1'],
        ['e5m2', 'raw', '<f1'],
      ]);
      const pairs = await Promise.all(file.entries.map(async (entry) => [entry.name, await file.get(entry.name)] as const));
      await saveSafetensors(out, new Map(pairs), { rawDType: (name) => (name === 'e4m3' ? 'F8_E4M3' : undefined) });
    } finally {
      await file.close();
    }
    // safetensors' own writer, given the ml_dtypes arrays, writes exactly these bytes.
    const reference = dir.file('f8-python.safetensors');
    runPython(`${arrays}
from safetensors.numpy import save_file
save_file(a, sys.argv[1])`, [reference]);
    expect(readFileSync(out).equals(readFileSync(reference))).toBe(true);
  });
});
