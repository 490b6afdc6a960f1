import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { decodeNpyHeader, encodeNpyHeader, isSubarrayDescr, npyHeaderLength, type Descr } from '../../src/npy/header.js';
import { expectCodeSync } from '../helpers/errors.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

/** Builds an npy prefix with arbitrary header text, as a hand-written or hostile file would. */
function rawHeader(body: string, version = 1, encoding: BufferEncoding = 'latin1'): Uint8Array {
  const payload = Buffer.from(body, encoding);
  const prefix = Buffer.alloc(version === 1 ? 10 : 12);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = version;
  if (version === 1) prefix.writeUInt16LE(payload.length, 8);
  else prefix.writeUInt32LE(payload.length, 8);
  return new Uint8Array(Buffer.concat([prefix, payload]));
}

describe('encodeNpyHeader', () => {
  it('writes the documented bytes for arange(3, float32)', () => {
    const header = encodeNpyHeader({ dtype: 'float32', shape: [3] });
    expect(header.length).toBe(128);
    expect(text(header.subarray(0, 10))).toBe('\x93NUMPY\x01\x00\x76\x00');
    expect(text(header.subarray(10))).toBe(`{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }${' '.repeat(60)}\n`);
  });

  it('uses the last axis for growth spaces in Fortran order and none for 0-d', () => {
    const fortran = text(encodeNpyHeader({ dtype: 'int16', shape: [2, 12345], fortranOrder: true }));
    expect(fortran).toContain(`'shape': (2, 12345), }${' '.repeat(16)} `);
    const scalar = text(encodeNpyHeader({ dtype: 'float64', shape: [] }));
    expect(scalar).toContain(`'shape': (), }`);
  });

  it('writes bfloat16 as <V2 and sizes every header to a multiple of 64', () => {
    const header = encodeNpyHeader({ dtype: 'bfloat16', shape: [46, 2, 4608, 36864] });
    expect(text(header)).toContain(`'descr': '<V2'`);
    expect(header.length % 64).toBe(0);
  });

  it('pads with a full 64 spaces when the text is already aligned (numpy quirk)', () => {
    const descr: Descr = [['x'.repeat(32), '<f4']];
    const header = encodeNpyHeader({ descr, shape: [1] });
    expect(header.length).toBe(192);
    expect(new DataView(header.buffer).getUint16(8, true)).toBe(182);
  });

  it('switches to v3.0 for non-latin-1 text and v2.0 for huge headers', () => {
    expect(encodeNpyHeader({ descr: [['é', '<f4']], shape: [1] })[6]).toBe(1);
    expect(encodeNpyHeader({ descr: [['名', '<f4']], shape: [1] })[6]).toBe(3);
    const many: Descr = Array.from({ length: 4000 }, (_, i) => [`f${i}`, '<f4'] as const);
    const big = encodeNpyHeader({ descr: many, shape: [1] });
    expect(big[6]).toBe(2);
    expect(big.length % 64).toBe(0);
  });

  it('refuses bad shapes and dtypes', () => {
    expectCodeSync(() => encodeNpyHeader({ dtype: 'float32', shape: [-1] }), 'ERR_NPY_SHAPE');
    expectCodeSync(() => encodeNpyHeader({ dtype: 'float32', shape: [1.5] }), 'ERR_NPY_SHAPE');
    expectCodeSync(() => encodeNpyHeader({ descr: '<q9', shape: [1] }), 'ERR_NPY_DTYPE');
    expectCodeSync(() => encodeNpyHeader({ descr: '|O', shape: [1] }), 'ERR_NPY_PICKLE');
  });
});

describe('decodeNpyHeader', () => {
  it('accepts what numpy accepts: any key order, no padding, no newline, trailing comma, True/False, L suffix', () => {
    const h = decodeNpyHeader(rawHeader("{'shape':(2,),'fortran_order':False,'descr':'<f4'}"));
    expect(h).toMatchObject({ dtype: 'float32', shape: [2], fortranOrder: false, byteLength: 8, version: 1 });
    const spaced = decodeNpyHeader(rawHeader(" { 'descr' : \"<i8\" ,\n 'fortran_order' : True , 'shape' : ( 2 , 3 , ) , }  \n"));
    expect(spaced).toMatchObject({ dtype: 'int64', shape: [2, 3], fortranOrder: true, itemsize: 8, byteLength: 48 });
    expect(decodeNpyHeader(rawHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }")).shape).toEqual([3]);
  });

  it('parses nested structured descrs with titles and subarray shapes', () => {
    const h = decodeNpyHeader(
      rawHeader("{'descr': [(('Title', 't'), '<f8'), ('nest', [('x', '<i4'), ('y', '>u2', (2, 2))]), ('s', '|S4')], 'fortran_order': False, 'shape': (2,), }"),
    );
    expect(h.dtype).toBe('raw');
    expect(h.itemsize).toBe(8 + 4 + 8 + 4);
    expect(h.descr).toEqual([[['Title', 't'], '<f8'], ['nest', [['x', '<i4'], ['y', '>u2', [2, 2]]]], ['s', '|S4']]);
  });

  it('reads byte orders and bfloat16 void', () => {
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '>f4', shape: [2] }))).toMatchObject({ dtype: 'float32', byteOrder: '>', swapUnit: 4 });
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '>c16', shape: [2] }))).toMatchObject({ dtype: 'complex128', swapUnit: 8 });
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '|V2', shape: [2] })).dtype).toBe('bfloat16');
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '<V2', shape: [2] }), { keepV2Raw: true }).dtype).toBe('raw');
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '=i4', shape: [2] })).byteOrder).toBe('<');
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '<U5', shape: [2] }))).toMatchObject({ dtype: 'raw', itemsize: 20 });
    expect(decodeNpyHeader(encodeNpyHeader({ descr: '<M8[ns]', shape: [2] }))).toMatchObject({ dtype: 'raw', itemsize: 8 });
  });

  it('rejects what numpy rejects, with stable codes', () => {
    const header = (dict: string) => rawHeader(dict);
    expectCodeSync(() => decodeNpyHeader(new Uint8Array(5)), 'ERR_NPY_TRUNCATED');
    expectCodeSync(() => decodeNpyHeader(Buffer.from('GARBAGE!!!!!')), 'ERR_NPY_MAGIC');
    expectCodeSync(() => decodeNpyHeader(rawHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 4)), 'ERR_NPY_VERSION');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<f4', 'shape': (3,), }")), 'ERR_NPY_HEADER_KEYS');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}")), 'ERR_NPY_HEADER_KEYS');
    expectCodeSync(() => decodeNpyHeader(header('[1, 2]')), 'ERR_NPY_HEADER_KEYS');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }")), 'ERR_NPY_HEADER_VALUE');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<f4', 'fortran_order': False, 'shape': [3], }")), 'ERR_NPY_HEADER_VALUE');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")), 'ERR_NPY_SHAPE');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<q9', 'fortran_order': False, 'shape': (3,), }")), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }")), 'ERR_NPY_PICKLE');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ")), 'ERR_NPY_HEADER_SYNTAX');
    expectCodeSync(() => decodeNpyHeader(header("{'descr': __import__('os'), 'fortran_order': False, 'shape': (3,)}")), 'ERR_NPY_HEADER_SYNTAX');
    expectCodeSync(() => decodeNpyHeader(header(`{'descr': ${'['.repeat(500)}`)), 'ERR_NPY_HEADER_SYNTAX');
    expectCodeSync(
      () => decodeNpyHeader(header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }")),
      'ERR_NPY_TOO_LARGE',
    );
  });

  it('enforces the header cap before reading the header body', () => {
    const prefix = rawHeader('', 2).subarray(0, 12);
    new DataView(prefix.buffer, prefix.byteOffset).setUint32(8, 0xffffffff, true);
    expectCodeSync(() => npyHeaderLength(prefix), 'ERR_NPY_HEADER_TOO_LARGE');
    const long = `{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }${' '.repeat(10_000)}\n`;
    expectCodeSync(() => decodeNpyHeader(rawHeader(long, 2)), 'ERR_NPY_HEADER_TOO_LARGE');
    expect(decodeNpyHeader(rawHeader(long, 2), { maxHeaderSize: 20_000 }).shape).toEqual([3]);
  });
});

describe('header round trip (property)', () => {
  const simpleDescrs = ['|b1', '|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '<f2', '<V2', '<f4', '<f8', '<c8', '<c16', '>f4', '>i8', '|S7', '<U3', '|V4'];
  it('decode(encode(x)) gives back x for random shapes, orders and descrs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...simpleDescrs),
        fc.option(fc.integer({ min: 0, max: 1_000_000 })),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 7 }),
        fc.boolean(),
        (descr, first, rest, fortranOrder) => {
          // A wide first axis exercises the growth-space arithmetic; the rest keeps prod(shape) within 2^53.
          const shape = first === null ? rest : [first, ...rest];
          const bytes = encodeNpyHeader({ descr, shape, fortranOrder });
          const header = decodeNpyHeader(bytes);
          expect(bytes.length % 64).toBe(0);
          expect(header.headerLength).toBe(bytes.length);
          expect(header.descr).toBe(descr);
          expect(header.shape).toEqual(shape);
          expect(header.fortranOrder).toBe(fortranOrder);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never throws anything but NpzError on arbitrary bytes after a valid prefix', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(1, 2, 3), (body, version) => {
        const bytes = rawHeader(Buffer.from(body).toString('latin1'), version);
        try {
          decodeNpyHeader(bytes);
        } catch (err) {
          expect(isNpzError(err), String(err)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('structured descrs: sub-arrays, names and titles (offline; test/npy/structured.test.ts asks numpy)', () => {
  const decode = (descr: string) => decodeNpyHeader(rawHeader(`{'descr': ${descr}, 'fortran_order': False, 'shape': (2,), }`));

  it('reads a sub-array of a sub-array, as numpy 2 writes it, and writes it back as written', () => {
    const h = decode("[('a', ('<f4', (2,)), (3,)), ('b', ([('x', '>i2')], (2,)))]");
    expect(h.descr).toEqual([['a', ['<f4', [2]], [3]], ['b', [[['x', '>i2']], [2]]]]);
    expect(h.itemsize).toBe(4 * 2 * 3 + 2 * 2);
    const again = encodeNpyHeader({ descr: h.descr, shape: [2] });
    expect(text(again.subarray(10)).trimEnd()).toBe("{'descr': [('a', ('<f4', (2,)), (3,)), ('b', ([('x', '>i2')], (2,)))], 'fortran_order': False, 'shape': (2,), }");
    expect(isSubarrayDescr(['<f4', [2]])).toBe(true);
    expect(isSubarrayDescr([[['x', '<f4']], []])).toBe(true);
    expect(isSubarrayDescr([['x', '<f4'], ['y', '<f4']])).toBe(false);
    expect(isSubarrayDescr('<f4')).toBe(false);
  });

  it('takes a sub-array shape as a tuple, a list or one integer; refuses negative and non-integer dimensions', () => {
    expect(decode("[('a', '<f4', [2, 3])]").itemsize).toBe(24);
    expect(decode("[('a', '<f4', 3)]").itemsize).toBe(12);
    expect(decode("[('a', '<f4', ())]").itemsize).toBe(4);
    expectCodeSync(() => decode("[('a', '<f4', (-1,))]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('a', '<f4', (True,))]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('a', '<f4', 'x')]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('a', ('<f4',))]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('a', '<f4', (2,), 1)]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('a', '<f4', (9007199254740993,))]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('a', '<f8', (4294967296, 4294967296))]"), 'ERR_NPY_TOO_LARGE');
  });

  it('a sub-array exists only inside a struct, reading and writing', () => {
    expectCodeSync(() => decode("('<f4', (2,))"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => encodeNpyHeader({ descr: ['<f4', [2]], shape: [2] }), 'ERR_NPY_DTYPE');
  });

  it('names and titles share one namespace, as in numpy; padding fields have no name', () => {
    expectCodeSync(() => decode("[('a', '<f4'), ('a', '<i4')]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[(('b', 'a'), '<i4'), ('b', '<i4')]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[(('a', 'a'), '<i4')]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[(('T', 'a'), '<i4'), (('T', 'b'), '<i4')]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[('', '<f4'), ('', '<i4')]"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("[((5, 'a'), '<i4')]"), 'ERR_NPY_DTYPE');
    expect(decode("[('', '|V3'), ('a', '<f4'), ('', '|V2')]").itemsize).toBe(9);
    expect(decode("[('', '<f4', (2,)), ('', ('<f4', (2,))), ('', '|V1')]").itemsize).toBe(17);
    expect(decode("[(('', 'a'), '<f4'), ('', '|V2')]").itemsize).toBe(6);
    expectCodeSync(() => decode("[(('', 'a'), '<f4'), (('b', ''), '<f4')]"), 'ERR_NPY_DTYPE');
    expect(decode("[('', [('x', '<f4')])]").itemsize).toBe(4);
    expectCodeSync(() => decode("[('', [('x', '<f4')]), ('', [('y', '<f4')])]"), 'ERR_NPY_DTYPE');
  });

  it("reads numpy's generic datetimes ('<M8', '<m8') and no unit on other kinds", () => {
    expect(decode("'<M8'")).toMatchObject({ dtype: 'raw', itemsize: 8 });
    expect(decode("'>m8'")).toMatchObject({ dtype: 'raw', itemsize: 8, swapUnit: 1 });
    expect(decode("'<M8[25ns]'").itemsize).toBe(8);
    expectCodeSync(() => decode("'<M8[]'"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("'<M8[7]'"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("'<M4'"), 'ERR_NPY_DTYPE');
    expectCodeSync(() => decode("'<f8[ns]'"), 'ERR_NPY_DTYPE');
  });
});
