/**
 * The HTTP source's rules as pure functions (src/http/: options, URL handling, Content-Range, pinning, status →
 * outcome, retry policy), and the range source over a scripted transport whose exchanges return values: what is
 * resumed, retried, refused, and what each refusal is called. The real-server counterparts are faults.test.ts and
 * static-servers.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isNpzError, type NpzError } from '../../src/errors.js';
import { httpSettings, rangeRequestHeaders } from '../../src/http/options.js';
import { HttpRangeSource } from '../../src/http/range-source.js';
import { checkPartial, classifyStatus, isStrongEtag, parseContentRange, pinChange, type ResponseHead } from '../../src/http/response.js';
import { MAX_RETRY_DELAY_MS, retryAfterMs, retryDelayMs, Watchdog } from '../../src/http/retry.js';
import type { BodyEnd, RangeRequest, RangeTransport, TransportResponse } from '../../src/http/transport.js';
import { isHttpUrl, parseHttpUrl, redactUrl, takeCredentials } from '../../src/http/url.js';

const URL_TEXT = 'https://example.test/ckpt.npz';

function head(status: number, headers: Record<string, string> = {}): ResponseHead {
  const lower = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { status, header: (name) => lower.get(name) ?? null };
}

const context = { displayUrl: URL_TEXT, opening: false, pin: { size: 1000, etag: '"v1"', lastModified: null }, redirected: false };

describe('Content-Range', () => {
  it('parses a satisfied and an unsatisfied range, and nothing else', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ start: 0, end: 99, total: 1000 });
    expect(parseContentRange(' BYTES 5-5/6 ')).toEqual({ start: 5, end: 5, total: 6 });
    expect(parseContentRange('bytes */1000')).toEqual({ start: 0, end: -1, total: 1000 });
    for (const bad of [null, 'bytes 10-9/100', 'bytes 0-100/100', 'bytes 0-1', 'items 0-1/2', `bytes 0-1/${2 ** 60}`]) {
      expect(parseContentRange(bad), String(bad)).toBeUndefined();
    }
  });

  it('only a quoted ETag is strong', () => {
    expect(isStrongEtag('"abc"')).toBe(true);
    expect(isStrongEtag('W/"abc"')).toBe(false);
    expect(isStrongEtag(null)).toBe(false);
  });
});

describe('status → outcome', () => {
  it('206 is a partial body to check', () => {
    expect(classifyStatus(head(206), context).kind).toBe('partial');
  });

  it('200 is a refusal to download the whole object, except an empty one on the opening request', () => {
    const refused = classifyStatus(head(200, { 'content-length': '5000' }), context);
    expect(refused.kind === 'fatal' && refused.error.code).toBe('ERR_REMOTE_RANGE');
    const empty = classifyStatus(head(200, { 'content-length': '0', etag: '"e"' }), { ...context, opening: true, pin: undefined });
    expect(empty).toEqual({ kind: 'no-bytes', pin: { size: 0, etag: '"e"', lastModified: null } });
    // Once pinned, even an empty 200 is a server ignoring Range.
    expect(classifyStatus(head(200, { 'content-length': '0' }), { ...context, opening: true }).kind).toBe('fatal');
  });

  it('412 and a 416 with a new total are a changed object; 416 on the opening request pins the size', () => {
    const outcome412 = classifyStatus(head(412), context);
    expect(outcome412.kind === 'fatal' && outcome412.error.code).toBe('ERR_REMOTE_CHANGED');
    const resized = classifyStatus(head(416, { 'content-range': 'bytes */999' }), context);
    expect(resized.kind === 'fatal' && resized.error.code).toBe('ERR_REMOTE_CHANGED');
    expect(classifyStatus(head(416, { 'content-range': 'bytes */1234' }), { ...context, opening: true, pin: undefined })).toEqual({
      kind: 'no-bytes',
      pin: { size: 1234, etag: null, lastModified: null },
    });
    const same = classifyStatus(head(416, { 'content-range': 'bytes */1000' }), context);
    expect(same.kind === 'fatal' && same.error.code).toBe('ERR_REMOTE_STATUS');
  });

  it('429 and 5xx (not 501, 505) are retried, after Retry-After when given', () => {
    for (const status of [429, 500, 502, 503, 504, 599]) expect(classifyStatus(head(status), context).kind, String(status)).toBe('retry');
    for (const status of [501, 505]) expect(classifyStatus(head(status), context).kind, String(status)).toBe('fatal');
    expect(classifyStatus(head(503, { 'retry-after': '2' }), context)).toEqual({ kind: 'retry', message: 'HTTP 503', delayMs: 2000 });
  });

  it('401/403/404/410 from a URL a redirect led to get one more try through the original URL', () => {
    for (const status of [401, 403, 404, 410]) {
      expect(classifyStatus(head(status), { ...context, redirected: true }).kind, String(status)).toBe('refused-after-redirect');
      const direct = classifyStatus(head(status), context);
      expect(direct.kind === 'fatal' && direct.error.code).toBe('ERR_REMOTE_STATUS');
    }
    expect(classifyStatus(head(400), { ...context, redirected: true }).kind).toBe('fatal');
  });

  it('names the status, hints at auth and at a redirect not followed', () => {
    const message = (status: number): string => {
      const outcome = classifyStatus(head(status), context);
      return outcome.kind === 'fatal' ? outcome.error.message : '';
    };
    expect(message(401)).toMatch(/HTTP 401 \(pass an Authorization header/);
    expect(message(302)).toMatch(/more than 10 hops/);
    expect(message(404)).toBe(`${URL_TEXT} answered HTTP 404`);
  });
});

describe('a 206 against the request and the pin', () => {
  const pin = { size: 1000, etag: '"v1"', lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT' };
  const ok = { 'content-range': 'bytes 100-199/1000', 'content-length': '100', etag: '"v1"' };
  const code = (result: unknown): string | undefined => (isNpzError(result) ? result.code : undefined);

  it('accepts exactly the range asked for; a suffix request learns where it starts', () => {
    expect(checkPartial(head(206, ok), { from: 100, end: 200 }, pin, URL_TEXT)).toEqual({ start: 100, end: 200, total: 1000 });
    expect(checkPartial(head(206, { 'content-range': 'bytes 744-999/1000' }), { suffix: 256 }, undefined, URL_TEXT)).toEqual({ start: 744, end: 1000, total: 1000 });
    expect(checkPartial(head(206, { 'content-range': 'bytes 0-99/100' }), { suffix: 256 }, undefined, URL_TEXT)).toEqual({ start: 0, end: 100, total: 100 });
  });

  it('refuses an encoded body, a missing or unsatisfied Content-Range, another range, a disagreeing length', () => {
    expect(code(checkPartial(head(206, { ...ok, 'content-encoding': 'gzip' }), { from: 100, end: 200 }, pin, URL_TEXT))).toBe('ERR_REMOTE_RANGE');
    expect(code(checkPartial(head(206, { ...ok, 'content-encoding': 'identity' }), { from: 100, end: 200 }, pin, URL_TEXT))).toBeUndefined();
    expect(code(checkPartial(head(206, { 'content-length': '100' }), { from: 100, end: 200 }, pin, URL_TEXT))).toBe('ERR_REMOTE_RANGE');
    expect(code(checkPartial(head(206, { 'content-range': 'bytes */1000' }), { from: 100, end: 200 }, pin, URL_TEXT))).toBe('ERR_REMOTE_RANGE');
    const shifted = checkPartial(head(206, { ...ok, 'content-range': 'bytes 101-200/1000' }), { from: 100, end: 200 }, pin, URL_TEXT) as NpzError;
    expect(shifted.message).toMatch(/sent bytes 101-200 for a request of 100-199/);
    const short = checkPartial(head(206, { ...ok, 'content-range': 'bytes 100-198/1000' }), { from: 100, end: 200 }, pin, URL_TEXT);
    expect(code(short)).toBe('ERR_REMOTE_RANGE');
    const length = checkPartial(head(206, { ...ok, 'content-length': '90' }), { from: 100, end: 200 }, pin, URL_TEXT) as NpzError;
    expect(length.message).toMatch(/declared 90 body bytes for a 100-byte range/);
  });

  it('a new size, ETag or Last-Modified is a changed object; a validator the server omits agrees', () => {
    const changed = (headers: Record<string, string>): string | undefined =>
      pinChange(pin, head(206, headers), Number(parseContentRange(headers['content-range'] ?? 'bytes 0-0/1000')?.total));
    expect(changed({ 'content-range': 'bytes 0-0/1001' })).toMatch(/size is now 1001, was 1000/);
    expect(changed({ etag: '"v2"' })).toMatch(/ETag is now "v2"/);
    expect(changed({ etag: 'W/"v1"' })).toMatch(/ETag is now W\/"v1"/);
    expect(changed({ 'last-modified': 'Thu, 02 Jan 2025 00:00:00 GMT' })).toMatch(/Last-Modified/);
    expect(changed({})).toBeUndefined();
    expect(pinChange({ size: 1000, etag: null, lastModified: null }, head(206, { etag: '"x"' }), 1000)).toBeUndefined();
    expect(code(checkPartial(head(206, { ...ok, etag: '"v2"' }), { from: 100, end: 200 }, pin, URL_TEXT))).toBe('ERR_REMOTE_CHANGED');
  });
});

describe('retry policy', () => {
  it('doubles from the base delay with ±25 % jitter, up to 30 s; a server\u2019s delay wins, capped at a minute', () => {
    expect(retryDelayMs(0, 250, undefined, () => 0.5)).toBe(250);
    expect(retryDelayMs(3, 250, undefined, () => 0.5)).toBe(2000);
    expect(retryDelayMs(3, 250, undefined, () => 0)).toBe(1500);
    expect(retryDelayMs(3, 250, undefined, () => 1)).toBe(2500);
    expect(retryDelayMs(20, 250, undefined, () => 0.5)).toBe(MAX_RETRY_DELAY_MS);
    expect(retryDelayMs(0, 250, 1000)).toBe(1000);
    expect(retryDelayMs(0, 250, 10 * 60_000)).toBe(2 * MAX_RETRY_DELAY_MS);
  });

  it('Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:10 GMT', Date.parse('Wed, 01 Jan 2025 00:00:00 GMT'))).toBe(10_000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:00 GMT', Date.parse('Wed, 01 Jan 2025 00:00:10 GMT'))).toBe(0);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });

  it('the watchdog fires after a full timeout of silence only', async () => {
    let fired = 0;
    const dog = new Watchdog(60, () => fired++);
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      dog.progress();
    }
    expect(fired).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(fired).toBe(1);
    dog.stop();
  });
});

describe('options, URLs and request headers', () => {
  it('validates every number against its minimum', () => {
    expect(httpSettings({}).concurrency).toBe(8);
    for (const [name, value] of [['concurrency', 0], ['tailSize', 1023], ['requestSize', 4095], ['retries', -1], ['mergeGap', 1.5], ['timeoutMs', 0]] as const) {
      expect(() => httpSettings({ [name]: value }), name).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    expect(httpSettings({ retries: 0, mergeGap: 0, retryDelayMs: 0 })).toMatchObject({ retries: 0, mergeGap: 0, retryDelayMs: 0 });
  });

  it('prints URLs without user info or query; takes only http(s) URLs', () => {
    expect(redactUrl('https://u:p@h.test/a/b.npz?sig=1#x')).toBe('https://h.test/a/b.npz?…');
    expect(redactUrl('not a url')).toBe('<invalid URL>');
    expect(isHttpUrl('HTTP://x.test/')).toBe(true);
    expect(isHttpUrl(new URL('file:///x'))).toBe(false);
    expect(() => parseHttpUrl('ftp://x.test/a')).toThrow(/http: or https:/);
    expect(() => parseHttpUrl('http://')).toThrow(/not a valid URL/);
  });

  it('moves user info into Basic auth (UTF-8, percent-decoded) and out of the URL', () => {
    const url = new URL('https://al%C3%AFce:p%40ss@h.test/f');
    expect(takeCredentials(url)).toEqual([['authorization', `Basic ${Buffer.from('alïce:p@ss').toString('base64')}`]]);
    expect(url.href).toBe('https://h.test/f');
    expect(takeCredentials(new URL('https://h.test/f'))).toEqual([]);
  });

  it('request headers: the caller\u2019s (repeats kept, credentials dropped across origins), never their Range/If-Match/Accept-Encoding', () => {
    const user: Array<[string, string]> = [
      ['Authorization', 'Bearer t'],
      ['X-A', '1'],
      ['x-a', '2'],
      ['Range', 'bytes=0-0'],
      ['If-Match', '"mine"'],
      ['Accept-Encoding', 'gzip'],
      ['Cookie', 'c'],
      ['Proxy-Authorization', 'p'],
    ];
    expect(rangeRequestHeaders(user, 'bytes=5-9', false, '"v1"')).toEqual([
      ['Authorization', 'Bearer t'],
      ['X-A', '1'],
      ['x-a', '2'],
      ['Cookie', 'c'],
      ['Proxy-Authorization', 'p'],
      ['range', 'bytes=5-9'],
      ['accept-encoding', 'identity'],
      ['if-match', '"v1"'],
    ]);
    expect(rangeRequestHeaders(user, 'bytes=-10', true, undefined)).toEqual([
      ['X-A', '1'],
      ['x-a', '2'],
      ['range', 'bytes=-10'],
      ['accept-encoding', 'identity'],
    ]);
  });
});

/** One scripted answer: a status with headers and a body the transport copies (or cuts, fails, overruns). */
interface Scripted {
  status?: number;
  headers?: Record<string, string>;
  /** Body bytes to deliver, then how the body ends. */
  body?: Uint8Array;
  end?: 'ended' | 'failed' | 'overrun';
  url?: string;
  /** The request fails before any response. */
  failure?: { permanent: boolean; reason: string };
}

/** A transport that answers each request with the next scripted answer and records what was asked. */
function scriptedTransport(answers: Array<(request: RangeRequest) => Scripted>): RangeTransport & { requests: RangeRequest[]; closed: boolean } {
  const requests: RangeRequest[] = [];
  return {
    requests,
    closed: false,
    async send(request): Promise<TransportResponse> {
      requests.push(request);
      const next = answers.shift();
      if (next === undefined) throw new Error('no answer scripted');
      const answer = next(request);
      if (answer.failure !== undefined) return { ok: false, failure: { ...answer.failure, cause: new Error(answer.failure.reason) } };
      const headers = new Map(Object.entries(answer.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      const body = answer.body ?? new Uint8Array(0);
      return {
        ok: true,
        status: answer.status ?? 206,
        header: (name) => headers.get(name) ?? null,
        url: answer.url ?? request.url,
        body: {
          async copyInto(out, at, limit, onBytes): Promise<BodyEnd> {
            const fits = body.subarray(0, Math.min(body.length, limit));
            out.set(fits, at);
            if (fits.length > 0) onBytes(fits.length);
            if (answer.end === 'overrun' || body.length > limit) return { kind: 'overrun', received: fits.length, attempted: body.length };
            if (answer.end === 'failed') return { kind: 'failed', received: fits.length, failure: { permanent: false, reason: 'ECONNRESET', cause: undefined } };
            return { kind: 'ended', received: fits.length };
          },
          discard: async () => undefined,
          destroy: () => undefined,
        },
      };
    },
    allocate: (length) => new Uint8Array(length),
    async close() {
      this.closed = true;
    },
  };
}

describe('the range source over a transport whose exchanges return values', () => {
  const object = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 255);
  const etag = '"v1"';
  /** A correct answer to a request's Range, optionally cut after `keep` bytes. */
  const serve =
    (options: { keep?: number; end?: Scripted['end'] } = {}) =>
    (request: RangeRequest): Scripted => {
      const range = new Map(request.headers.map(([k, v]) => [k.toLowerCase(), v])).get('range') ?? '';
      const [, from, to] = /^bytes=(\d*)-(\d*)$/.exec(range) ?? [];
      const start = from === '' ? Math.max(0, object.length - Number(to)) : Number(from);
      const end = from === '' ? object.length : Number(to) + 1;
      return {
        headers: { 'content-range': `bytes ${start}-${end - 1}/${object.length}`, etag },
        body: object.subarray(start, options.keep === undefined ? end : start + options.keep),
        ...(options.end === undefined ? {} : { end: options.end }),
      };
    };
  const rangeOf = (request: RangeRequest | undefined): string | undefined => request?.headers.find(([name]) => name === 'range')?.[1];

  async function opened(answers: Array<(request: RangeRequest) => Scripted>, options = {}): Promise<{ source: HttpRangeSource; transport: ReturnType<typeof scriptedTransport> }> {
    const transport = scriptedTransport([serve(), ...answers]);
    const source = new HttpRangeSource(transport, new URL(URL_TEXT), httpSettings({ retryDelayMs: 1, ...options }));
    const tail = await source.open(1024);
    expect(Buffer.from(tail).equals(Buffer.from(object.subarray(object.length - 1024)))).toBe(true);
    return { source, transport };
  }

  it('the opening request learns the size and pins the ETag; later requests send If-Match', async () => {
    const { source, transport } = await opened([serve()]);
    expect(source.size).toBe(object.length);
    expect(source.etag).toBe(etag);
    await source.read(10, 20);
    expect(rangeOf(transport.requests[0])).toBe('bytes=-1024');
    expect(transport.requests[1]?.headers).toContainEqual(['if-match', etag]);
  });

  it('a weak ETag is compared but never sent as If-Match', async () => {
    const weak = (request: RangeRequest): Scripted => ({ ...serve()(request), headers: { ...serve()(request).headers, etag: 'W/"w1"' } });
    const transport = scriptedTransport([weak, weak]);
    const source = new HttpRangeSource(transport, new URL(URL_TEXT), httpSettings({}));
    await source.open(1024);
    await source.read(0, 10);
    expect(source.etag).toBeUndefined();
    expect(transport.requests.every((request) => request.headers.every(([name]) => name !== 'if-match'))).toBe(true);
  });

  it('a body cut short, then one that fails, resume after every byte received; the bytes are right', async () => {
    const { source, transport } = await opened([serve({ keep: 300 }), serve({ keep: 200, end: 'failed' }), serve()]);
    const bytes = await source.read(1000, 1000);
    expect(Buffer.from(bytes).equals(Buffer.from(object.subarray(1000, 2000)))).toBe(true);
    expect(transport.requests.slice(1).map(rangeOf)).toEqual(['bytes=1000-1999', 'bytes=1300-1999', 'bytes=1500-1999']);
    expect(source.stats).toEqual({ requests: 4, bytes: 1024 + 1000, retries: 2 });
  });

  it('a body longer than the range is refused at once, not retried', async () => {
    const { source, transport } = await opened([(request) => ({ ...serve()(request), end: 'overrun' })]);
    const error = await source.read(0, 100).catch((e: unknown) => e);
    expect(isNpzError(error, 'ERR_REMOTE_RANGE')).toBe(true);
    expect((error as Error).message).toMatch(/more than the 100 bytes asked for/);
    expect(transport.requests).toHaveLength(2);
  });

  it('a transient network failure is retried until the retries run out; a permanent one is not retried', async () => {
    const reset = (): Scripted => ({ failure: { permanent: false, reason: 'socket hang up (ECONNRESET)' } });
    const { source, transport } = await opened([reset, reset, reset], { retries: 2 });
    const error = await source.read(0, 10).catch((e: unknown) => e);
    expect(isNpzError(error, 'ERR_REMOTE_NETWORK')).toBe(true);
    expect((error as Error).message).toMatch(/connecting failed: socket hang up \(ECONNRESET\); gave up after 3 attempts/);
    expect(transport.requests).toHaveLength(4);

    const dns = await opened([() => ({ failure: { permanent: true, reason: 'ENOTFOUND' } })]);
    const refused = await dns.source.read(0, 10).catch((e: unknown) => e);
    expect((refused as Error).message).toBe(`${URL_TEXT}: connecting failed (ENOTFOUND)`);
    expect(dns.transport.requests).toHaveLength(2);
  });

  it('a refusal from where a redirect led goes back through the original URL once, then reports it', async () => {
    const cdn = 'https://cdn.test/ckpt.npz?sig=1';
    const { source, transport } = await opened([
      (request) => ({ ...serve()(request), url: cdn }),
      () => ({ status: 403 }),
      (request) => ({ ...serve()(request), url: cdn }),
      () => ({ status: 403 }),
      () => ({ status: 403 }),
    ]);
    await source.read(0, 10);
    expect(transport.requests[1]?.url).toBe(URL_TEXT);
    // Later requests go straight to where the redirect led.
    await source.read(20, 10);
    expect(transport.requests.slice(2, 4).map((request) => request.url)).toEqual([cdn, URL_TEXT]);
    const error = await source.read(40, 10).catch((e: unknown) => e);
    expect(isNpzError(error, 'ERR_REMOTE_STATUS')).toBe(true);
    expect(transport.requests.slice(4).map((request) => request.url)).toEqual([cdn, URL_TEXT]);
  });

  it('a server without suffix ranges (416) is asked for the tail by offset; an empty object opens empty', async () => {
    const transport = scriptedTransport([() => ({ status: 416, headers: { 'content-range': `bytes */${object.length}` } }), serve()]);
    const source = new HttpRangeSource(transport, new URL(URL_TEXT), httpSettings({}));
    expect((await source.open(1024)).length).toBe(1024);
    expect(rangeOf(transport.requests[1])).toBe(`bytes=${object.length - 1024}-${object.length - 1}`);
    const empty = new HttpRangeSource(scriptedTransport([() => ({ status: 200, headers: { 'content-length': '0' } })]), new URL(URL_TEXT), httpSettings({}));
    expect((await empty.open(1024)).length).toBe(0);
    expect(empty.size).toBe(0);
  });

  it('close() closes the transport; reads after it are ERR_NPZ_CLOSED', async () => {
    const { source, transport } = await opened([]);
    await source.close();
    expect(transport.closed).toBe(true);
    expect(isNpzError(await source.read(0, 1).catch((e: unknown) => e), 'ERR_NPZ_CLOSED')).toBe(true);
  });
});
