/**
 * What the HTTP range source needs from a host's HTTP client: send one GET and hand over the response head, then
 * copy its body into place. Every outcome is a value (no exceptions for network trouble), so the source's retry
 * rules read as a plain decision. Node's implementation (undici) is src/node/http-transport.ts; a browser build adds
 * one over fetch with the same rules.
 */

export interface RangeRequest {
  /** Absolute URL to request. */
  url: string;
  /** Request headers in order; a repeated name is sent repeated. */
  headers: ReadonlyArray<readonly [string, string]>;
}

/** Why a request or its body did not arrive. */
export interface TransportFailure {
  /** No retry can fix it: a name that does not resolve, a redirect the transport refuses to follow (a loop). */
  permanent: boolean;
  /** For messages: the failure code ('ENOTFOUND', 'a redirect loop') or the error's message and code. */
  reason: string;
  cause: unknown;
}

export type BodyEnd =
  /** The body ended after `received` bytes (fewer than asked when it was cut cleanly). */
  | { kind: 'ended'; received: number }
  /** A chunk would have run past the bytes asked for; nothing past them was copied and the body is stopped. */
  | { kind: 'overrun'; received: number; attempted: number }
  | { kind: 'failed'; received: number; failure: TransportFailure };

export interface TransportBody {
  /**
   * Copies the body into `out[at, at + limit)` as it arrives, calling `onBytes(count)` after each piece lands.
   * Resolves (never rejects) once the body ended, failed, or would overrun `limit`.
   */
  copyInto(out: Uint8Array, at: number, limit: number, onBytes: (count: number) => void): Promise<BodyEnd>;
  /** Drops the body: a small one (up to `limit` bytes) is drained to keep the connection, a larger one closes it. */
  discard(limit: number): Promise<void>;
  /** Stops the body. Idempotent. */
  destroy(): void;
}

export type TransportResponse =
  | {
      ok: true;
      status: number;
      /** One header's value, repeated ones joined with ', '; null when absent. */
      header(name: string): string | null;
      /** The URL that answered: the last hop of any redirects the transport followed. */
      url: string;
      body: TransportBody;
    }
  | { ok: false; failure: TransportFailure };

export interface RangeTransport {
  /**
   * Sends one GET, following redirects (dropping credentials when a hop leaves the origin) up to 10 hops; a longer
   * chain is answered with its last 3xx. `signal` stops the request and its body.
   */
  send(request: RangeRequest, signal: AbortSignal): Promise<TransportResponse>;
  /** Memory for a body; unzeroed where the host allows it (every byte is written before it is read). */
  allocate(length: number): Uint8Array;
  /** Releases connections the transport opened itself. Idempotent. */
  close(): Promise<void>;
}
