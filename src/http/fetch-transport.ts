import type { BodyEnd, RangeRequest, RangeTransport, TransportBody, TransportFailure, TransportResponse } from './transport.js';

/**
 * The HTTP transport over WHATWG `fetch`, for hosts that have no other HTTP client (browsers, workers) or where
 * fetch is the one to use. The rules of what to send and what to accept are the core's (src/http/); this only sends
 * one GET and copies its body into place.
 *
 * What fetch decides for itself, in a browser: redirects are followed up to its own limit (20 hops) and
 * Authorization is dropped when a hop leaves the origin; `Accept-Encoding` cannot be set by a page (a browser sends
 * `identity` with a Range request on its own); a cross-origin server must allow the Range and If-Match request
 * headers and expose Content-Range (and ETag, for pinning) through CORS, or the responses read as unusable.
 */

/** fetch's `credentials` mode. */
export type FetchCredentials = 'omit' | 'same-origin' | 'include';

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

export interface FetchTransportOptions {
  /** The fetch to call (default: the global one). */
  fetch?: typeof fetch | undefined;
  /** Whether cookies and HTTP authentication go with the requests (fetch's `credentials`, default 'same-origin'). */
  credentials?: FetchCredentials | undefined;
}

function failureOf(cause: unknown): TransportFailure {
  // fetch rejects with a TypeError for every network failure (a CORS refusal included): none is known permanent.
  const error = cause as { message?: unknown; name?: unknown } | undefined;
  const message = typeof error?.message === 'string' && error.message !== '' ? error.message : String(cause);
  return { permanent: false, reason: message, cause };
}

class FetchBody implements TransportBody {
  readonly #body: ReadableStream<Uint8Array> | null;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(body: ReadableStream<Uint8Array> | null) {
    this.#body = body;
  }

  #getReader(): ReadableStreamDefaultReader<Uint8Array> | undefined {
    if (this.#body === null) return undefined;
    this.#reader ??= this.#body.getReader();
    return this.#reader;
  }

  async copyInto(out: Uint8Array, at: number, limit: number, onBytes: (count: number) => void): Promise<BodyEnd> {
    const reader = this.#getReader();
    let got = 0;
    if (reader === undefined) return { kind: 'ended', received: 0 };
    for (;;) {
      let step: ReadResult;
      try {
        step = await reader.read();
      } catch (cause) {
        this.destroy();
        return { kind: 'failed', received: got, failure: failureOf(cause) };
      }
      if (step.done) return { kind: 'ended', received: got };
      const chunk = step.value;
      // A chunk that would run past the range fails the read before it is copied.
      if (got + chunk.length > limit) {
        this.destroy();
        return { kind: 'overrun', received: got, attempted: got + chunk.length };
      }
      out.set(chunk, at + got);
      got += chunk.length;
      onBytes(chunk.length);
    }
  }

  async discard(limit: number): Promise<void> {
    const reader = this.#getReader();
    if (reader === undefined) return;
    let seen = 0;
    try {
      while (seen <= limit) {
        const step = await reader.read();
        if (step.done) return;
        seen += step.value.length;
      }
    } catch {
      return;
    }
    this.destroy();
  }

  destroy(): void {
    if (this.#reader !== undefined) this.#reader.cancel().catch(() => undefined);
    else this.#body?.cancel().catch(() => undefined);
  }
}

export class FetchTransport implements RangeTransport {
  readonly #fetch: typeof fetch;
  readonly #credentials: FetchCredentials;

  constructor(options: FetchTransportOptions = {}) {
    const fetchFunction = options.fetch ?? globalThis.fetch;
    // Called unbound, a browser's fetch throws "Illegal invocation".
    this.#fetch = options.fetch === undefined ? (input, init) => fetchFunction(input, init) : fetchFunction;
    this.#credentials = options.credentials ?? 'same-origin';
  }

  async send(request: RangeRequest, signal: AbortSignal): Promise<TransportResponse> {
    const headers = new Headers();
    for (const [name, value] of request.headers) headers.append(name, value);
    let response: Response;
    try {
      // no-store: ranges of a large object are not worth the HTTP cache, and a cached answer would only be refused
      // later by the pin if the object changed.
      const init = { method: 'GET', headers, signal, redirect: 'follow', cache: 'no-store', credentials: this.#credentials } as const;
      response = await this.#fetch(request.url, init as RequestInit);
    } catch (cause) {
      return { ok: false, failure: failureOf(cause) };
    }
    return {
      ok: true,
      status: response.status,
      header: (name) => response.headers.get(name),
      url: response.url === '' ? request.url : response.url,
      body: new FetchBody(response.body),
    };
  }

  allocate(length: number): Uint8Array {
    return new Uint8Array(length);
  }

  async close(): Promise<void> {
    // fetch keeps no connection pool of this transport's own.
  }
}
