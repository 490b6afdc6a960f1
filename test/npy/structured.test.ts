/**
 * Structured dtypes against numpy: sub-array fields (`(name, base, shape)`), nested structs, titles, aligned and
 * explicit-offset layouts (numpy writes their padding as unnamed void fields), numpy's own generic datetimes.
 * numpy writes random ones; every header must decode to numpy's item size and encode back byte for byte, and a
 * whole np.savez archive of such arrays must come back from saveNpz (and from `extract` + `pack`) byte for byte.
 * Then a table of hand-written descrs, judged by numpy's own header reader, with the few deliberate differences.
 * NPY_STRUCT_SEED replays or varies the random part; the seed is printed.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpyHeader, encodeNpyHeader, type Descr } from '../../src/npy/header.js';
import { openNpz, readNpz, saveNpz, streamNpz } from '../../src/index.js';
import type { NpyArray } from '../../src/npy/array.js';
import { BIN, ensureBuilt } from '../helpers/cli.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { differencesButDeflate } from '../helpers/zip-compare.js';

const SEED = Number(process.env['NPY_STRUCT_SEED'] ?? 2121);
const DTYPES = Number(process.env['NPY_STRUCT_CASES'] ?? 400);

// Random structured dtypes, as numpy builds them: list form (aligned or not), dict form with titles, dict form
// with explicit offsets and trailing room, sub-array fields of any of these, nested up to three levels.
const GENERATE = String.raw`
import io, json, random, sys, warnings
import numpy as np
from numpy.lib import _format_impl as fmt
warnings.simplefilter('ignore')
seed, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)
BASES = ['|b1','|i1','|u1','<i2','>u2','<i4','>i4','<u4','>i8','<u8','<f2','<f4','>f8','<c8','>c16','|S3','<U2','>U1',
         '|V5','|V2','<M8[ns]','>m8[s]','<M8','<m8','<M8[2D]','<f16','<c32','|S0','|V0']
NAMES = ['a','b','c','d','xy','é','名',"q'uote",'sp ace','f0','f1']
def names(n): return rng.sample(NAMES, n)
def rdt(depth):
    if depth > 2 or rng.random() < 0.4:
        base = np.dtype(rng.choice(BASES))
    else:
        n = rng.randint(1, 4)
        fields, formats = names(n), [rdt(depth + 1) for _ in range(n)]
        kind = rng.random()
        if kind < 0.35:
            base = np.dtype(list(zip(fields, formats)), align=rng.random() < 0.5)
        elif kind < 0.6:
            titles = [('T' + f if rng.random() < 0.5 else None) for f in fields]
            base = np.dtype({'names': fields, 'formats': formats, 'titles': titles}, align=rng.random() < 0.5)
        else:
            offsets, at = [], 0
            for f in formats:
                at += rng.randint(0, 5); offsets.append(at); at += f.itemsize
            base = np.dtype({'names': fields, 'formats': formats, 'offsets': offsets, 'itemsize': at + rng.randint(0, 6)})
    # A sub-array field, sometimes of a sub-array: numpy 2 keeps the nesting and writes ('f', ('<f4', (2,)), (3,)).
    while depth > 0 and rng.random() < 0.4 and base.itemsize > 0:
        base = np.dtype((base, tuple(rng.randint(1, 3) for _ in range(rng.randint(1, 3)))))
    return base
def jsonable(d):
    return json.loads(json.dumps(d))
headers, arrays = [], {}
while len(headers) < count:
    dt = rdt(0)
    if dt.names is None:
        continue
    shape = tuple(rng.randint(0, 4) for _ in range(rng.randint(0, 3)))
    buf = io.BytesIO(); fmt.write_array(buf, np.zeros(shape, dt))
    raw = buf.getvalue()
    back = np.load(io.BytesIO(raw), allow_pickle=False)
    assert back.dtype.itemsize == dt.itemsize
    end = raw.index(b'\n') + 1
    headers.append({'hex': raw[:end].hex(), 'itemsize': dt.itemsize, 'descr': jsonable(fmt.dtype_to_descr(dt)), 'shape': list(shape)})
    if len(arrays) < 40 and dt.itemsize > 0:
        a = np.frombuffer(bytearray(rng.randbytes(int(np.prod(shape, dtype=np.int64)) * dt.itemsize)), dtype=dt).reshape(shape)
        if a.ndim > 1 and rng.random() < 0.3:
            a = np.asfortranarray(a)
        arrays['s%d' % len(arrays)] = a
example = np.dtype([('a', '<f4', (2, 3)), ('b', [('c', '<i2', (4,))]), ('d', np.dtype(('<u1', (2,))), (3,))])
x = np.zeros(3, example); x['a'] = np.arange(18, dtype=np.float32).reshape(3, 2, 3); x['b']['c'] = np.arange(12).reshape(3, 4)
x['d'] = np.arange(18).reshape(3, 3, 2)
np.savez(out + '/example.npz', example=x)
np.savez(out + '/structured.npz', **arrays)
np.savez_compressed(out + '/structured-compressed.npz', **arrays)
print(json.dumps({'headers': headers, 'keys': list(arrays), 'exampleDescr': jsonable(example.descr)}))
`;

interface Generated {
  headers: { hex: string; itemsize: number; descr: Descr; shape: number[] }[];
  keys: string[];
  exampleDescr: Descr;
}

const bytesOf = (array: NpyArray): Buffer => Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, `structured dtypes written by numpy (seed ${SEED})`), () => {
  let temp: TempDir;
  let generated: Generated;
  beforeAll(() => {
    temp = makeTempDir('structured');
    generated = JSON.parse(runPython(GENERATE, [String(SEED), String(DTYPES), temp.path])) as Generated;
    console.log(`structured dtypes: seed ${SEED}, ${generated.headers.length} dtypes, ${generated.keys.length} arrays`);
  });
  afterAll(() => temp.remove());

  it('every header decodes to numpy\'s item size and descr, and encodes back byte for byte', () => {
    const mismatches: string[] = [];
    for (const { hex, itemsize, descr, shape } of generated.headers) {
      const bytes = Buffer.from(hex, 'hex');
      const label = `${JSON.stringify(descr)} ${JSON.stringify(shape)}`;
      try {
        const header = decodeNpyHeader(bytes, { maxHeaderSize: 1 << 20 });
        if (header.itemsize !== itemsize) mismatches.push(`${label}: item size ${header.itemsize}, numpy ${itemsize}`);
        if (JSON.stringify(header.descr) !== JSON.stringify(descr)) mismatches.push(`${label}: descr ${JSON.stringify(header.descr)}`);
        if (header.byteLength !== itemsize * shape.reduce((a, b) => a * b, 1)) mismatches.push(`${label}: ${header.byteLength} bytes`);
        const again = Buffer.from(encodeNpyHeader({ descr: header.descr, shape: header.shape, fortranOrder: header.fortranOrder }));
        if (!again.equals(bytes)) mismatches.push(`${label}: re-encoded header differs`);
      } catch (error) {
        mismatches.push(`${label}: ${(error as Error).message}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('the sub-array example of issue 21, with a sub-array of a sub-array, reads as written through every reader', async () => {
    const path = join(temp.path, 'example.npz');
    // numpy keeps the nested sub-array: field d is written ('d', ('|u1', (2,)), (3,)).
    expect(generated.exampleDescr as unknown).toEqual([['a', '<f4', [2, 3]], ['b', [['c', '<i2', [4]]]], ['d', ['|u1', [2]], [3]]]);
    const file = await openNpz(path);
    let data: Buffer;
    try {
      expect(file.entries).toEqual([expect.objectContaining({ isArray: true, dtype: 'raw', descr: generated.exampleDescr as unknown, shape: [3], byteLength: 3 * 38 })]);
      data = bytesOf(await file.get('example'));
    } finally {
      await file.close();
    }
    // Item 1: field a is 6..11 as float32; item 2: field b.c is 8..11 as int16, field d is 12..17 as uint8.
    expect(Array.from(new Float32Array(data.buffer.slice(data.byteOffset + 38, data.byteOffset + 62)))).toEqual([6, 7, 8, 9, 10, 11]);
    expect(Array.from(new Int16Array(data.buffer.slice(data.byteOffset + 76 + 24, data.byteOffset + 76 + 32)))).toEqual([8, 9, 10, 11]);
    expect(Array.from(data.subarray(76 + 32, 76 + 38))).toEqual([12, 13, 14, 15, 16, 17]);
    let streamed: NpyArray | undefined;
    for await (const e of streamNpz(createReadStream(path))) if (e.isArray) streamed = await e.read();
    expect(streamed?.descr as unknown).toEqual(generated.exampleDescr);
    expect(bytesOf(streamed!).equals(data)).toBe(true);
    const out = join(temp.path, 'ours-example.npz');
    await saveNpz(out, { example: streamed! });
    expect(readFileSync(out).equals(readFileSync(path))).toBe(true);
  });

  for (const [fixture, compress] of [['structured.npz', false], ['structured-compressed.npz', true]] as const) {
    it(`${fixture}: read back and written by saveNpz, byte for byte what numpy wrote`, async () => {
      const path = join(temp.path, fixture);
      const arrays: [string, NpyArray][] = [];
      for await (const pair of readNpz(path)) arrays.push(pair);
      expect(arrays.map(([key]) => key)).toEqual(generated.keys);
      const out = join(temp.path, `ours-${fixture}`);
      await saveNpz(out, (function* () {
        yield* arrays;
      })(), { compress });
      // zlib streams may differ between zlib builds; everything else is compared byte for byte.
      if (compress) expect(differencesButDeflate(readFileSync(out), readFileSync(path))).toEqual([]);
      else expect(readFileSync(out).equals(readFileSync(path))).toBe(true);
    });
  }

  it('extract then pack gives np.savez\'s bytes', () => {
    ensureBuilt();
    const path = join(temp.path, 'structured.npz');
    const dir = join(temp.path, 'extracted');
    const packed = join(temp.path, 'packed.npz');
    for (const args of [['extract', path, '-o', dir], ['pack', dir, '-o', packed]]) {
      const run = spawnSync(process.execPath, [BIN, '--quiet', ...args], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
    }
    // pack orders members as big_vision flattens (sorted keys), so members are compared one by one. Their raw
    // bytes, not np.load's arrays: np.load does not keep the bytes of padding between fields (a numpy quirk).
    const same = runPython(
      String.raw`
import sys, zipfile
a, b = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2])
assert sorted(a.namelist()) == sorted(b.namelist()), (a.namelist(), b.namelist())
for name in a.namelist():
    assert a.read(name) == b.read(name), name
print(len(a.namelist()))`,
      [path, packed],
    );
    expect(Number(same)).toBe(generated.keys.length);
  });

  it('hand-written descrs get numpy\'s verdict and item size, but for the deliberate differences', () => {
    const judged = JSON.parse(runPython(JUDGE, Object.keys(EDGE_DESCRS))) as ({ itemsize: number } | { error: string })[];
    const table = Object.keys(EDGE_DESCRS).map((descr, i) => {
      const numpy = judged[i]!;
      let ours: string;
      try {
        ours = `loads, item size ${decodeNpyHeader(headerFor(descr)).itemsize}`;
      } catch (error) {
        ours = `refused (${(error as { code?: string }).code})`;
      }
      const deliberate = EDGE_DESCRS[descr];
      if (deliberate !== undefined) {
        // A deliberate difference is one where numpy loads and we refuse.
        expect('itemsize' in numpy, `numpy must load ${descr} for it to be a deliberate difference`).toBe(true);
        return `${descr}: ${ours === 'refused (ERR_NPY_DTYPE)' ? 'agrees' : `ours ${ours}, expected a refusal: ${deliberate}`}`;
      }
      const agrees = 'error' in numpy ? ours.startsWith('refused') : ours === `loads, item size ${numpy.itemsize}`;
      return `${descr}: ${agrees ? 'agrees' : `ours ${ours}, numpy ${JSON.stringify(numpy)}`}`;
    });
    expect(table).toEqual(Object.keys(EDGE_DESCRS).map((descr) => `${descr}: agrees`));
  });
});

/**
 * Descrs numpy's reader takes or refuses, as header text. The value is undefined when we must give numpy's
 * verdict, or why we deliberately refuse what numpy loads (listed in docs/ERRORS.md under ERR_NPY_DTYPE).
 */
const EDGE_DESCRS: Record<string, string | undefined> = {
  "[('a', '<f4', (2, 3)), ('b', [('c', '<i2', (4,))])]": undefined,
  "[('a', ('<f4', (2,)), (3,))]": undefined,
  "[('a', ('<f4', (2,)))]": undefined,
  "[('a', (('<f4', (2,)), (2,)), (3,))]": undefined,
  "[('a', ([('x', '>i2')], (2,)), (3,))]": undefined,
  "[('a', '<f4', 3)]": undefined,
  "[('a', '<f4', [2])]": undefined,
  "[('a', '<f4', ())]": undefined,
  "[('a', '<f4', (0,)), ('b', '|u1')]": undefined,
  "[('a', '<f4', (-1,))]": undefined,
  "[('a', '<f4', (True,))]": undefined,
  "[('a', '<f4', (2,), 5)]": undefined,
  "[('a',)]": undefined,
  "[('a', '<f4'), ('a', '<i4')]": undefined,
  "[(('b', 'a'), '<i4'), ('b', '<i4')]": undefined,
  "[(('a', 'a'), '<i4')]": undefined,
  "[(('T', 'a'), '<i4'), (('T', 'b'), '<i4')]": undefined,
  "[('', '<f4'), ('', '<i4')]": undefined,
  "[('', '<f4')]": undefined,
  "[('', '|V3'), ('', '|V2')]": undefined,
  "[('', '|V2', (2,)), ('', '<f4', (2,))]": undefined,
  "[('', ('<f4', (2,))), ('', ('<f4', (2,)))]": undefined,
  "[('', [('x', '<f4')]), ('', [('y', '<f4')])]": undefined,
  "[(('', 'a'), '<f4'), (('b', ''), '<f4')]": undefined,
  "[(('', 'a'), '<f4'), ('', '|V2')]": undefined,
  '[]': undefined,
  "[('a', [])]": undefined,
  "[('a', '|O')]": undefined,
  "[['a', '<f4']]": undefined,
  "[(('Title', 't'), '<f8'), ('nest', [('x', '<i4'), ('y', '>u2', (2, 2))]), ('s', '|S4')]": undefined,
  "[('a', '|u1'), ('', '|V3'), ('b', '<f4'), ('', '|V4')]": undefined,
  "('<f4', (2,))": undefined,
  "'<M8'": undefined,
  "'>m8'": undefined,
  "'<M8[]'": undefined,
  "'<M8[7]'": undefined,
  "'<M8[0s]'": undefined,
  "'<M8[25ns]'": undefined,
  "'=f4'": undefined,
  "'f4'": undefined,
  "'<i0'": undefined,
  "'<c4'": undefined,
  "'<V0'": undefined,
  "'|S0'": undefined,
  "'<U0'": undefined,
  "'<a3'": undefined,
  "'<b1'": undefined,
  "'<f'": 'a type code without a size: numpy never writes one (np.save writes dtype.str, always sized)',
  "'|?'": 'a one-character type code: numpy never writes one',
  "[((5, 'a'), '<i4')]": 'a title that is not a string: numpy writes it only for such a dtype, which no JSON descr can carry',
  "[((None, 'a'), '<i4')]": 'a title of None: numpy writes a plain name instead',
};

/** Loads each descr's header, followed by exactly the data its numpy dtype needs, with np.load. */
const JUDGE = String.raw`
import io, json, sys, warnings
import numpy as np
warnings.simplefilter('ignore')
out = []
for descr in sys.argv[1:]:
    text = "{'descr': %s, 'fortran_order': False, 'shape': (2,), }" % descr
    body = text.encode('latin1'); length = len(body) + 1; pad = 64 - ((10 + length) % 64)
    header = b'\x93NUMPY\x01\x00' + (length + pad).to_bytes(2, 'little') + body + b' ' * pad + b'\n'
    try:
        from numpy.lib import _format_impl as fmt
        f = io.BytesIO(header); fmt.read_magic(f); _, _, dtype = fmt.read_array_header_1_0(f)
        a = np.load(io.BytesIO(header + bytes(2 * dtype.itemsize)), allow_pickle=False)
        out.append({'itemsize': a.dtype.itemsize})
    except Exception as e:
        out.append({'error': type(e).__name__ + ': ' + str(e)[:100]})
print(json.dumps(out))
`;

function headerFor(descr: string): Uint8Array {
  const text = `{'descr': ${descr}, 'fortran_order': False, 'shape': (2,), }`;
  const length = text.length + 1;
  const pad = 64 - ((10 + length) % 64);
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, (length + pad) & 0xff, (length + pad) >> 8]), Buffer.from(text, 'latin1'), Buffer.alloc(pad, 0x20), Buffer.from('\n')]);
}

