import { NpzError } from '../errors.js';
import { isHttpUrl } from '../http/url.js';
import { bufferSource } from '../io/buffer-source.js';
import { isRandomAccessSource, type NpzSource, type RandomAccessSource } from '../io/random-access.js';
import { fileSource } from './file-source.js';
import type { HttpReadOptions } from '../http/options.js';
import { httpSource, type HttpSourceOptions } from './http-source.js';
import { isObjectStoreUrl } from '../objectstore/url.js';
import type { RemoteOptions } from '../objectstore/options.js';

/** An opened source plus whether the caller who resolved it is responsible for closing it. */
export interface ResolvedSource {
  source: RandomAccessSource;
  /** True when the library opened the source (path, URL, bytes) and must close it; false for a caller's object. */
  owned: boolean;
}

/** How `resolveSource` opens an `http(s):` URL; the reader's `signal` stops its requests too. */
export interface ResolveOptions {
  http?: HttpReadOptions;
  /** Credentials and endpoints for `s3://`, `gs://` and `hf://` URLs. */
  remote?: RemoteOptions;
  signal?: AbortSignal;
}

/** Turns any accepted input into a source, noting whether the library opened it (and so must close it). */
export async function resolveSource(input: NpzSource, options: ResolveOptions = {}): Promise<ResolvedSource> {
  if (isObjectStoreUrl(input)) {
    // The object store modules (and the cloud SDKs they load) are loaded on the first such URL only.
    const { openObjectSource } = await import('./objectstore/index.js');
    return { source: await openObjectSource(input, options), owned: true };
  }
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
    'expected a path, a file:, http(s):, s3:, gs: or hf: URL, a Buffer/Uint8Array or a RandomAccessSource { size, read, close }',
  );
}
