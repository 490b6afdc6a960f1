import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, type NpzArrayEntry } from '../../src/index.js';
import { shownElements } from '../../src/cli/commands/cat.js';
import { arrayText } from '../../src/cli/print/array-print.js';
import { FLOAT_DTYPES, floatScalarText, formatPositional, formatScientific, generalText } from '../../src/cli/print/float-format.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { GOOD_DIR } from '../helpers/fixtures.js';
import { makeTempDir } from '../helpers/tmp.js';

// The printing code runs in-process here so numpy can judge thousands of values and dozens of arrays quickly;
// cat.test.ts runs the same code through the bin.

const FLOAT_TEXTS = String.raw`
import json
import numpy as np, ml_dtypes
rng = np.random.default_rng(7)
def rows(values):
    out = []
    for x in values:
        if not np.isfinite(x): continue
        out.append([float(x), np.format_float_positional(x, unique=True, precision=8, trim='.'),
                    np.format_float_scientific(x, unique=True, precision=8, trim='.'), str(x),
                    np.format_float_scientific(x, unique=True, precision=5, min_digits=5, trim='k')])
    return out
# Every float16; float32/float64 at random plus binade edges, where the rounding interval is lopsided.
f16 = np.arange(65536, dtype=np.uint16).view(np.float16)
edges = np.arange(1, 255, dtype=np.uint32) << 23
f32 = np.concatenate([rng.integers(0, 2**32, 6000, dtype=np.uint64).astype(np.uint32), edges, edges + 1, edges - 1,
                      np.arange(1, 64, dtype=np.uint32)]).view(np.float32)
f64 = np.concatenate([rng.integers(0, 2**63, 2000, dtype=np.uint64).view(np.float64), rng.standard_normal(1000),
                      np.array([0.001953125, 0.005859375, 2.0**-1074, 2.0**-1022, 1e300])])
bf16 = np.arange(65536, dtype=np.uint16).view(ml_dtypes.bfloat16)
print(json.dumps({'float16': rows(f16), 'float32': rows(f32), 'float64': rows(f64),
                  'bfloat16': [repr(x) for x in bf16]}))
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'float text matches numpy digit for digit'), () => {
  let reference: Record<string, unknown>;
  beforeAll(() => {
    reference = JSON.parse(runPython(FLOAT_TEXTS)) as Record<string, unknown>;
  });

  for (const name of ['float16', 'float32', 'float64'] as const) {
    it(`${name}: positional, scientific, scalar str, scientific with min_digits`, () => {
      const dtype = FLOAT_DTYPES[name];
      const rows = reference[name] as [number, string, string, string, string][];
      expect(rows.length).toBeGreaterThan(2000);
      const mismatches: string[] = [];
      for (const [x, positional, scientific, scalar, minDigits] of rows) {
        const got = [
          formatPositional(x, dtype.type, { precision: 8, trim: '.' }),
          formatScientific(x, dtype.type, { precision: 8, trim: '.' }),
          floatScalarText(x, dtype),
          formatScientific(x, dtype.type, { precision: 5, minDigits: 5, trim: 'k' }),
        ];
        [positional, scientific, scalar, minDigits].forEach((want, i) => {
          if (got[i] !== want) mismatches.push(`${x}: numpy ${want}, ours ${got[i]}`);
        });
      }
      expect(mismatches.slice(0, 10)).toEqual([]);
    });
  }

  it('bfloat16: every bit pattern prints as ml_dtypes repr does', () => {
    const texts = reference['bfloat16'] as string[];
    const scratch = new DataView(new ArrayBuffer(4));
    const mismatches: string[] = [];
    texts.forEach((want, bits) => {
      scratch.setUint32(0, bits << 16);
      const got = generalText(scratch.getFloat32(0));
      if (got !== want) mismatches.push(`0x${bits.toString(16)}: ml_dtypes ${want}, ours ${got}`);
    });
    expect(mismatches.slice(0, 10)).toEqual([]);
  });
});

const MAKE_ARRAYS = String.raw`
import json, sys
import numpy as np, ml_dtypes
bf16 = ml_dtypes.bfloat16
rng = np.random.default_rng(42)
a = {}
a['f32_small'] = rng.standard_normal((3, 4)).astype(np.float32)
a['f32_exp'] = np.array([1e-5, 1.0, 123.456, -7.25e3], dtype=np.float32)
a['f32_large'] = np.array([[1.5e6, 2.0], [3.0, -4e7]], dtype=np.float32)
a['f32_4d_summarised'] = rng.standard_normal((8, 8, 8, 8)).astype(np.float32)
a['f32_long_axis'] = rng.standard_normal((2, 3000)).astype(np.float32)
a['f64_summarised'] = np.arange(2000.0).reshape(40, 50) / 7
a['f64_wrapped'] = rng.standard_normal(100) * 10
a['f64_fortran'] = np.asfortranarray(np.arange(12.0).reshape(3, 4) / 3)
a['f64_fortran_summarised'] = np.asfortranarray(rng.standard_normal((30, 40)))
a['f16_nonfinite'] = np.array([np.nan, np.inf, -np.inf, 1.5, -0.0], dtype=np.float16)
a['f16_only_nan'] = np.array([np.nan, np.nan], dtype=np.float16)
a['f16_summarised'] = rng.standard_normal((10, 20, 30)).astype(np.float16)
a['bf16'] = np.array(rng.standard_normal((4, 5)), dtype=bf16)
a['bf16_specials'] = np.array([np.nan, -np.inf, 1e-5, 3e38, -0.0, 100000.0], dtype=bf16)
a['bf16_summarised'] = np.array(rng.standard_normal((50, 40)), dtype=bf16)
a['i64'] = np.array([-2**62, 5, 2**62], dtype=np.int64)
a['u64'] = np.array([2**64 - 1, 0], dtype=np.uint64)
a['u8'] = np.arange(256, dtype=np.uint8).reshape(16, 16)
a['i32_summarised'] = np.arange(5000, dtype=np.int32).reshape(50, 100) - 2500
a['bool'] = rng.random((3, 5)) > 0.5
a['bool_summarised'] = rng.random((40, 40)) > 0.5
a['c64'] = np.array([1 + 2j, -3.5 - 0.25j, complex(np.nan, 1)], dtype=np.complex64)
a['c128_exp'] = np.array([1e-7 + 1j, 3e5 - 2e-3j])
a['c128_scalar'] = np.array(1.5 - 2j)
a['c128_scalar_imag'] = np.array(2j)
a['f32_scalar'] = np.array(3.25, dtype=np.float32)
a['f64_scalar_tiny'] = np.array(1.5e-7)
a['i16_scalar'] = np.array(-7, dtype=np.int16)
a['bool_scalar'] = np.array(True)
a['bf16_scalar'] = np.array(0.1, dtype=bf16)
a['empty'] = np.zeros((2, 0, 3), dtype=np.float32)
a['big_endian'] = (np.arange(6, dtype='>f4').reshape(2, 3) - 2.5)
np.savez(sys.argv[1], **a)
print(json.dumps({k: str(v) for k, v in a.items()}))
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'array text matches print(array)'), () => {
  const temp = makeTempDir('cli-print');
  afterAll(() => temp.remove());

  async function ourTexts(path: string, names: readonly string[]): Promise<Record<string, string>> {
    const file = await openNpz(path);
    try {
      const out: Record<string, string> = {};
      for (const name of names) {
        const entry = file.entries.find((candidate) => candidate.name === name) as NpzArrayEntry;
        if (entry.dtype === 'raw') throw new Error(`${name} is raw`);
        out[name] = arrayText({ dtype: entry.dtype, shape: entry.shape, values: await shownElements(file, entry, entry.dtype) });
      }
      return out;
    } finally {
      await file.close();
    }
  }

  it('a matrix of dtypes, shapes, orders, summaries and special values', async () => {
    const path = join(temp.path, 'arrays.npz');
    const expected = JSON.parse(runPython(MAKE_ARRAYS, [path])) as Record<string, string>;
    expect(await ourTexts(path, Object.keys(expected))).toEqual(expected);
  });

  it('every numeric array of the all-dtypes fixture', async () => {
    const path = join(GOOD_DIR, 'all-dtypes.npz');
    const expected = JSON.parse(
      runPython(
        String.raw`
import json, sys, numpy as np, ml_dtypes
z = np.load(sys.argv[1])
out = {}
for name in z.files:
    a = z[name]
    if a.dtype == np.dtype('V2'): a = a.view(ml_dtypes.bfloat16)
    elif a.dtype.kind in 'SUVM': continue
    out[name] = str(a)
print(json.dumps(out))
`,
        [path],
      ),
    ) as Record<string, string>;
    expect(Object.keys(expected).length).toBeGreaterThan(25);
    expect(await ourTexts(path, Object.keys(expected))).toEqual(expected);
  });
});
