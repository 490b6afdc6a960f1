import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

const ALL_DTYPES = join(GOOD_DIR, 'all-dtypes.npz');
const temp = makeTempDir('cli-extract-pack');
beforeAll(() => ensureBuilt());
afterAll(() => temp.remove());

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((dirent) =>
    dirent.isDirectory() ? filesUnder(join(dir, dirent.name), `${prefix}${dirent.name}/`) : [`${prefix}${dirent.name}`],
  );
}

// np.load of each extracted file against np.load of the archive: same shape, order and values (big-endian
// members come out little-endian, which is what the reader hands out).
const COMPARE_EXTRACTED = String.raw`
import json, os, sys
import numpy as np
z = np.load(sys.argv[1])
bad = []
for name in json.loads(sys.argv[3]):
    a = z[name]
    b = np.load(os.path.join(sys.argv[2], name + '.npy'))
    if a.dtype.names is None and a.dtype.kind not in 'SUV':
        a = a.astype(a.dtype.newbyteorder('<'))
    if (a.shape != b.shape or a.dtype != b.dtype or a.flags.f_contiguous != b.flags.f_contiguous
            or a.tobytes(order='A') != b.tobytes(order='A')):
        bad.append(name)
print(json.dumps(bad))
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'extract'), () => {
  it('writes every array as a .npy that np.load reads back equal (all dtypes, orders, 0-d, empty, structs)', () => {
    const dir = join(temp.path, 'all');
    const result = runCli(['extract', ALL_DTYPES, '-o', dir]);
    expect(result.status, result.stderr).toBe(0);
    const names = (JSON.parse(runCli(['ls', '--json', ALL_DTYPES]).stdout) as { entries: { name: string }[] }).entries.map((entry) => entry.name);
    expect(filesUnder(dir).sort()).toEqual(names.map((name) => `${name}.npy`).sort());
    expect(JSON.parse(runPython(COMPARE_EXTRACTED, [ALL_DTYPES, dir, JSON.stringify(names)]))).toEqual([]);
    expect(result.stdout).toMatch(new RegExp(`^extracted ${names.length} arrays \\(.+ of data\\) to `, 'm'));
  });

  it('extracts only the named arrays', () => {
    const dir = join(temp.path, 'some');
    const result = runCli(['extract', PALIGEMMA, 'img/head/bias', 'llm/embedder/input_embedding', '-o', dir]);
    expect(result.status).toBe(0);
    expect(filesUnder(dir).sort()).toEqual(['img/head/bias.npy', 'llm/embedder/input_embedding.npy']);
  });

  it('never writes outside the output directory, whatever the member names say', () => {
    const archive = join(temp.path, 'hostile.npz');
    runPython(
      String.raw`
import io, sys, zipfile
import numpy as np
buf = io.BytesIO(); np.save(buf, np.arange(3, dtype=np.int16)); npy = buf.getvalue()
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    for name in ['../escape.npy', '/tmp/abs-escape.npy', 'a\\b.npy', 'sub/../../escape2.npy', './dot.npy', 'link/through.npy', 'link/newdir/deep.npy', 'ok/fine.npy']:
        z.writestr(zipfile.ZipInfo(name), npy)
`,
      [archive],
    );
    const outside = join(temp.path, 'outside');
    mkdirSync(outside);
    const dir = join(temp.path, 'hostile-out');
    mkdirSync(dir);
    symlinkSync(outside, join(dir, 'link'));
    const result = runCli(['extract', archive, '-o', dir, '--json']);
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout) as { written: { name: string }[]; refused: { name: string; code: string }[] };
    expect(report.written.map((item) => item.name)).toEqual(['ok/fine']);
    expect(report.refused.map((item) => item.name).sort()).toEqual(['../escape', '/tmp/abs-escape', './dot', 'a\\b', 'link/newdir/deep', 'link/through', 'sub/../../escape2'].sort());
    expect(new Set(report.refused.map((item) => item.code))).toEqual(new Set(['ERR_TREE_KEY']));
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(temp.path, 'escape.npy'))).toBe(false);
    expect(existsSync('/tmp/abs-escape.npy')).toBe(false);
    // Only the symlink planted by the test and the one safe file: no directory was created through the link.
    expect(filesUnder(dir).sort()).toEqual(['link', 'ok/fine.npy']);
  });
});

// np.savez of the arrays np.load reads from the tree, in big_vision order (segments sorted by code point, so
// a/b before a.c). bfloat16 files are viewed through ml_dtypes, as they were written.
const SAVEZ_TREE = String.raw`
import os, sys
import numpy as np, ml_dtypes
root, out = sys.argv[1], sys.argv[2]
names = []
for directory, _, files in os.walk(root):
    for f in files:
        if f.endswith('.npy'):
            names.append(os.path.relpath(os.path.join(directory, f), root)[:-4].replace(os.sep, '/'))
arrays = {}
for name in sorted(names, key=lambda n: n.split('/')):
    a = np.load(os.path.join(root, name + '.npy'))
    arrays[name] = a.view(ml_dtypes.bfloat16) if a.dtype == np.dtype('V2') else a
np.savez(out, **arrays)
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'pack'), () => {
  it('is byte-identical to np.savez for numpy-written .npy files of every kind', () => {
    const dir = join(temp.path, 'to-pack');
    runPython(
      String.raw`
import os, sys
import numpy as np, ml_dtypes
root = sys.argv[1]
rng = np.random.default_rng(9)
files = {
    'a/b': rng.standard_normal((3, 4)).astype(np.float32),
    'a/B': np.arange(5, dtype='>i8'),
    'a.c': np.asfortranarray(rng.standard_normal((2, 3, 4))),
    'Z': np.array(2.5, dtype=np.float16),
    'empty': np.zeros((0, 3), dtype=np.int16),
    'text/u5': np.array(['ab', 'cdefg'], dtype='<U5'),
    'text/s3': np.array([b'xy', b'xyz'], dtype='|S3'),
    'nested/deeper/struct': np.zeros(2, dtype=[('x', '<i4'), ('y', '>f8', (2,))]),
    'bf16': np.array(rng.standard_normal((4, 4)), dtype=ml_dtypes.bfloat16),
    'caf\u00e9': np.arange(3, dtype=np.uint8),
}
for name, a in files.items():
    path = os.path.join(root, *name.split('/')) + '.npy'
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, a)
`,
      [dir],
    );
    const ours = join(temp.path, 'packed.npz');
    const theirs = join(temp.path, 'numpy.npz');
    const result = runCli(['pack', dir, '-o', ours]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^packed 10 arrays into /);
    runPython(SAVEZ_TREE, [dir, theirs]);
    expect(readFileSync(ours).equals(readFileSync(theirs))).toBe(true);
  });

  it('extract then pack gives back the np.savez archive (PaliGemma fixture, already in big_vision order)', () => {
    const dir = join(temp.path, 'roundtrip');
    expect(runCli(['extract', PALIGEMMA, '-o', dir]).status).toBe(0);
    const packed = join(temp.path, 'roundtrip.npz');
    expect(runCli(['pack', dir, '-o', packed]).status).toBe(0);
    expect(readFileSync(packed).equals(readFileSync(PALIGEMMA))).toBe(true);
  });

  it('refuses a name that is both a file and a directory, and a truncated .npy, leaving no output', () => {
    const clash = join(temp.path, 'clash');
    mkdirSync(join(clash, 'x'), { recursive: true });
    const npy = readFileSync(join(temp.path, 'roundtrip', 'img', 'head', 'bias.npy'));
    writeFileSync(join(clash, 'x.npy'), npy);
    writeFileSync(join(clash, 'x', 'y.npy'), npy);
    const clashOut = join(temp.path, 'clash.npz');
    const clashResult = runCli(['pack', clash, '-o', clashOut]);
    expect(clashResult.status).toBe(2);
    expect(clashResult.stderr).toMatch(/\[ERR_TREE_DUPLICATE_NAME\]/);
    expect(existsSync(clashOut)).toBe(false);

    const short = join(temp.path, 'short');
    mkdirSync(short);
    writeFileSync(join(short, 'w.npy'), npy.subarray(0, npy.length - 2));
    const shortOut = join(temp.path, 'short.npz');
    const shortResult = runCli(['pack', short, '-o', shortOut]);
    expect(shortResult.status).toBe(1);
    expect(shortResult.stderr).toMatch(/w\.npy: .*\[ERR_NPY_SIZE_MISMATCH\]/);
    expect(existsSync(shortOut)).toBe(false);
  });
});
