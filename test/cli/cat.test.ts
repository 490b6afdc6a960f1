import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCli, runCliBytes } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

// The bin end to end; print.test.ts holds the large numpy matrix for the printing code itself.
const ALL_DTYPES = join(GOOD_DIR, 'all-dtypes.npz');

const MAKE_ARRAYS = String.raw`
import json, sys
import numpy as np
rng = np.random.default_rng(3)
a = {'f32_4d': rng.standard_normal((8, 8, 8, 8)).astype(np.float32),
     'f64_fortran': np.asfortranarray(np.arange(12.0).reshape(3, 4) / 3),
     'big_endian': np.arange(6, dtype='>f4').reshape(2, 3) - 2.5}
np.savez(sys.argv[1], **a)
print(json.dumps({k: str(v) for k, v in a.items()}))
`;

const temp = makeTempDir('cli-cat');
const npz = join(temp.path, 'arrays.npz');
let expected: Record<string, string> = {};

beforeAll(() => {
  ensureBuilt();
  if (hasNumpy()) expected = JSON.parse(runPython(MAKE_ARRAYS, [npz])) as Record<string, string>;
});
afterAll(() => temp.remove());

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'cat'), () => {
  it('prints a bfloat16 PaliGemma array as numpy with ml_dtypes does', () => {
    const name = 'llm/embedder/input_embedding';
    const numpyText = runPython(
      String.raw`
import sys, numpy as np, ml_dtypes
print(np.load(sys.argv[1])[sys.argv[2]].view(ml_dtypes.bfloat16))
`,
      [PALIGEMMA, name],
    );
    const result = runCli(['cat', PALIGEMMA, name]);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(numpyText);
  });

  it('summarises a large array with ... and says so in --json', () => {
    const text = runCli(['cat', npz, 'f32_4d']);
    expect(text.stdout).toBe(`${expected['f32_4d']}\n`);
    const json = JSON.parse(runCli(['cat', '--json', npz, 'f32_4d']).stdout) as { summarised: boolean; text: string; shape: number[]; dtype: string };
    expect(json).toMatchObject({ summarised: true, shape: [8, 8, 8, 8], dtype: 'float32', text: expected['f32_4d'] });
    expect(json.text).toContain('...');
  });

  it('--raw writes the little-endian data bytes in storage order', () => {
    const numpyHex = JSON.parse(
      runPython(
        String.raw`
import json, sys, numpy as np
z = np.load(sys.argv[1])
print(json.dumps({k: z[k].astype(z[k].dtype.newbyteorder('<')).tobytes(order='A').hex() for k in ('f64_fortran', 'big_endian')}))
`,
        [npz],
      ),
    ) as Record<string, string>;
    for (const name of ['f64_fortran', 'big_endian']) {
      const bytes = runCliBytes(['cat', '--raw', npz, name]);
      expect(bytes.status).toBe(0);
      expect(bytes.stdout.toString('hex'), name).toBe(numpyHex[name]);
    }
  });

  it('refuses to print a raw descr as numbers and points to --raw', () => {
    const result = runCli(['cat', ALL_DTYPES, 'raw/V4']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^npz-stream: .*use --raw .*\[ERR_INVALID_ARGUMENT\]$/m);
    const raw = runCliBytes(['cat', '--raw', ALL_DTYPES, 'raw/V4']);
    expect(raw.status).toBe(0);
    expect(raw.stdout.length).toBe(12);
  });

  // Four runs of the CLI (each one is a process): escapes and quotes in a 1-d <U, a 2-d |S with escapes, a
  // summarised and wrapped <U, and a big-endian 0-d >U.
  it('prints string arrays (<U…, >U…, |S…) as numpy prints them', () => {
    const strings = join(temp.path, 'strings.npz');
    const numpyText = JSON.parse(
      runPython(
        String.raw`
import json, sys
import numpy as np
a = {'mixed': np.array(['a', "it's", 'say "hi"', 'both \'"', 'tab\there', 'back\\slash', 'new\nline', 'é😀', '\x07bell', '\u200bzw', '']),
     'bytes': np.array([[b'a', b'\x00b', b"x'y"], [b'\xff\t', b'q"', b'']]),
     'summarised': np.array(['word%d' % i for i in range(2000)]),
     'scalar': np.array('hello', dtype='>U7')}
np.savez(sys.argv[1], **a)
print(json.dumps({k: str(v) for k, v in a.items()}))
`,
        [strings],
      ),
    ) as Record<string, string>;
    for (const [name, text] of Object.entries(numpyText)) {
      const result = runCli(['cat', strings, name]);
      expect(result.status, `${name}: ${result.stderr}`).toBe(0);
      expect(result.stdout, name).toBe(`${text}\n`);
    }
  }, 240_000);
});
