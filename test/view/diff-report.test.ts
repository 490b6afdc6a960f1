import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberToBfloat16Bits, numberToFloat16Bits, openNpz, saveNpz, type Leaf, type NpzFile } from '../../src/index.js';
import { compareTensor, diffPlan, orderDiffs, type TensorDiff } from '../../src/cli/view/diff-report.js';
import { WorkProgress } from '../../src/cli/view/progress-report.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/** What changed between two files, tensor by tensor, on values whose norms are plain arithmetic. */

const f16 = (values: number[]): Leaf => ({ dtype: 'float16', shape: [values.length], data: Uint16Array.from(values, numberToFloat16Bits) });
const bf16 = (values: number[]): Leaf => ({ dtype: 'bfloat16', shape: [values.length], data: Uint16Array.from(values, numberToBfloat16Bits) });
const c64 = (parts: number[]): Leaf => ({ dtype: 'complex64', shape: [parts.length / 2], data: Float32Array.from(parts) });

const A = new Map<string, Leaf>([
  ['same-with-nan', f16([3, 4, 0, NaN])],
  ['bf16-moved', bf16([3, 4])],
  ['f16-moved', f16([0, 2, -4, 4])],
  ['from-zero', Float32Array.from([0, 0])],
  ['complex', c64([1, 0, 0, 0])],
  ['became-nan', Float64Array.from([1, 2])],
  ['resized', Int16Array.from([1, 2, 3])],
  ['recast', Float32Array.from([1])],
  ['dropped', Uint8Array.from([1])],
]);
const B = new Map<string, Leaf>([
  ['same-with-nan', f16([3, 4, 0, NaN])],
  ['bf16-moved', bf16([3, 5])],
  ['f16-moved', f16([0, 2, -4, 7])],
  ['from-zero', Float32Array.from([0, 1])],
  ['complex', c64([1, 1, 0, 0])],
  ['became-nan', Float64Array.from([1, NaN])],
  ['resized', Int16Array.from([1, 2])],
  ['recast', Float64Array.from([1])],
  ['added', Uint8Array.from([1])],
]);

let dir: TempDir;
let fileA: NpzFile;
let fileB: NpzFile;
let diffs: Map<string, TensorDiff>;
let ordered: TensorDiff[];

beforeAll(async () => {
  dir = makeTempDir('view-diff');
  await saveNpz(dir.file('a.npz'), A);
  await saveNpz(dir.file('b.npz'), B);
  fileA = await openNpz(dir.file('a.npz'));
  fileB = await openNpz(dir.file('b.npz'));
  const plan = diffPlan(fileA, fileB);
  const progress = new WorkProgress(plan.pending.reduce((sum, pair) => sum + pair.a.byteLength, 0));
  const all = [...plan.structural];
  for (const pair of plan.pending) all.push(await compareTensor(fileA, fileB, pair, new AbortController().signal, progress));
  expect(progress.done).toBe(progress.total);
  ordered = orderDiffs(all);
  diffs = new Map(all.map((diff) => [diff.name, diff]));
});

afterAll(async () => {
  await fileA?.close();
  await fileB?.close();
  dir?.remove();
});

describe('diff report', () => {
  it('relative change ||a - b|| / ||a|| through the bit-pattern tables of bf16 and f16', () => {
    expect(diffs.get('bf16-moved')).toMatchObject({ kind: 'changed', relative: 1 / 5, normA: 5, normDiff: 1, maxAbs: 1, differing: 1, items: 2 });
    expect(diffs.get('f16-moved')).toMatchObject({ kind: 'changed', relative: 3 / 6, normA: 6, normDiff: 3, maxAbs: 3, differing: 1, items: 4 });
  });

  it('an unchanged NaN is no change; a new NaN is a change of unknown size', () => {
    expect(diffs.get('same-with-nan')).toMatchObject({ kind: 'equal', relative: 0, differing: 0 });
    expect(diffs.get('became-nan')).toMatchObject({ kind: 'changed', differing: 1 });
    expect(diffs.get('became-nan')?.relative).toBeNaN();
  });

  it('a change from all zeros is infinitely large; a complex item counts once', () => {
    expect(diffs.get('from-zero')).toMatchObject({ kind: 'changed', relative: Infinity, differing: 1 });
    expect(diffs.get('complex')).toMatchObject({ kind: 'changed', relative: 1, differing: 1, items: 2 });
  });

  it('structure changes are named without reading data', () => {
    expect(diffs.get('resized')).toEqual({ name: 'resized', kind: 'shape', a: 'int16 (3,)', b: 'int16 (2,)' });
    expect(diffs.get('recast')).toEqual({ name: 'recast', kind: 'dtype', a: 'float32 (1,)', b: 'float64 (1,)' });
    expect(diffs.get('dropped')).toEqual({ name: 'dropped', kind: 'only-a', a: 'uint8 (1,)' });
    expect(diffs.get('added')).toEqual({ name: 'added', kind: 'only-b', b: 'uint8 (1,)' });
  });

  it('orders structure changes, then the largest changes, then the unchanged', () => {
    expect(ordered.map((diff) => diff.name)).toEqual([
      'dropped',
      'added',
      'recast',
      'resized',
      'became-nan',
      'from-zero',
      'complex',
      'f16-moved',
      'bf16-moved',
      'same-with-nan',
    ]);
  });
});

describe('diff report across storage orders', () => {
  it('compares a C-order and a Fortran-order array of one shape by index, as `npz-stream diff` does', async () => {
    const scratch = makeTempDir('view-diff-order');
    // (2, 3) values 0..5: C order stores them as they are, Fortran order column by column.
    const c = { dtype: 'float32' as const, shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) };
    const f = (values: number[]): Leaf => ({ dtype: 'float32', shape: [2, 3], fortranOrder: true, data: Float32Array.from(values) });
    await saveNpz(scratch.file('c.npz'), { same: c, moved: c });
    await saveNpz(scratch.file('f.npz'), { same: f([0, 3, 1, 4, 2, 5]), moved: f([0, 3, 1, 4, 2, 9]) });
    const [a, b] = [await openNpz(scratch.file('c.npz')), await openNpz(scratch.file('f.npz'))];
    try {
      const plan = diffPlan(a, b);
      expect(plan.structural).toEqual([]);
      const progress = new WorkProgress(plan.pending.reduce((sum, pair) => sum + pair.a.byteLength, 0));
      const results = new Map<string, TensorDiff>();
      for (const pair of plan.pending) results.set(pair.a.name, await compareTensor(a, b, pair, new AbortController().signal, progress));
      expect(results.get('same')).toMatchObject({ kind: 'equal', differing: 0, items: 6 });
      // Only the last item (index (1, 2)) moved, 5 -> 9.
      expect(results.get('moved')).toMatchObject({ kind: 'changed', differing: 1, maxAbs: 4, items: 6 });
    } finally {
      await a.close();
      await b.close();
      scratch.remove();
    }
  });
});
