import { NpzError } from '../errors.js';

/** What a caller may set on an HTTP source, its defaults, and their validation. */

export interface HttpReadOptions {
  /** Extra request headers, e.g. `{ Authorization: 'Bearer …' }` for a gated repository. */
  headers?: Record<string, string> | ReadonlyArray<readonly [string, string]>;
  /** Ranged requests in flight at once (default 8). */
  concurrency?: number;
  /** Attempts after the first for a transient failure: reset, cut body, timeout, 429, 5xx (default 5). */
  retries?: number;
  /** First backoff delay; it doubles per attempt up to 30 s (default 250 ms). `Retry-After` overrides it. */
  retryDelayMs?: number;
  /** A request with no progress (headers or body bytes) for this long is aborted and retried (default 30 000). */
  timeoutMs?: number;
  /** Aborts every request in flight; reads then fail with ERR_ABORTED. */
  signal?: AbortSignal;
  /** Bytes of the first (suffix) request: end records plus, where it fits, the central directory (default 256 KiB). */
  tailSize?: number;
  /** A large read is split into ranged requests of this many bytes, run in parallel (default 1 MiB). */
  requestSize?: number;
  /**
   * Bytes worth transferring to save a request (default 64 KiB): small reads issued together are merged into one
   * request when at most this far apart, and openNpz's header scan reads through gaps up to this size only. Slices
   * (`get(name, { slice })`, `shard`) weigh each gap against the latency and throughput the source measured on its
   * own requests instead; setting `mergeGap` fixes their gap to it too.
   */
  mergeGap?: number;
  /** Called each time body bytes arrive, with their count and the object's size, for progress bars. */
  onBytes?: (bytes: number, objectSize: number) => void;
  /**
   * The transport's own connection pool to send requests through instead of one of the source's own (on Node an
   * undici `Dispatcher`, e.g. `ProxyAgent` behind a proxy). It is not closed with the source (it is yours), and
   * `concurrency` still bounds the requests in flight.
   */
  dispatcher?: unknown;
}

export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_RETRIES = 5;
export const DEFAULT_RETRY_DELAY_MS = 250;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_TAIL_SIZE = 256 * 1024;
/**
 * Measured with bench/remote.ts (289 MB file, 8 connections): on loopback 4–8 MiB parts read within noise of 1 MiB
 * (310–420 MB/s either way, bounded by the client's copies and CRC), while with each connection paced to 50 MB/s
 * 1 MiB gave 209–211 MB/s against 174–178 for 4–8 MiB: smaller parts let the member reader's in-order slices
 * finish one after another instead of all waiting on their slowest connection.
 */
export const DEFAULT_REQUEST_SIZE = 1 << 20;
/** The planner's own default gap for a round-trip source (see io/planner/policy.ts), declared here explicitly. */
export const DEFAULT_MERGE_GAP = 64 * 1024;

/** The options with defaults applied and every number checked. */
export interface HttpSettings {
  headers: Array<[string, string]>;
  concurrency: number;
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
  tailSize: number;
  requestSize: number;
  mergeGap: number;
  /** True when the caller set `mergeGap`: it then also fixes the gap of slices. */
  mergeGapFixed: boolean;
  signal: AbortSignal | undefined;
  onBytes: ((bytes: number, objectSize: number) => void) | undefined;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, minimum = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `option ${name} must be an integer of at least ${minimum}, got ${value}`);
  }
  return value;
}

function headerEntries(headers: HttpReadOptions['headers']): Array<[string, string]> {
  if (headers === undefined) return [];
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  return entries.map(([name, value]) => [String(name), String(value)]);
}

export function httpSettings(options: HttpReadOptions): HttpSettings {
  return {
    headers: headerEntries(options.headers),
    tailSize: positiveInteger('tailSize', options.tailSize, DEFAULT_TAIL_SIZE, 1024),
    retries: positiveInteger('retries', options.retries, DEFAULT_RETRIES, 0),
    retryDelayMs: positiveInteger('retryDelayMs', options.retryDelayMs, DEFAULT_RETRY_DELAY_MS, 0),
    timeoutMs: positiveInteger('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS),
    requestSize: positiveInteger('requestSize', options.requestSize, DEFAULT_REQUEST_SIZE, 4096),
    mergeGap: positiveInteger('mergeGap', options.mergeGap, DEFAULT_MERGE_GAP, 0),
    mergeGapFixed: options.mergeGap !== undefined,
    concurrency: positiveInteger('concurrency', options.concurrency, DEFAULT_CONCURRENCY),
    signal: options.signal,
    onBytes: options.onBytes,
  };
}

/** Request headers a caller may not set: the source's own range checks depend on them. */
const OWN_HEADERS = new Set(['range', 'accept-encoding', 'if-match']);
/** Dropped when a request leaves the origin the caller named, as a redirect to another origin drops them. */
const SENSITIVE_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/**
 * The headers of one ranged request, in order: the caller's (a name they repeat kept), minus credentials when the
 * request goes to another origin than the one they named, then Range, identity encoding (ranges count stored
 * bytes; a transparently decompressed body would not match them) and If-Match when the pinned ETag is strong.
 */
export function rangeRequestHeaders(user: ReadonlyArray<readonly [string, string]>, range: string, crossOrigin: boolean, strongEtag: string | undefined): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  for (const [name, value] of user) {
    const lower = name.toLowerCase();
    if (crossOrigin && SENSITIVE_HEADERS.has(lower)) continue;
    if (OWN_HEADERS.has(lower)) continue;
    headers.push([name, value]);
  }
  headers.push(['range', range]);
  headers.push(['accept-encoding', 'identity']);
  if (strongEtag !== undefined) headers.push(['if-match', strongEtag]);
  return headers;
}
