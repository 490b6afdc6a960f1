import { Readable } from 'node:stream';
import { isNpzError } from '../../src/errors.js';
import type { NpyArray } from '../../src/npy/array.js';
import { type ReadNpzOptions } from '../../src/npz/read.js';
import { readNpz } from '../../src/index.js';

/** The three kinds of stream readNpz accepts, over bytes held in memory, with small and uneven chunks. */

export type StreamKind = 'node' | 'web' | 'iterable';
export const STREAM_KINDS: readonly StreamKind[] = ['node', 'web', 'iterable'];

/** Chunk lengths cycle through small primes and a larger size, so records straddle chunk boundaries everywhere. */
const CHUNK_PATTERN = [1, 7, 13, 4096, 3, 65536, 29];

export async function* unevenChunks(bytes: Uint8Array, pattern: readonly number[] = CHUNK_PATTERN): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const length = pattern[i % pattern.length] as number;
    // Copies: a reader must not depend on chunks sharing one buffer.
    yield bytes.slice(at, at + length);
    at += length;
  }
}

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

export function describeArray(array: NpyArray): string {
  const data = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength).toString('base64');
  return JSON.stringify([array.dtype, array.descr, array.shape, array.fortranOrder, data]);
}

export async function collectDescribed(input: Parameters<typeof readNpz>[0], options: ReadNpzOptions = {}): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [key, array] of readNpz(input, options)) out.push([key, describeArray(array)]);
  return out;
}

/** What a read ended with: 'ok' or the NpzError code; anything else is returned as a failure description. */
export async function outcomeOf(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
    return 'ok';
  } catch (error) {
    return isNpzError(error) ? error.code : `non-NpzError: ${(error as Error)?.stack ?? String(error)}`;
  }
}
