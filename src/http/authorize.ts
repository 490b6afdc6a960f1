import type { RangeRequest, RangeTransport, TransportResponse } from './transport.js';

/**
 * Per-request authorization for a range source: a transport wrapper that has each request to one origin signed or
 * stamped just before it is sent (an S3 signature covers the Range header and the time, so it cannot be computed once;
 * a bearer token may be refreshed). Requests to any other origin, such as the CDN a Hub redirect led to, go out as they
 * are: credentials never leave the origin they belong to. Hosts bring their own signer; the rule is the core's.
 */

export interface AuthorizeRequest {
  method: string;
  url: string;
  /** The request's headers in order (Range, If-Match… for a ranged GET). */
  headers: ReadonlyArray<readonly [string, string]>;
  /** The request body, for a signature that covers it; absent for a GET. */
  body?: Uint8Array | undefined;
}

/** Returns the headers to send for one request: `headers` plus whatever authorizes it (the signed set, a bearer token). */
export type Authorize = (request: AuthorizeRequest, signal: AbortSignal) => Promise<Array<[string, string]>>;

export class AuthorizingTransport implements RangeTransport {
  readonly #inner: RangeTransport;
  readonly #origin: string;
  readonly #authorize: Authorize;

  /** Authorizes requests to `origin` (scheme, host and port) with `authorize`, sends the rest unchanged. */
  constructor(inner: RangeTransport, origin: string, authorize: Authorize) {
    this.#inner = inner;
    this.#origin = origin;
    this.#authorize = authorize;
  }

  async send(request: RangeRequest, signal: AbortSignal): Promise<TransportResponse> {
    if (new URL(request.url).origin !== this.#origin) return this.#inner.send(request, signal);
    let headers: Array<[string, string]>;
    try {
      headers = await this.#authorize({ method: 'GET', url: request.url, headers: request.headers }, signal);
    } catch (cause) {
      // No credentials to sign with is no network trouble a retry would fix.
      return { ok: false, failure: { permanent: true, reason: `authorizing the request failed: ${(cause as Error)?.message ?? String(cause)}`, cause } };
    }
    return this.#inner.send({ url: request.url, headers }, signal);
  }

  allocate(length: number): Uint8Array {
    return this.#inner.allocate(length);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
