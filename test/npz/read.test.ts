import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NpyArray } from '../../src/npy/array.js';
import { type NpzTree } from '../../src/npz/read.js';
import { loadNpz, openNpz, readNpz } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { GOOD_DIR, goodFixtures, expectMatchesManifest, manifestOf } from '../helpers/fixtures.js';
import { bytesOf, sha256 } from '../helpers/bytes.js';
import { countingSource } from '../helpers/sources.js';
import { localDataStart, record, zipLayout } from '../helpers/zip-layout.js';
import { expectCode } from '../helpers/errors.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { openFdCount } from '../helpers/fds.js';
import { collect } from '../helpers/streams.js';

const fixtureOptions = (name: string) => ({
  ...(name === 'dup-names.npz' ? { duplicates: 'last' as const } : {}),
  ...(name === 'npy-v2.npz' ? { maxHeaderSize: 200_000 } : {}),
});

describe('readNpz on the committed numpy fixtures', () => {
  it.each(goodFixtures())('%s: every array matches what numpy recorded', async (name) => {
    const manifest = manifestOf(name);
    const arrays = await collect(readNpz(join(GOOD_DIR, name), fixtureOptions(name)));
    let expected = manifest.members.filter((member) => member.npy);
    if (name === 'dup-names.npz') expected = expected.filter((member, i) => !(member.key === 'x' && i === 0));
    expect(arrays.map(([key]) => key)).toEqual(expected.map((member) => member.key));
    for (const [i, [, array]] of arrays.entries()) expectMatchesManifest(expected[i]!, array);
  });

  it('reads the same arrays from a Buffer as from a path', async () => {
    const path = join(GOOD_DIR, 'compressed.npz');
    const fromPath = await collect(readNpz(path));
    const fromBuffer = await collect(readNpz(readFileSync(path)));
    expect(fromBuffer.map(([k, a]) => [k, sha256(bytesOf(a.data))])).toEqual(fromPath.map(([k, a]) => [k, sha256(bytesOf(a.data))]));
  });

  it('gives every array its own aligned buffer', async () => {
    for (const [, array] of await collect(readNpz(join(GOOD_DIR, 'all-dtypes.npz')))) {
      expect(array.data.byteOffset).toBe(0);
      expect(array.data.buffer.byteLength).toBe(array.data.byteLength);
    }
  });

  it('refuses duplicate keys by default; last wins on request', async () => {
    await expectCode(collect(readNpz(join(GOOD_DIR, 'dup-names.npz'))), 'ERR_NPZ_DUPLICATE_NAME');
    const arrays = new Map(await collect(readNpz(join(GOOD_DIR, 'dup-names.npz'), { duplicates: 'last' })));
    expect([...(arrays.get('x')!.data as Int32Array)]).toEqual([4, 5, 6, 7]);
  });

  it('applies the npy header cap: the v2.0 header needs a larger maxHeaderSize', async () => {
    await expectCode(collect(readNpz(join(GOOD_DIR, 'npy-v2.npz'))), 'ERR_NPY_HEADER_TOO_LARGE');
  });

  it('skips members that are not .npy', async () => {
    const keys = (await collect(readNpz(join(GOOD_DIR, 'with-notes.npz')))).map(([key]) => key);
    expect(keys).not.toContain('notes.txt');
    expect(keys.length).toBe(manifestOf('with-notes.npz').members.length - 1);
  });

  it('keeps <V2 as raw bytes with keepV2Raw', async () => {
    const arrays = new Map(await collect(readNpz(join(GOOD_DIR, 'all-dtypes.npz'), { keepV2Raw: true })));
    const bf16 = arrays.get('dtypes/bfloat16')!;
    expect(bf16.dtype).toBe('raw');
    expect(bf16.data).toBeInstanceOf(Uint8Array);
    expect(bf16.data.byteLength).toBe(16);
  });

  it('refuses arrays over maxArrayBytes before allocating them; chunks() stays unlimited', async () => {
    const path = join(GOOD_DIR, 'paligemma-tiny.npz');
    const sizes = (await collect(readNpz(path))).map(([, array]) => array.data.byteLength);
    const limit = Math.max(...sizes) - 1;
    await expectCode(collect(readNpz(path, { maxArrayBytes: limit })), 'ERR_NPY_TOO_LARGE');
    expect(await collect(readNpz(path, { maxArrayBytes: limit + 1 }))).toHaveLength(sizes.length);
    const file = await openNpz(path, { maxArrayBytes: 1 });
    try {
      const biggest = file.entries.find((entry) => entry.isArray && entry.byteLength === limit + 1)!;
      await expect(file.get(biggest.name)).rejects.toMatchObject({ code: 'ERR_NPY_TOO_LARGE', actual: limit + 1 });
      let streamed = 0;
      for await (const chunk of file.chunks(biggest.name)) streamed += chunk.byteLength;
      expect(streamed).toBe(limit + 1);
    } finally {
      await file.close();
    }
  });

  it('yields nothing for an empty archive', async () => {
    expect(await collect(readNpz(join(GOOD_DIR, 'empty.npz')))).toEqual([]);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'readNpz against numpy, archives written at test time'), () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = makeTempDir('read');
  });
  afterAll(() => dir.remove());

  // Every numeric dtype in both byte orders, several layouts, through savez, savez_compressed and a pipe. numpy
  // reports each array's little-endian bytes in storage order; ours must be identical.
  const WRITE_AND_DESCRIBE = String.raw`
import hashlib, json, sys, io
import numpy as np, ml_dtypes
out, mode = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(11)
arrays = {}
for code in ['b1', 'i1', 'u1', 'i2', 'u2', 'i4', 'u4', 'i8', 'u8', 'f2', 'f4', 'f8', 'c8', 'c16']:
    for order in '<>':
        dt = np.dtype(order + code)
        base = rng.standard_normal((3, 4, 5)) * 100
        a = (base > 0) if code == 'b1' else (base + 1j * base if code[0] == 'c' else base).astype(dt)
        arrays[f'{code}/{"le" if order == "<" else "be"}/c'] = a
        arrays[f'{code}/{"le" if order == "<" else "be"}/f'] = np.asfortranarray(a)
        arrays[f'{code}/{"le" if order == "<" else "be"}/0d'] = a[0, 0, 0].reshape(())
        arrays[f'{code}/{"le" if order == "<" else "be"}/empty'] = a[:, :0]
arrays['bf16/vector'] = rng.standard_normal(33).astype(ml_dtypes.bfloat16)
arrays['bf16/void'] = np.arange(6, dtype='<u2').view('|V2')
arrays['uni/κλειδί/名前'] = np.arange(5, dtype=np.int16)
if mode == 'compressed':
    np.savez_compressed(out, **arrays)
elif mode == 'pipe':
    class Pipe(io.RawIOBase):
        def __init__(self, f): self.f = f
        def writable(self): return True
        def write(self, b): return self.f.write(b)
    with open(out, 'wb') as f:
        np.savez(Pipe(f), **arrays)
else:
    np.savez(out, **arrays)
report = []
with np.load(out) as z:
    for key in z.files:
        a = z[key]
        if a.dtype.kind == 'V':
            data = a.tobytes(order='A')
        else:
            data = a.astype(a.dtype.newbyteorder('<'), order='K').tobytes(order='A')
        report.append({'key': key, 'shape': list(a.shape), 'fortran': bool(a.flags.f_contiguous and not a.flags.c_contiguous),
                       'sha': hashlib.sha256(data).hexdigest(), 'str': a.dtype.str})
print(json.dumps(report))
`;

  const DTYPE_OF: Record<string, string> = {
    b1: 'bool', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16', i4: 'int32', u4: 'uint32', i8: 'int64',
    u8: 'uint64', f2: 'float16', f4: 'float32', f8: 'float64', c8: 'complex64', c16: 'complex128',
  };

  it.each(['stored', 'compressed', 'pipe'])('%s: dtypes, byte orders, Fortran, 0-d, empty, bf16', async (mode) => {
    const path = dir.file(`${mode}.npz`);
    const report = JSON.parse(runPython(WRITE_AND_DESCRIBE, [path, mode])) as Array<{
      key: string;
      shape: number[];
      fortran: boolean;
      sha: string;
      str: string;
    }>;
    const arrays = await collect(readNpz(path));
    expect(arrays.map(([key]) => key)).toEqual(report.map((r) => r.key));
    for (const [i, [key, array]] of arrays.entries()) {
      const want = report[i]!;
      expect(array.shape, key).toEqual(want.shape);
      expect(sha256(bytesOf(array.data)), key).toBe(want.sha);
      const code = key.split('/')[0]!;
      if (code in DTYPE_OF) {
        expect(array.dtype, key).toBe(DTYPE_OF[code]);
        expect(array.descr, key).toBe(want.str.replace(/^>/, '<'));
        // numpy reports 1-element and empty arrays as both C and F contiguous; compare only real layouts.
        if (want.shape.filter((d) => d > 1).length > 1) expect(array.fortranOrder, key).toBe(want.fortran);
      }
    }
    const bf16 = new Map(arrays);
    expect(bf16.get('bf16/vector')!.dtype).toBe('bfloat16');
    expect(bf16.get('bf16/void')!.dtype).toBe('bfloat16');
    expect(bf16.get('bf16/void')!.descr).toBe('|V2');
    expect([...(bf16.get('bf16/void')!.data as Uint16Array)]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses pickled object arrays: ERR_NPY_PICKLE', async () => {
    const path = dir.file('pickle.npz');
    pythonArchive(path, "np.savez(out, ok=np.arange(3), obj=np.array([{'a': 1}, None], dtype=object))");
    await expectCode(collect(readNpz(path)), 'ERR_NPY_PICKLE');
  });

  it('a member whose size is not header + prod(shape)·itemsize: ERR_NPY_SIZE_MISMATCH', async () => {
    for (const [label, edit] of [['trailing', 'data + b"xx"'], ['short', 'data[:-4]']]) {
      const path = dir.file(`size-${label}.npz`);
      pythonArchive(
        path,
        `buf = io.BytesIO(); np.save(buf, np.arange(6, dtype=np.int32)); data = buf.getvalue()\nwith zipfile.ZipFile(out, 'w') as zf:\n    zf.writestr('a.npy', ${edit})`,
      );
      await expectCode(collect(readNpz(path)), 'ERR_NPY_SIZE_MISMATCH');
    }
  });

  it('a .npy member that is not npy: ERR_NPY_MAGIC', async () => {
    const path = dir.file('not-npy.npz');
    pythonArchive(path, "with zipfile.ZipFile(out, 'w') as zf:\n    zf.writestr('a.npy', b'definitely not an npy stream')");
    await expectCode(collect(readNpz(path)), 'ERR_NPY_MAGIC');
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'readNpz on damaged files'), () => {
  let dir: TempDir;
  let base: Uint8Array;
  beforeAll(() => {
    dir = makeTempDir('read');
    base = pythonArchive(dir.file('base.npz'), 'np.savez(out, a=np.arange(50_000, dtype=np.float64), b=np.arange(7, dtype=np.uint8))');
  });
  afterAll(() => dir.remove());

  it('a flipped data byte: ERR_ZIP_CRC_MISMATCH, and the array is never handed out', async () => {
    const bytes = base.slice();
    const a = record(zipLayout(bytes), 'a.npy');
    bytes[localDataStart(bytes, a) + 1000]! ^= 0x10;
    const keys: string[] = [];
    await expectCode(async () => {
      for await (const [key] of readNpz(bytes)) keys.push(key);
    }, 'ERR_ZIP_CRC_MISMATCH');
    expect(keys).toEqual([]);
    expect((await collect(readNpz(bytes, { verifyCrc: false }))).map(([key]) => key)).toEqual(['a', 'b']);
  });

  it('a flipped byte inside the npy header is caught too', async () => {
    const bytes = base.slice();
    const b = record(zipLayout(bytes), 'b.npy');
    // The first padding space of the header: still a valid header, so only the CRC can tell.
    const header = Buffer.from(bytes.subarray(localDataStart(bytes, b), localDataStart(bytes, b) + 128)).toString('latin1');
    bytes[localDataStart(bytes, b) + header.indexOf('}') + 1] = 0x09;
    await expectCode(collect(readNpz(bytes)), 'ERR_ZIP_CRC_MISMATCH');
  });

  it('a truncated file: ERR_ZIP_TRUNCATED', async () => {
    for (const keep of [10, 200_000, base.length - 30]) {
      await expectCode(collect(readNpz(base.slice(0, keep))), 'ERR_ZIP_TRUNCATED');
    }
  });

  it('a local header name that differs from the central directory: ERR_ZIP_NAME_MISMATCH', async () => {
    const bytes = base.slice();
    const b = record(zipLayout(bytes), 'b.npy');
    bytes[b.localHeaderOffset + 30] = 'c'.charCodeAt(0);
    await expectCode(collect(readNpz(bytes)), 'ERR_ZIP_NAME_MISMATCH');
  });

  it('closes the file when the consumer breaks early or reading fails', async () => {
    const path = dir.file('close.npz');
    writeFileSync(path, base);
    const before = openFdCount();
    for await (const [key] of readNpz(path)) {
      expect(key).toBe('a');
      expect(openFdCount()).toBe(before + 1);
      break;
    }
    expect(openFdCount()).toBe(before);

    const damaged = base.slice();
    damaged[localDataStart(damaged, record(zipLayout(damaged), 'b.npy')) + 130]! ^= 1;
    writeFileSync(path, damaged);
    await expectCode(collect(readNpz(path)), 'ERR_ZIP_CRC_MISMATCH');
    expect(openFdCount()).toBe(before);
    await expectCode(collect(readNpz(dir.file('missing.npz'))), 'ERR_IO');
    expect(openFdCount()).toBe(before);
  });

  it('never closes a source the caller passed in', async () => {
    const { source, stats } = countingSource(base);
    expect((await collect(readNpz(source))).length).toBe(2);
    for await (const _ of readNpz(source)) break;
    expect(stats.closed).toBe(0);
  });

  it('stops with ERR_ABORTED when the signal fires', async () => {
    const controller = new AbortController();
    await expectCode(async () => {
      for await (const _ of readNpz(base, { signal: controller.signal })) controller.abort();
    }, 'ERR_ABORTED');
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'loadNpz'), () => {
  const keysOf = (tree: NpzTree): string[] => Object.keys(tree).sort();

  it('rebuilds the nested tree and unwraps params like load_params', async () => {
    const bare = await loadNpz(join(GOOD_DIR, 'paligemma-tiny.npz'));
    const prefixed = await loadNpz(join(GOOD_DIR, 'paligemma-tiny.params-prefix.npz'));
    expect(keysOf(bare)).toEqual(['img', 'llm']);
    expect(keysOf(prefixed)).toEqual(['params']);
    const unwrapped = await loadNpz(join(GOOD_DIR, 'paligemma-tiny.params-prefix.npz'), { unwrapParams: true });
    expect(keysOf(unwrapped)).toEqual(['img', 'llm']);
    const kernel = (t: NpzTree) => ((t['img'] as NpzTree)['embedding'] as NpzTree)['kernel'] as NpyArray;
    expect(sha256(bytesOf(kernel(unwrapped).data))).toBe(sha256(bytesOf(kernel(bare).data)));
    // Without a params or opt wrapper, unwrapping leaves the tree alone.
    expect(keysOf(await loadNpz(join(GOOD_DIR, 'paligemma-tiny.npz'), { unwrapParams: true }))).toEqual(['img', 'llm']);
  });

  it('unwraps opt/target for flax optimizer checkpoints, and refuses an opt without target', async () => {
    const dir = makeTempDir('read');
    try {
      const path = dir.file('opt.npz');
      pythonArchive(path, "np.savez(out, **{'opt/target/w': np.ones(2), 'opt/state/step': np.int64(3)})");
      const tree = await loadNpz(path, { unwrapParams: true });
      expect(keysOf(tree)).toEqual(['w']);
      pythonArchive(path, "np.savez(out, **{'opt/state/step': np.int64(3)})");
      await expectCode(loadNpz(path, { unwrapParams: true }), 'ERR_NPZ_NOT_FOUND');
    } finally {
      dir.remove();
    }
  });
});
