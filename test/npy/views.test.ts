/**
 * The 1 GiB view slicing of array reads, without 1 GiB of data: the constant's invariant over every dtype the
 * reader can produce, and the reader itself run through the same code with views of a few bytes, so a view that
 * splits a byte-swapped item shows up in a test that takes milliseconds.
 */
import { describe, expect, it } from 'vitest';
import { DTYPES, parseDescrString } from '../../src/npy/dtype.js';
import { decodeNpyHeader, descrItemsize, encodeNpyHeader, type Descr } from '../../src/npy/header.js';
import { arrayViews, readNpyArray } from '../../src/npy/read.js';
import { MAX_VIEW_BYTES } from '../../src/io/chunks.js';
import { memoryReader, reversedGroups } from '../helpers/npy-reader.js';

/** Every simple descr the reader accepts whose data it byte-swaps, or may: all kinds, sizes 1 to 32, both orders. */
function swappableDescrs(): string[] {
  const out: string[] = [];
  for (const kind of 'biufcV') {
    for (let size = 1; size <= 32; size++) {
      for (const order of '<>') {
        try {
          parseDescrString(`${order}${kind}${size}`);
          out.push(`${order}${kind}${size}`);
        } catch {
          // not a descr numpy has
        }
      }
    }
  }
  return out;
}

describe('MAX_VIEW_BYTES, the 1 GiB slicing unit', () => {
  it('is a multiple of every swap unit and typed-array element size the reader can produce', () => {
    const descrs = swappableDescrs();
    expect(descrs.length).toBeGreaterThan(20);
    for (const descr of descrs) {
      const { swapUnit } = parseDescrString(descr);
      expect(MAX_VIEW_BYTES % swapUnit, descr).toBe(0);
    }
    for (const info of Object.values(DTYPES)) {
      expect(MAX_VIEW_BYTES % info.swapUnit, info.dtype).toBe(0);
      expect(MAX_VIEW_BYTES % info.TypedArray.BYTES_PER_ELEMENT, info.dtype).toBe(0);
      expect(MAX_VIEW_BYTES % info.itemsize, info.dtype).toBe(0);
    }
    // Structured dtypes are never swapped (their bytes are kept as written), whatever their item size.
    const structured: Descr = [['a', '>f4', [2, 3]], ['b', [['c', '>i2', [4]]]], ['', '|V3']];
    expect(descrItemsize(structured, {})).toMatchObject({ itemsize: 35, swapUnit: 1 });
    expect(decodeNpyHeader(encodeNpyHeader({ descr: structured, shape: [5] })).swapUnit).toBe(1);
  });

  it('stays under every native limit it exists for', () => {
    expect(MAX_VIEW_BYTES).toBeLessThanOrEqual(2 ** 31 - 1); // one positional read, Buffer swaps
    expect(MAX_VIEW_BYTES).toBeGreaterThanOrEqual(1 << 20); // and is no small buffer
  });
});

describe('array views (the slicing the reader applies), with views of a few bytes', () => {
  it('cover the data exactly, in whole swap units, none longer than asked', () => {
    const buffer = new ArrayBuffer(1000);
    for (const unit of [1, 2, 4, 8]) {
      for (const viewBytes of [8, 9, 13, 64, 999, 1000, 4096]) {
        const views = arrayViews(buffer, 1000, unit, viewBytes);
        expect(views.reduce((sum, view) => sum + view.length, 0)).toBe(1000);
        let next = 0;
        for (const view of views) {
          expect(view.byteOffset).toBe(next);
          expect(view.length % unit, `unit ${unit}, views of ${viewBytes}`).toBe(0);
          expect(view.length).toBeLessThanOrEqual(viewBytes);
          next += view.length;
        }
      }
    }
    expect(arrayViews(buffer, 0, 8, 8)).toEqual([]);
    expect(() => arrayViews(buffer, 1000, 8, 7)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('a big-endian read through views of 3 to 100 bytes converts every item', async () => {
    const cases: [string, number][] = [
      ['>i2', 2], ['>u2', 2], ['>f2', 2], ['>V2', 2], ['>i4', 4], ['>u4', 4], ['>f4', 4],
      ['>i8', 8], ['>u8', 8], ['>f8', 8], ['>c8', 4], ['>c16', 8],
    ];
    for (const [descr, unit] of cases) {
      const header = decodeNpyHeader(encodeNpyHeader({ descr, shape: [7, 5] }));
      expect(header.swapUnit, descr).toBe(unit);
      const stored = Uint8Array.from({ length: header.byteLength }, (_, i) => (i * 37 + 11) & 0xff);
      const expected = reversedGroups(stored, unit);
      for (const viewBytes of [unit + 1, 2 * unit + 1, 3 * unit - 1, 50, 100]) {
        const reader = memoryReader(stored);
        const array = await readNpyArray(reader, header, {}, undefined, viewBytes);
        const got = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
        expect(Buffer.from(got).equals(Buffer.from(expected)), `${descr} in views of ${viewBytes}`).toBe(true);
        expect(array.descr).toBe(descr.replace('>', '<'));
        expect(reader.filled.length).toBe(Math.ceil(header.byteLength / (viewBytes - (viewBytes % unit))));
        for (const length of reader.filled) expect(length % unit, `${descr} in views of ${viewBytes}`).toBe(0);
      }
    }
  });

  it('little-endian, single-byte and structured data are handed back as stored, in any view size', async () => {
    for (const descr of ['<f4', '|u1', '<c16', '>U3', [['x', '>i4', [3]], ['y', '|u1']]] as Descr[]) {
      const header = decodeNpyHeader(encodeNpyHeader({ descr, shape: [11] }));
      const stored = Uint8Array.from({ length: header.byteLength }, (_, i) => (i * 53 + 7) & 0xff);
      for (const viewBytes of [1, 5, 17]) {
        const array = await readNpyArray(memoryReader(stored), header, {}, undefined, viewBytes);
        const got = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
        expect(Buffer.from(got).equals(Buffer.from(stored)), JSON.stringify(descr)).toBe(true);
      }
    }
  });
});
