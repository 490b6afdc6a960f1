import { NpzError, isNpzError } from '../errors.js';
import { abortError } from '../io/abort.js';
import type { ZipSink } from '../io/sink.js';
import { retryAfterMs, retryDelayMs, sleep } from '../http/retry.js';
import type { ExchangeResult } from './exchange.js';
import { PartPlan, type UploadSettings } from './options.js';

/**
 * An upload by parts as a sink the writers write to: bytes are copied into part buffers, and each full part is sent
 * while the next fills, a bounded number at once, each retried like a failed read. The object appears only when
 * `complete()` succeeds; `abort()` cancels the upload (an S3 multipart upload, a GCS resumable session), so a failed
 * or interrupted save leaves the key as it was. What a store's requests look like is its `PartProtocol`.
 *
 * Parts that may go in any order (S3 assembles them by number) also let a writer patch bytes it already wrote: it
 * says so first with `hold(position, length)`, and the part holding them waits, while later parts go on, until the
 * patch arrives. That is how a zip member streamed from a lazy leaf gets its final local header (CRC and sizes, known
 * only after its data) and the object the same bytes as `np.savez` writes to a file.
 */

export interface PartToSend {
  /** 1-based. */
  number: number;
  /** Where the part starts in the object. */
  offset: number;
  bytes: Uint8Array;
  /** The object's last part. */
  last: boolean;
}

/** How one attempt at a request ended. */
export type Outcome = { kind: 'done' } | { kind: 'retry'; message: string; delayMs?: number | undefined } | { kind: 'fatal'; error: NpzError };

export interface PartProtocol {
  /** The object as messages name it (`s3://bucket/key`). */
  readonly label: string;
  /** Parts must be sent one at a time, in order (a GCS resumable session); else any order, several at once. */
  readonly sequential: boolean;
  /** Every part but the last must be a multiple of this many bytes. */
  readonly partAlignment: number;
  /** Starts the upload (one attempt). */
  begin(signal: AbortSignal): Promise<Outcome>;
  /** Sends one part (one attempt; `attempt` counts from 0, so a retry can first ask what the store kept). */
  sendPart(part: PartToSend, attempt: number, signal: AbortSignal): Promise<Outcome>;
  /** Makes the object of `total` bytes appear (one attempt). */
  complete(total: number, attempt: number, signal: AbortSignal): Promise<Outcome>;
  /** Cancels the upload (one attempt); parts already sent are discarded and the key is left as it was. */
  abort(signal: AbortSignal): Promise<Outcome>;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * A request's result as an outcome: a failure to connect or a cut answer is retried unless permanent, 429 and 5xx
 * (but 501 and 505) are retried after `Retry-After` when given, any other status is `refuse(result)`.
 */
export function exchangeOutcome(
  label: string,
  what: string,
  result: ExchangeResult,
  accept: (status: number) => boolean,
  refuse: (result: Extract<ExchangeResult, { ok: true }>) => NpzError,
): Outcome {
  if (!result.ok) {
    if (result.failure.permanent) {
      return { kind: 'fatal', error: new NpzError('ERR_REMOTE_NETWORK', `${label}: ${what} failed (${result.failure.reason})`, { cause: result.failure.cause }) };
    }
    return { kind: 'retry', message: `${what} failed: ${result.failure.reason}` };
  }
  const { status } = result;
  if (accept(status)) return { kind: 'done' };
  if (status === 429 || (status >= 500 && status !== 501 && status !== 505)) {
    return { kind: 'retry', message: `${what}: HTTP ${status}`, delayMs: retryAfterMs(result.header('retry-after')) };
  }
  return { kind: 'fatal', error: refuse(result) };
}

interface Part {
  number: number;
  offset: number;
  buffer: Uint8Array;
  /** Bytes filled so far. */
  length: number;
}

/** What an upload hands the writers: appends, and for a store taking parts in any order, holds and patches. */
export interface UploadSink extends ZipSink {
  /** The object's length, when the writer knows it before the first byte: parts are sized so it fits in 10 000. */
  expectLength(total: number): void;
}

export class PartUpload {
  readonly sink: UploadSink;
  readonly #protocol: PartProtocol;
  readonly #settings: UploadSettings;
  readonly #plan: PartPlan;
  /** Stops every request of the upload: the caller's signal, a failed part, or abort(). */
  readonly #lifetime = new AbortController();
  readonly #unlink: () => void;
  readonly #callerSignal: AbortSignal | undefined;
  #current: Part | undefined;
  #nextNumber = 1;
  /** Bytes written so far: the offset of the next byte. */
  #offset = 0;
  readonly #holds: Array<{ position: number; length: number }> = [];
  /** Full parts kept back because they hold bytes a patch will rewrite, by part number. */
  readonly #held = new Map<number, Part>();
  /** A sequential store's last full part, not sent until it is known whether it is the object's last. */
  #pending: Part | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: NpzError | undefined;
  #sentAny = false;
  #finished = false;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #spare: Uint8Array[] = [];

  constructor(protocol: PartProtocol, settings: UploadSettings, signal?: AbortSignal) {
    this.#protocol = protocol;
    this.#settings = settings;
    this.#plan = new PartPlan(settings.partSize);
    this.#callerSignal = signal;
    if (signal === undefined) this.#unlink = () => undefined;
    else {
      const onAbort = (): void => this.#fail(abortError(signal, `uploading ${protocol.label}`));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlink = () => signal.removeEventListener('abort', onAbort);
    }
    const sink: UploadSink = {
      write: (chunks) => this.#serial(() => this.#write(chunks)),
      expectLength: (total) => this.#expect(total),
    };
    if (!protocol.sequential) {
      sink.hold = (position, length) => {
        this.#holds.push({ position, length });
      };
      sink.writeAt = (data, position) => this.#serial(() => this.#patch(data, position));
    }
    this.sink = sink;
  }

  /** Starts the upload: credentials and permissions are checked here, before any data is produced. */
  async begin(): Promise<void> {
    try {
      await this.#retrying((_attempt, signal) => this.#protocol.begin(signal));
    } catch (error) {
      // Nothing was started on the store; the caller's signal must not keep this upload alive.
      this.#finished = true;
      this.#unlink();
      throw error;
    }
  }

  /** Sends what is left, waits for every part, and completes the upload: the object appears now, whole. */
  complete(): Promise<void> {
    return this.#serial(async () => {
      this.#check();
      const current = this.#current;
      this.#current = undefined;
      if (this.#holds.length > 0) throw new NpzError('ERR_IO', `${this.#protocol.label}: a patch the writer announced never came`);
      if (this.#protocol.sequential) {
        const pending = this.#pending;
        this.#pending = undefined;
        if (current !== undefined && current.length > 0) {
          if (pending !== undefined) await this.#dispatch(pending, false);
          await this.#dispatch(current, true);
        } else if (pending !== undefined) await this.#dispatch(pending, true);
        else await this.#dispatch(current ?? this.#emptyPart(), true);
      } else if (current !== undefined && current.length > 0) await this.#dispatch(current, true);
      else if (!this.#sentAny) await this.#dispatch(current ?? this.#emptyPart(), true);
      await this.#settle();
      this.#check();
      await this.#retrying((attempt, signal) => this.#protocol.complete(this.#offset, attempt, signal));
      this.#finished = true;
      this.#unlink();
      await this.#protocol.close();
    });
  }

  /**
   * Cancels the upload after a failure (or an abort): stops the parts in flight, then asks the store to discard the
   * upload. Never throws: the save's own error is the one to report.
   */
  async abort(reason: NpzError): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.#fail(reason);
    this.#unlink();
    await Promise.allSettled([...this.#inFlight]);
    this.#held.clear();
    // Its own signal: the upload's lifetime is over, but the cancel request must still go out.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), Math.max(this.#settings.timeoutMs, 1000) * 2);
    try {
      for (let attempt = 0; attempt <= Math.min(this.#settings.retries, 3); attempt++) {
        const outcome = await this.#protocol.abort(controller.signal).catch(() => ({ kind: 'retry', message: 'failed' }) as Outcome);
        if (outcome.kind !== 'retry' || controller.signal.aborted) break;
        await sleep(retryDelayMs(attempt, this.#settings.retryDelayMs, outcome.delayMs), controller.signal).catch(() => undefined);
      }
    } finally {
      clearTimeout(timer);
      await this.#protocol.close().catch(() => undefined);
    }
  }

  /** Public operations run one after another, in call order. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #fail(error: NpzError): void {
    this.#failure ??= error;
    if (!this.#lifetime.signal.aborted) this.#lifetime.abort(this.#failure);
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#finished) throw new NpzError('ERR_IO', `${this.#protocol.label}: the upload is already finished`);
  }

  #expect(total: number): void {
    // Only before the first byte: the parts already cut keep their size.
    if (this.#offset > 0 || this.#current !== undefined) return;
    this.#plan.expect(total, this.#protocol.label);
  }

  #partSize(number: number): number {
    const size = this.#plan.sizeOf(number);
    const unit = this.#protocol.partAlignment;
    return Math.ceil(size / unit) * unit;
  }

  #newPart(): Part {
    const number = this.#nextNumber++;
    const size = this.#partSize(number);
    let buffer = this.#spare.pop();
    if (buffer === undefined || buffer.byteLength !== size) buffer = new Uint8Array(size);
    return { number, offset: this.#offset, buffer, length: 0 };
  }

  #emptyPart(): Part {
    return { number: this.#nextNumber++, offset: this.#offset, buffer: new Uint8Array(0), length: 0 };
  }

  async #write(chunks: readonly Uint8Array[]): Promise<void> {
    this.#check();
    for (const chunk of chunks) {
      let at = 0;
      while (at < chunk.byteLength) {
        this.#current ??= this.#newPart();
        const part = this.#current;
        const take = Math.min(chunk.byteLength - at, part.buffer.byteLength - part.length);
        part.buffer.set(take === chunk.byteLength ? chunk : chunk.subarray(at, at + take), part.length);
        part.length += take;
        this.#offset += take;
        at += take;
        if (part.length === part.buffer.byteLength) {
          this.#current = undefined;
          await this.#seal(part);
          this.#check();
        }
      }
    }
  }

  #isHeld(part: Part): boolean {
    const end = part.offset + part.buffer.byteLength;
    return this.#holds.some((hold) => hold.position < end && hold.position + hold.length > part.offset);
  }

  /** A full part: kept back while it holds bytes to patch, else on its way (a sequential store's one part later). */
  async #seal(part: Part): Promise<void> {
    if (this.#protocol.sequential) {
      const pending = this.#pending;
      this.#pending = part;
      if (pending !== undefined) await this.#dispatch(pending, false);
      return;
    }
    if (this.#isHeld(part)) this.#held.set(part.number, part);
    else await this.#dispatch(part, false);
  }

  async #patch(data: Uint8Array, position: number): Promise<void> {
    this.#check();
    const end = position + data.byteLength;
    const parts = [...this.#held.values()];
    if (this.#current !== undefined) parts.push(this.#current);
    let patched = 0;
    for (const part of parts) {
      const from = Math.max(position, part.offset);
      const to = Math.min(end, part.offset + part.length);
      if (from >= to) continue;
      part.buffer.set(data.subarray(from - position, to - position), from - part.offset);
      patched += to - from;
    }
    if (patched !== data.byteLength) {
      throw new NpzError('ERR_IO', `${this.#protocol.label}: bytes ${position}-${end - 1} were patched after they had been sent`);
    }
    const index = this.#holds.findIndex((hold) => hold.position === position);
    if (index >= 0) this.#holds.splice(index, 1);
    const released = [...this.#held.values()].filter((part) => !this.#isHeld(part)).sort((a, b) => a.number - b.number);
    for (const part of released) {
      this.#held.delete(part.number);
      await this.#dispatch(part, false);
    }
  }

  /** Sends a part once a slot is free (this wait is the writers' backpressure); its failure fails the upload. */
  async #dispatch(part: Part, last: boolean): Promise<void> {
    const limit = this.#protocol.sequential ? 1 : this.#settings.partsInFlight;
    while (this.#inFlight.size >= limit) {
      await Promise.race(this.#inFlight);
      this.#check();
    }
    this.#check();
    this.#sentAny = true;
    const bytes = part.buffer.subarray(0, part.length);
    const toSend: PartToSend = { number: part.number, offset: part.offset, bytes, last };
    const sending = this.#retrying((attempt, signal) => this.#protocol.sendPart(toSend, attempt, signal)).then(
      () => {
        if (part.buffer.byteLength > 0 && this.#spare.length < 1) this.#spare.push(part.buffer);
      },
      (error: unknown) => this.#fail(isNpzError(error) ? error : new NpzError('ERR_IO', `${this.#protocol.label}: sending part ${part.number} failed`, { cause: error })),
    );
    const tracked: Promise<void> = sending.finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }

  /** One request, attempt after attempt, as reads retry theirs: the same backoff, limit and Retry-After. */
  async #retrying(attempt: (attempt: number, signal: AbortSignal) => Promise<Outcome>): Promise<void> {
    const signal = this.#lifetime.signal;
    for (let tries = 0; ; tries++) {
      if (signal.aborted) throw this.#stopError();
      let outcome: Outcome;
      try {
        outcome = await attempt(tries, signal);
      } catch (error) {
        if (signal.aborted) throw this.#stopError();
        throw error;
      }
      if (outcome.kind === 'done') return;
      if (signal.aborted) throw this.#stopError();
      if (outcome.kind === 'fatal') throw outcome.error;
      if (tries >= this.#settings.retries) {
        throw new NpzError('ERR_REMOTE_NETWORK', `${this.#protocol.label}: ${outcome.message}; gave up after ${tries + 1} attempt${tries === 0 ? '' : 's'}`);
      }
      try {
        await sleep(retryDelayMs(tries, this.#settings.retryDelayMs, outcome.delayMs), signal);
      } catch {
        throw this.#stopError();
      }
    }
  }

  #stopError(): NpzError {
    if (this.#failure !== undefined) return this.#failure;
    const signal = this.#callerSignal;
    return signal?.aborted ? abortError(signal, `uploading ${this.#protocol.label}`) : new NpzError('ERR_ABORTED', `uploading ${this.#protocol.label} was aborted`);
  }
}
