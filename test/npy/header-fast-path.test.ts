/**
 * decodeNpyHeader matches numpy's canonical header text directly and sends everything else to the Python literal
 * parser. The two paths must agree: every canonical header decodes exactly as the same dictionary written in a
 * form only the full parser accepts, and near-canonical text the fast path must not take is still judged by it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalHeader, decodeNpyHeader, encodeNpyHeader } from '../../src/npy/header.js';

const textOf = (header: Uint8Array): string => Buffer.from(header.subarray(10)).toString('latin1');

/** The same header re-spelled so the canonical pattern cannot match (no trailing comma, double quotes). */
function respelled(header: Uint8Array): Uint8Array {
  const text = Buffer.from(header.subarray(10)).toString('latin1');
  const body = text.replace(", }", "}").replace(/'/g, '"');
  const padded = body.trimEnd().padEnd(text.length - 1, ' ') + '\n';
  const out = new Uint8Array(header.length);
  out.set(header.subarray(0, 10));
  out.set(Buffer.from(padded, 'latin1'), 10);
  return out;
}

describe('canonical npy header fast path', () => {
  it('agrees with the full literal parser on every header np.save writes', () => {
    const descrs = ['<f4', '<f8', '|u1', '|b1', '<i8', '>f4', '<V2', '|V2', '<c16', '<U3', '|S5', '<M8[ns]'];
    fc.assert(
      fc.property(
        fc.constantFrom(...descrs),
        fc.array(fc.integer({ min: 0, max: 4096 }), { maxLength: 4 }),
        fc.boolean(),
        (descr, shape, fortranOrder) => {
          const header = encodeNpyHeader({ descr, shape, fortranOrder });
          expect(header.length).toBe(respelled(header).length);
          // One side really takes the fast path and the other really does not.
          expect(canonicalHeader(textOf(header))).toBeDefined();
          expect(canonicalHeader(textOf(respelled(header)))).toBeUndefined();
          expect(decodeNpyHeader(header)).toEqual(decodeNpyHeader(respelled(header)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('leaves near-canonical headers to the full parser and its errors', () => {
    const make = (dict: string): Uint8Array => {
      const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
      const text = dict.padEnd(total - 10 - 1, ' ') + '\n';
      const out = new Uint8Array(total);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, (total - 10) & 0xff, (total - 10) >> 8]);
      out.set(Buffer.from(text, 'latin1'), 10);
      return out;
    };
    expect(canonicalHeader(textOf(make("{'descr': '<f4', 'fortran_order': False, 'shape': (07,), }")))).toBeUndefined();
    // A leading zero is a Python syntax error; a negative dimension is a shape error; both look almost canonical.
    expect(() => decodeNpyHeader(make("{'descr': '<f4', 'fortran_order': False, 'shape': (07,), }"))).toThrow(
      expect.objectContaining({ code: 'ERR_NPY_HEADER_SYNTAX' }),
    );
    expect(() => decodeNpyHeader(make("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"))).toThrow(
      expect.objectContaining({ code: 'ERR_NPY_SHAPE' }),
    );
    expect(decodeNpyHeader(make("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"))).toMatchObject({
      shape: [2, 3],
      fortranOrder: true,
      dtype: 'float32',
      byteLength: 24,
    });
  });
});
