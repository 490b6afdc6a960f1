/**
 * byteSwapInPlace: the core swaps with 32-bit word shifts where the view is aligned and byte by byte elsewhere;
 * both must give what reversing every unit gives, at every alignment, length and unit numpy byte-swaps.
 */
import { describe, expect, it } from 'vitest';
import { byteSwapInPlace } from '../../src/npy/dtype.js';
import { expectCodeSync } from '../helpers/errors.js';

function reference(bytes: Uint8Array, unit: number): Uint8Array {
  const out = bytes.slice();
  for (let start = 0; start < out.length; start += unit) out.subarray(start, start + unit).reverse();
  return out;
}

describe('byteSwapInPlace', () => {
  it('equals reversing each unit, for units 2, 4, 8 and 16 at every offset and length', () => {
    const backing = new Uint8Array(200);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 37 + 11) & 0xff;
    for (const unit of [2, 4, 8, 16]) {
      for (let offset = 0; offset < 8; offset++) {
        for (let count = 0; count <= 9; count++) {
          const copy = backing.slice();
          const view = copy.subarray(offset, offset + count * unit);
          const expected = reference(view, unit);
          byteSwapInPlace(view, unit);
          expect([...view], `unit ${unit}, offset ${offset}, ${count} units`).toEqual([...expected]);
          // Bytes outside the view stay as they were.
          expect([...copy.subarray(0, offset)]).toEqual([...backing.subarray(0, offset)]);
          expect([...copy.subarray(offset + count * unit)]).toEqual([...backing.subarray(offset + count * unit)]);
        }
      }
    }
  });

  it('swaps twice back to the input, and leaves single bytes alone', () => {
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => i);
    byteSwapInPlace(bytes, 8);
    expect(bytes[0]).toBe(7);
    byteSwapInPlace(bytes, 8);
    expect([...bytes]).toEqual(Array.from({ length: 64 }, (_, i) => i));
    byteSwapInPlace(bytes, 1);
    expect(bytes[5]).toBe(5);
  });

  it('refuses a length that is not whole units', () => {
    expectCodeSync(() => byteSwapInPlace(new Uint8Array(6), 4), 'ERR_INVALID_ARGUMENT');
  });
});
