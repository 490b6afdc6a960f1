import type { ArrayDType } from '../npy/dtype.js';
import type { Descr, NpyHeader } from '../npy/header.js';
import { reportedDescr } from '../npy/read.js';
import type { Compression } from './keys.js';

/**
 * The fields both npz readers (openNpz over a file, streamNpz over a stream) report for every member, and for
 * array members what their npy header says. One definition, so the two entry types cannot drift apart.
 */

export interface NpzMemberFields {
  /** The key: the member name with one `.npy` removed. */
  name: string;
  /** The member name in the archive. */
  memberName: string;
  compression: Compression;
  /** Offset of the member's local header in the file (or, for a stream, from the stream's start). */
  localHeaderOffset: number;
}

export interface NpyArrayFields {
  dtype: ArrayDType;
  /** The descr of the data as handed out: little-endian (big-endian data is swapped as it is read). */
  descr: Descr;
  /** The descr as the npy header states it: `'>f4'` for a big-endian member whose `descr` is `'<f4'`. */
  storedDescr: Descr;
  shape: number[];
  fortranOrder: boolean;
  /** Data bytes after the npy header: prod(shape) × itemsize. */
  byteLength: number;
  npyVersion: 1 | 2 | 3;
}

/** What an array member's npy header says, as both readers report it. */
export function npyArrayFields(header: NpyHeader): NpyArrayFields {
  return {
    dtype: header.dtype,
    descr: reportedDescr(header),
    storedDescr: header.descr,
    shape: header.shape,
    fortranOrder: header.fortranOrder,
    byteLength: header.byteLength,
    npyVersion: header.version,
  };
}
