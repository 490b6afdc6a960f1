import { NpzError } from '../errors.js';
import { checkInto, checkRange, type RandomAccessSource, type ReadCost } from '../io/random-access.js';
import { LinkMeter, type RequestTiming } from '../io/planner/meter.js';
import { rangeRequestHeaders, type HttpSettings } from './options.js';
import { checkPartial, classifyStatus, isStrongEtag, type Pin } from './response.js';
import { retryDelayMs, sleep, Watchdog } from './retry.js';
import type { RangeTransport, TransportFailure, TransportResponse } from './transport.js';
import { redactUrl, takeCredentials } from './url.js';

/**
 * An object behind an HTTP(S) URL as a RandomAccessSource of single ranged GETs: each read is exactly one range,
 * retried (resuming after the bytes already received) until it arrives whole or fails for good. Everything about
 * which reads to make (merging, splitting, reads in flight, the cached tail) is the read planner's, which wraps this
 * source (see source.ts); this one only speaks HTTP through a transport.
 */

export interface HttpSourceStats {
  /** HTTP requests sent, retries included (redirect hops followed inside the transport are not counted). */
  requests: number;
  /** Response body bytes received. */
  bytes: number;
  /** Attempts repeated after a transient failure. */
  retries: number;
}

/** A request's range: `[start, end)`, or the last `suffix` bytes of an object whose size is not known yet. */
type Wanted = { start: number; end: number } | { suffix: number };

/** One range being fetched across attempts: the bytes received so far stay in `buffer` when an attempt fails. */
interface Transfer {
  wanted: Wanted;
  buffer: Uint8Array | undefined;
  received: number;
}

/** How one attempt ended. */
type Attempt =
  | { kind: 'done' }
  /** The opening request pinned an object that has no bytes to give (empty, or no suffix ranges). */
  | { kind: 'no-bytes' }
  /** Worth another attempt (bytes received so far are kept in the transfer), after `delayMs` if the server said. */
  | { kind: 'retry'; message: string; delayMs?: number | undefined }
  | { kind: 'refused-after-redirect'; error: NpzError }
  | { kind: 'fatal'; error: NpzError };

/** Bytes of a refusal's body (404, 503…) read to keep its connection; a larger one closes the connection instead. */
const REFUSAL_BODY_LIMIT = 64 * 1024;
const EMPTY = new Uint8Array(0);

export class HttpRangeSource implements RandomAccessSource {
  readonly displayUrl: string;
  readonly stats: HttpSourceStats = { requests: 0, bytes: 0, retries: 0 };
  /** Latency and throughput measured on this source's own requests. */
  readonly meter = new LinkMeter();
  size = 0;
  readonly #transport: RangeTransport;
  readonly #settings: HttpSettings;
  readonly #originalUrl: string;
  /** Where the last redirect chain ended: later requests go straight there. */
  #url: string;
  readonly #userHeaders: Array<[string, string]>;
  /** Aborted by close() or the caller's signal: stops every request in flight. */
  readonly #lifetime = new AbortController();
  readonly #unlinkSignal: () => void;
  #pin: Pin | undefined;
  #closed = false;

  constructor(transport: RangeTransport, url: URL, settings: HttpSettings) {
    this.#transport = transport;
    this.#settings = settings;
    const credentials = takeCredentials(url);
    this.#originalUrl = url.href;
    this.#url = url.href;
    this.displayUrl = redactUrl(url);
    this.#userHeaders = [...credentials, ...settings.headers];
    const signal = settings.signal;
    if (signal === undefined) this.#unlinkSignal = () => undefined;
    else {
      const onAbort = (): void => this.#lifetime.abort(signal.reason);
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlinkSignal = () => signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Every read is a request: the planner merges only small gaps, splits at requestSize, keeps `concurrency` in
   * flight; batches of data runs (slices) weigh gaps against the link as measured so far, unless the caller fixed
   * the gap.
   */
  get readCost(): ReadCost {
    const settings = this.#settings;
    const cost: ReadCost = { gapBytes: settings.mergeGap, parallelReads: settings.concurrency, requestBytes: settings.requestSize };
    if (settings.mergeGapFixed) return cost;
    const { latencyMs, bytesPerSecond, samples } = this.meter;
    if (latencyMs !== undefined) {
      cost.latencyMs = latencyMs;
      cost.latencySamples = samples;
    }
    if (bytesPerSecond !== undefined) cost.bytesPerSecond = bytesPerSecond;
    return cost;
  }

  /** The strong ETag the object is pinned to, if the server sent one. */
  get etag(): string | undefined {
    const etag = this.#pin?.etag;
    return isStrongEtag(etag) ? etag : undefined;
  }

  /** The first request: a suffix range that learns the size, pins the object and returns its last `tailSize` bytes. */
  async open(tailSize: number): Promise<Uint8Array> {
    let tail = await this.#getRange({ suffix: tailSize });
    const size = (this.#pin as Pin).size;
    if (tail === undefined && size > 0) {
      // An unsatisfied suffix range on a non-empty object: the server does not do suffix ranges; ask by offset.
      tail = await this.#getRange({ start: Math.max(0, size - tailSize), end: size });
    }
    this.size = size;
    return tail ?? EMPTY;
  }

  /** One ranged GET for `[offset, offset + length)` (clipped to the object), with retries. */
  async read(offset: number, length: number, into?: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length);
    checkInto(into, length);
    this.checkUsable();
    const start = Math.min(offset, this.size);
    const end = Math.min(offset + length, this.size);
    if (end <= start) return EMPTY;
    return (await this.#getRange({ start, end }, into?.subarray(0, end - start), signal)) as Uint8Array;
  }

  /** Memory for a read without a destination, from the transport (unzeroed where the host allows). */
  allocate(length: number): Uint8Array {
    return this.#transport.allocate(length);
  }

  /** Throws ERR_NPZ_CLOSED after close(), ERR_ABORTED after the caller's signal. */
  checkUsable(): void {
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `read from ${this.displayUrl} after close`);
    if (this.#lifetime.signal.aborted) throw this.#abortError();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unlinkSignal();
    // Aborting first makes every request in flight fail with ERR_NPZ_CLOSED, not with the pool's own error.
    this.#lifetime.abort(new NpzError('ERR_NPZ_CLOSED', `${this.displayUrl} was closed`));
    await this.#transport.close();
  }

  #abortError(): NpzError {
    const reason: unknown = this.#lifetime.signal.reason;
    if (reason instanceof NpzError) return reason;
    return new NpzError('ERR_ABORTED', `reading ${this.displayUrl} was aborted`, { cause: reason });
  }

  #stopError(signal: AbortSignal): NpzError {
    if (this.#lifetime.signal.aborted) return this.#abortError();
    const reason: unknown = signal.reason;
    return reason instanceof NpzError ? reason : new NpzError('ERR_ABORTED', `reading ${this.displayUrl} was aborted`, { cause: reason });
  }

  /**
   * One range, attempt after attempt. Writes into `target` when given (it must hold exactly the range), else into
   * memory of its own. Resolves with undefined only for an opening suffix request that found no bytes to give.
   */
  async #getRange(wanted: Wanted, target?: Uint8Array, cancel?: AbortSignal): Promise<Uint8Array | undefined> {
    const signal = cancel === undefined ? this.#lifetime.signal : AbortSignal.any([this.#lifetime.signal, cancel]);
    const transfer: Transfer = { wanted, buffer: target, received: 0 };
    let attempt = 0;
    for (;;) {
      if (signal.aborted) throw this.#stopError(signal);
      const outcome = await this.#attempt(transfer, signal);
      switch (outcome.kind) {
        case 'done':
          return transfer.buffer;
        case 'no-bytes':
          return undefined;
        case 'fatal':
          throw outcome.error;
        case 'refused-after-redirect':
          // A resolved (e.g. pre-signed CDN) URL may expire: go back through the original URL. The next attempt is
          // sent there, so its refusal is final.
          this.#url = this.#originalUrl;
          continue;
        case 'retry':
          if (signal.aborted) throw this.#stopError(signal);
          if (attempt >= this.#settings.retries) {
            throw new NpzError(
              'ERR_REMOTE_NETWORK',
              `${this.displayUrl}: ${outcome.message}; gave up after ${attempt + 1} attempt${attempt === 0 ? '' : 's'}`,
              { cause: new Error(outcome.message) },
            );
          }
          const delay = retryDelayMs(attempt, this.#settings.retryDelayMs, outcome.delayMs);
          attempt++;
          this.stats.retries++;
          try {
            await sleep(delay, signal);
          } catch {
            throw this.#stopError(signal);
          }
      }
    }
  }

  /** One HTTP exchange for the bytes of `transfer` still missing; its outcome is a value, never an exception. */
  async #attempt(transfer: Transfer, signal: AbortSignal): Promise<Attempt> {
    const { wanted } = transfer;
    const opening = 'suffix' in wanted;
    const from = opening ? 0 : wanted.start + transfer.received;
    const range = opening ? `bytes=-${wanted.suffix}` : `bytes=${from}-${wanted.end - 1}`;
    const attempt = new AbortController();
    const stop = AbortSignal.any([signal, attempt.signal]);
    let timedOut = false;
    const watchdog = new Watchdog(this.#settings.timeoutMs, () => {
      timedOut = true;
      attempt.abort(new Error('timeout'));
    });
    const failed = (what: string, failure: TransportFailure): Attempt => {
      if (signal.aborted) return { kind: 'fatal', error: this.#stopError(signal) };
      if (timedOut) return { kind: 'retry', message: `no data for ${this.#settings.timeoutMs} ms while ${what}` };
      if (failure.permanent) {
        return { kind: 'fatal', error: new NpzError('ERR_REMOTE_NETWORK', `${this.displayUrl}: ${what} failed (${failure.reason})`, { cause: failure.cause }) };
      }
      return { kind: 'retry', message: `${what} failed: ${failure.reason}` };
    };
    this.stats.requests++;
    const timing = this.meter.begin();
    // Where this attempt goes: the original URL, or where an earlier redirect led.
    const url = this.#url;
    const crossOrigin = new URL(url).origin !== new URL(this.#originalUrl).origin;
    const etag = this.#pin?.etag;
    let response: TransportResponse;
    try {
      response = await this.#transport.send({ url, headers: rangeRequestHeaders(this.#userHeaders, range, crossOrigin, isStrongEtag(etag) ? etag : undefined) }, stop);
      if (!response.ok) return failed('connecting', response.failure);
      // The headers are progress too: the body's first bytes get a full timeout of their own.
      watchdog.progress();
      timing.firstByte();
      return await this.#receive(transfer, response, url !== this.#originalUrl, opening, from, watchdog, failed, timing);
    } finally {
      // A refusal or a failure ends the timing with no bytes (it still timed a round trip); no-op after a body.
      timing.end(0);
      watchdog.stop();
      // Stops a body left unread by a refusal; a body read to its end is past caring.
      attempt.abort();
    }
  }

  async #receive(
    transfer: Transfer,
    response: Extract<TransportResponse, { ok: true }>,
    redirected: boolean,
    opening: boolean,
    from: number,
    watchdog: Watchdog,
    failed: (what: string, failure: TransportFailure) => Attempt,
    timing: RequestTiming,
  ): Promise<Attempt> {
    const { body } = response;
    const outcome = classifyStatus(response, {
      displayUrl: this.displayUrl,
      opening,
      pin: this.#pin,
      redirected,
    });
    if (outcome.kind !== 'partial') {
      if (response.status === 200) body.destroy();
      else await body.discard(REFUSAL_BODY_LIMIT);
      if (outcome.kind === 'no-bytes') this.#pin = outcome.pin;
      return outcome;
    }
    const wanted = transfer.wanted;
    const checked = checkPartial(response, 'suffix' in wanted ? wanted : { from, end: wanted.end }, this.#pin, this.displayUrl);
    if (checked instanceof NpzError) {
      body.destroy();
      return { kind: 'fatal', error: checked };
    }
    this.#pin ??= { size: checked.total, etag: response.header('etag'), lastModified: response.header('last-modified') };
    // The last URL of any redirect chain served these bytes: later requests go straight there.
    if (response.url !== this.#url) this.#url = response.url;
    if (opening) {
      // The opening request's range is known now; a retry asks for the rest of it by offset.
      transfer.wanted = { start: checked.start, end: checked.end };
    }
    const { start, end } = transfer.wanted as { start: number; end: number };
    const length = checked.end - checked.start;
    const out = transfer.buffer ?? this.#transport.allocate(end - start);
    transfer.buffer = out;
    const size = this.#pin.size;
    const onBytes = this.#settings.onBytes;
    const before = transfer.received;
    const ended = await body.copyInto(out, transfer.received, length, (count) => {
      transfer.received += count;
      this.stats.bytes += count;
      onBytes?.(count, size);
      watchdog.progress();
    });
    timing.end(transfer.received - before);
    switch (ended.kind) {
      case 'overrun':
        return {
          kind: 'fatal',
          error: new NpzError('ERR_REMOTE_RANGE', `${this.displayUrl} sent more than the ${length} bytes asked for`, {
            expected: length,
            actual: ended.attempted,
          }),
        };
      case 'failed':
        return failed('reading the body', ended.failure);
      case 'ended':
        if (ended.received < length) return { kind: 'retry', message: `body ended after ${ended.received} of ${length} bytes` };
        return { kind: 'done' };
    }
  }
}
