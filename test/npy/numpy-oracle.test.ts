import { describe, expect, it } from 'vitest';
import { decodeNpyHeader, encodeNpyHeader, type Descr } from '../../src/npy/header.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';

// numpy writes the headers itself (through its own _write_array_header, so huge shapes need no allocation);
// every case must match our encoder byte for byte and decode back to the same fields.
const ORACLE = String.raw`
import io, json, random, sys, warnings
import numpy as np, ml_dtypes
from numpy.lib import _format_impl as fmt
warnings.simplefilter('ignore')
rng = random.Random(int(sys.argv[1]))
simple = ['|b1','|i1','|u1','<i2','<u2','<i4','<u4','<i8','<u8','<f2','<f4','<f8','<c8','<c16',
          '>f4','>i8','>u2','>c16','|S3','<U5','|V4','<M8[ns]','<m8[s]', np.dtype(ml_dtypes.bfloat16).str]
structs = [np.dtype([('x','<f4'),('y','<i2',(2,))]), np.dtype([(('Title','t'),'<f8'),('nest',[('x','<i4'),('y','>u2',(2,2))]),('s','|S4')]),
           np.dtype({'names':['a','b'],'formats':['u1','<f4'],'offsets':[0,4],'itemsize':12}), np.dtype([('é','<f4')]), np.dtype([('名','<f4')])]
cases = []
for _ in range(int(sys.argv[2])):
    dt = np.dtype(rng.choice(simple)) if rng.random() < 0.8 else rng.choice(structs)
    ndim = rng.randint(0, 8)
    shape = tuple(rng.choice([0, 1, 2, 3, 7, 100, 4608, 36864, 257152, 10**12]) for _ in range(ndim))
    fortran = ndim > 1 and rng.random() < 0.5
    d = {'descr': fmt.dtype_to_descr(dt), 'fortran_order': fortran, 'shape': shape}
    buf = io.BytesIO(); fmt._write_array_header(buf, d, None)
    cases.append({'descr': d['descr'], 'shape': list(shape), 'fortran': fortran, 'hex': buf.getvalue().hex(), 'itemsize': dt.itemsize})
print(json.dumps(cases))
`;

function tuplesToArrays(value: unknown): Descr {
  return JSON.parse(JSON.stringify(value)) as Descr;
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'npy headers against live numpy'), () => {
  for (const seed of [1, 2, 3]) {
    it(`matches numpy byte for byte on 300 random headers (seed ${seed})`, () => {
      const cases = JSON.parse(runPython(ORACLE, [String(seed), '300'])) as { descr: unknown; shape: number[]; fortran: boolean; hex: string; itemsize: number }[];
      expect(cases).toHaveLength(300);
      let tooLarge = 0;
      for (const { descr, shape, fortran, hex, itemsize } of cases) {
        const ours = Buffer.from(encodeNpyHeader({ descr: tuplesToArrays(descr), shape, fortranOrder: fortran })).toString('hex');
        expect(ours, JSON.stringify({ descr, shape, fortran })).toBe(hex);
        const bytes = Buffer.from(hex, 'hex');
        const byteCount = shape.reduce((product, dim) => product * BigInt(dim), BigInt(itemsize));
        if (byteCount > BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(() => decodeNpyHeader(bytes)).toThrow(expect.objectContaining({ code: 'ERR_NPY_TOO_LARGE' }));
          tooLarge++;
          continue;
        }
        const decoded = decodeNpyHeader(bytes, { maxHeaderSize: 1 << 20 });
        expect(decoded.byteLength).toBe(Number(byteCount));
        expect(decoded.shape).toEqual(shape);
        expect(decoded.fortranOrder).toBe(fortran);
        expect(decoded.headerLength).toBe(hex.length / 2);
      }
      expect(tooLarge).toBeLessThan(cases.length); // the grid must exercise both paths
    });
  }

  it('decodes the itemsize numpy reports for each descr', () => {
    const out = runPython(String.raw`
import json, numpy as np
from numpy.lib import format as fmt
dts = ['|b1','<c16','>u2','|S3','<U5','|V4','<M8[ns]', [('x','<f4'),('y','<i2',(2,))], {'names':['a','b'],'formats':['u1','<f4'],'offsets':[0,4],'itemsize':12}]
print(json.dumps([[fmt.dtype_to_descr(np.dtype(d)), np.dtype(d).itemsize] for d in dts]))
`);
    for (const [descr, itemsize] of JSON.parse(out) as [Descr, number][]) {
      const header = decodeNpyHeader(encodeNpyHeader({ descr: tuplesToArrays(descr), shape: [2] }));
      expect(header.itemsize, JSON.stringify(descr)).toBe(itemsize);
      expect(header.byteLength).toBe(2 * itemsize);
    }
  });
});
