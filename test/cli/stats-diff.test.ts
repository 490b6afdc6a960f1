import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

const temp = makeTempDir('cli-stats-diff');
beforeAll(() => ensureBuilt());
afterAll(() => temp.remove());

interface NumpyStats {
  count: number;
  min?: number;
  max?: number;
  mean?: number;
  std?: number;
  nan: number;
  posInf: number;
  negInf: number;
}

// 3M float32 values span several 4 MiB read chunks, so the chunk merge is exercised, not just one pass.
const MAKE_STATS = String.raw`
import json, sys
import numpy as np, ml_dtypes
rng = np.random.default_rng(11)
a = {
  'big/f32': (rng.standard_normal(3_000_000) * 3 + 1000).astype(np.float32),
  'f16_specials': np.array([1.5, np.nan, np.inf, -np.inf, -2.25, np.nan, 0.0], dtype=np.float16),
  'bf16': np.array(rng.standard_normal((7, 9)), dtype=ml_dtypes.bfloat16),
  'i64': np.array([-(2**40), 3, 2**41, 17], dtype=np.int64),
  'u8': rng.integers(0, 256, (5, 5), dtype=np.uint8),
  'bool': np.array([True, False, True, True]),
  'all_nan': np.array([np.nan, np.nan], dtype=np.float32),
}
np.savez(sys.argv[1], **a)
out = {}
for name, v in a.items():
    x = v.astype(np.float64).ravel()
    finite = x[np.isfinite(x)]
    s = {'count': int(finite.size), 'nan': int(np.isnan(x).sum()), 'posInf': int((x == np.inf).sum()), 'negInf': int((x == -np.inf).sum())}
    if finite.size:
        s.update(min=float(finite.min()), max=float(finite.max()), mean=float(finite.mean()), std=float(finite.std()))
    out[name] = s
print(json.dumps(out))
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'stats'), () => {
  it('matches numpy float64 statistics over the finite values, with NaN/Inf counted apart', () => {
    const path = join(temp.path, 'stats.npz');
    const expected = JSON.parse(runPython(MAKE_STATS, [path])) as Record<string, NumpyStats>;
    const result = runCli(['stats', '--json', path]);
    expect(result.status).toBe(0);
    const arrays = (JSON.parse(result.stdout) as { arrays: (NumpyStats & { name: string })[] }).arrays;
    expect(arrays.map((entry) => entry.name)).toEqual(Object.keys(expected));
    for (const entry of arrays) {
      const want = expected[entry.name]!;
      expect({ count: entry.count, nan: entry.nan, posInf: entry.posInf, negInf: entry.negInf }, entry.name).toEqual({
        count: want.count,
        nan: want.nan,
        posInf: want.posInf,
        negInf: want.negInf,
      });
      if (want.count === 0) {
        expect(entry.mean, entry.name).toBeUndefined();
        continue;
      }
      expect(entry.min).toBe(want.min);
      expect(entry.max).toBe(want.max);
      for (const key of ['mean', 'std'] as const) {
        const relative = Math.abs(entry[key]! - want[key]!) / Math.max(1e-300, Math.abs(want[key]!));
        expect(relative, `${entry.name} ${key}: ${entry[key]} vs numpy ${want[key]}`).toBeLessThan(1e-12);
      }
    }
  });

  it('prints a table for the named arrays only', () => {
    const result = runCli(['stats', PALIGEMMA, 'img/head/bias', 'llm/embedder/input_embedding']);
    expect(result.status).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME +DTYPE +SHAPE +MIN +MAX +MEAN +STD +NAN +INF$/);
    expect(lines.slice(1).map((line) => line.split(/ +/)[0])).toEqual(['img/head/bias', 'llm/embedder/input_embedding']);
  });
});

// Variants of the PaliGemma fixture: one value changed; a dtype changed, an array dropped and one added.
const MAKE_VARIANTS = String.raw`
import json, sys
import numpy as np
z = np.load(sys.argv[1])
arrays = {k: z[k] for k in z.files}
changed = dict(arrays)
w = arrays['llm/layers/attn/q_einsum/w'].copy()
before = float(w[1, 0, 3, 2])
w[1, 0, 3, 2] = 2.5
changed['llm/layers/attn/q_einsum/w'] = w
np.savez(sys.argv[2], **changed)
other = dict(arrays)
other['img/head/bias'] = arrays['img/head/bias'].astype(np.float32)
del other['llm/final_norm/scale']
other['extra/new'] = np.zeros(3, dtype=np.int8)
np.savez(sys.argv[3], **other)
print(json.dumps({'before': str(np.float32(before)), 'after': str(w[1, 0, 3, 2]), 'abs': abs(2.5 - before), 'rel': abs(2.5 - before) / abs(before)}))
`;

describe('stats notes', () => {
  it('a note (complex values are not summarised) runs past the columns instead of widening them', () => {
    const result = runCli(['stats', join(GOOD_DIR, 'all-dtypes.npz')]);
    expect(result.status, result.stderr).toBe(0);
    const [header, ...lines] = result.stdout.trimEnd().split('\n');
    const notes = lines.filter((line) => line.includes('(complex values have no order'));
    expect(notes.length).toBeGreaterThan(0);
    const noteStart = notes[0]!.indexOf('(complex');
    for (const note of notes) expect(note.indexOf('(complex')).toBe(noteStart);
    // The MIN column starts where the notes do and is as wide as its widest number (or its header), which
    // therefore starts right at the column's start; a note counted in the width would push every number right.
    const numeric = lines.filter((line) => line[noteStart] !== '(');
    expect(header!.indexOf('MIN') === noteStart || numeric.some((line) => line[noteStart] !== ' ')).toBe(true);
    expect(header!.indexOf('MIN') + 3 - noteStart).toBeLessThan('(complex values have no order; not summarised)'.length);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'diff'), () => {
  const changed = join(temp.path, 'changed.npz');
  const restructured = join(temp.path, 'restructured.npz');
  let values: { before: string; after: string; abs: number; rel: number };
  beforeAll(() => {
    values = JSON.parse(runPython(MAKE_VARIANTS, [PALIGEMMA, changed, restructured])) as typeof values;
  });

  it('refuses standard input with a usage error (exit 2), not a missing file called -', () => {
    for (const args of [['-', PALIGEMMA], [PALIGEMMA, '-']]) {
      const result = runCli(['diff', ...args]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain('standard input (-) cannot be read side by side');
    }
  });

  it('a file against itself: identical, exit 0', () => {
    const result = runCli(['diff', PALIGEMMA, PALIGEMMA]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^identical: 32 arrays/);
  });

  it('reports a changed value with its index, both values and the max abs/rel difference; exit 1', () => {
    const result = runCli(['diff', PALIGEMMA, changed]);
    expect(result.status).toBe(1);
    const line = result.stdout.split('\n').find((text) => text.startsWith('~ llm/layers/attn/q_einsum/w: '));
    expect(line).toMatch(/^~ \S+: 1 of 128 values differ, max abs diff \S+ at \[1, 0, 3, 2\] \((\S+) vs (\S+)\), max rel diff \S+$/);
    expect(line).toContain(`(${values.before} vs ${values.after})`);
    const json = JSON.parse(runCli(['diff', '--json', PALIGEMMA, changed]).stdout) as { identical: boolean; arrays: Record<string, unknown>[] };
    expect(json.identical).toBe(false);
    const diff = json.arrays.find((entry) => entry['kind'] === 'values');
    expect(diff).toMatchObject({ name: 'llm/layers/attn/q_einsum/w', differing: 1, items: 128, maxAbs: values.abs, at: { index: [1, 0, 3, 2], b: 2.5 } });
    expect(diff!['maxRel']).toBeCloseTo(values.rel, 12);
    expect(json.arrays.filter((entry) => entry['kind'] === 'equal')).toHaveLength(31);
  });

  it('reports dtype changes and names only in one file', () => {
    const result = runCli(['diff', PALIGEMMA, restructured]);
    expect(result.status).toBe(1);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toContain('~ img/head/bias: dtype float16 -> float32');
    expect(lines).toContain('- llm/final_norm/scale: only in A (float16 (8,))');
    expect(lines).toContain('+ extra/new: only in B (int8 (3,))');
    expect(lines.at(-1)).toBe('3 differences; 30 arrays compared value by value');
  });
});

/**
 * `good.npz` (a, b, c, d) and `bad.npz`, the same arrays with b's npy header damaged and one data byte of c
 * flipped (a CRC-32 mismatch only reading finds). Saved by the library, as np.savez lays files out.
 */
async function goodAndBad(): Promise<{ good: string; bad: string }> {
  const { openNpz, saveNpz } = await import('../../src/index.js');
  const good = join(temp.path, 'good.npz');
  await saveNpz(good, {
    a: new Float32Array([1, 2, 3]),
    b: new Int16Array([4, 5]),
    c: new Float64Array([6, 7, 8]),
    d: new Uint8Array([9, 10]),
  });
  const file = await openNpz(good);
  const where = new Map(file.entries.flatMap((entry) => (entry.isArray ? [[entry.name, { data: entry.dataOffset!, npy: entry.dataOffset! - (entry.memberSize - entry.byteLength) }] as const] : [])));
  await file.close();
  const bytes = readFileSync(good);
  bytes.write('XXXXX', where.get('b')!.npy + 1, 'latin1');
  bytes[where.get('c')!.data + 3]! ^= 0x40;
  const bad = join(temp.path, 'bad.npz');
  writeFileSync(bad, bytes);
  return { good, bad };
}

describe('stats and diff of a damaged checkpoint', () => {
  it('stats reports every array it can, puts each error in its array row, and exits 1 at the end', async () => {
    const { bad } = await goodAndBad();
    const result = runCli(['stats', bad]);
    expect(result.status).toBe(1);
    const rows = result.stdout.split('\n').filter((line) => /^[abcd] /.test(line));
    expect(rows.map((line) => line.split(/\s+/).slice(0, 4))).toEqual([
      ['a', 'float32', '(3,)', '1'],
      ['b', '-', '-', '(ERR_NPY_MAGIC)'],
      ['c', 'float64', '(3,)', '(ERR_ZIP_CRC_MISMATCH)'],
      ['d', 'uint8', '(2,)', '9'],
    ]);
    expect(result.stdout).toMatch(/^FAIL {2}c: member "c\.npy" .+ \[ERR_ZIP_CRC_MISMATCH\]$/m);
    expect(result.stdout).toMatch(/^2 of 4 arrays could not be read; 2 summarised$/m);
    const json = JSON.parse(runCli(['stats', '--json', bad]).stdout) as { arrays: Record<string, unknown>[]; failed: number };
    expect(json.failed).toBe(2);
    expect(json.arrays.map((row) => [row['name'], (row['error'] as { code?: string } | undefined)?.code ?? row['max']])).toEqual([
      ['a', 3],
      ['b', 'ERR_NPY_MAGIC'],
      ['c', 'ERR_ZIP_CRC_MISMATCH'],
      ['d', 10],
    ]);
  });

  it('diff compares every array it can, says which file each error is in, and exits 1', async () => {
    const { good, bad } = await goodAndBad();
    const result = runCli(['diff', good, bad]);
    expect(result.status).toBe(1);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^! b: cannot be read in B: .+ \[ERR_NPY_MAGIC\]$/));
    expect(lines).toContainEqual(expect.stringMatching(/^! c: cannot be read in B: .+ \[ERR_ZIP_CRC_MISMATCH\]$/));
    expect(lines.at(-1)).toBe('no differences in what could be read: 2 arrays compared value by value; 2 arrays could not be read');
    const reversed = JSON.parse(runCli(['diff', '--json', bad, good]).stdout) as { identical: boolean; arrays: { name: string; kind: string; errors?: { file: string; code: string }[] }[] };
    expect(reversed.identical).toBe(false);
    expect(reversed.arrays.filter((row) => row.kind === 'error').map((row) => [row.name, row.errors!.map((error) => `${error.file} ${error.code}`)])).toEqual([
      ['b', ['A ERR_NPY_MAGIC']],
      ['c', ['A ERR_ZIP_CRC_MISMATCH']],
    ]);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'diff of C and Fortran order'), () => {
  it('compares values by index: equal values exit 0 with a note on the order; a difference is placed by index', () => {
    const c = join(temp.path, 'order-c.npz');
    const f = join(temp.path, 'order-f.npz');
    const g = join(temp.path, 'order-f-changed.npz');
    runPython(
      String.raw`
import sys, numpy as np
x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
np.savez(sys.argv[1], x=x, v=np.arange(3))
np.savez(sys.argv[2], x=np.asfortranarray(x), v=np.arange(3))
y = np.asfortranarray(x.copy()); y[1, 2, 0] = 100
np.savez(sys.argv[3], x=y, v=np.arange(3))`,
      [c, f, g],
    );
    const equal = runCli(['diff', c, f]);
    expect(equal.status).toBe(0);
    expect(equal.stdout).toBe('= x: equal values, stored in C order in A and in Fortran order in B\nidentical: 2 arrays with equal names, dtypes, shapes and values\n');
    const changed = runCli(['diff', c, g]);
    expect(changed.status).toBe(1);
    const line = changed.stdout.split('\n')[0]!;
    expect(line).toBe('~ x: 1 of 24 values differ, max abs diff 80 at [1, 2, 0] (20.0 vs 100.0), max rel diff 4, compared by index, stored in C order in A and in Fortran order in B');
    expect(line.match(/order/g)).toHaveLength(2);
    const json = JSON.parse(runCli(['diff', '--json', g, c]).stdout) as { arrays: Record<string, unknown>[] };
    expect(json.arrays.find((row) => row['name'] === 'x')).toMatchObject({ kind: 'values', differing: 1, at: { index: [1, 2, 0], a: 100, b: 20 }, order: { a: 'F', b: 'C' } });
  });
});

describe('reordering for diff (C against Fortran order) in bounded blocks', () => {
  it("pairs each item of A with B's item at the same index, whatever the block size", async () => {
    const { reorderedPairs } = await import('../../src/cli/paired-items.js');
    const shape = [3, 4, 5];
    const count = 60;
    // Item i of the C-order array holds i; the same values in Fortran order are laid out column-major.
    const cOrder = Uint16Array.from({ length: count }, (_, i) => i);
    const fOrder = new Uint16Array(count);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 5; k++) fOrder[i + 3 * j + 12 * k] = i * 20 + j * 5 + k;
    const fileOf = (data: Uint16Array) => ({
      async *chunks() {
        const bytes = new Uint8Array(data.buffer);
        for (let at = 0; at < bytes.length; at += 14) yield bytes.slice(at, at + 14);
      },
    });
    for (const blockBytes of [2, 6, 34, 120, 1 << 20]) {
      for (const [a, b, fortranOrder] of [[cOrder, fOrder, false], [fOrder, cOrder, true]] as const) {
        const left: number[] = [];
        const right: number[] = [];
        for await (const [x, y] of reorderedPairs(fileOf(a), fileOf(b), { name: 'x', shape, fortranOrder }, 2, new AbortController().signal, blockBytes)) {
          left.push(...new Uint16Array(x.slice().buffer));
          right.push(...new Uint16Array(y.slice().buffer));
        }
        expect(right, `block ${blockBytes}, A in ${fortranOrder ? 'F' : 'C'} order`).toEqual(left);
        expect(left).toEqual([...a]);
      }
    }
  });
});
