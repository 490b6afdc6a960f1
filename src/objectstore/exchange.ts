import type { Authorize } from '../http/authorize.js';
import type { RangeRequest, RangeTransport, TransportFailure, TransportResponse } from '../http/transport.js';

/**
 * The requests of an upload (create, send a part, complete, abort) as the core sees them: one request with a small
 * answer read whole, every outcome a value. Node's is over undici (src/node/objectstore/exchange.ts); a browser build
 * brings one over fetch.
 */

export interface ExchangeRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  url: string;
  headers: Array<[string, string]>;
  body?: Uint8Array | undefined;
}

export type ExchangeResult =
  | {
      ok: true;
      status: number;
      /** One header's value, repeated ones joined with ', '; null when absent. */
      header(name: string): string | null;
      /** The answer's body (an XML or JSON document), up to the exchange's limit. */
      text: string;
    }
  | { ok: false; failure: TransportFailure };

export interface HttpExchange {
  /** Sends one request; `signal` stops it. Redirects are not followed. */
  send(request: ExchangeRequest, signal: AbortSignal): Promise<ExchangeResult>;
  close(): Promise<void>;
}

/** An exchange whose requests to `origin` are authorized first (signed with their body, or given a bearer token). */
export function authorizedExchange(inner: HttpExchange, origin: string, authorize: Authorize | undefined): HttpExchange {
  if (authorize === undefined) return inner;
  return {
    async send(request, signal) {
      if (new URL(request.url).origin !== origin) return inner.send(request, signal);
      let headers: Array<[string, string]>;
      try {
        headers = await authorize({ method: request.method, url: request.url, headers: request.headers, body: request.body }, signal);
      } catch (cause) {
        return { ok: false, failure: { permanent: true, reason: `authorizing the request failed: ${(cause as Error)?.message ?? String(cause)}`, cause } };
      }
      return inner.send({ ...request, headers }, signal);
    },
    close: () => inner.close(),
  };
}

/** A refusal as a store explains it: the status, its headers and the start of its body. */
export interface Refusal {
  status: number;
  header(name: string): string | null;
  text: string;
}

/** Bytes of a refusal's body kept to explain it (an S3 error document is well under 1 KiB). */
const REFUSAL_TEXT_LIMIT = 16 * 1024;

/**
 * A range transport that keeps the last refusal it saw (any status from 300 up), body included, so the object store
 * can say why (NoSuchKey, the bucket's region, a gated repo) where the range rules only see a status. The body is
 * read here; the range source is handed an empty one.
 */
export class RefusalRecorder implements RangeTransport {
  last: Refusal | undefined;
  readonly #inner: RangeTransport;

  constructor(inner: RangeTransport) {
    this.#inner = inner;
  }

  async send(request: RangeRequest, signal: AbortSignal): Promise<TransportResponse> {
    const response = await this.#inner.send(request, signal);
    if (!response.ok || response.status < 300) return response;
    const buffer = new Uint8Array(REFUSAL_TEXT_LIMIT);
    const end = await response.body.copyInto(buffer, 0, REFUSAL_TEXT_LIMIT, () => undefined);
    response.body.destroy();
    const text = new TextDecoder().decode(buffer.subarray(0, end.received));
    this.last = { status: response.status, header: (name) => response.header(name), text };
    return {
      ...response,
      header: (name) => response.header(name),
      body: {
        copyInto: async () => ({ kind: 'ended', received: 0 }),
        discard: async () => undefined,
        destroy: () => undefined,
      },
    };
  }

  allocate(length: number): Uint8Array {
    return this.#inner.allocate(length);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
