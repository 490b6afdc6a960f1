/**
 * The browser platform: how the core reaches a page's files, URLs and streams. `src/browser/index.ts` passes it to
 * every core entry point. It uses only what browsers (and workers) have: Blob, fetch, WHATWG streams,
 * DecompressionStream; no file system, so nothing is saved by name.
 */
import { NpzError } from '../errors.js';
import { FetchTransport, type FetchCredentials } from '../http/fetch-transport.js';
import { httpSettings, type HttpReadOptions } from '../http/options.js';
import { openHttpSource, type HttpSource } from '../http/source.js';
import { bufferSource } from '../io/buffer-source.js';
import type { OpenSourceOptions, OpenedSource, Platform, PlatformFiles } from '../io/platform.js';
import { isRandomAccessSource, type RandomAccessSource } from '../io/random-access.js';
import { webStreamSink } from '../io/web-sink.js';
import { blobSource, isBlob } from './blob-source.js';
import { browserCodecs } from './codecs.js';

/** How a URL is fetched in a browser: the core's HTTP options, plus what only fetch has. */
export interface BrowserHttpOptions extends Omit<HttpReadOptions, 'dispatcher'> {
  /** Whether cookies and HTTP authentication go with the requests (fetch's `credentials`, default 'same-origin'). */
  credentials?: FetchCredentials;
  /** The fetch to call instead of the global one (a service worker's, an instrumented one). */
  fetch?: typeof fetch;
}

/** Anything the browser readers open: a Blob or File, an http(s) URL (relative to the page), bytes, or a custom source. */
export type BrowserSource = Blob | string | URL | Uint8Array | ArrayBuffer | RandomAccessSource;

/** The page's (or worker's) address, against which relative URLs resolve. */
function baseUrl(): string | undefined {
  const location = (globalThis as { location?: { href?: unknown } }).location;
  return typeof location?.href === 'string' ? location.href : undefined;
}

/** `input` as an absolute http(s) URL, or undefined when it is no URL a browser can fetch by ranges. */
export function browserUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(input), baseUrl());
  } catch {
    throw new NpzError('ERR_INVALID_ARGUMENT', `not a valid URL: ${JSON.stringify(String(input).slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new NpzError('ERR_INVALID_ARGUMENT', `only http: and https: URLs are read by ranges in a browser (got ${url.protocol}); pass a Blob or File for local data`);
  }
  return url;
}

/**
 * Opens an `http:` or `https:` URL (absolute, or relative to the page) with fetch, by ranges: one request learns the
 * size, pins the object (ETag, Last-Modified) and caches its tail; every later response must agree. The same rules
 * as on Node: a server that ignores Range is refused, not downloaded whole. Close it when done.
 */
export async function httpSource(url: string | URL, options: BrowserHttpOptions = {}): Promise<HttpSource> {
  const parsed = browserUrl(url);
  const settings = httpSettings(options);
  const transport = new FetchTransport({ fetch: options.fetch, credentials: options.credentials });
  return openHttpSource(transport, parsed, settings);
}

export async function openBrowserSource(input: unknown, options: OpenSourceOptions = {}): Promise<OpenedSource> {
  if (isBlob(input)) return { source: blobSource(input), owned: true };
  if (input instanceof Uint8Array) return { source: bufferSource(input), owned: true };
  if (input instanceof ArrayBuffer) return { source: bufferSource(new Uint8Array(input)), owned: true };
  if (typeof input === 'string' || input instanceof URL) {
    const http = options.http as BrowserHttpOptions | undefined;
    const signal = http?.signal ?? options.signal;
    return { source: await httpSource(input, { ...http, ...(signal === undefined ? {} : { signal }) }), owned: true };
  }
  if (isRandomAccessSource(input)) {
    if (!Number.isSafeInteger(input.size) || input.size < 0) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `source size must be a non-negative safe integer, got ${input.size}`);
    }
    return { source: input, owned: false };
  }
  throw new NpzError('ERR_INVALID_ARGUMENT', 'expected a Blob or File, an http(s) URL, a Uint8Array or ArrayBuffer, or a RandomAccessSource { size, read, close }');
}

function noFileSystem(what: string): Promise<never> {
  return Promise.reject(new NpzError('ERR_INVALID_ARGUMENT', `${what} needs a file system; in a browser write into a WritableStream (saveNpzStream, saveSafetensorsStream)`));
}

/** Names are URLs here (a shard index's URL and its shards'); nothing is written by name. */
export const urlFiles: PlatformFiles = {
  writeAtomically: () => noFileSystem('saving to a path'),
  readText: () => noFileSystem('reading a file by name'),
  makeDirectory: () => noFileSystem('making a directory'),
  resolve: (path) => {
    try {
      return new URL(path, baseUrl()).href;
    } catch {
      return path;
    }
  },
  join: (directory, name) => new URL(encodeURIComponent(name), directory.endsWith('/') ? directory : `${directory}/`).href,
  dirname: (path) => new URL('.', new URL(path, baseUrl())).href,
  basename: (path) => {
    const pathname = new URL(path, baseUrl()).pathname;
    return decodeURIComponent(pathname.slice(pathname.lastIndexOf('/') + 1));
  },
};

export const browserPlatform: Platform = {
  codecs: browserCodecs,
  openSource: (input, options) => openBrowserSource(input, options),
  streamSink: webStreamSink,
  files: urlFiles,
};
