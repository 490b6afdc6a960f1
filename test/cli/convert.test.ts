import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { saveNpz } from '../../src/index.js';
import { GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { PAUSE_MID_WRITE, ensureBuilt, runCli, startCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

const temp = makeTempDir('cli-convert');
beforeAll(() => ensureBuilt());
afterAll(() => temp.remove());

// Float32 inputs that stress rounding: exact ties (low half 0x8000) with even and odd kept bits, values just
// either side of a tie, subnormals, signed zeros, infinities, NaNs with payloads, the largest finite values (which round up
// to infinity), plus random values.
const MAKE_CAST_INPUT = String.raw`
import sys
import numpy as np, ml_dtypes
rng = np.random.default_rng(5)
hi = rng.integers(0, 2**16, 4000, dtype=np.uint64).astype(np.uint32) << 16
edges = np.concatenate([hi | 0x8000, hi | 0x7fff, hi | 0x8001, rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32),
                        np.array([0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x00000001, 0x007fffff,
                                  0x7f7fffff, 0xff7fffff, 0x477fe000, 0x477ff000, 0x33000000, 0x33000001,
                                  0x3f808000, 0x3f818000, 0xbf808000], dtype=np.uint32),
                        # NaNs with payloads, signalling and quiet: the casts must write numpy's exact NaN bits
                        np.array([0x7f800001, 0xff800001, 0x7fa00000, 0xffa00000, 0x7fc00001, 0x7fffffff, 0xffffffff, 0x7f802000], dtype=np.uint32)])
f32 = edges.view(np.float32).reshape(-1, 8)
np.savez(sys.argv[1], weights=f32, ids=np.arange(10, dtype=np.int32),
         half=np.array(rng.standard_normal(64), dtype=np.float16), brain=np.array(rng.standard_normal(64), dtype=ml_dtypes.bfloat16))
`;

const CHECK_CAST = String.raw`
import json, sys
import numpy as np, ml_dtypes
src, out = np.load(sys.argv[1]), np.load(sys.argv[2])
types = {'bfloat16': ml_dtypes.bfloat16, 'float16': np.float16, 'float32': np.float32}
def bits(a):
    return a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint32)
report = {}
for name in src.files:
    a, b = src[name], out[name]
    if a.dtype == np.dtype('V2'): a = a.view(ml_dtypes.bfloat16)
    if b.dtype == np.dtype('V2'): b = b.view(ml_dtypes.bfloat16)
    if a.dtype.kind == 'i':
        report[name] = {'dtype': str(b.dtype), 'equal': bool(np.array_equal(a, b))}
        continue
    with np.errstate(invalid='ignore'):
        want = a.astype(types[str(b.dtype)]) if str(b.dtype) != str(a.dtype) else a
    same = bool(np.array_equal(bits(want), bits(b)))  # bit for bit, NaN payloads included
    report[name] = {'dtype': str(b.dtype), 'equal': same, 'shape': list(b.shape)}
print(json.dumps(report))
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'convert --cast rounds like numpy and ml_dtypes'), () => {
  const input = join(temp.path, 'cast-input.npz');
  beforeAll(() => {
    runPython(MAKE_CAST_INPUT, [input]);
  });

  // Two runs cover the four casts; each source dtype takes one target per run.
  const cases: [string[], Record<string, string>][] = [
    [['float32:bfloat16', 'float16:float32'], { weights: 'bfloat16', half: 'float32', brain: 'bfloat16', ids: 'int32' }],
    [['float32:float16', 'bfloat16:float32'], { weights: 'float16', half: 'float16', brain: 'float32', ids: 'int32' }],
  ];
  for (const [casts, dtypes] of cases) {
    it(`--cast ${casts.join(' --cast ')}: bit-exact against astype (round to nearest even), other arrays untouched`, () => {
      const output = join(temp.path, `cast-${casts[0]!.replace(':', '-')}.npz`);
      const result = runCli(['convert', input, output, ...casts.flatMap((cast) => ['--cast', cast])]);
      expect(result.status, result.stderr).toBe(0);
      const report = JSON.parse(runPython(CHECK_CAST, [input, output])) as Record<string, { dtype: string; equal: boolean }>;
      for (const [name, dtype] of Object.entries(dtypes)) expect(report[name], name).toMatchObject({ dtype, equal: true });
    });
  }
});

describe('convert', () => {
  it('with no options rewrites an np.savez file byte for byte', () => {
    const output = join(temp.path, 'identity.npz');
    const result = runCli(['convert', PALIGEMMA, output]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^wrote .*identity\.npz: 32 arrays, 14\.4 KiB$/m);
    expect(readFileSync(output).equals(readFileSync(PALIGEMMA))).toBe(true);
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'filters, strips, renames and prefixes names; values follow their arrays'), () => {
    const output = join(temp.path, 'renamed.npz');
    const result = runCli([
      'convert', PALIGEMMA, output,
      '--include', 'llm/**', '--exclude', '**/attn/**', '--exclude', 'llm/final_norm/*',
      '--strip-prefix', 'llm/', '--rename', '^layers/(.*)$=blocks/$1', '--add-prefix', 'params/', '--json',
    ]);
    expect(result.status, result.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(GOOD_DIR, 'paligemma-tiny.expected.json'), 'utf8')) as { members: { key: string }[] };
    const expectedPairs = manifest.members
      .map((member) => member.key)
      .filter((name) => name.startsWith('llm/') && !name.includes('/attn/') && !name.startsWith('llm/final_norm/'))
      .map((name) => [name, `params/${name.slice(4).replace(/^layers\/(.*)$/, 'blocks/$1')}`]);
    expect(expectedPairs.length).toBe(5);
    expect((JSON.parse(result.stdout) as { names: string[] }).names).toEqual(expectedPairs.map(([, renamed]) => renamed));
    const same = runPython(
      String.raw`
import json, sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print(all(np.array_equal(a[x].view(np.uint8), b[y].view(np.uint8)) and a[x].dtype == b[y].dtype for x, y in json.loads(sys.argv[3])))
`,
      [PALIGEMMA, output, JSON.stringify(expectedPairs)],
    );
    expect(same.trim()).toBe('True');
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, '--compress deflates every member and numpy still reads the same arrays'), () => {
    const output = join(temp.path, 'compressed.npz');
    expect(runCli(['convert', PALIGEMMA, output, '--compress']).status).toBe(0);
    const listing = JSON.parse(runCli(['ls', '--json', output]).stdout) as { entries: { compression: string }[] };
    expect(new Set(listing.entries.map((entry) => entry.compression))).toEqual(new Set(['deflate']));
    expect(runCli(['diff', PALIGEMMA, output]).status).toBe(0);
    // And back: --no-compress on a compressed input stores every member again.
    const stored = join(temp.path, 'stored-again.npz');
    expect(runCli(['convert', output, stored, '--no-compress']).status).toBe(0);
    expect(readFileSync(stored).equals(readFileSync(PALIGEMMA))).toBe(true);
  });

  it('--include/--exclude that match nothing exit 2 and leave an existing output as it was (npz and safetensors)', () => {
    const dir = join(temp.path, 'nothing-matched');
    mkdirSync(dir);
    const npz = join(dir, 'out.npz');
    writeFileSync(npz, 'previous');
    const cases: [string, string[]][] = [
      [npz, ['--include', 'no/such/**']],
      [join(dir, 'out.safetensors'), ['--exclude', '**']],
    ];
    for (const [output, filters] of cases) {
      const result = runCli(['convert', PALIGEMMA, output, ...filters]);
      expect(result.status, output).toBe(2);
      expect(result.stderr).toMatch(/--include\/--exclude match no array of .*paligemma-tiny\.npz; nothing was written and .*out\.\w+ was left as it was/);
    }
    expect(readdirSync(dir)).toEqual(['out.npz']);
    expect(readFileSync(npz, 'utf8')).toBe('previous');
  });

  it('refuses renames that collide, and leaves no output', () => {
    const output = join(temp.path, 'collide.npz');
    const result = runCli(['convert', PALIGEMMA, output, '--rename', '^.*$=same']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/\[ERR_TREE_DUPLICATE_NAME\]/);
    expect(existsSync(output)).toBe(false);
    expect(readdirSync(temp.path).filter((name) => name.includes('collide'))).toEqual([]);
  });
});

describe('Ctrl-C during convert', () => {
  it('exits 130 and leaves neither the output nor a temp file', async () => {
    const dir = join(temp.path, 'sigint');
    mkdirSync(dir);
    const input = join(temp.path, 'big.npz');
    // 8 MiB in several arrays: the output takes several write batches, so there is a second write to pause in.
    await saveNpz(input, Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`w${i}`, new Float32Array(1 << 19).fill(i + 0.5)])));
    const output = join(dir, 'out.npz');
    // The child says when it is parked inside a write of its temp file, and stays there until the signal.
    const child = startCli(['convert', input, output], [PAUSE_MID_WRITE]);
    let stderr = '';
    const paused = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('test-hook: paused mid-write\n')) resolve();
      });
      child.on('close', () => reject(new Error(`convert ended before pausing: ${stderr}`)));
    });
    const closed = once(child, 'close');
    await paused;
    const temps = readdirSync(dir);
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatch(/^\.out\.npz\.[0-9a-f]{12}\.tmp$/);
    expect(statSync(join(dir, temps[0]!)).size, 'the first batch is in the temp file').toBeGreaterThan(0);
    child.kill('SIGINT');
    const [code, signal] = (await closed) as [number | null, NodeJS.Signals | null];
    expect({ code, signal }).toEqual({ code: 130, signal: null });
    expect(stderr).toMatch(/^npz-stream: interrupted \[ERR_ABORTED\]$/m);
    expect(readdirSync(dir)).toEqual([]);
  });
});
