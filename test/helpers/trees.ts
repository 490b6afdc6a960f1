import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DType } from '../../src/npy/dtype.js';
import type { Descr } from '../../src/npy/header.js';
import { flattenWithNames } from '../../src/tree/flatten.js';
import type { LazyArray, Leaf } from '../../src/npy/write.js';
import { randomBytes } from './bytes.js';
import { runPython } from './python.js';
import { withTempDir } from './tmp.js';
import { irregularChunks } from './streams.js';

/** What a leaf is, independently of our encoder: numpy builds its own array from this. */
export interface LeafSpec {
  name: string;
  /** A DType name (numpy maps it itself) or 'raw' with an explicit descr. */
  dtype: DType | 'raw';
  descr?: Descr;
  shape: number[];
  fortran: boolean;
  data: Uint8Array;
  /** The descr numpy reports after np.load. */
  loaded: unknown;
}

const ITEMSIZE: Record<DType, number> = {
  bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8,
  float16: 2, bfloat16: 2, float32: 4, float64: 8, complex64: 8, complex128: 16,
};
const LOADED: Record<DType, string> = {
  bool: '|b1', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', int32: '<i4', uint32: '<u4', int64: '<i8',
  uint64: '<u8', float16: '<f2', bfloat16: '|V2', float32: '<f4', float64: '<f8', complex64: '<c8', complex128: '<c16',
};


const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * A checkpoint-shaped tree exercising every dtype, 0-d, empty, Fortran order, bf16, raw descrs, scalars and
 * non-ASCII keys. `lazy` turns every array into a LazyArray yielding irregular chunks (some empty).
 */
export function mixedTree(lazy = false): { tree: Record<string, unknown>; specs: Map<string, LeafSpec> } {
  const specs = new Map<string, LeafSpec>();
  let seed = 1;
  const array = (name: string, dtype: DType, shape: number[], fortran = false): Leaf => {
    const data = randomBytes(count(shape) * ITEMSIZE[dtype], seed++);
    if (dtype === 'bool') data.forEach((v, i) => (data[i] = v & 1));
    specs.set(name, { name, dtype, shape, fortran: fortran && shape.length > 1, data, loaded: LOADED[dtype] });
    return leafOf({ dtype, shape, ...(fortran ? { fortranOrder: true } : {}) }, data, lazy);
  };
  const raw = (name: string, descr: Descr, itemsize: number, loaded: unknown, shape: number[]): Leaf => {
    const data = randomBytes(count(shape) * itemsize, seed++);
    specs.set(name, { name, dtype: 'raw', descr, shape, fortran: false, data, loaded });
    return leafOf({ dtype: 'raw', descr, shape }, data, lazy);
  };
  const dtypes: Record<string, Leaf> = {};
  for (const dtype of Object.keys(ITEMSIZE) as DType[]) dtypes[dtype] = array(`dtypes/${dtype}`, dtype, [3, 5]);
  const scalar = (name: string, value: number | bigint | boolean, dtype: DType, data: Uint8Array): Leaf => {
    specs.set(name, { name, dtype, shape: [], fortran: false, data, loaded: LOADED[dtype] });
    // Lazy trees make scalars lazy too, so that every member of a streamed archive takes the pipe layout.
    return lazy ? leafOf({ dtype, shape: [] }, data, true) : value;
  };
  const tree: Record<string, unknown> = {
    img: {
      embedding: { kernel: array('img/embedding/kernel', 'float32', [4, 4, 3, 8]), bias: array('img/embedding/bias', 'float32', [8]) },
      Transformer: { encoder_norm: { scale: array('img/Transformer/encoder_norm/scale', 'bfloat16', [8]) } },
    },
    layers: [array('layers/0', 'float32', [2, 3]), null, { w: array('layers/2/w', 'float16', [3]) }],
    dtypes,
    zero_d: array('zero_d', 'float64', []),
    empty: array('empty', 'float32', [0, 4]),
    empty_1d: array('empty_1d', 'int64', [0]),
    fortran: array('fortran', 'float64', [3, 4, 2], true),
    fortran_1d: array('fortran_1d', 'int16', [5], true),
    strings: raw('strings', '|S4', 4, '|S4', [2]),
    record: raw('record', [['x', '<f4'], ['y', '<i2']], 6, [['x', '<f4'], ['y', '<i2']], [3]),
    'ünïcödé': { '名前': array('ünïcödé/名前', 'int32', [2]), '😀': array('ünïcödé/😀', 'uint8', [1]) },
    pi: scalar('pi', 3.25, 'float64', new Uint8Array(Float64Array.of(3.25).buffer)),
    steps: scalar('steps', 7n, 'int64', new Uint8Array(BigInt64Array.of(7n).buffer)),
    flag: scalar('flag', true, 'bool', Uint8Array.of(1)),
  };
  return { tree, specs };
}

function leafOf(meta: Omit<LazyArray, 'chunks'>, data: Uint8Array, lazy: boolean): Leaf {
  if (!lazy) return { ...meta, data } as Leaf;
  return { ...meta, chunks: () => irregularChunks(data) };
}

export async function orderedSpecs(tree: unknown, specs: Map<string, LeafSpec>): Promise<LeafSpec[]> {
  const ordered: LeafSpec[] = [];
  for await (const [name] of flattenWithNames(tree as Record<string, never>)) ordered.push(specs.get(name)!);
  return ordered;
}

const SAVEZ = String.raw`
import io, json, sys
import numpy as np, ml_dtypes
spec = json.load(open(sys.argv[1])); blob = open(sys.argv[2], 'rb').read()
def fix(d):
    return d if isinstance(d, str) else [tuple(fix(x) if isinstance(x, list) else x for x in f) for f in d]
def dtype_of(e):
    if e['dtype'] == 'raw': return np.dtype(fix(e['descr']))
    return np.dtype(ml_dtypes.bfloat16) if e['dtype'] == 'bfloat16' else np.dtype(e['dtype'])
arrays = {}
for e in spec['leaves']:
    raw = blob[e['offset']:e['offset'] + e['length']]
    arrays[e['name']] = np.frombuffer(raw, dtype=dtype_of(e)).reshape(e['shape'], order='F' if e['fortran'] else 'C')
class Pipe(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
if spec['mode'] == 'pipe':
    with open(sys.argv[3], 'wb') as f: np.savez(Pipe(f), **arrays)
elif spec['mode'] == 'compressed':
    np.savez_compressed(sys.argv[3], **arrays)
else:
    np.savez(sys.argv[3], **arrays)
`;

/** numpy's own np.savez of the arrays `specs` describe, in that order. */
export function numpySavez(specs: LeafSpec[], mode: 'file' | 'pipe' | 'compressed'): Uint8Array {
  return withTempDir('savez', ({ path: dir }) => {
    let offset = 0;
    const leaves = specs.map((s) => {
      const entry = { name: s.name, dtype: s.dtype, descr: s.descr, shape: s.shape, fortran: s.fortran, offset, length: s.data.byteLength };
      offset += s.data.byteLength;
      return entry;
    });
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({ leaves, mode }));
    writeFileSync(join(dir, 'blob.bin'), Buffer.concat(specs.map((s) => s.data)));
    const out = join(dir, 'out.npz');
    runPython(SAVEZ, [join(dir, 'spec.json'), join(dir, 'blob.bin'), out]);
    return new Uint8Array(readFileSync(out));
  });
}

const LOAD = String.raw`
import hashlib, json, sys, zipfile
import numpy as np
from numpy.lib import format as fmt
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
out = []
with np.load(sys.argv[1]) as z:
    for k in z.files:
        a = z[k]
        fortran = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
        out.append({'name': k, 'descr': fmt.dtype_to_descr(a.dtype), 'shape': list(a.shape), 'fortran': fortran,
                    'sha256': hashlib.sha256(a.tobytes(order='F' if fortran else 'C')).hexdigest()})
print(json.dumps(out))
`;

export interface LoadedLeaf {
  name: string;
  descr: unknown;
  shape: number[];
  fortran: boolean;
  sha256: string;
}

/** What np.load sees in an archive (after zipfile's testzip has checked every CRC). */
export function numpyLoad(path: string): LoadedLeaf[] {
  return JSON.parse(runPython(LOAD, [path])) as LoadedLeaf[];
}

export function expectedLoad(specs: LeafSpec[], prefix = ''): LoadedLeaf[] {
  return specs.map((s) => ({
    name: `${prefix}${s.name}`,
    descr: s.loaded,
    shape: s.shape,
    fortran: s.fortran,
    sha256: createHash('sha256').update(s.data).digest('hex'),
  }));
}
