/**
 * `NAME[...]` on the command line, against numpy: `cat` prints what `print(a[...])` prints, `stats` summarises
 * the slice, `extract` writes an .npy that np.load reads back as `a[...]`; for stored and deflated members, C and
 * Fortran order, big-endian data, bfloat16 and complex, summarised and 0-d results; mistakes are usage errors.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

const MAKE = String.raw`
import json, sys
import numpy as np
import ml_dtypes
rng = np.random.default_rng(5)
arrays = {
    'f32_4d': rng.standard_normal((8, 8, 8, 8)).astype(np.float32),
    'bf16': rng.standard_normal((4, 6)).astype(np.float32).astype(ml_dtypes.bfloat16),
    'fortran': np.asfortranarray(rng.standard_normal((3, 4, 5))),
    'be': (np.arange(35, dtype='>i2').reshape(5, 7) - 17),
    'c64': (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))).astype(np.complex64),
}
np.savez(sys.argv[1] + '/a.npz', **arrays)
np.savez_compressed(sys.argv[1] + '/c.npz', **arrays)
selectors = json.loads(sys.argv[2])
out = {}
for text in selectors:
    name = text[:text.index('[')]
    r = eval('arrays[name]' + text[len(name):])
    entry = {'print': str(r)}
    if r.dtype.kind == 'f':
        x = np.asarray(r, dtype=np.float64).reshape(-1)
        entry['stats'] = [float(x.min()), float(x.max()), float(x.mean()), float(x.std())]
    out[text] = entry
print(json.dumps(out))
`;

const SELECTORS = ['f32_4d[0:2, :, 5]', 'f32_4d[1, 2, 3, 4]', 'f32_4d[..., ::3]', 'bf16[:, -2:]', 'fortran[1:, ::2, 3]', 'be[-1]', 'be[1:4, ::3]', 'c64[::2, 1]'];

const skipped = !hasNumpy();

describe.skipIf(skipped)(withSkipReason(skipped, NO_NUMPY, "NAME[...] in cat, stats and extract, as numpy's a[...]"), () => {
  const temp = makeTempDir('slice-cli');
  let expected: Record<string, { print: string; stats?: [number, number, number, number] }> = {};

  beforeAll(() => {
    ensureBuilt();
    expected = JSON.parse(runPython(MAKE, [temp.path, JSON.stringify(SELECTORS)])) as typeof expected;
  }, 120_000);
  afterAll(() => temp.remove());

  // Each run starts a node process: a few seconds apiece on a busy machine.
  it('cat prints the slice as numpy prints it, from stored and deflated members', () => {
    const runs: Array<[string, string]> = [...SELECTORS.map((selector): [string, string] => ['a.npz', selector]), ['c.npz', 'f32_4d[0:2, :, 5]'], ['c.npz', 'fortran[1:, ::2, 3]'], ['c.npz', 'be[-1]']];
    for (const [file, selector] of runs) {
      const result = runCli(['cat', join(temp.path, file), selector]);
      expect(result.stderr, `${file} ${selector}`).toBe('');
      expect(result.stdout, `${file} ${selector}`).toBe(`${expected[selector]?.print}\n`);
    }
  }, 300_000);

  it('cat --json names the slice and gives its shape; stats summarises only the slice', () => {
    const json = JSON.parse(runCli(['cat', '--json', join(temp.path, 'a.npz'), 'f32_4d[0:2, :, 5]']).stdout) as { name: string; shape: number[]; fortranOrder: boolean };
    expect(json).toMatchObject({ name: 'f32_4d[0:2, :, 5]', shape: [2, 8, 8], fortranOrder: false });
    const stats = JSON.parse(runCli(['stats', '--json', join(temp.path, 'c.npz'), 'f32_4d[..., ::3]', 'fortran[1:, ::2, 3]', 'bf16']).stdout) as {
      arrays: Array<{ name: string; shape: number[]; min: number; max: number; mean: number; std: number; count: number }>;
    };
    expect(stats.arrays.map((row) => [row.name, row.shape])).toEqual([
      ['f32_4d[:, :, :, ::3]', [8, 8, 8, 3]],
      ['fortran[1:, ::2, 3]', [2, 2]],
      ['bf16', [4, 6]],
    ]);
    for (const [row, selector] of [
      [stats.arrays[0], 'f32_4d[..., ::3]'],
      [stats.arrays[1], 'fortran[1:, ::2, 3]'],
    ] as const) {
      const [min, max, mean, std] = expected[selector]?.stats as [number, number, number, number];
      expect(row?.min).toBe(min);
      expect(row?.max).toBe(max);
      expect(row?.mean).toBeCloseTo(mean, 12);
      expect(row?.std).toBeCloseTo(std, 12);
    }
  });

  it('extract writes the slice as an .npy numpy loads as a[...]', () => {
    const out = join(temp.path, 'out');
    const result = runCli(['extract', join(temp.path, 'c.npz'), 'fortran[1:, ::2, 3]', 'be[1:4, ::3]', 'bf16[:, -2:]', '-o', out]);
    expect(result.status).toBe(0);
    const check = runPython(
      String.raw`
import sys, numpy as np, ml_dtypes
z = np.load(sys.argv[1] + '/a.npz')
out = sys.argv[1] + '/out/'
a = np.load(out + 'fortran[1:, ::2, 3].npy')
b = np.load(out + 'be[1:4, ::3].npy')
c = np.load(out + 'bf16[:, -2:].npy').view(ml_dtypes.bfloat16)
print(np.array_equal(a, z['fortran'][1:, ::2, 3]), a.dtype, a.flags['C_CONTIGUOUS'],
      np.array_equal(b, z['be'][1:4, ::3]), b.dtype.str,
      np.array_equal(c.view('<u2'), z['bf16'][:, -2:].view('<u2')), c.shape)
`,
      [temp.path],
    );
    expect(check.trim()).toBe('True float64 True True <i2 True (4, 2)');
  });

  it('a slice that does not fit the array, or bad syntax, is a usage error naming it', () => {
    const file = join(temp.path, 'a.npz');
    const cases: Array<[string, RegExp]> = [
      ['be[5]', /"be\[5\]": axis 0: index 5 is out of range for size 5/],
      ['be[:, ::-1]', /"be\[:, ::-1\]": axis 1: step must be at least 1, got -1/],
      ['be[0, 0, 0]', /"be\[0, 0, 0\]": axis 2: the slice has 3 items but the array has 2 axes/],
      ['be[1:x]', /"be\[1:x\]": stop "x" is not an integer/],
      ['be[..., ...]', /single ellipsis/],
      ['nope[0]', /no array named "nope"/],
    ];
    for (const [selector, message] of cases) {
      const result = runCli(['cat', file, selector]);
      expect(result.status, selector).not.toBe(0);
      expect(result.stderr, selector).toMatch(message);
    }
  }, 300_000);
});
