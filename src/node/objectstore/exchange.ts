import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ExchangeRequest, ExchangeResult, HttpExchange } from '../../objectstore/exchange.js';
import { failureOf } from '../http-transport.js';
import { LazyDispatcher } from '../undici.js';

/** Bytes of an answer kept (upload answers are small XML or JSON documents). */
const TEXT_LIMIT = 1 << 20;

/** A body is handed to undici in pieces of this size, each one a sign of progress. */
const BODY_PIECE_BYTES = 256 << 10;

/**
 * A no-progress timer for a request with a body. undici's headers timeout starts once the whole body is handed to
 * the socket and is not restarted while the kernel sends it, so a part of 8 MiB on a slow uplink timed out however
 * steadily it went. Here the timer restarts with every piece of the body the socket takes, and then waits for the
 * answer's headers; it aborts the request only when nothing moved for `timeoutMs`.
 */
class Stall {
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly timeoutMs: number) {}

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get stalled(): boolean {
    return this.#controller.signal.aborted;
  }

  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#controller.abort(), this.timeoutMs);
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** `body` in pieces, the timer restarted as each is taken (and once more after the last: the wait for headers). */
  body(body: Uint8Array): Readable {
    const pieces = function* (stall: Stall): Generator<Uint8Array> {
      for (let at = 0; at < body.byteLength; at += BODY_PIECE_BYTES) {
        stall.arm();
        yield body.subarray(at, at + BODY_PIECE_BYTES);
      }
      stall.arm();
    };
    return Readable.from(pieces(this), { objectMode: false });
  }
}

/**
 * The requests of an upload on undici: a pool of the upload's own (or the caller's dispatcher), no redirects, and
 * a no-progress timeout on the answer's headers and body.
 */
export class UndiciExchange implements HttpExchange {
  /** A pool of the upload's own (destroyed by close()) or the caller's dispatcher (left open), made on first use. */
  readonly #dispatcher: LazyDispatcher;
  readonly #timeoutMs: number;

  constructor(options: { connections: number; timeoutMs: number; dispatcher?: Dispatcher | undefined }) {
    this.#dispatcher = new LazyDispatcher({ given: options.dispatcher, agentOptions: { connections: options.connections } });
    this.#timeoutMs = options.timeoutMs;
  }

  async send(request: ExchangeRequest, signal: AbortSignal): Promise<ExchangeResult> {
    const url = new URL(request.url);
    const stall = request.body === undefined ? undefined : new Stall(this.#timeoutMs);
    try {
      const response = await (await this.#dispatcher.get()).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers: request.headers.flatMap(([name, value]) => [name, value]),
        body: stall === undefined || request.body === undefined ? null : stall.body(request.body),
        signal: stall === undefined ? signal : AbortSignal.any([signal, stall.signal]),
        // With a body, Stall is the headers timeout (see there).
        headersTimeout: stall === undefined ? this.#timeoutMs : 0,
        bodyTimeout: this.#timeoutMs,
      });
      stall?.stop();
      const pieces: Buffer[] = [];
      let kept = 0;
      for await (const piece of response.body as AsyncIterable<Buffer>) {
        if (kept >= TEXT_LIMIT) continue;
        pieces.push(piece);
        kept += piece.length;
      }
      const headers = response.headers;
      return {
        ok: true,
        status: response.statusCode,
        header: (name) => {
          const value = headers[name.toLowerCase()];
          if (value === undefined) return null;
          return Array.isArray(value) ? value.join(', ') : value;
        },
        text: Buffer.concat(pieces).subarray(0, TEXT_LIMIT).toString('utf8'),
      };
    } catch (cause) {
      if (stall?.stalled === true && !signal.aborted) {
        return { ok: false, failure: { permanent: false, reason: `no progress for ${this.#timeoutMs} ms`, cause } };
      }
      return { ok: false, failure: failureOf(cause) };
    } finally {
      stall?.stop();
    }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}
