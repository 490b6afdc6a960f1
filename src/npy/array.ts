import type { ArrayDType, NpyTypedArray } from './dtype.js';
import type { Descr } from './header.js';

/**
 * An array in memory, as every reader returns it and as the writers take it: little-endian data in the order
 * the header says (C, or Fortran when `fortranOrder`). Readers report big-endian files as little-endian, since
 * they convert the data; `descr` then says '<'.
 */
export interface NpyArray {
  dtype: ArrayDType;
  /** numpy's dtype string, e.g. '<f4' or '<V2' for bfloat16. */
  descr: Descr;
  shape: number[];
  fortranOrder: boolean;
  data: NpyTypedArray;
}
