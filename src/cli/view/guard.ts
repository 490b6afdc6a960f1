import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may talk to the view server. It listens on 127.0.0.1 only, and every request must carry the random token
 * from the printed URL (as Jupyter does), so another local user or a web page guessing the port gets nothing; and
 * the Host header must name the loopback address and port, so a DNS-rebinding page (evil.example resolving to
 * 127.0.0.1) is refused even though the browser thinks it is same-origin.
 */

export const TOKEN_PARAMETER = 'token';

/** 32 random bytes, URL-safe. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export interface Refusal {
  status: 401 | 403 | 405;
  reason: string;
}

export function allowedHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why the request must be refused, or undefined when it may proceed. */
export function refusalOf(request: IncomingMessage, url: URL, expected: { token: string; port: number }): Refusal | undefined {
  const host = request.headers.host?.toLowerCase();
  if (host === undefined || !allowedHosts(expected.port).has(host)) {
    return { status: 403, reason: `Host ${JSON.stringify(request.headers.host ?? '')} is not this server (127.0.0.1:${expected.port})` };
  }
  const given = url.searchParams.get(TOKEN_PARAMETER);
  if (given === null || given === '') return { status: 401, reason: 'the token from the URL printed by npz-stream view is missing' };
  if (!sameToken(given, expected.token)) return { status: 403, reason: 'wrong token' };
  if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, reason: `method ${request.method ?? ''} is not allowed` };
  return undefined;
}
