import { describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { addToHistogram, emptyHistogram, histogramRange } from '../../src/cli/view/histogram.js';
import { orderDiffs, type TensorDiff } from '../../src/cli/view/diff-report.js';
import { byteGroups, parameterTree, type TensorRow } from '../../src/cli/view/overview.js';
import { formatBytes } from '../../src/cli/table.js';
// The page's own formatting module, plain JavaScript served to the browser as is.
import * as pageFormat from '../../src/cli/view/assets/format.js';

/** The view's pure parts: numpy-exact histogram bins, the diff order, and the overview's groupings. */

function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

function normal(count: number, seed: number): number[] {
  const random = seeded(seed);
  return Array.from({ length: count }, () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random()));
}

const CASES: [string, number[], number][] = [
  ['normal values', normal(5000, 1), 64],
  ['float32 values', normal(3000, 2).map(Math.fround), 37],
  ['values on and next to the edges of 10 bins over [-1, 1]', [-1, 1, ...Array.from({ length: 21 }, (_, k) => -1 + k * 0.1), ...Array.from({ length: 21 }, (_, k) => (k - 10) / 10)], 10],
  ['one value repeated (numpy widens the range by 0.5)', [3.5, 3.5, 3.5], 8],
  ['a range of 64 ulps', [1, 1 + 2 ** -52, 1 + 2 ** -51, 1 + 2 ** -47, 1 + 2 ** -46, 1], 5],
  ['integers with a single bin', [0, 1, 2, 3, 4, 5], 1],
  ['integers on bin edges', Array.from({ length: 101 }, (_, k) => k), 100],
  ['huge and tiny magnitudes', [-3e38, 1e-30, 2.5e38, -1e-45, 0, 7], 16],
];

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'histogram bins against np.histogram(a.astype(float64), bins, range=(min, max))'), () => {
  const expected = JSON.parse(
    runPython(
      `
import json, sys
import numpy as np
out = []
for values, bins in json.load(sys.stdin):
    a = np.array(values, dtype=np.float64)
    counts, edges = np.histogram(a, bins=bins, range=(a.min(), a.max()))
    out.append({'counts': counts.tolist(), 'edges': edges.tolist()})
print(json.dumps(out))
`,
      [],
      JSON.stringify(CASES.map(([, values, bins]) => [values, bins])),
    ),
  ) as { counts: number[]; edges: number[] }[];

  it.each(CASES.map(([label, values, bins], index) => [label, values, bins, index] as const))('%s', (_label, values, bins, index) => {
    const [lo, hi] = histogramRange(Math.min(...values), Math.max(...values));
    const histogram = emptyHistogram(lo, hi, bins);
    addToHistogram(histogram, values);
    expect(histogram.edges).toEqual(expected[index]!.edges);
    expect(histogram.counts).toEqual(expected[index]!.counts);
  });
});

describe('histogram bins, without numpy', () => {
  it('counts only finite values inside the range, in chunks as in one go', () => {
    const values = [NaN, Infinity, -Infinity, 0, 0.25, 0.5, 0.75, 1, 2, -1];
    const histogram = emptyHistogram(0, 1, 4);
    addToHistogram(histogram, values.slice(0, 5));
    addToHistogram(histogram, values.slice(5));
    expect(histogram.counts).toEqual([1, 1, 1, 2]);
    expect(histogram.edges).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('an empty tensor gets numpy’s default range', () => {
    expect(histogramRange(Infinity, -Infinity)).toEqual([0, 1]);
    expect(histogramRange(2, 2)).toEqual([1.5, 2.5]);
  });
});

describe('the diff order', () => {
  const diff = (name: string, kind: TensorDiff['kind'], relative?: number): TensorDiff => ({ name, kind, ...(relative === undefined ? {} : { relative }) });

  it('structure changes first, then changed tensors by relative change (NaN and Infinity largest), unchanged last', () => {
    const ordered = orderDiffs([
      diff('same/one', 'equal', 0),
      diff('small', 'changed', 1e-6),
      diff('gone', 'only-a'),
      diff('big', 'changed', 0.5),
      diff('nan', 'changed', NaN),
      diff('new', 'only-b'),
      diff('from-zero', 'changed', Infinity),
      diff('resized', 'shape'),
      diff('medium', 'changed', 0.01),
      diff('recast', 'dtype'),
      diff('same/two', 'equal', 0),
    ]);
    expect(ordered.map((entry) => entry.name)).toEqual([
      'gone',
      'new',
      'recast',
      'resized',
      'from-zero',
      'nan',
      'big',
      'medium',
      'small',
      'same/one',
      'same/two',
    ]);
  });
});

describe('overview groupings', () => {
  const row = (name: string, bytes: number): TensorRow => ({
    name,
    dtype: 'float32',
    shape: [bytes / 4],
    shapeText: `(${bytes / 4},)`,
    parameters: bytes / 4,
    bytes,
    storedBytes: bytes,
    compression: 'stored',
    offset: 0,
  });
  const rows = [
    row('img/Transformer/encoderblock/x', 400),
    row('img/head/kernel', 40),
    row('llm/embedder/input_embedding', 800),
    row('llm/layers/attn/q', 1200),
    row('llm/layers/mlp/linear', 2400),
    row('llm/final_norm/scale', 4),
  ];
  const total = rows.reduce((sum, entry) => sum + entry.bytes, 0);

  it('splits the subtree holding most of the model one level further, and the groups add up', () => {
    const groups = byteGroups(rows, total);
    expect(groups).toEqual([
      { path: 'llm/layers/mlp', bytes: 2400 },
      { path: 'llm/layers/attn', bytes: 1200 },
      { path: 'llm/embedder', bytes: 800 },
      { path: 'img/Transformer', bytes: 400 },
      { path: 'img/head', bytes: 40 },
      { path: 'llm/final_norm', bytes: 4 },
    ]);
  });

  it('the parameter tree sums every subtree', () => {
    const tree = parameterTree(rows);
    expect(tree.tensors).toBe(rows.length);
    expect(tree.bytes).toBe(total);
    const llm = tree.children.find((child) => child.name === 'llm')!;
    expect(llm.bytes).toBe(800 + 1200 + 2400 + 4);
    const layers = llm.children.find((child) => child.name === 'layers')!;
    expect(layers.path).toBe('llm/layers');
    expect(layers.children.map((child) => [child.path, child.parameters])).toEqual([
      ['llm/layers/attn', 300],
      ['llm/layers/mlp', 600],
    ]);
  });
});

describe('sizes on the page and on the command line', () => {
  it('use the same binary units, to the same digits', () => {
    const sizes = [0, 1, 999, 1023, 1024, 1536, 10 * 1024 - 1, 10 * 1024, 99.9 * 1024, 1024 ** 2 - 1, 1024 ** 2, 2.5 * 1024 ** 3, 288_993_240, 7.3 * 1024 ** 4, 3 * 1024 ** 5, 5 * 1024 ** 6, -2048, 0.4, NaN];
    for (const size of sizes) expect(pageFormat.formatBytes(size), String(size)).toBe(formatBytes(size));
    expect(formatBytes(288_993_240)).toBe('276 MiB');
  });

  it('counts one thing in the singular', () => {
    const { plural } = pageFormat;
    expect([plural(0, 'tensor'), plural(1, 'tensor'), plural(2088, 'tensor')]).toEqual(['0 tensors', '1 tensor', '2,088 tensors']);
  });
});
