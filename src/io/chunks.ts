/**
 * Chunk handling every format shares: slicing a caller's view into pieces one native call can take, and the
 * guarded pull loop over a caller's chunk source that the writers use.
 */
import { NpzError, isNpzError } from '../errors.js';
import { abortError, raceAbort } from './abort.js';

/**
 * The largest view handed to one native call. A Uint8Array cannot span more than 4 GiB, zlib's crc32 takes a
 * 32-bit length, libuv caps one positional read at 2^31-1 bytes and Buffer-based byte swapping stops at 2 GiB:
 * 1 GiB stays under every one of those limits and is a multiple of every typed array's element size and of every
 * byte-swap unit (test/npy/views.test.ts checks both; the npy reader also cuts its views to whole swap units).
 */
export const MAX_VIEW_BYTES = 1 << 30;

/** Uint8Array views of `data` of at most `size` bytes each; `data` itself may be larger than any Uint8Array. */
export function* slices(data: ArrayBufferView, size: number = MAX_VIEW_BYTES): Generator<Uint8Array> {
  for (let start = 0; start < data.byteLength; start += size) {
    yield new Uint8Array(data.buffer, data.byteOffset + start, Math.min(size, data.byteLength - start));
  }
}

/**
 * Pulls a caller's chunks, turning its failures into ERR_SOURCE, checking the byte count against `size`
 * before an excess chunk is written, and letting an abort interrupt a source that never yields.
 */
export async function* checkedSource(
  data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  label: string,
  size: number | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  const lengthError = (actual: number, more: boolean): NpzError =>
    new NpzError(
      'ERR_SOURCE_LENGTH',
      `'${label}' yielded ${more ? 'more than' : 'only'} ${actual} bytes, expected ${size}`,
      { entry: label, expected: size, actual },
    );
  let iterator: AsyncIterator<unknown> | Iterator<unknown>;
  try {
    iterator =
      Symbol.asyncIterator in data
        ? (data as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (data as Iterable<unknown>)[Symbol.iterator]();
  } catch (err) {
    throw new NpzError('ERR_SOURCE', `the data source of '${label}' failed`, { entry: label, cause: err });
  }
  let total = 0;
  let exhausted = false;
  let hanging = false;
  try {
    for (;;) {
      let step: IteratorResult<unknown>;
      try {
        step = await raceAbort(Promise.resolve(iterator.next()), signal, 'the write');
      } catch (err) {
        if (isNpzError(err, 'ERR_ABORTED')) {
          hanging = true;
          throw err;
        }
        exhausted = true;
        if (signal?.aborted) throw abortError(signal, 'the write');
        throw new NpzError('ERR_SOURCE', `the data source of '${label}' failed`, { entry: label, cause: err });
      }
      if (step.done) {
        exhausted = true;
        break;
      }
      const value = step.value;
      if (!ArrayBuffer.isView(value)) {
        throw new NpzError('ERR_SOURCE', `the data source of '${label}' yielded something other than bytes`, {
          entry: label,
          actual: typeof value,
        });
      }
      const chunk =
        value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      total += chunk.byteLength;
      if (size !== undefined && total > size) throw lengthError(total, true);
      if (chunk.byteLength > 0) yield chunk;
    }
    if (size !== undefined && total !== size) throw lengthError(total, false);
  } finally {
    if (!exhausted && typeof iterator.return === 'function') {
      // A source stuck in next() cannot run return() until it resumes; do not wait for it.
      const closing = Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => undefined);
      if (!hanging) await closing;
    }
  }
}
