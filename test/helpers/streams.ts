import { Readable } from 'node:stream';
import type { NpyArray } from '../../src/npy/array.js';
import type { ReadNpzOptions } from '../../src/npz/read.js';
import { readNpz } from '../../src/index.js';

/** Byte streams over bytes held in memory, in awkward chunk sizes, and what tests drain out of iterables. */

export type StreamKind = 'node' | 'web' | 'iterable';
export const STREAM_KINDS: readonly StreamKind[] = ['node', 'web', 'iterable'];

/** Chunk lengths for readers: small primes and larger sizes, so records straddle chunk boundaries everywhere. */
export const READ_CHUNK_PATTERN: readonly number[] = [1, 7, 13, 4096, 3, 65536, 29];
/** Chunk lengths for writers' lazy leaves: uneven, with empty chunks mixed in. */
export const WRITE_CHUNK_PATTERN: readonly number[] = [1, 0, 7, 64, 0, 333, 4096];

/**
 * `bytes` in chunks whose lengths cycle through `pattern`, each a copy (a consumer must not depend on chunks sharing
 * one buffer, nor keep one it was given). With `pauseEvery`, it yields to the event loop every that many chunks.
 */
export async function* unevenChunks(
  bytes: Uint8Array,
  pattern: readonly number[] = READ_CHUNK_PATTERN,
  pauseEvery?: number,
): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const length = pattern[i % pattern.length] as number;
    yield bytes.slice(at, at + length);
    at += length;
    if (pauseEvery !== undefined && i % pauseEvery === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** The chunks a test gives a writer for a lazy leaf: copies, uneven, empty ones mixed in, with event-loop turns. */
export function irregularChunks(data: Uint8Array): AsyncGenerator<Uint8Array> {
  return unevenChunks(data, WRITE_CHUNK_PATTERN, 3);
}

/** One of the three kinds of stream readNpz accepts, over `bytes` in `unevenChunks`. */
export function streamOf(bytes: Uint8Array, kind: StreamKind): AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> {
  if (kind === 'node') return Readable.from(unevenChunks(bytes), { objectMode: false, highWaterMark: 1024 });
  if (kind === 'iterable') return unevenChunks(bytes);
  const chunks = unevenChunks(bytes);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
  });
}

/**
 * Everything an async (or sync) iterable yields, in order; with `map`, each item mapped as it arrives (so a large
 * item can be reduced, say to a digest, before the next one is read).
 */
export async function collect<T>(source: AsyncIterable<T> | Iterable<T>): Promise<T[]>;
export async function collect<T, U>(source: AsyncIterable<T> | Iterable<T>, map: (item: T) => U): Promise<U[]>;
export async function collect<T, U>(source: AsyncIterable<T> | Iterable<T>, map?: (item: T) => U): Promise<Array<T | U>> {
  const out: Array<T | U> = [];
  for await (const item of source) out.push(map === undefined ? item : map(item));
  return out;
}

/** An array as one comparable string: dtype, descr, shape, order and the data bytes. */
export function describeArray(array: NpyArray): string {
  const data = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength).toString('base64');
  return JSON.stringify([array.dtype, array.descr, array.shape, array.fortranOrder, data]);
}

/** What readNpz yields, each array described, in order. */
export async function collectDescribed(input: Parameters<typeof readNpz>[0], options: ReadNpzOptions = {}): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [key, array] of readNpz(input, options)) out.push([key, describeArray(array)]);
  return out;
}
