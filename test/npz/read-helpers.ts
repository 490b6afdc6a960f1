import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { isNpzError, type NpzErrorCode } from '../../src/errors.js';
import { DTYPES, byteSwapInPlace, isDType } from '../../src/npy/dtype.js';
import type { NpyArray } from '../../src/npy/array.js';
import { GOOD_DIR, bytesOf, sha256 } from '../zip/reader-helpers.js';

/** What `test/fixtures/gen/manifest.py` records per member (numpy's view of each fixture). */
export interface ManifestMember {
  key: string;
  member: string;
  zip: { method: number; flags: number; crc32: number; compressed_size: number; uncompressed_size: number };
  npy: boolean;
  version?: number;
  descr?: unknown;
  dtype?: string;
  shape?: number[];
  fortran_order?: boolean;
  byte_length?: number;
  sha256: string;
  values?: Array<number | string>;
}

export interface Manifest {
  file: string;
  members: ManifestMember[];
}

export function manifestOf(npzName: string): Manifest {
  return JSON.parse(readFileSync(join(GOOD_DIR, npzName.replace(/\.npz$/, '.expected.json')), 'utf8')) as Manifest;
}

/** The descr as stored (manifest: JSON lists for structs) in our Descr shape, with big-endian converted to '<'. */
export function expectedDescr(member: ManifestMember): unknown {
  const descr = member.descr;
  if (typeof descr !== 'string') return descr;
  const swapped = descr.startsWith('>') && member.dtype !== undefined && isDType(member.dtype) && DTYPES[member.dtype].swapUnit > 1;
  return swapped ? `<${descr.slice(1)}` : descr;
}

/** sha256 of the data bytes as numpy stored them: big-endian arrays are swapped back before hashing. */
export function storedSha256(member: ManifestMember, array: NpyArray): string {
  const bytes = bytesOf(array.data);
  if (typeof member.descr === 'string' && member.descr.startsWith('>') && isDType(array.dtype)) {
    const copy = bytes.slice();
    byteSwapInPlace(copy, DTYPES[array.dtype].swapUnit);
    return sha256(copy);
  }
  return sha256(bytes);
}

/** The first values in storage order, in the manifest's encoding (64-bit integers as strings). */
export function leadingValues(array: NpyArray, count: number): Array<number | string> {
  return Array.from(array.data.subarray(0, count) as ArrayLike<number | bigint>, (value) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

/** Checks one array against numpy's manifest record. */
export function expectMatchesManifest(member: ManifestMember, array: NpyArray): void {
  expect(array.dtype).toBe(member.dtype);
  expect(array.descr).toEqual(expectedDescr(member));
  expect(array.shape).toEqual(member.shape);
  expect(array.fortranOrder).toBe(member.fortran_order);
  expect(array.data.byteLength).toBe(member.byte_length);
  expect(storedSha256(member, array)).toBe(member.sha256);
  if (member.values !== undefined && member.values.length > 0) {
    expect(leadingValues(array, member.values.length)).toEqual(member.values);
  }
}

export async function expectCode(work: Promise<unknown> | (() => Promise<unknown>), ...codes: NpzErrorCode[]): Promise<unknown> {
  let caught: unknown;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected one of ${codes.join(', ')}`).toBeDefined();
  if (!isNpzError(caught, ...codes)) throw caught;
  return caught;
}
