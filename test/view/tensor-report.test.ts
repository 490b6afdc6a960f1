import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberToBfloat16Bits, numberToFloat16Bits, openNpz, saveNpz, type Leaf, type NpzArrayEntry, type NpzFile } from '../../src/index.js';
import { WorkProgress } from '../../src/cli/view/progress-report.js';
import { reportBytes, tensorReport } from '../../src/cli/view/tensor-report.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * One tensor's statistics and histogram, the same whichever way they are computed: 1- and 2-byte types count bit
 * patterns in one pass, wider types stream twice. The values are exact in every dtype, so the expected numbers are
 * plain arithmetic.
 */

const FINITE = [-3, -1.5, 0, 0.25, 2, 7, 7, 0.25];
const SPECIAL = [NaN, Infinity, -Infinity, NaN];
const FLOATS = [...FINITE, ...SPECIAL];

const mean = FINITE.reduce((a, b) => a + b, 0) / FINITE.length;
const std = Math.sqrt(FINITE.reduce((sum, x) => sum + (x - mean) ** 2, 0) / FINITE.length);

let dir: TempDir;
let file: NpzFile;

beforeAll(async () => {
  dir = makeTempDir('view-report');
  const path = dir.file('values.npz');
  await saveNpz(path, new Map<string, Leaf>([
    ['float16', { dtype: 'float16', shape: [FLOATS.length], data: Uint16Array.from(FLOATS, numberToFloat16Bits) }],
    ['bfloat16', { dtype: 'bfloat16', shape: [FLOATS.length], data: Uint16Array.from(FLOATS, numberToBfloat16Bits) }],
    ['float32', Float32Array.from(FLOATS)],
    ['float64', Float64Array.from(FLOATS)],
    ['int16', Int16Array.from([-3, -1, 0, 0, 2, 7, 7, 0])],
    ['uint8', Uint8Array.from([0, 1, 2, 255, 255, 7])],
    ['empty', new Float32Array(0)],
  ]));
  file = await openNpz(path);
});

afterAll(async () => {
  await file?.close();
  dir?.remove();
});

async function report(name: string, bins = 4) {
  const entry = file.entries.find((candidate) => candidate.name === name) as NpzArrayEntry;
  const progress = new WorkProgress(reportBytes(entry));
  const result = await tensorReport(file, entry, { bins, signal: new AbortController().signal, progress });
  // Progress ends exactly at the total announced up front.
  expect(progress.done).toBe(progress.total);
  return result;
}

describe('tensor report', () => {
  it.each(['float16', 'bfloat16', 'float32', 'float64'])('%s: finite stats, NaN and Inf counted apart, bins over [min, max]', async (name) => {
    const { stats, histogram } = await report(name);
    expect(stats).toEqual({ count: 8, min: -3, max: 7, mean, std: expect.closeTo(std, 12), nan: 2, posInf: 1, negInf: 1 });
    // 4 bins over [-3, 7]: edges -3, -0.5, 2, 4.5, 7; 2 lands on an edge and goes right; 7 closes the last bin.
    expect(histogram?.edges).toEqual([-3, -0.5, 2, 4.5, 7]);
    expect(histogram?.counts).toEqual([2, 3, 1, 2]);
  });

  it('float16 streams once, float32 twice', () => {
    const byName = (name: string) => file.entries.find((entry) => entry.name === name) as NpzArrayEntry;
    expect(reportBytes(byName('float16'))).toBe(FLOATS.length * 2);
    expect(reportBytes(byName('float32'))).toBe(FLOATS.length * 4 * 2);
  });

  it('integers of one and two bytes', async () => {
    const int16 = await report('int16', 10);
    expect(int16.stats).toMatchObject({ count: 8, min: -3, max: 7, nan: 0 });
    expect(int16.stats?.mean).toBeCloseTo(12 / 8, 12);
    expect(int16.histogram?.counts).toEqual([1, 0, 1, 3, 0, 1, 0, 0, 0, 2]); // unit bins from -3: -3 | | -1 | 0 0 0 | | 2 | | | | 7 7
    const uint8 = await report('uint8', 2);
    expect(uint8.stats).toMatchObject({ count: 6, min: 0, max: 255 });
    expect(uint8.histogram?.counts).toEqual([4, 2]);
  });

  it('an empty tensor has no statistics and an empty histogram', async () => {
    const { stats, histogram } = await report('empty');
    expect(stats).toEqual({ count: 0, min: null, max: null, mean: null, std: null, nan: 0, posInf: 0, negInf: 0 });
    expect(histogram?.counts).toEqual([0, 0, 0, 0]);
  });
});
