/**
 * Input handling for ZipWriter: abort races, views over caller memory, and a guarded pull loop over a
 * caller's chunk source.
 */
import { NpzError, isNpzError } from '../errors.js';

export function abortError(signal: AbortSignal): NpzError {
  return new NpzError('ERR_ABORTED', 'the write was aborted', { cause: signal.reason });
}

/** Settles with `work`, or rejects as soon as `signal` aborts (leaving `work` to settle unobserved). */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Uint8Array views of `data`; a Uint8Array cannot span more than 4 GiB, a Float32Array can. */
export function* slices(data: ArrayBufferView, size: number): Generator<Uint8Array> {
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
        step = await raceAbort(Promise.resolve(iterator.next()), signal);
      } catch (err) {
        if (isNpzError(err, 'ERR_ABORTED')) {
          hanging = true;
          throw err;
        }
        exhausted = true;
        if (signal?.aborted) throw abortError(signal);
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
