import { NpzError } from '../errors.js';

/** The error every layer raises for an abort, keeping the signal's reason as its cause. */
export function abortError(signal: AbortSignal, what = 'the operation'): NpzError {
  return new NpzError('ERR_ABORTED', `${what} was aborted`, { cause: signal.reason });
}

/** Checked between units of work (chunks, members), so a long job stops at the next boundary. */
export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted === true) throw abortError(signal, what);
}

/** Settles with `work`, or rejects as soon as `signal` aborts (leaving `work` to settle unobserved). */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, what?: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, what));
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
