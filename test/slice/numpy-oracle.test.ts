/**
 * Slices against numpy: random arrays (1 to 5 axes, empty axes included; bfloat16, float16/32/64, every integer
 * width, bool, complex, big-endian; C and Fortran order) and random slices (negative and clipped bounds, steps,
 * indices, items past the last axis). numpy writes the arrays (np.savez and np.savez_compressed) and computes
 * `a[slice]`, in one python process for the whole batch; every result read here must be its bytes exactly, in C
 * order and little-endian, or an error exactly where numpy raises one. Each case is read through a file (stored
 * and deflated members), the file's bytes, a URL on a real local server, and a safetensors file of the same
 * arrays, with `get` and with `chunks`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNpzError, openNpz, openSafetensors, saveSafetensors, type ArrayFile, type NpyArray, type Slice, type SliceItem } from '../../src/index.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startSendServer, type RunningServer } from '../helpers/servers.js';

const DTYPES = ['bfloat16', '<f2', '<f4', '<f8', '|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '|b1', '<c8', '<c16', '>f4', '>i2', '>f8', '>c8', '>u8', '>f2'];
/** What safetensors can hold (the rest is read from npz only). */
const SAFETENSORS_DTYPES = new Set(['bfloat16', '<f2', '<f4', '<f8', '|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '|b1', '<c8', '>f4', '>i2', '>f8', '>c8', '>u8', '>f2']);

interface Case {
  shape: number[];
  dtype: string;
  fortran: boolean;
  slice: SliceItem[];
}

interface Expected {
  name: string;
  error: boolean;
  shape: number[];
  offset: number;
  length: number;
}

const itemFor = (size: number): fc.Arbitrary<SliceItem> => {
  const bound = fc.option(fc.integer({ min: -size - 2, max: size + 2 }), { nil: null });
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.tuple(bound, bound) },
    { weight: 3, arbitrary: fc.tuple(bound, bound, fc.option(fc.integer({ min: 1, max: size + 2 }), { nil: null })) },
    // Indices, now and then out of range: numpy raises IndexError there, the reader ERR_INVALID_ARGUMENT.
    { weight: 2, arbitrary: fc.integer({ min: -size - 1, max: size }) },
  );
};

const caseArbitrary: fc.Arbitrary<Case> = fc
  .array(fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 8, arbitrary: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 5 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dtype: fc.constantFrom(...DTYPES),
      fortran: fc.boolean(),
      // Up to one item more than the array has axes: numpy raises IndexError for it.
      slice: fc.integer({ min: 0, max: shape.length + 1 }).chain((count) =>
        fc.tuple(...Array.from({ length: count }, (_, axis) => itemFor(shape[axis] ?? 3))) as fc.Arbitrary<SliceItem[]>,
      ),
    }),
  );

/** Writes the arrays with numpy, computes each `a[slice]`, and reports where its bytes are in expected.bin. */
const ORACLE = String.raw`
import json, sys
import numpy as np
import ml_dtypes

out_dir = sys.argv[1]
cases = json.load(open(out_dir + '/cases.json'))
rng = np.random.default_rng(int(sys.argv[2]))

def make(shape, dtype):
    if dtype == 'bfloat16':
        return rng.standard_normal(shape).astype(np.float32).astype(ml_dtypes.bfloat16)
    dt = np.dtype(dtype)
    if dt.kind == 'b':
        return rng.integers(0, 2, shape).astype(dt)
    if dt.kind in 'iu':
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, shape, dtype=dt.newbyteorder('=')).astype(dt)
    if dt.kind == 'c':
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    values = rng.standard_normal(shape) * 100
    flat = values.reshape(-1)
    if flat.size > 3:
        flat[0], flat[1], flat[2] = np.nan, np.inf, -0.0
    return values.astype(dt)

def index_of(item):
    if item is None:
        return slice(None)
    if isinstance(item, list):
        return slice(*item)
    return item

arrays = {}
manifest = []
blob = bytearray()
for i, case in enumerate(cases):
    a = make(tuple(case['shape']), case['dtype'])
    if case['fortran']:
        a = np.asfortranarray(a)
    name = 'a%d' % i
    arrays[name] = a
    key = tuple(index_of(item) for item in case['slice'])
    try:
        # np.array keeps a 0-d result 0-d (ascontiguousarray would make it 1-d).
        r = np.array(a[key], order='C')
    except IndexError:
        manifest.append({'name': name, 'error': True, 'shape': [], 'offset': 0, 'length': 0})
        continue
    if r.dtype.byteorder == '>':
        r = r.astype(r.dtype.newbyteorder('<'))
    data = r.tobytes()
    manifest.append({'name': name, 'error': False, 'shape': list(r.shape), 'offset': len(blob), 'length': len(data)})
    blob += data
np.savez(out_dir + '/stored.npz', **arrays)
np.savez_compressed(out_dir + '/deflated.npz', **arrays)
open(out_dir + '/expected.bin', 'wb').write(bytes(blob))
print(json.dumps(manifest))
`;

const skipped = !hasNumpy();
const CASES = Number(process.env['NPZ_SLICE_CASES'] ?? 160);
const SEED = Number(process.env['NPZ_SLICE_SEED'] ?? Date.now() % 2 ** 31);

function bytesOf(array: NpyArray): Buffer {
  return Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

async function collect(chunks: AsyncIterable<Uint8Array>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) {
    expect(chunk.length).toBeLessThanOrEqual(limit);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

describe.skipIf(skipped)(withSkipReason(skipped, NO_NUMPY, `slices equal numpy's a[slice], byte for byte (seed ${SEED}, ${CASES} cases)`), () => {
  let dir: TempDir;
  let server: RunningServer;
  let cases: Case[];
  let expected: Expected[];
  let blob: Buffer;

  beforeAll(async () => {
    dir = makeTempDir('slice-oracle');
    cases = fc.sample(caseArbitrary, { seed: SEED, numRuns: CASES });
    writeFileSync(dir.file('cases.json'), JSON.stringify(cases));
    expected = JSON.parse(runPython(ORACLE, [dir.path, String(SEED)])) as Expected[];
    blob = readFileSync(dir.file('expected.bin'));
    // The same arrays as safetensors (C order, little-endian, as `get` with an empty slice gives them).
    const npz = await openNpz(dir.file('stored.npz'));
    try {
      const pairs: Array<[string, NpyArray]> = [];
      for (const [i, item] of cases.entries()) if (SAFETENSORS_DTYPES.has(item.dtype)) pairs.push([`a${i}`, await npz.get(`a${i}`, { slice: [] })]);
      await saveSafetensors(dir.file('arrays.safetensors'), pairs.values());
    } finally {
      await npz.close();
    }
    server = await startSendServer(dir.path);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    dir?.remove();
  });

  /** Reads every case through `file` and compares with numpy; `only` picks the cases this file holds. */
  async function check(label: string, open: () => Promise<ArrayFile>, only: (item: Case) => boolean = () => true): Promise<void> {
    const file = await open();
    let compared = 0;
    try {
      for (const [i, item] of cases.entries()) {
        if (!only(item)) continue;
        const want = expected[i] as Expected;
        const what = `${label} a${i} ${item.dtype}${item.fortran ? ' F' : ''} (${item.shape.join(', ')})[${JSON.stringify(item.slice)}]`;
        const slice = item.slice as Slice;
        if (want.error) {
          const error = await file.get(want.name, { slice }).catch((caught: unknown) => caught);
          expect(isNpzError(error, 'ERR_INVALID_ARGUMENT'), `${what}: numpy raised IndexError`).toBe(true);
          expect((error as Error).message, what).toMatch(/axis \d/);
          continue;
        }
        const bytes = blob.subarray(want.offset, want.offset + want.length);
        const array = await file.get(want.name, { slice });
        expect(array.shape, what).toEqual(want.shape);
        expect(array.fortranOrder, what).toBe(false);
        expect(array.descr === '<V2' || typeof array.descr !== 'string' || !array.descr.startsWith('>'), what).toBe(true);
        expect(bytesOf(array).equals(bytes), `${what}: get`).toBe(true);
        const chunkSize = 64 + ((i * 37) % 200);
        expect((await collect(file.chunks(want.name, { slice, chunkSize }), Math.max(chunkSize, 16))).equals(bytes), `${what}: chunks of ${chunkSize}`).toBe(true);
        compared++;
      }
    } finally {
      await file.close();
    }
    expect(compared).toBeGreaterThan(0);
  }

  it('a file: stored members (byte runs) and deflated ones (read from the member start)', async () => {
    await check('stored', () => openNpz(dir.file('stored.npz')));
    await check('deflated', () => openNpz(dir.file('deflated.npz')));
  });

  it("the file's bytes", async () => {
    await check('bytes', () => openNpz(new Uint8Array(readFileSync(dir.file('stored.npz')))));
  });

  it('a URL on a real server: npz and safetensors', async () => {
    await check('url', () => openNpz(`${server.origin}/stored.npz`));
    await check('url safetensors', () => openSafetensors(`${server.origin}/arrays.safetensors`), (item) => SAFETENSORS_DTYPES.has(item.dtype));
  });

  it('safetensors', async () => {
    await check('safetensors', () => openSafetensors(dir.file('arrays.safetensors')), (item) => SAFETENSORS_DTYPES.has(item.dtype));
  });
});
