import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { DTYPES, byteSwapInPlace, isDType } from '../../src/npy/dtype.js';
import type { NpyArray } from '../../src/npy/array.js';
import { bytesOf, sha256 } from './bytes.js';

/**
 * The committed fixtures: test/fixtures/good/ (written by numpy, each with numpy's manifest `<name>.expected.json`)
 * and test/fixtures/bad/ (`<CODE>--<what>.<ext>`: every reader must refuse the file with exactly <CODE>).
 */

export const GOOD_DIR = fileURLToPath(new URL('../fixtures/good/', import.meta.url));
export const BAD_DIR = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));
/** The small PaliGemma-shaped checkpoint most CLI tests read. */
export const PALIGEMMA = join(GOOD_DIR, 'paligemma-tiny.npz');

/** The failure fixtures with this extension (`.npz`, `.safetensors`), sorted. */
export function badFixtures(extension: string): string[] {
  return readdirSync(BAD_DIR)
    .filter((name) => name.endsWith(extension))
    .sort();
}

/** The good .npz fixtures, sorted. */
export function goodFixtures(): string[] {
  return readdirSync(GOOD_DIR)
    .filter((name) => name.endsWith('.npz'))
    .sort();
}

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
