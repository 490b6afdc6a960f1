/**
 * The npy write side on its own (src/npy/write.ts): what normalizeLeaf accepts, what it refuses and with which
 * code, and the header it computes, before a byte is written.
 */
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { decodeNpyHeader } from '../../src/npy/header.js';
import { isLeaf, normalizeLeaf, type Leaf } from '../../src/npy/write.js';

function codeOf(work: () => unknown): string {
  try {
    work();
    return 'resolved';
  } catch (error) {
    return isNpzError(error) ? error.code : `non-NpzError: ${String(error)}`;
  }
}

const leaf = (value: unknown) => normalizeLeaf('x', value as Leaf);

describe('normalizeLeaf', () => {
  it('refuses an unknown dtype, a raw leaf without a descr, and a dtype that contradicts its descr', () => {
    expect(codeOf(() => leaf({ dtype: 'float128', shape: [1], data: new Uint8Array(16) }))).toBe('ERR_NPY_DTYPE');
    expect(codeOf(() => leaf({ dtype: 'raw', shape: [1], data: new Uint8Array(4) }))).toBe('ERR_NPY_DTYPE');
    expect(codeOf(() => leaf({ dtype: 'float32', descr: '<i4', shape: [1], data: new Float32Array(1) }))).toBe('ERR_NPY_DTYPE');
    expect(codeOf(() => leaf({ dtype: 'raw', descr: '<f4', shape: [1], data: new Uint8Array(4) }))).toBe('ERR_NPY_DTYPE');
  });

  it('writes a 2-byte void as bfloat16 or, when the leaf says raw (keepV2Raw), as raw bytes', () => {
    for (const descr of ['<V2', '|V2']) {
      expect(leaf({ dtype: 'raw', descr, shape: [2], data: new Uint8Array(4) })).toMatchObject({ dtype: 'raw', descr });
      expect(leaf({ dtype: 'bfloat16', descr, shape: [2], data: new Uint16Array(2) })).toMatchObject({ dtype: 'bfloat16', descr });
      expect(leaf({ descr, shape: [2], data: new Uint16Array(2) })).toMatchObject({ dtype: 'bfloat16' });
    }
  });

  it('refuses a shape past 2^53 bytes and data of another length than the shape needs', () => {
    expect(codeOf(() => leaf({ dtype: 'float64', shape: [2 ** 50, 16], chunks: () => [] }))).toBe('ERR_NPY_TOO_LARGE');
    expect(codeOf(() => leaf({ dtype: 'float32', shape: [3], data: new Float32Array(4) }))).toBe('ERR_NPY_SIZE_MISMATCH');
    expect(codeOf(() => leaf({ dtype: 'float32', shape: [-1], data: new Float32Array(0) }))).toBe('ERR_NPY_SHAPE');
  });

  it('writes 1-D arrays in C order, whatever the leaf says', () => {
    const oneD = leaf({ dtype: 'int16', shape: [3], fortranOrder: true, data: new Int16Array(3) });
    expect(oneD.fortranOrder).toBe(false);
    expect(decodeNpyHeader(oneD.header).fortranOrder).toBe(false);
    expect(leaf({ dtype: 'int16', shape: [3, 1], fortranOrder: true, data: new Int16Array(3) }).fortranOrder).toBe(true);
  });

  it('takes JS scalars as 0-d arrays, a bigint only within int64', () => {
    expect(leaf(-(2n ** 63n))).toMatchObject({ dtype: 'int64', shape: [] });
    expect(codeOf(() => leaf(2n ** 63n))).toBe('ERR_TREE_LEAF');
    expect(leaf(true)).toMatchObject({ dtype: 'bool', byteLength: 1 });
    expect(leaf(1.5)).toMatchObject({ dtype: 'float64', byteLength: 8 });
  });

  it('refuses what is not an array: a DataView, undefined, a string, a plain object', () => {
    for (const value of [new DataView(new ArrayBuffer(4)), undefined, 'abc', { shape: [1] }]) {
      expect(codeOf(() => leaf(value)), String(value)).toBe('ERR_TREE_LEAF');
    }
  });
});

describe('isLeaf', () => {
  it('tells leaves from containers', () => {
    expect(isLeaf(new Float32Array(2))).toBe(true);
    expect(isLeaf(new DataView(new ArrayBuffer(2)))).toBe(false);
    expect(isLeaf({ dtype: 'float32', shape: [1], data: new Float32Array(1) })).toBe(true);
    expect(isLeaf({ dtype: 'float32', shape: [1], chunks: () => [] })).toBe(true);
    expect(isLeaf([new Float32Array(1)])).toBe(false);
    expect(isLeaf(new Map())).toBe(false);
    expect(isLeaf(null)).toBe(false);
    expect(isLeaf(3n)).toBe(true);
  });
});
