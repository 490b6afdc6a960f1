import { NpzError } from '../errors.js';
import { isHttpUrl } from '../http/url.js';
import { bufferSource } from '../io/buffer-source.js';
import { isRandomAccessSource, type NpzSource, type RandomAccessSource } from '../io/random-access.js';
import { fileSource } from './file-source.js';
import type { HttpReadOptions } from '../http/options.js';
import { httpSource, type HttpSourceOptions } from './http-source.js';

/** An opened source plus whether the caller who resolved it is responsible for closing it. */
export interface ResolvedSource {
  source: RandomAccessSource;
  /** True when the library opened the source (path, URL, bytes) and must close it; false for a caller's object. */
  owned: boolean;
}

/** How `resolveSource` opens an `http(s):` URL; the reader's `signal` stops its requests too. */
export interface ResolveOptions {
  http?: HttpReadOptions;
  signal?: AbortSignal;
}

/** Turns any accepted input into a source, noting whether the library opened it (and so must close it). */
export async function resolveSource(input: NpzSource, options: ResolveOptions = {}): Promise<ResolvedSource> {
  if (isHttpUrl(input)) {
    // The dispatcher, if any, is the caller's undici Dispatcher (the core types it loosely).
    const http: HttpSourceOptions = { ...(options.http as HttpSourceOptions | undefined), ...(options.http?.signal === undefined && options.signal !== undefined ? { signal: options.signal } : {}) };
    return { source: await httpSource(input, http), owned: true };
  }
  if (typeof input === 'string' || input instanceof URL) return { source: await fileSource(input), owned: true };
  if (input instanceof Uint8Array) return { source: bufferSource(input), owned: true };
  if (isRandomAccessSource(input)) {
    if (!Number.isSafeInteger(input.size) || input.size < 0) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `source size must be a non-negative safe integer, got ${input.size}`);
    }
    return { source: input, owned: false };
  }
  throw new NpzError(
    'ERR_INVALID_ARGUMENT',
    'expected a path, a file: or http(s): URL, a Buffer/Uint8Array or a RandomAccessSource { size, read, close }',
  );
}
