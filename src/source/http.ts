import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, interceptors, type Dispatcher } from 'undici';
import { NpzError } from '../errors.js';
import type { RandomAccessSource, ReadCost } from './random-access.js';

/**
 * An npz behind an HTTP(S) URL, read with single ranged GETs through the `undici` package's `request`, on a
 * connection pool of the source's own. `request` hands the body over as Node Buffers straight from the socket,
 * which copy into the caller's memory without the WHATWG stream machinery of `fetch` (one `fetch` body stream
 * tops out near 0.5 GB/s on loopback here, below a plain download). A remote server is untrusted
 * and may change the object under us, so every response must be a `206` whose `Content-Range` is exactly what was
 * asked for, against the size and validators pinned by the first response; anything else is an error, never a
 * silent full download or a mix of two versions. The first request is a suffix range that holds the end records
 * and, for checkpoints of a few thousand members, the whole central directory, so `openNpz` finds the directory in
 * one round trip.
 */

export interface HttpSourceOptions {
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
   * request when at most this far apart, and openNpz's header scan reads through gaps up to this size only.
   */
  mergeGap?: number;
  /** Called each time body bytes arrive, with their count and the object's size, for progress bars. */
  onBytes?: (bytes: number, objectSize: number) => void;
  /**
   * The undici dispatcher requests go through instead of a pool of the source's own, e.g. undici's
   * `ProxyAgent` or `EnvHttpProxyAgent` behind a proxy. Redirects are still followed on top of it; it is not
   * closed with the source (it is yours), and `concurrency` still bounds the requests in flight.
   */
  dispatcher?: Dispatcher;
}

export interface HttpSourceStats {
  /** HTTP requests sent, retries included (redirect hops followed inside the transport are not counted). */
  requests: number;
  /** Response body bytes received. */
  bytes: number;
  /** Attempts repeated after a transient failure. */
  retries: number;
}

export interface HttpSource extends RandomAccessSource {
  /** The URL as safe to print: no user info, no query string (pre-signed URLs carry their signature there). */
  readonly displayUrl: string;
  /** The strong ETag the object is pinned to, if the server sent one. */
  readonly etag: string | undefined;
  readonly stats: Readonly<HttpSourceStats>;
}

const DEFAULT_CONCURRENCY = 8;
const DEFAULT_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_TAIL_SIZE = 256 * 1024;
/**
 * Measured with bench/remote.ts (289 MB file, 8 connections): on loopback 4–8 MiB parts read within noise of 1 MiB
 * (310–420 MB/s either way, bounded by the client's copies and CRC), while with each connection paced to 50 MB/s
 * 1 MiB gave 209–211 MB/s against 174–178 for 4–8 MiB: smaller parts let the member reader's in-order slices
 * finish one after another instead of all waiting on their slowest connection.
 */
const DEFAULT_REQUEST_SIZE = 1 << 20;
/**
 * Tens of KiB cost less than a round trip on any link worth reading a checkpoint over, while the mid-sized
 * tensors (biases, norms, small kernels: 100 KiB and up) that separate headers are not worth reading to skip one.
 */
const DEFAULT_MERGE_GAP = 64 * 1024;
/** Reads up to this size are "small": they wait one turn of the event loop to be merged with their neighbours. */
const SMALL_READ = 64 * 1024;
/** Parts of a large read are never cut below this to spread them over idle connections: a request costs a round trip. */
const MIN_SPLIT = 256 * 1024;
/** Reads from this size up are spread over idle connections. */
const SPREAD_FROM = 1 << 20;
/** A merged request never grows past this, so a burst of small reads cannot become one huge response. */
const MAX_MERGED = 4 << 20;

/** The cached tail stops growing here; reads below it are then ordinary requests. */
const MAX_TAIL_CACHE = 16 << 20;

const SENSITIVE_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** Hops one request may follow: the Hub's resolve URL is one hop to its CDN; a longer chain is a misconfiguration. */
const MAX_REDIRECTS = 10;
/**
 * Bytes of a refusal's body (404, 503…) read to keep its connection for the next request; a larger one closes the
 * connection instead, so an error page cannot make us download much.
 */
const REFUSAL_BODY_LIMIT = 64 * 1024;

/** The URL with user info and query string removed: safe in messages and logs. */
export function redactUrl(url: string | URL): string {
  try {
    const parsed = new URL(String(url));
    const query = parsed.search === '' ? '' : '?…';
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query}`;
  } catch {
    return '<invalid URL>';
  }
}

export function isHttpUrl(input: unknown): input is string | URL {
  if (input instanceof URL) return input.protocol === 'http:' || input.protocol === 'https:';
  return typeof input === 'string' && /^https?:\/\//i.test(input);
}

interface ContentRange {
  start: number;
  /** Inclusive, as on the wire; -1 for an unsatisfied range (`bytes *\/N`). */
  end: number;
  total: number;
}

function parseContentRange(value: string | null): ContentRange | undefined {
  if (value === null) return undefined;
  const satisfied = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(value);
  if (satisfied !== null) {
    const [start, end, total] = [Number(satisfied[1]), Number(satisfied[2]), Number(satisfied[3])];
    if (![start, end, total].every(Number.isSafeInteger) || start > end || end >= total) return undefined;
    return { start, end, total };
  }
  const unsatisfied = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(value);
  if (unsatisfied !== null && Number.isSafeInteger(Number(unsatisfied[1]))) return { start: 0, end: -1, total: Number(unsatisfied[1]) };
  return undefined;
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** A response header as one string: undici gives a repeated header as an array (fetch would join it). */
function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

function isStrongEtag(etag: string | null): etag is string {
  return etag !== null && etag.startsWith('"');
}

/** What the object is pinned to: every later response must agree, or the read fails with ERR_REMOTE_CHANGED. */
interface Pin {
  size: number;
  etag: string | null;
  lastModified: string | null;
}

/** A failure worth another attempt, after `delayMs` when the server said when (Retry-After). */
class Transient extends Error {
  constructor(
    message: string,
    readonly delayMs?: number,
  ) {
    super(message);
  }
}

/** A request's range: `[start, end)`, or the last `suffix` bytes of an object whose size is not known yet. */
type Wanted = { start: number; end: number } | { suffix: number };

interface Slot {
  release(): void;
}

/** FIFO counting semaphore: requests start in the order reads asked for them, so bytes arrive roughly in order. */
class Limiter {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Slots no request holds and no request waits for. */
  get idle(): number {
    return this.#waiting.length > 0 ? 0 : this.#free;
  }

  async acquire(signal: AbortSignal): Promise<Slot> {
    if (this.#free > 0) this.#free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const at = this.#waiting.indexOf(wake);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(wake);
      });
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const next = this.#waiting.shift();
        if (next !== undefined) next();
        else this.#free++;
      },
    };
  }
}

interface SmallRead {
  start: number;
  end: number;
  resolve(bytes: Uint8Array): void;
  reject(error: unknown): void;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, minimum = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `option ${name} must be an integer of at least ${minimum}, got ${value}`);
  }
  return value;
}

function headerEntries(headers: HttpSourceOptions['headers']): Array<[string, string]> {
  if (headers === undefined) return [];
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  return entries.map(([name, value]) => [String(name), String(value)]);
}

class RemoteSource implements HttpSource {
  readonly displayUrl: string;
  readonly stats: HttpSourceStats = { requests: 0, bytes: 0, retries: 0 };
  /** Every read is a request: readers merge only small gaps and keep `concurrency` reads in flight. */
  readonly readCost: ReadCost;
  size = 0;
  readonly #originalUrl: string;
  /** Where the last redirect chain ended: later requests go straight there. */
  #url: string;
  readonly #userHeaders: Array<[string, string]>;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #timeoutMs: number;
  readonly #requestSize: number;
  readonly #mergeGap: number;
  readonly #onBytes: ((bytes: number, objectSize: number) => void) | undefined;
  readonly #limiter: Limiter;
  /** This source's own connection pool (one per origin, keep-alive), destroyed by close(); none with a caller's dispatcher. */
  readonly #agent: Agent | undefined;
  /** The pool with redirects followed inside it. */
  readonly #dispatcher: Dispatcher;
  /** Aborted by close() or the caller's signal: stops every request in flight. */
  readonly #lifetime = new AbortController();
  readonly #unlinkSignal: () => void;
  #pin: Pin | undefined;
  /** The cached end of the object: `[#cacheStart, size)`. */
  #cache: Uint8Array = new Uint8Array(0);
  #cacheStart = 0;
  #batch: SmallRead[] = [];
  #batchScheduled = false;
  #closed = false;

  constructor(url: URL, options: HttpSourceOptions) {
    const credentials: Array<[string, string]> = [];
    if (url.username !== '' || url.password !== '') {
      // User info goes as Basic auth, the way a browser sends it; the URL kept (and ever printed) is without it.
      const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      credentials.push(['authorization', `Basic ${Buffer.from(pair).toString('base64')}`]);
      url.username = '';
      url.password = '';
    }
    this.#originalUrl = url.href;
    this.#url = url.href;
    this.displayUrl = redactUrl(url);
    this.#userHeaders = [...credentials, ...headerEntries(options.headers)];
    this.#retries = positiveInteger('retries', options.retries, DEFAULT_RETRIES, 0);
    this.#retryDelayMs = positiveInteger('retryDelayMs', options.retryDelayMs, DEFAULT_RETRY_DELAY_MS, 0);
    this.#timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
    this.#requestSize = positiveInteger('requestSize', options.requestSize, DEFAULT_REQUEST_SIZE, 4096);
    this.#mergeGap = positiveInteger('mergeGap', options.mergeGap, DEFAULT_MERGE_GAP, 0);
    this.#onBytes = options.onBytes;
    const concurrency = positiveInteger('concurrency', options.concurrency, DEFAULT_CONCURRENCY);
    this.#limiter = new Limiter(concurrency);
    // A pool of our own: connections enough for every request the limiter lets out, closed with the source rather
    // than left to a process-wide pool. undici's own header and body timeouts are off: the no-progress timer of
    // each attempt covers connecting, headers and body in one place, with one error.
    this.#agent = options.dispatcher === undefined ? new Agent({ connections: concurrency, headersTimeout: 0, bodyTimeout: 0 }) : undefined;
    // The redirect interceptor drops Authorization, Cookie and Proxy-Authorization when a hop leaves the origin.
    this.#dispatcher = (options.dispatcher ?? (this.#agent as Agent)).compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));
    this.readCost = { gapBytes: this.#mergeGap, parallelReads: concurrency };
    const signal = options.signal;
    if (signal === undefined) this.#unlinkSignal = () => undefined;
    else {
      const onAbort = (): void => this.#lifetime.abort(signal.reason);
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlinkSignal = () => signal.removeEventListener('abort', onAbort);
    }
  }

  get etag(): string | undefined {
    return isStrongEtag(this.#pin?.etag ?? null) ? (this.#pin?.etag ?? undefined) : undefined;
  }

  /** The first request: pins the object and caches its tail. */
  async open(tailSize: number): Promise<void> {
    let tail = await this.#getRange({ suffix: tailSize });
    const size = (this.#pin as Pin).size;
    if (tail === undefined) {
      // An unsatisfied suffix range on a non-empty object: the server does not do suffix ranges; ask by offset.
      tail = size === 0 ? new Uint8Array(0) : await this.#getRange({ start: Math.max(0, size - tailSize), end: size });
    }
    this.size = size;
    this.#cache = tail ?? new Uint8Array(0);
    this.#cacheStart = size - this.#cache.length;
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `read range must be non-negative safe integers, got offset ${offset}, length ${length}`);
    }
    if (into !== undefined && into.length < length) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `destination holds ${into.length} bytes, ${length} requested`);
    }
    this.#checkUsable();
    const start = Math.min(offset, this.size);
    const end = Math.min(offset + length, this.size);
    let bytes: Uint8Array;
    if (end <= start) bytes = new Uint8Array(0);
    else if (start >= this.#cacheStart) bytes = this.#cache.subarray(start - this.#cacheStart, end - this.#cacheStart);
    else if (end - start <= SMALL_READ && end + this.#mergeGap >= this.#cacheStart && this.#cache.length <= MAX_TAIL_CACHE) {
      bytes = await this.#extendTail(start, end);
    }
    else if (end - start <= SMALL_READ) bytes = await this.#queueSmall(start, end);
    else return this.#readLarge(start, end, into);
    if (into !== undefined) {
      into.set(bytes);
      return into.subarray(0, bytes.length);
    }
    // A fresh copy rather than a view into the cache or a merged response: like a file read, the result is then
    // 8-byte aligned and callers may view it as a typed array.
    const copy = Buffer.allocUnsafe(bytes.length);
    copy.set(bytes);
    return copy;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unlinkSignal();
    this.#cache = new Uint8Array(0);
    // Aborting first makes every request in flight fail with ERR_NPZ_CLOSED, not with the pool's own error.
    this.#lifetime.abort(new NpzError('ERR_NPZ_CLOSED', `${this.displayUrl} was closed`));
    await this.#agent?.destroy().catch(() => undefined);
  }

  #checkUsable(): void {
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `read from ${this.displayUrl} after close`);
    if (this.#lifetime.signal.aborted) throw this.#abortError();
  }

  #abortError(): NpzError {
    const reason: unknown = this.#lifetime.signal.reason;
    if (reason instanceof NpzError) return reason;
    return new NpzError('ERR_ABORTED', `reading ${this.displayUrl} was aborted`, { cause: reason });
  }

  /**
   * A small read touching the cached tail from below (the start of a central directory a little larger than the
   * first request) grows the cache down to it, fetching only the missing bytes.
   */
  async #extendTail(start: number, end: number): Promise<Uint8Array> {
    const cacheStart = this.#cacheStart;
    const missing = await this.#getRange({ start, end: cacheStart });
    // Other reads may have grown the cache meanwhile, by less or more than this one: prepend only the part of
    // `missing` ([start, cacheStart)) still below the cache, so the cache stays one contiguous run to the end.
    this.#checkUsable();
    if (missing !== undefined && start < this.#cacheStart) {
      const below = missing.subarray(0, this.#cacheStart - start);
      const grown = new Uint8Array(below.length + this.#cache.length);
      grown.set(below, 0);
      grown.set(this.#cache, below.length);
      this.#cache = grown;
      this.#cacheStart = start;
    }
    return this.#cache.subarray(start - this.#cacheStart, end - this.#cacheStart);
  }

  /** Small reads wait for the rest of this turn of the event loop, then go out merged with their neighbours. */
  #queueSmall(start: number, end: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#batch.push({ start, end, resolve, reject });
      if (this.#batchScheduled) return;
      this.#batchScheduled = true;
      setImmediate(() => this.#flushSmall());
    });
  }

  #flushSmall(): void {
    const reads = this.#batch.sort((a, b) => a.start - b.start);
    this.#batch = [];
    this.#batchScheduled = false;
    let group: SmallRead[] = [];
    let groupEnd = 0;
    const send = (members: SmallRead[]): void => {
      const from = members[0]!.start;
      const to = Math.max(...members.map((read) => read.end));
      this.#getRange({ start: from, end: to }).then(
        (bytes) => {
          for (const read of members) read.resolve((bytes ?? new Uint8Array(0)).subarray(read.start - from, read.end - from));
        },
        (error: unknown) => {
          for (const read of members) read.reject(error);
        },
      );
    };
    for (const read of reads) {
      const first = group[0];
      if (first !== undefined && read.start <= groupEnd + this.#mergeGap && Math.max(groupEnd, read.end) - first.start <= MAX_MERGED) {
        group.push(read);
        groupEnd = Math.max(groupEnd, read.end);
        continue;
      }
      if (group.length > 0) send(group);
      group = [read];
      groupEnd = read.end;
    }
    if (group.length > 0) send(group);
  }

  /** Splits a large read into ranged requests run in parallel, each writing straight into its place. */
  async #readLarge(start: number, end: number, into: Uint8Array | undefined): Promise<Uint8Array> {
    const length = end - start;
    // Unzeroed memory is safe: the read either fills every byte or fails.
    const target = into?.subarray(0, length) ?? Buffer.allocUnsafe(length);
    const parts: Array<Promise<unknown>> = [];
    const siblings = new AbortController();
    // A read that would leave connections idle (the only one in flight, e.g. a mid-sized array) is cut finer so each
    // idle connection carries a share; a link that paces each connection then serves it several times faster
    // (measured: +5 % on the bench's 50 MB/s-per-connection full read). Reads below SPREAD_FROM (the header scan's
    // windows) stay whole: there a request costs more than it saves.
    const share = length < SPREAD_FROM ? length : Math.ceil(length / Math.max(1, this.#limiter.idle));
    const partSize = Math.min(this.#requestSize, Math.max(MIN_SPLIT, share));
    for (let at = 0; at < length; at += partSize) {
      const partEnd = Math.min(length, at + partSize);
      const part = this.#getRange({ start: start + at, end: start + partEnd }, target.subarray(at, partEnd), siblings.signal);
      // The first failure stops the other parts; its error is the one reported.
      part.catch((error: unknown) => siblings.abort(error));
      parts.push(part);
    }
    await Promise.all(parts);
    return target;
  }

  /**
   * One ranged GET with retries. Writes into `target` when given (it must hold exactly the range), else returns a
   * fresh buffer. Resolves with undefined only for the opening suffix request on a server without suffix ranges.
   */
  async #getRange(wanted: Wanted, target?: Uint8Array, cancel?: AbortSignal): Promise<Uint8Array | undefined> {
    const signal = cancel === undefined ? this.#lifetime.signal : AbortSignal.any([this.#lifetime.signal, cancel]);
    const slot = await this.#limiter.acquire(signal).catch(() => {
      throw this.#stopError(signal);
    });
    try {
      let buffer = target;
      let received = 0;
      let attempt = 0;
      let reResolved = false;
      for (;;) {
        if (signal.aborted) throw this.#stopError(signal);
        try {
          const result = await this.#attempt(wanted, buffer, received, signal);
          if (result === undefined) return undefined;
          return result;
        } catch (error) {
          if (error instanceof Resumable) {
            buffer = error.buffer;
            received = error.received;
            error = error.cause;
            // The opening request's range is known once its first response has pinned the size.
            if ('suffix' in wanted && this.#pin !== undefined) {
              wanted = { start: Math.max(0, this.#pin.size - wanted.suffix), end: this.#pin.size };
            }
          }
          if (error instanceof Redirected && !reResolved) {
            // A resolved (e.g. pre-signed CDN) URL may expire: go back through the original URL once.
            reResolved = true;
            this.#url = this.#originalUrl;
            continue;
          }
          if (error instanceof Redirected) throw error.failure;
          if (!(error instanceof Transient)) throw error;
          if (signal.aborted) throw this.#stopError(signal);
          if (attempt >= this.#retries) {
            throw new NpzError(
              'ERR_REMOTE_NETWORK',
              `${this.displayUrl}: ${error.message}; gave up after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}`,
              { cause: error },
            );
          }
          const backoff = Math.min(MAX_RETRY_DELAY_MS, this.#retryDelayMs * 2 ** attempt);
          const delay = error.delayMs ?? backoff * (0.75 + Math.random() * 0.5);
          attempt++;
          this.stats.retries++;
          try {
            await sleep(Math.min(delay, MAX_RETRY_DELAY_MS * 2), undefined, { signal });
          } catch {
            throw this.#stopError(signal);
          }
        }
      }
    } finally {
      slot.release();
    }
  }

  #stopError(signal: AbortSignal): NpzError {
    if (this.#lifetime.signal.aborted) return this.#abortError();
    const reason: unknown = signal.reason;
    return reason instanceof NpzError ? reason : new NpzError('ERR_ABORTED', `reading ${this.displayUrl} was aborted`, { cause: reason });
  }

  /** Request headers as undici's flat `[name, value, …]` list, which keeps a name the caller repeated. */
  #requestHeaders(range: string): string[] {
    const headers: string[] = [];
    const crossOrigin = new URL(this.#url).origin !== new URL(this.#originalUrl).origin;
    for (const [name, value] of this.#userHeaders) {
      const lower = name.toLowerCase();
      // The redirect drops credentials when it leaves the origin; going straight to the target later must too.
      if (crossOrigin && SENSITIVE_HEADERS.has(lower)) continue;
      // Ours below: a caller's Range or If-Match would break the exact-range checks.
      if (lower === 'range' || lower === 'accept-encoding' || lower === 'if-match') continue;
      headers.push(name, value);
    }
    headers.push('range', range);
    // Ranges count stored bytes; a transparently decompressed body would not match them.
    headers.push('accept-encoding', 'identity');
    const etag = this.#pin?.etag ?? null;
    if (isStrongEtag(etag)) headers.push('if-match', etag);
    return headers;
  }

  /** One HTTP exchange for the bytes still missing. Throws Transient (retry), Resumable (retry, keep bytes) or NpzError. */
  async #attempt(wanted: Wanted, buffer: Uint8Array | undefined, received: number, signal: AbortSignal): Promise<Uint8Array | undefined> {
    const first = 'suffix' in wanted;
    const from = first ? undefined : wanted.start + received;
    const range = first ? `bytes=-${wanted.suffix}` : `bytes=${from}-${wanted.end - 1}`;
    const attempt = new AbortController();
    const stop = AbortSignal.any([signal, attempt.signal]);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attempt.abort(new Error('timeout'));
    }, this.#timeoutMs);
    // Restarting the one timer on progress is far cheaper than a new timer per body chunk.
    const arm = (): void => void timer.refresh();
    const failure = (what: string, cause: unknown): Error => {
      if (signal.aborted) return this.#stopError(signal);
      if (timedOut) return new Transient(`no data for ${this.#timeoutMs} ms while ${what}`);
      const code = (cause as { code?: string } | undefined)?.code;
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ERR_INVALID_URL' || code === 'UND_ERR_INVALID_ARG') {
        // A name that does not resolve, or a redirect undici refuses to follow (a loop, a bad Location): no retry
        // fixes it. undici's own loop message names its Client/Pool classes, which would only confuse here.
        const loop = code === 'UND_ERR_INVALID_ARG' && /redirect loop/i.test((cause as Error)?.message ?? '');
        return new NpzError('ERR_REMOTE_NETWORK', `${this.displayUrl}: ${what} failed (${loop ? 'a redirect loop' : code})`, { cause });
      }
      return new Transient(`${what} failed: ${(cause as Error)?.message ?? String(cause)}${code === undefined ? '' : ` (${code})`}`);
    };
    this.stats.requests++;
    const url = new URL(this.#url);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: this.#requestHeaders(range),
        signal: stop,
      });
    } catch (cause) {
      clearTimeout(timer);
      throw failure('connecting', cause);
    }
    // The headers are progress too: the body's first bytes get a full timeout of their own.
    arm();
    const { statusCode: status, headers, body } = response;
    try {
      const contentRange = parseContentRange(headerValue(headers, 'content-range'));
      if (status !== 206) {
        if (status === 200) body.destroy();
        else await body.dump({ limit: REFUSAL_BODY_LIMIT, signal: stop }).catch(() => undefined);
        if (status === 200 && first && this.#pin === undefined && headerValue(headers, 'content-length') === '0') {
          // An empty object: some servers answer a suffix range on it with an empty 200 instead of a 416.
          this.#pin = { size: 0, etag: headerValue(headers, 'etag'), lastModified: headerValue(headers, 'last-modified') };
          return undefined;
        }
        if (status === 200) {
          throw new NpzError(
            'ERR_REMOTE_RANGE',
            `${this.displayUrl} ignored the Range header (200 with the whole body instead of 206); refusing to download it all`,
            { actual: status },
          );
        }
        if (status === 412) throw this.#changed('the server reports the ETag no longer matches (412)');
        if (status === 416) {
          if (contentRange !== undefined && this.#pin !== undefined && contentRange.total !== this.#pin.size) {
            throw this.#changed(`its size is now ${contentRange.total}, was ${this.#pin.size}`);
          }
          if (first && contentRange !== undefined && this.#pin === undefined) {
            this.#pin = { size: contentRange.total, etag: headerValue(headers, 'etag'), lastModified: headerValue(headers, 'last-modified') };
            return undefined;
          }
        }
        if (status === 429 || (status >= 500 && status !== 501 && status !== 505)) {
          throw new Transient(`HTTP ${status}`, retryAfterMs(headerValue(headers, 'retry-after')));
        }
        if ((status === 401 || status === 403 || status === 404 || status === 410) && this.#url !== this.#originalUrl) {
          throw new Redirected(this.#statusError(status));
        }
        throw this.#statusError(status);
      }
      const encoding = headerValue(headers, 'content-encoding');
      if (encoding !== null && encoding.toLowerCase() !== 'identity') {
        throw new NpzError('ERR_REMOTE_RANGE', `${this.displayUrl} sent a ${encoding}-encoded body; byte ranges of it are not file offsets`);
      }
      if (contentRange === undefined || contentRange.end < 0) {
        throw new NpzError('ERR_REMOTE_RANGE', `${this.displayUrl} answered 206 without a valid Content-Range (${headerValue(headers, 'content-range')})`);
      }
      this.#checkPin(headers, contentRange.total);
      const start = first ? Math.max(0, contentRange.total - wanted.suffix) : (from as number);
      const end = first ? contentRange.total : wanted.end;
      if (contentRange.start !== start || contentRange.end !== end - 1) {
        throw new NpzError(
          'ERR_REMOTE_RANGE',
          `${this.displayUrl} sent bytes ${contentRange.start}-${contentRange.end} for a request of ${start}-${end - 1}`,
          { expected: `${start}-${end - 1}`, actual: `${contentRange.start}-${contentRange.end}` },
        );
      }
      const length = end - start;
      const declared = headerValue(headers, 'content-length');
      if (declared !== null && Number(declared) !== length) {
        throw new NpzError('ERR_REMOTE_RANGE', `${this.displayUrl} declared ${declared} body bytes for a ${length}-byte range`, {
          expected: length,
          actual: Number(declared),
        });
      }
      // The redirect interceptor records every URL it answered from; the last one served these bytes.
      const reached = (response.context as { history?: readonly URL[] } | undefined)?.history?.at(-1)?.href;
      if (reached !== undefined && reached !== this.#url) this.#url = reached;
      const total = first ? length : wanted.end - wanted.start;
      const out = buffer ?? Buffer.allocUnsafe(total);
      const offsetInOut = total - (end - start);
      const got = await this.#readBody(body, out, offsetInOut, length, arm, failure, received);
      if (got < length) throw new Resumable(out, received + got, new Transient(`body ended after ${got} of ${length} bytes`));
      return out;
    } finally {
      clearTimeout(timer);
      // Stops a body left unread by a refusal above; a body read to its end is past caring.
      attempt.abort();
    }
  }

  /**
   * Copies the body's chunks into `out[at, at + length)` as they arrive (no parts gathered and joined); returns the
   * bytes received before the body ended. A chunk that would run past `length` fails the read before it is copied.
   */
  #readBody(
    body: Dispatcher.ResponseData['body'],
    out: Uint8Array,
    at: number,
    length: number,
    arm: () => void,
    failure: (what: string, cause: unknown) => Error,
    receivedBefore: number,
  ): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let got = 0;
      let settled = false;
      const finish = (error: Error | undefined): void => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        if (error === undefined) resolve(got);
        else {
          reject(error);
          body.destroy();
        }
      };
      const onData = (chunk: Buffer): void => {
        if (got + chunk.length > length) {
          finish(
            new NpzError('ERR_REMOTE_RANGE', `${this.displayUrl} sent more than the ${length} bytes asked for`, {
              expected: length,
              actual: got + chunk.length,
            }),
          );
          return;
        }
        out.set(chunk, at + got);
        got += chunk.length;
        this.stats.bytes += chunk.length;
        this.#onBytes?.(chunk.length, this.#pin?.size ?? 0);
        arm();
      };
      body.on('data', onData);
      body.once('end', () => finish(undefined));
      body.once('error', (cause: unknown) => {
        const error = failure('reading the body', cause);
        finish(error instanceof Transient ? new Resumable(out, receivedBefore + got, error) : error);
      });
      // Destroyed without an error (it should not happen, but a silent close must not hang the read).
      body.once('close', () => finish(got < length ? new Resumable(out, receivedBefore + got, new Transient('body closed early')) : undefined));
    });
  }

  #checkPin(headers: Record<string, string | string[] | undefined>, size: number): void {
    const etag = headerValue(headers, 'etag');
    const lastModified = headerValue(headers, 'last-modified');
    const pin = this.#pin;
    if (pin === undefined) {
      this.#pin = { size, etag, lastModified };
      return;
    }
    if (size !== pin.size) throw this.#changed(`its size is now ${size}, was ${pin.size}`);
    if (pin.etag !== null && etag !== null && etag !== pin.etag) throw this.#changed(`its ETag is now ${etag}, was ${pin.etag}`);
    if (pin.lastModified !== null && lastModified !== null && lastModified !== pin.lastModified) {
      throw this.#changed(`its Last-Modified is now ${lastModified}, was ${pin.lastModified}`);
    }
  }

  #changed(detail: string): NpzError {
    return new NpzError('ERR_REMOTE_CHANGED', `${this.displayUrl} changed while it was being read: ${detail}`);
  }

  #statusError(status: number): NpzError {
    const hint =
      status === 401 || status === 403
        ? ' (pass an Authorization header if the file is gated)'
        : status >= 300 && status < 400
          ? ` (a redirect not followed: more than ${MAX_REDIRECTS} hops, or no Location)`
          : '';
    return new NpzError('ERR_REMOTE_STATUS', `${this.displayUrl} answered HTTP ${status}${hint}`, { actual: status });
  }
}

/** Bytes already in place when a transient failure struck: the retry asks only for the rest. */
class Resumable extends Error {
  constructor(
    readonly buffer: Uint8Array,
    readonly received: number,
    override readonly cause: Transient,
  ) {
    super(cause.message);
  }
}

/** A refusal from a URL reached through a redirect: worth one more try through the original URL. */
class Redirected extends Error {
  constructor(readonly failure: NpzError) {
    super(failure.message);
  }
}

/**
 * Opens an `http:` or `https:` URL as a RandomAccessSource: one ranged request learns the size, pins the object
 * and caches its tail. Close it when done (the readers do when they opened it from a URL).
 */
export async function httpSource(url: string | URL, options: HttpSourceOptions = {}): Promise<HttpSource> {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new NpzError('ERR_INVALID_ARGUMENT', `not a valid URL: ${redactUrl(String(url))}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new NpzError('ERR_INVALID_ARGUMENT', `httpSource takes http: or https: URLs, got ${parsed.protocol}`);
  }
  const tailSize = positiveInteger('tailSize', options.tailSize, DEFAULT_TAIL_SIZE, 1024);
  const source = new RemoteSource(parsed, options);
  try {
    await source.open(tailSize);
  } catch (error) {
    await source.close();
    throw error;
  }
  return source;
}
