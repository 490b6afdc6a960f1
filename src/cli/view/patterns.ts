import { DTYPES, type DType } from '../../index.js';
import { numbersOf } from '../elements.js';

/**
 * Types of one or two bytes have at most 65536 values, so a table from bit pattern to value replaces decoding each
 * chunk into a fresh array: reading a bf16 tensor then allocates nothing per chunk.
 */

export function isSmallType(dtype: DType): boolean {
  return DTYPES[dtype].itemsize <= 2;
}

const tables = new Map<DType, ArrayLike<number>>();

/** The value of every bit pattern of a 1- or 2-byte type, decoded exactly as `numbersOf` decodes it. */
export function patternValues(dtype: DType): ArrayLike<number> {
  let table = tables.get(dtype);
  if (table === undefined) {
    const itemsize = DTYPES[dtype].itemsize;
    const patterns = new Uint8Array(256 ** itemsize * itemsize);
    if (itemsize === 1) patterns.forEach((_, i) => (patterns[i] = i));
    else new Uint16Array(patterns.buffer).forEach((_, i, all) => (all[i] = i));
    table = Float64Array.from(numbersOf(dtype, patterns));
    tables.set(dtype, table);
  }
  return table;
}

/** An aligned chunk of a 1- or 2-byte type as its bit patterns. */
export function patternsOf(chunk: Uint8Array, dtype: DType): Uint8Array | Uint16Array {
  return DTYPES[dtype].itemsize === 1 ? chunk : new Uint16Array(chunk.buffer, chunk.byteOffset, chunk.length / 2);
}
