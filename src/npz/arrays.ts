/**
 * One npz member as an array: the zip member reader under the npy read layer, with the member's name added to
 * the npy layer's errors. Shared by openNpz (random access) and readNpz (one pass).
 */
import { NpzError } from '../errors.js';
import type { NpyArray } from '../npy/array.js';
import type { NpyHeader } from '../npy/header.js';
import { npyDataChunks, readNpyArray, readNpyHeader, type ArrayMemory, type NpyReadOptions } from '../npy/read.js';
import { throwIfAborted } from '../io/abort.js';
import type { ZipArchive, ZipEntry } from '../zip/random/archive.js';
import { MemberReader, type MemberReadOptions } from '../zip/random/member-reader.js';

export type NpzReadOptions = NpyReadOptions & MemberReadOptions;

/** Adds the member name to errors raised by the npy layer, which does not know it. */
export function inMember(entry: Pick<ZipEntry, 'name'>, error: unknown): unknown {
  if (!(error instanceof NpzError) || error.entry !== undefined) return error;
  return new NpzError(error.code, `member ${JSON.stringify(entry.name)}: ${error.message}`, {
    entry: entry.name,
    ...(error.offset === undefined ? {} : { offset: error.offset }),
    expected: error.expected,
    actual: error.actual,
    cause: error,
  });
}

async function withMember<T>(archive: ZipArchive, entry: ZipEntry, options: NpzReadOptions, work: (member: MemberReader) => Promise<T>): Promise<T> {
  throwIfAborted(options.signal, 'reading');
  const member = await MemberReader.open(archive, entry, options);
  try {
    return await work(member);
  } catch (error) {
    throw inMember(entry, error);
  } finally {
    member.close();
  }
}

/**
 * Reads a whole array into a buffer of its own (aligned for any typed array), or at the start of the buffer
 * `memory` hands out, verified before it is returned. `onAllRequested` as in MemberReader.whenAllRequested.
 */
export function readArray(
  archive: ZipArchive,
  entry: ZipEntry,
  options: NpzReadOptions,
  memory?: ArrayMemory,
  onAllRequested?: () => void,
): Promise<NpyArray> {
  return withMember(archive, entry, options, async (member) => {
    if (onAllRequested !== undefined) member.whenAllRequested(onAllRequested);
    return readNpyArray(member, await readNpyHeader(member, options), options, memory);
  });
}

/** Reads only the npy header of an array member (no data, no CRC check: that needs the whole member). */
export function peekArrayHeader(archive: ZipArchive, entry: ZipEntry, options: NpzReadOptions): Promise<NpyHeader> {
  return withMember(archive, entry, options, (member) => readNpyHeader(member, options));
}

/**
 * The data bytes after the header, little-endian, in chunks of at most `chunkSize`. Completing the loop means
 * the member's CRC-32 verified.
 */
export async function* arrayChunks(
  archive: ZipArchive,
  entry: ZipEntry,
  options: NpzReadOptions,
  chunkSize: number,
  recycle = false,
): AsyncGenerator<Uint8Array, void, undefined> {
  throwIfAborted(options.signal, 'reading');
  const member = await MemberReader.open(archive, entry, options);
  try {
    const header = await readNpyHeader(member, options);
    yield* npyDataChunks(member, header, chunkSize, { recycle, ...(options.signal === undefined ? {} : { signal: options.signal }) });
  } catch (error) {
    throw inMember(entry, error);
  } finally {
    member.close();
  }
}
