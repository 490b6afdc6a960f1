/**
 * Slices of npz members: a stored member's data is one run of the file, read by byte runs through the read
 * planner; a deflated member has no random access, so it is inflated from its start and only what the slice needs
 * is kept. Neither checks the member's CRC-32 (it covers the whole member); a slice that is the whole array of a
 * C-order member is read as `get` reads it, CRC included.
 */
import { NpzError } from '../errors.js';
import { throwIfAborted } from '../io/abort.js';
import { readStoredSlice, readStreamedSlice, storedSliceChunks, streamedSliceChunks, type SlicedArray } from '../io/slice-read.js';
import type { NpyArray } from '../npy/array.js';
import type { NpyHeader } from '../npy/header.js';
import { reportedDescr, readNpyHeader } from '../npy/read.js';
import { fortranToC, normalizeSlice, type Slice, type SliceBox } from '../npy/slice.js';
import type { ZipArchive, ZipEntry } from '../zip/random/archive.js';
import { MemberReader } from '../zip/random/member-reader.js';
import { arrayChunks, inMember, readArray, type NpzReadOptions } from './arrays.js';

/** What a slice of one member needs: the member, its npy header, and where its data starts when it is stored. */
export interface MemberArray {
  entry: ZipEntry;
  header: NpyHeader;
  /** File offset of the first data byte of a stored member; undefined for a compressed one. */
  dataOffset: number | undefined;
}

function slicedArray(member: MemberArray): SlicedArray {
  const { header } = member;
  return {
    name: member.entry.name,
    dtype: header.dtype,
    descr: reportedDescr(header),
    itemsize: header.itemsize,
    swapUnit: header.swapUnit,
    fortranOrder: header.fortranOrder,
  };
}

function truncated(entry: ZipEntry, end: number, expectedEnd: number): NpzError {
  return new NpzError('ERR_ZIP_TRUNCATED', `source ended at offset ${end} inside member ${JSON.stringify(entry.name)}`, {
    entry: entry.name,
    offset: end,
    expected: expectedEnd,
  });
}

/** A whole Fortran-order array as C order (`get` with a slice always answers in C order). */
function toCOrder(array: NpyArray, itemsize: number): NpyArray {
  if (!array.fortranOrder) return array;
  const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const c = fortranToC(bytes, array.shape, itemsize);
  const data = new (array.data.constructor as new (buffer: ArrayBuffer, offset: number, length: number) => typeof array.data)(
    c.buffer as ArrayBuffer,
    0,
    array.data.length,
  );
  return { ...array, fortranOrder: false, data };
}

/** The member's data bytes in order, inflated from its start (no CRC check: the read stops where the slice does). */
async function* inflatedData(archive: ZipArchive, member: MemberArray, options: NpzReadOptions): AsyncGenerator<Uint8Array> {
  const reader = await MemberReader.open(archive, member.entry, { ...options, verifyCrc: false });
  try {
    await readNpyHeader(reader, options);
    yield* reader.chunks(undefined, false);
  } finally {
    reader.close();
  }
}

function boxOf(member: MemberArray, slice: Slice): SliceBox {
  return normalizeSlice(member.header.shape, slice);
}

/** `get(name, { slice })` of an npz member. */
export async function readMemberSlice(archive: ZipArchive, member: MemberArray, slice: Slice, options: NpzReadOptions): Promise<NpyArray> {
  const box = boxOf(member, slice);
  throwIfAborted(options.signal, 'reading');
  if (box.whole) return toCOrder(await readArray(archive, member.entry, options), member.header.itemsize);
  const array = slicedArray(member);
  try {
    if (member.dataOffset !== undefined) {
      return await readStoredSlice(archive.source, array, box, {
        dataOffset: member.dataOffset,
        shortRead: (end, expectedEnd) => truncated(member.entry, end, expectedEnd),
        signal: options.signal,
        maxArrayBytes: options.maxArrayBytes,
      });
    }
    return await readStreamedSlice(inflatedData(archive, member, options), array, box, options);
  } catch (error) {
    throw inMember(member.entry, error);
  }
}

/** `chunks(name, { slice })` of an npz member. */
export async function* memberSliceChunks(
  archive: ZipArchive,
  member: MemberArray,
  slice: Slice,
  options: NpzReadOptions,
  chunkSize: number,
  recycle: boolean,
): AsyncGenerator<Uint8Array> {
  // The member reader's own rule, so a slice takes the chunk sizes the whole array takes.
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 64) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be an integer of at least 64 bytes, got ${chunkSize}`);
  }
  const box = boxOf(member, slice);
  throwIfAborted(options.signal, 'reading');
  if (box.whole && !member.header.fortranOrder) {
    yield* arrayChunks(archive, member.entry, options, chunkSize, recycle);
    return;
  }
  const array = slicedArray(member);
  try {
    if (member.dataOffset !== undefined) {
      yield* storedSliceChunks(archive.source, array, box, chunkSize, {
        dataOffset: member.dataOffset,
        shortRead: (end, expectedEnd) => truncated(member.entry, end, expectedEnd),
        signal: options.signal,
      });
    } else {
      yield* streamedSliceChunks(inflatedData(archive, member, options), array, box, chunkSize, options);
    }
  } catch (error) {
    throw inMember(member.entry, error);
  }
}
