import type { Dispatcher } from 'undici';
import type { ExchangeRequest, ExchangeResult, HttpExchange } from '../../objectstore/exchange.js';
import { failureOf } from '../http-transport.js';
import { LazyDispatcher } from '../undici.js';

/** Bytes of an answer kept (upload answers are small XML or JSON documents). */
const TEXT_LIMIT = 1 << 20;

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
    try {
      const response = await (await this.#dispatcher.get()).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: request.method,
        headers: request.headers.flatMap(([name, value]) => [name, value]),
        body: request.body ?? null,
        signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
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
      return { ok: false, failure: failureOf(cause) };
    }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}
