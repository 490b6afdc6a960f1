import { Agent, interceptors, type Dispatcher } from 'undici';
import type { BodyEnd, RangeRequest, RangeTransport, TransportBody, TransportFailure, TransportResponse } from '../http/transport.js';
import { MAX_REDIRECTS } from '../http/response.js';
import { plainBytes } from './file-source.js';

/**
 * The HTTP transport on Node: undici's `request`, on a connection pool of the source's own. `request` hands the
 * body over as Node Buffers straight from the socket, which copy into the caller's memory without the WHATWG
 * stream machinery of `fetch` (one `fetch` body stream tops out near 0.5 GB/s on loopback here, below a plain
 * download). The rules of what to send and what to accept are the core's (src/http/).
 */

/**
 * Failure codes no retry fixes: a name that does not resolve, a host that refuses the connection (nothing listens
 * on that port), a certificate that does not verify, a redirect undici refuses to follow (a loop, a bad Location).
 */
const PERMANENT_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ERR_INVALID_URL',
  'UND_ERR_INVALID_ARG',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function failureOf(cause: unknown): TransportFailure {
  const code = (cause as { code?: string } | undefined)?.code;
  if (code !== undefined && PERMANENT_CODES.has(code)) {
    // undici's own loop message names its Client/Pool classes, which would only confuse here.
    const loop = code === 'UND_ERR_INVALID_ARG' && /redirect loop/i.test((cause as Error)?.message ?? '');
    return { permanent: true, reason: loop ? 'a redirect loop' : code, cause };
  }
  return { permanent: false, reason: `${(cause as Error)?.message ?? String(cause)}${code === undefined ? '' : ` (${code})`}`, cause };
}

/** A response header as one string: undici gives a repeated header as an array (fetch would join it). */
function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

class UndiciBody implements TransportBody {
  constructor(
    readonly body: Dispatcher.ResponseData['body'],
    readonly signal: AbortSignal,
  ) {}

  copyInto(out: Uint8Array, at: number, limit: number, onBytes: (count: number) => void): Promise<BodyEnd> {
    const body = this.body;
    return new Promise<BodyEnd>((resolve) => {
      let got = 0;
      let settled = false;
      const finish = (end: BodyEnd, destroy: boolean): void => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        if (destroy) body.destroy();
        resolve(end);
      };
      const onData = (chunk: Buffer): void => {
        // A chunk that would run past the range fails the read before it is copied.
        if (got + chunk.length > limit) {
          finish({ kind: 'overrun', received: got, attempted: got + chunk.length }, true);
          return;
        }
        out.set(chunk, at + got);
        got += chunk.length;
        onBytes(chunk.length);
      };
      body.on('data', onData);
      body.once('end', () => finish({ kind: 'ended', received: got }, false));
      body.once('error', (cause: unknown) => finish({ kind: 'failed', received: got, failure: failureOf(cause) }, true));
      // Destroyed without an error (it should not happen, but a silent close must not hang the read).
      body.once('close', () => finish({ kind: 'ended', received: got }, false));
    });
  }

  async discard(limit: number): Promise<void> {
    await this.body.dump({ limit, signal: this.signal }).catch(() => undefined);
  }

  destroy(): void {
    this.body.destroy();
  }
}

export class UndiciTransport implements RangeTransport {
  /** This transport's own connection pool (one per origin, keep-alive), destroyed by close(); none with a caller's dispatcher. */
  readonly #agent: Agent | undefined;
  /** The pool with redirects followed inside it. */
  readonly #dispatcher: Dispatcher;

  /** `connections` per origin for a pool of its own; a caller's `dispatcher` is used instead and left open. */
  constructor(options: { connections: number; dispatcher?: Dispatcher | undefined }) {
    // undici's own header and body timeouts are off: the core's no-progress timer covers connecting, headers and
    // body in one place, with one error.
    this.#agent = options.dispatcher === undefined ? new Agent({ connections: options.connections, headersTimeout: 0, bodyTimeout: 0 }) : undefined;
    // The redirect interceptor drops Authorization, Cookie and Proxy-Authorization when a hop leaves the origin.
    this.#dispatcher = (options.dispatcher ?? (this.#agent as Agent)).compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }));
  }

  async send(request: RangeRequest, signal: AbortSignal): Promise<TransportResponse> {
    const url = new URL(request.url);
    // undici's flat `[name, value, …]` list keeps a name the caller repeated.
    const headers = request.headers.flatMap(([name, value]) => [name, value]);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#dispatcher.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers, signal });
    } catch (cause) {
      return { ok: false, failure: failureOf(cause) };
    }
    // The redirect interceptor records every URL it answered from; the last one served the response.
    const reached = (response.context as { history?: readonly URL[] } | undefined)?.history?.at(-1)?.href ?? request.url;
    const responseHeaders = response.headers;
    return {
      ok: true,
      status: response.statusCode,
      header: (name) => headerValue(responseHeaders, name),
      url: reached,
      body: new UndiciBody(response.body, signal),
    };
  }

  allocate(length: number): Uint8Array {
    // Unzeroed memory is safe: a read either fills every byte or fails.
    return plainBytes(length);
  }

  async close(): Promise<void> {
    await this.#agent?.destroy().catch(() => undefined);
  }
}
