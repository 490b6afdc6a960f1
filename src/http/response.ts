import { NpzError } from '../errors.js';
import { retryAfterMs } from './retry.js';

/**
 * The rules a response must meet, as pure functions of its status and headers: a remote server is untrusted and
 * may change the object under us, so every answer must be a `206` whose `Content-Range` is exactly what was asked
 * for, against the size and validators pinned by the first response; anything else is an error or a retry, never
 * a silent full download or a mix of two versions.
 */

/** A response head as the rules see it. */
export interface ResponseHead {
  status: number;
  /** One header's value, repeated ones joined with ', '; null when absent. */
  header(name: string): string | null;
}

export interface ContentRange {
  start: number;
  /** Inclusive, as on the wire; -1 for an unsatisfied range (`bytes *\/N`). */
  end: number;
  total: number;
}

export function parseContentRange(value: string | null): ContentRange | undefined {
  if (value === null) return undefined;
  const satisfied = /^\s*bytes\s+(\d+)-(\d+)\/(\d+)\s*$/i.exec(value);
  if (satisfied !== null) {
    const [start, end, total] = [Number(satisfied[1]), Number(satisfied[2]), Number(satisfied[3])];
    if (![start, end, total].every(Number.isSafeInteger) || start > end || end >= total) return undefined;
    return { start, end, total };
  }
  const unsatisfied = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(value);
  if (unsatisfied !== null && Number.isSafeInteger(Number(unsatisfied[1]))) return { start: 0, end: -1, total: Number(unsatisfied[1]) };
  return undefined;
}

/** A weak ETag (`W/"…"`) may be compared but is no use in If-Match. */
export function isStrongEtag(etag: string | null | undefined): etag is string {
  return typeof etag === 'string' && etag.startsWith('"');
}

/** What the object is pinned to: every later response must agree, or the read fails with ERR_REMOTE_CHANGED. */
export interface Pin {
  size: number;
  etag: string | null;
  lastModified: string | null;
}

export function pinOf(head: ResponseHead, size: number): Pin {
  return { size, etag: head.header('etag'), lastModified: head.header('last-modified') };
}

/** How the object differs from its pin, or undefined when it agrees (a validator the server omits agrees). */
export function pinChange(pin: Pin, head: ResponseHead, size: number): string | undefined {
  const etag = head.header('etag');
  const lastModified = head.header('last-modified');
  if (size !== pin.size) return `its size is now ${size}, was ${pin.size}`;
  if (pin.etag !== null && etag !== null && etag !== pin.etag) return `its ETag is now ${etag}, was ${pin.etag}`;
  if (pin.lastModified !== null && lastModified !== null && lastModified !== pin.lastModified) {
    return `its Last-Modified is now ${lastModified}, was ${pin.lastModified}`;
  }
  return undefined;
}

/** Hops one request may follow: the Hub's resolve URL is one hop to its CDN; a longer chain is a misconfiguration. */
export const MAX_REDIRECTS = 10;

/** Where a request stands, from its response's status and headers alone. */
export type StatusOutcome =
  /** 206: the body is the range, once `checkPartial` agrees. */
  | { kind: 'partial' }
  /** The opening request found an empty object, or a server without suffix ranges: the object is pinned, no bytes. */
  | { kind: 'no-bytes'; pin: Pin }
  /** Worth another attempt, after `delayMs` when the server said when. */
  | { kind: 'retry'; message: string; delayMs: number | undefined }
  /** A refusal from a URL reached through a redirect: worth one more try through the original URL. */
  | { kind: 'refused-after-redirect'; error: NpzError }
  | { kind: 'fatal'; error: NpzError };

export interface StatusContext {
  displayUrl: string;
  /** The opening request: a suffix range, sent before the object is pinned. */
  opening: boolean;
  pin: Pin | undefined;
  /** The request went to a URL a redirect led to, not the caller's. */
  redirected: boolean;
}

export function changedError(displayUrl: string, detail: string): NpzError {
  return new NpzError('ERR_REMOTE_CHANGED', `${displayUrl} changed while it was being read: ${detail}`);
}

export function statusError(displayUrl: string, status: number): NpzError {
  const hint =
    status === 401 || status === 403
      ? ' (pass an Authorization header if the file is gated)'
      : status >= 300 && status < 400
        ? ` (a redirect not followed: more than ${MAX_REDIRECTS} hops, or no Location)`
        : '';
  return new NpzError('ERR_REMOTE_STATUS', `${displayUrl} answered HTTP ${status}${hint}`, { actual: status });
}

/** Status → outcome: retry 429 and 5xx (not 501/505), one more try for a refusal after a redirect, else an error. */
export function classifyStatus(head: ResponseHead, context: StatusContext): StatusOutcome {
  const { status } = head;
  const { displayUrl, opening, pin } = context;
  if (status === 206) return { kind: 'partial' };
  if (status === 200 && opening && pin === undefined && head.header('content-length') === '0') {
    // An empty object: some servers answer a suffix range on it with an empty 200 instead of a 416.
    return { kind: 'no-bytes', pin: pinOf(head, 0) };
  }
  if (status === 200) {
    const error = new NpzError('ERR_REMOTE_RANGE', `${displayUrl} ignored the Range header (200 with the whole body instead of 206); refusing to download it all`, {
      actual: status,
    });
    return { kind: 'fatal', error };
  }
  if (status === 412) return { kind: 'fatal', error: changedError(displayUrl, 'the server reports the ETag no longer matches (412)') };
  if (status === 416) {
    const contentRange = parseContentRange(head.header('content-range'));
    if (contentRange !== undefined && pin !== undefined && contentRange.total !== pin.size) {
      return { kind: 'fatal', error: changedError(displayUrl, `its size is now ${contentRange.total}, was ${pin.size}`) };
    }
    // Unsatisfied on the opening suffix range: an empty object, or a server that does not do suffix ranges.
    if (opening && contentRange !== undefined && pin === undefined) return { kind: 'no-bytes', pin: pinOf(head, contentRange.total) };
  }
  if (status === 429 || (status >= 500 && status !== 501 && status !== 505)) {
    return { kind: 'retry', message: `HTTP ${status}`, delayMs: retryAfterMs(head.header('retry-after')) };
  }
  if ((status === 401 || status === 403 || status === 404 || status === 410) && context.redirected) {
    return { kind: 'refused-after-redirect', error: statusError(displayUrl, status) };
  }
  return { kind: 'fatal', error: statusError(displayUrl, status) };
}

/** The range a 206 must carry: `[start, end)` of the object, known for the opening suffix request only now. */
export interface PartialRange {
  start: number;
  end: number;
  total: number;
}

/**
 * Checks a 206 against the request: an identity body, a valid Content-Range for exactly the bytes asked for (the
 * last `suffix` bytes, or `[from, end)`), the pinned object, and a Content-Length that agrees. Returns the range or
 * the error (ERR_REMOTE_RANGE, or ERR_REMOTE_CHANGED against the pin).
 */
export function checkPartial(
  head: ResponseHead,
  wanted: { suffix: number } | { from: number; end: number },
  pin: Pin | undefined,
  displayUrl: string,
): PartialRange | NpzError {
  const encoding = head.header('content-encoding');
  if (encoding !== null && encoding.toLowerCase() !== 'identity') {
    return new NpzError('ERR_REMOTE_RANGE', `${displayUrl} sent a ${encoding}-encoded body; byte ranges of it are not file offsets`);
  }
  const contentRange = parseContentRange(head.header('content-range'));
  if (contentRange === undefined || contentRange.end < 0) {
    return new NpzError('ERR_REMOTE_RANGE', `${displayUrl} answered 206 without a valid Content-Range (${head.header('content-range')})`);
  }
  const change = pin === undefined ? undefined : pinChange(pin, head, contentRange.total);
  if (change !== undefined) return changedError(displayUrl, change);
  const start = 'suffix' in wanted ? Math.max(0, contentRange.total - wanted.suffix) : wanted.from;
  const end = 'suffix' in wanted ? contentRange.total : wanted.end;
  if (contentRange.start !== start || contentRange.end !== end - 1) {
    return new NpzError('ERR_REMOTE_RANGE', `${displayUrl} sent bytes ${contentRange.start}-${contentRange.end} for a request of ${start}-${end - 1}`, {
      expected: `${start}-${end - 1}`,
      actual: `${contentRange.start}-${contentRange.end}`,
    });
  }
  const length = end - start;
  const declared = head.header('content-length');
  if (declared !== null && Number(declared) !== length) {
    return new NpzError('ERR_REMOTE_RANGE', `${displayUrl} declared ${declared} body bytes for a ${length}-byte range`, {
      expected: length,
      actual: Number(declared),
    });
  }
  return { start, end, total: contentRange.total };
}
