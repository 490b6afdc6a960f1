import { PassThrough } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpSource, isNpzError, openNpz, saveNpzStream, type HttpSourceOptions, type NpzFile } from '../../src/index.js';
import { Agent } from 'undici';
import { parseRange, startFaultServer, type FaultHandler, type RunningServer } from '../helpers/servers.js';

/**
 * Every refusal and retry of the HTTP source against a node:http server that misbehaves on cue. Each case ends in
 * the right bytes or in the named error: never in wrong data, and never in a hang (every test has a deadline).
 */

const FAST: HttpSourceOptions = { retryDelayMs: 5, timeoutMs: 5_000 };
const BIG = 4 * 1024 * 1024;

let archive: Uint8Array;
/** Where the 'big' member's array data starts and ends in the archive. */
let bigData: { start: number; end: number };
const expectedBig = new Float32Array(BIG / 4).map((_, i) => Math.sin(i));

async function archiveBytes(): Promise<Uint8Array> {
  const out = new PassThrough();
  const pieces: Buffer[] = [];
  out.on('data', (chunk: Buffer) => pieces.push(chunk));
  await saveNpzStream({ big: expectedBig, mid: new Int32Array(80_000).map((_, i) => i * 3), small: Float64Array.of(1.5, -2) }, out);
  return new Uint8Array(Buffer.concat(pieces));
}

beforeAll(async () => {
  archive = await archiveBytes();
  const file = await openNpz(archive);
  const entry = file.entries.find((candidate) => candidate.name === 'big');
  if (entry === undefined || !entry.isArray || entry.dataOffset === undefined) throw new Error('fixture lacks a stored "big"');
  bigData = { start: entry.dataOffset, end: entry.dataOffset + entry.byteLength };
  await file.close();
});

let servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

async function serve(handler: FaultHandler, bytes: Uint8Array = archive, etag?: string): Promise<{ server: RunningServer; url: string }> {
  const server = await startFaultServer(bytes, handler, etag);
  servers.push(server);
  return { server, url: `${server.origin}/ckpt.npz` };
}

async function errorOf(work: () => Promise<unknown>): Promise<{ code: string; message: string; actual?: unknown }> {
  try {
    await work();
  } catch (error) {
    if (isNpzError(error)) return { code: error.code, message: error.message, actual: error.actual };
    return { code: `non-NpzError: ${String(error)}`, message: String(error) };
  }
  return { code: 'no error', message: '' };
}

/** Byte comparison: deep equality over a million floats would dominate the test's time. */
function expectBig(data: Float32Array): void {
  const actual = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  expect(actual.equals(Buffer.from(expectedBig.buffer))).toBe(true);
}

async function readBig(url: string, options: HttpSourceOptions = FAST): Promise<Float32Array> {
  const file = await openNpz(url, { http: options });
  try {
    return (await file.get('big')).data as Float32Array;
  } finally {
    await file.close();
  }
}

function overlapsBig(req: IncomingMessage): { start: number; end: number } | undefined {
  const range = parseRange(req.headers.range, archive.length);
  if (typeof range === 'string' || range.end <= bigData.start || range.start >= bigData.end) return undefined;
  return range;
}

/** Writes a 206 head for `range` and only `sent` bytes of its body, then drops the connection. */
function cutAfter(res: ServerResponse, range: { start: number; end: number }, sent: number): void {
  res.writeHead(206, {
    'Content-Range': `bytes ${range.start}-${range.end - 1}/${archive.length}`,
    'Content-Length': range.end - range.start,
    ETag: '"v1"',
  });
  res.write(archive.subarray(range.start, range.start + sent), () => res.socket?.destroy());
}

describe('transient failures are retried and end in the right bytes', () => {
  it('a body cut mid-member resumes from where it stopped, asking only for the missing bytes', async () => {
    let cut: { start: number; end: number } | undefined;
    const { server, url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range !== undefined && cut === undefined && range.end - range.start > 200_000) {
        cut = range;
        cutAfter(res, range, 100_000);
        return;
      }
      context.serve(req, res);
    });
    expectBig(await readBig(url));
    if (cut === undefined) throw new Error('no request was cut');
    const cutRange = cut;
    const resumed = server.log.map((request) => parseRange(request.range, archive.length)).find(
      (range) => typeof range !== 'string' && range.end === cutRange.end && range.start > cutRange.start,
    );
    expect(resumed).toBeDefined();
    const resumedStart = (resumed as { start: number }).start;
    expect(resumedStart).toBeLessThanOrEqual(cutRange.start + 100_000);
  });

  it('a body cut, ended short, then cut again resumes each time after every byte received so far, and the bytes are right', async () => {
    const ranges: Array<{ start: number; end: number }> = [];
    const { url } = await serve((req, res, context) => {
      const range = parseRange(req.headers.range, archive.length);
      if (context.count > 1 && typeof range === 'object' && range.end === bigData.end) {
        ranges.push(range);
        // The first and third answers are cut by a dropped connection, the second ends cleanly but short
        // (chunked, so no Content-Length betrays it); the fourth completes the data.
        if (ranges.length === 1 || ranges.length === 3) return cutAfter(res, range, 100_000);
        if (ranges.length === 2) {
          res.writeHead(206, { 'Content-Range': `bytes ${range.start}-${range.end - 1}/${archive.length}`, ETag: '"v1"' });
          res.end(archive.subarray(range.start, range.start + 60_000));
          return;
        }
      }
      context.serve(req, res);
    });
    // One connection, so the read is one request (with idle connections it would be spread over them).
    const source = await httpSource(url, { ...FAST, concurrency: 1, requestSize: BIG * 2 });
    try {
      const bytes = await source.read(bigData.start, BIG);
      expect(Buffer.from(bytes).equals(Buffer.from(archive.subarray(bigData.start, bigData.end)))).toBe(true);
    } finally {
      await source.close();
    }
    expect(ranges).toHaveLength(4);
    const [first, second, third, fourth] = ranges.map((range) => range.start) as [number, number, number, number];
    expect(first).toBe(bigData.start);
    // Each retry starts past the bytes of every earlier attempt (all of them, when the server's writes arrived).
    expect(second).toBeGreaterThan(first);
    expect(third - second).toBe(60_000);
    expect(fourth).toBeGreaterThan(third);
    expect(fourth - first).toBeLessThanOrEqual(260_000);
  });

  it('the timeout counts from the last progress: slow headers, then a slow body, is no timeout', async () => {
    const timeoutMs = 1_000;
    const { url } = await serve(async (req, res, context) => {
      const range = parseRange(req.headers.range, archive.length);
      if (context.count === 1 || typeof range !== 'object') return context.serve(req, res);
      // Headers after 60% of the timeout, the body 60% of the timeout after them: never a full timeout of silence.
      await new Promise((resolve) => setTimeout(resolve, timeoutMs * 0.6));
      res.writeHead(206, { 'Content-Range': `bytes ${range.start}-${range.end - 1}/${archive.length}`, 'Content-Length': range.end - range.start, ETag: '"v1"' });
      res.flushHeaders();
      await new Promise((resolve) => setTimeout(resolve, timeoutMs * 0.6));
      res.end(archive.subarray(range.start, range.end));
    });
    const source = await httpSource(url, { ...FAST, timeoutMs, retries: 0 });
    try {
      const bytes = await source.read(bigData.start, 100_000);
      expect(Buffer.from(bytes).equals(Buffer.from(archive.subarray(bigData.start, bigData.start + 100_000)))).toBe(true);
      expect(source.stats.retries).toBe(0);
    } finally {
      await source.close();
    }
  });

  it('a connection reset before any response is retried', async () => {
    let resets = 0;
    const { url } = await serve((req, res, context) => {
      if (overlapsBig(req) !== undefined && resets < 2) {
        resets++;
        req.socket.destroy();
        return;
      }
      context.serve(req, res);
    });
    expectBig(await readBig(url));
    expect(resets).toBe(2);
  });

  it('503 with Retry-After: the retry waits as long as the server asked, then succeeds', async () => {
    let refused = false;
    const { server, url } = await serve((req, res, context) => {
      if (context.count === 2 && !refused) {
        refused = true;
        res.writeHead(503, { 'Retry-After': '1' }).end();
        return;
      }
      context.serve(req, res);
    });
    expectBig(await readBig(url));
    const refusedAt = server.log.findIndex((request) => request.status === 503);
    expect(refusedAt).toBe(1);
    const retry = server.log.slice(refusedAt + 1).find((request) => request.range === server.log[refusedAt]?.range);
    expect(retry).toBeDefined();
    // Measured on the server's side: the client honoured the second it was told to wait.
    expect((retry?.at ?? 0) - (server.log[refusedAt]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('429 twice, then success', async () => {
    let refusals = 0;
    const { server, url } = await serve((req, res, context) => {
      if (overlapsBig(req) !== undefined && refusals < 2) {
        refusals++;
        res.writeHead(429).end();
        return;
      }
      context.serve(req, res);
    });
    const source = await httpSource(url, FAST);
    const bytes = await source.read(bigData.start, 8);
    expect(Buffer.from(bytes).equals(Buffer.from(archive.subarray(bigData.start, bigData.start + 8)))).toBe(true);
    expect(source.stats.retries).toBe(2);
    await source.close();
    expect(server.log.filter((request) => request.status === 429)).toHaveLength(2);
  });

  it('per-request latency: slow answers still give the right bytes; one stalled answer is timed out and retried', async () => {
    let stalled = false;
    const { url } = await serve(async (req, res, context) => {
      if (overlapsBig(req) !== undefined && !stalled) {
        stalled = true;
        return; // never answers
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
      context.serve(req, res);
    });
    expectBig(await readBig(url, { ...FAST, timeoutMs: 300 }));
    expect(stalled).toBe(true);
  });
});

describe('when retries run out: ERR_REMOTE_NETWORK', () => {
  it('503 on every attempt: exactly 1 + retries requests for the range, then the error', async () => {
    const { server, url } = await serve((req, res, context) => {
      if (context.count > 1) {
        res.writeHead(503).end();
        return;
      }
      context.serve(req, res);
    });
    const source = await httpSource(url, { ...FAST, retries: 2 });
    const error = await errorOf(() => source.read(0, 100));
    await source.close();
    expect(error.code).toBe('ERR_REMOTE_NETWORK');
    expect(error.message).toMatch(/HTTP 503.*3 attempts/);
    expect(server.log.filter((request) => request.range === 'bytes=0-99')).toHaveLength(3);
  });

  it('a server that never answers: timeouts, retries, then the error (no hang)', async () => {
    const { url } = await serve((req, res, context) => {
      if (context.count === 1) context.serve(req, res);
    });
    const source = await httpSource(url, { retryDelayMs: 5, timeoutMs: 100, retries: 1 });
    const error = await errorOf(() => source.read(0, 100));
    await source.close();
    expect(error.code).toBe('ERR_REMOTE_NETWORK');
    expect(error.message).toMatch(/no data for 100 ms/);
  });

  it('nobody listening at all', async () => {
    const { server, url } = await serve(() => undefined);
    await server.close();
    servers = [];
    const error = await errorOf(() => httpSource(url, { retryDelayMs: 1, retries: 1 }));
    expect(error.code).toBe('ERR_REMOTE_NETWORK');
  });
});

describe('refusals', () => {
  it('Range ignored (200 with the whole body) is refused on the first response, without downloading it', async () => {
    const huge = new Uint8Array(64 * 1024 * 1024);
    const { server, url } = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': huge.length });
      let at = 0;
      const pump = (): void => {
        while (at < huge.length) {
          const chunk = huge.subarray(at, at + 65536);
          at += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => res.off('drain', pump));
      pump();
    }, huge);
    const error = await errorOf(() => openNpz(url, { http: FAST }));
    expect(error.code).toBe('ERR_REMOTE_RANGE');
    expect(error.message).toMatch(/ignored the Range header/);
    await expect.poll(() => server.log[0]?.closed).toBe(true);
    // Only what sat in socket buffers went out: nowhere near the 64 MiB body.
    expect(server.bytes()).toBeLessThan(huge.length / 4);
    expect(server.log).toHaveLength(1);
  });

  it('416 on a later request is ERR_REMOTE_STATUS; with a new total it is ERR_REMOTE_CHANGED', async () => {
    for (const [total, code] of [[archive.length, 'ERR_REMOTE_STATUS'], [archive.length - 1, 'ERR_REMOTE_CHANGED']] as const) {
      const { url } = await serve((req, res, context) => {
        if (context.count > 1) res.writeHead(416, { 'Content-Range': `bytes */${total}` }).end();
        else context.serve(req, res);
      });
      const error = await errorOf(() => readBig(url));
      expect(error.code).toBe(code);
      if (code === 'ERR_REMOTE_STATUS') expect(error.actual).toBe(416);
    }
  });

  it('an empty object answers the suffix range with 416: opening reports an empty input, not a network error', async () => {
    const { url } = await serve((req, res, context) => context.serve(req, res), new Uint8Array(0));
    expect((await errorOf(() => openNpz(url, { http: FAST }))).code).toBe('ERR_ZIP_NOT_ZIP');
  });

  it('401 without the auth header names the status and never prints the token; with the header it reads', async () => {
    const { url } = await serve((req, res, context) => {
      if (req.headers.authorization !== 'Bearer s3cret-token') res.writeHead(401).end();
      else context.serve(req, res);
    });
    const refused = await errorOf(() => openNpz(url, { http: { ...FAST, headers: { Authorization: 'Bearer wrong-token' } } }));
    expect(refused.code).toBe('ERR_REMOTE_STATUS');
    expect(refused.actual).toBe(401);
    expect(refused.message).toContain('401');
    expect(refused.message).not.toContain('token');
    expectBig(await readBig(url, { ...FAST, headers: { Authorization: 'Bearer s3cret-token' } }));
  });

  it('credentials in the URL are sent as Basic auth and never appear in messages, nor does a signed query', async () => {
    const { server, url } = await serve((req, res, context) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('alice:pa55word').toString('base64')}`) res.writeHead(403).end();
      else context.serve(req, res);
    });
    const withUser = url.replace('http://', 'http://alice:pa55word@');
    expectBig(await readBig(withUser));
    const refused = await errorOf(() => openNpz(`${url.replace('http://', 'http://alice:wrong@')}?X-Amz-Signature=deadbeef`, { http: FAST }));
    expect(refused.code).toBe('ERR_REMOTE_STATUS');
    expect(refused.message).not.toMatch(/alice|wrong|deadbeef|Signature/);
    expect(refused.message).toContain(`${server.origin}/ckpt.npz?…`);
  });

  it('a server without suffix ranges (416 for bytes=-N) is asked for the tail by offset instead', async () => {
    const { server, url } = await serve((req, res, context) => {
      if (req.headers.range?.startsWith('bytes=-')) return void res.writeHead(416, { 'Content-Range': `bytes */${archive.length}` }).end();
      context.serve(req, res);
    });
    expectBig(await readBig(url));
    expect(server.log[1]?.range).toBe(`bytes=${archive.length - 262144}-${archive.length - 1}`);
  });

  it('one part of a split read failing stops its sibling parts in flight', async () => {
    const hung: ServerResponse[] = [];
    const { url } = await serve(async (req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined || range.end - range.start < 200_000) return context.serve(req, res);
      if (range.start !== bigData.start) return void hung.push(res);
      // The first part fails once the three others (concurrency 4) are in flight.
      while (hung.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      res.writeHead(404).end();
    });
    const source = await httpSource(url, { ...FAST, concurrency: 4, requestSize: 256 * 1024, timeoutMs: 60_000 });
    const error = await errorOf(() => source.read(bigData.start, 1024 * 1024));
    expect(error.code).toBe('ERR_REMOTE_STATUS');
    expect(hung).toHaveLength(3);
    await expect.poll(() => hung.every((res) => res.socket === null || res.socket.destroyed)).toBe(true);
    await source.close();
  });

  it('any other status (404) is ERR_REMOTE_STATUS at once, not retried', async () => {
    const { server, url } = await serve((_req, res) => void res.writeHead(404).end());
    const error = await errorOf(() => openNpz(url, { http: FAST }));
    expect(error.code).toBe('ERR_REMOTE_STATUS');
    expect(error.actual).toBe(404);
    expect(server.log).toHaveLength(1);
  });

  it('a body longer than the range asked for is refused', async () => {
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined) return context.serve(req, res);
      // Chunked (no Content-Length), so only the client's own count can notice.
      res.writeHead(206, { 'Content-Range': `bytes ${range.start}-${range.end - 1}/${archive.length}`, ETag: '"v1"' });
      res.end(Buffer.concat([archive.subarray(range.start, range.end), Buffer.alloc(10)]));
    });
    const error = await errorOf(() => readBig(url));
    expect(error.code).toBe('ERR_REMOTE_RANGE');
    expect(error.message).toMatch(/more than the \d+ bytes asked for/);
  });

  it('a longer body with no length framing at all (ended by closing the connection) is refused, never copied past the range', async () => {
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined) return context.serve(req, res);
      // Raw HTTP: neither Content-Length nor chunked, so the body runs until the connection closes.
      const head = `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${range.start}-${range.end - 1}/${archive.length}\r\nETag: "v1"\r\nConnection: close\r\n\r\n`;
      req.socket.end(Buffer.concat([Buffer.from(head), archive.subarray(range.start, range.end), Buffer.alloc(4096, 0xee)]));
    });
    const source = await httpSource(url, FAST);
    try {
      const into = new Uint8Array(BIG + 8192).fill(0x11);
      const error = await errorOf(() => source.read(bigData.start, BIG, into));
      expect(error.code).toBe('ERR_REMOTE_RANGE');
      expect(error.message).toMatch(/more than the \d+ bytes asked for/);
      // Whatever landed before the refusal, nothing landed past the range.
      expect(into.subarray(BIG).every((byte) => byte === 0x11)).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('bytes written past a Content-Length never reach the read: it gets exactly its range, and later reads stay right', async () => {
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined) return context.serve(req, res);
      const head =
        `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${range.start}-${range.end - 1}/${archive.length}\r\n` +
        `Content-Length: ${range.end - range.start}\r\nETag: "v1"\r\n\r\n`;
      req.socket.end(Buffer.concat([Buffer.from(head), archive.subarray(range.start, range.end), Buffer.alloc(4096, 0xee)]));
    });
    const source = await httpSource(url, { ...FAST, requestSize: 1 << 20 });
    try {
      const into = new Uint8Array(BIG + 8192).fill(0x11);
      await source.read(bigData.start, BIG, into);
      expect(Buffer.from(into.subarray(0, BIG)).equals(Buffer.from(archive.subarray(bigData.start, bigData.end)))).toBe(true);
      expect(into.subarray(BIG).every((byte) => byte === 0x11)).toBe(true);
      const again = await source.read(bigData.start + 12345, 300_000);
      expect(Buffer.from(again).equals(Buffer.from(archive.subarray(bigData.start + 12345, bigData.start + 312_345)))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('a Content-Range that differs from the request is refused', async () => {
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined) return context.serve(req, res);
      const shifted = { start: range.start + 1, end: range.end + 1 };
      res.writeHead(206, { 'Content-Range': `bytes ${shifted.start}-${shifted.end - 1}/${archive.length}`, ETag: '"v1"' });
      res.end(archive.subarray(shifted.start, shifted.end));
    });
    expect((await errorOf(() => readBig(url))).code).toBe('ERR_REMOTE_RANGE');
  });

  it('a Content-Range that starts right but ends early is refused at once, not resumed as a cut body', async () => {
    let bodyRequests = 0;
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined) return context.serve(req, res);
      bodyRequests++;
      const short = { start: range.start, end: range.end - 100 };
      // Chunked (no Content-Length): only the Content-Range itself tells the answer is short.
      res.writeHead(206, { 'Content-Range': `bytes ${short.start}-${short.end - 1}/${archive.length}`, ETag: '"v1"' });
      res.end(archive.subarray(short.start, short.end));
    });
    const error = await errorOf(() => readBig(url, { ...FAST, concurrency: 1, requestSize: BIG * 2 }));
    expect(error.code).toBe('ERR_REMOTE_RANGE');
    expect(error.message).toMatch(/sent bytes \d+-\d+ for a request of/);
    expect(bodyRequests).toBe(1);
  });

  it('a Content-Length that disagrees with the range is refused at once, not retried', async () => {
    let bodyRequests = 0;
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      if (range === undefined) return context.serve(req, res);
      bodyRequests++;
      const sent = range.end - range.start - 10;
      res.writeHead(206, { 'Content-Range': `bytes ${range.start}-${range.end - 1}/${archive.length}`, 'Content-Length': sent, ETag: '"v1"' });
      res.end(archive.subarray(range.start, range.start + sent));
    });
    const error = await errorOf(() => readBig(url, { ...FAST, concurrency: 1, requestSize: BIG * 2 }));
    expect(error.code).toBe('ERR_REMOTE_RANGE');
    expect(error.message).toMatch(/declared \d+ body bytes for a \d+-byte range/);
    expect(bodyRequests).toBe(1);
  });

  it('a compressed (Content-Encoding) body is refused: its ranges are not file offsets', async () => {
    const { url } = await serve((req, res, context) => {
      res.setHeader('Content-Encoding', 'gzip');
      context.serve(req, res);
    });
    expect((await errorOf(() => openNpz(url, { http: FAST }))).code).toBe('ERR_REMOTE_RANGE');
  });

  it('bytes that changed on the server under an unchanged ETag fail the CRC: the reader limits hold remotely', async () => {
    const damaged = archive.slice();
    damaged[bigData.start + 1000] ^= 0x40;
    const { url } = await serve((req, res, context) => context.serve(req, res), damaged);
    expect((await errorOf(() => readBig(url))).code).toBe('ERR_ZIP_CRC_MISMATCH');
  });
});

describe('the object changing during a read: ERR_REMOTE_CHANGED, never a mix of versions', () => {
  const changedBytes = (): Uint8Array => {
    const copy = archive.slice();
    copy[bigData.start + 8] ^= 1;
    return copy;
  };

  it('a new ETag: If-Match makes the server answer 412', async () => {
    const { server, url } = await serve((req, res, context) => {
      if (context.count > 2) context.serve(req, res, { etag: '"v2"', bytes: changedBytes() });
      else context.serve(req, res);
    });
    const error = await errorOf(() => readBig(url));
    expect(error.code).toBe('ERR_REMOTE_CHANGED');
    expect(server.log.some((request) => request.status === 412 && request.ifMatch === '"v1"')).toBe(true);
  });

  it('a new ETag from a server that ignores If-Match is caught by the client', async () => {
    const { url } = await serve((req, res, context) => {
      if (context.count > 2) context.serve(req, res, { etag: '"v2"', bytes: changedBytes(), ignoreIfMatch: true });
      else context.serve(req, res);
    });
    const error = await errorOf(() => readBig(url));
    expect(error.code).toBe('ERR_REMOTE_CHANGED');
    expect(error.message).toMatch(/ETag is now "v2"/);
  });

  it('no ETag: a new Last-Modified is a change', async () => {
    const { url } = await serve((req, res, context) => {
      if (context.count > 2) context.serve(req, res, { etag: '', lastModified: 'Thu, 02 Jan 2025 00:00:00 GMT', bytes: changedBytes() });
      else context.serve(req, res, { etag: '' });
    });
    const error = await errorOf(() => readBig(url));
    expect(error.code).toBe('ERR_REMOTE_CHANGED');
    expect(error.message).toMatch(/Last-Modified/);
  });

  it('a weak ETag is compared but never sent as If-Match', async () => {
    const { server, url } = await serve((req, res, context) => {
      if (context.count > 2) context.serve(req, res, { etag: 'W/"b"', bytes: changedBytes() });
      else context.serve(req, res, { etag: 'W/"a"' });
    });
    expect((await errorOf(() => readBig(url))).code).toBe('ERR_REMOTE_CHANGED');
    expect(server.log.every((request) => request.ifMatch === undefined)).toBe(true);
  });

  it('a new size is a change', async () => {
    const longer = new Uint8Array(archive.length + 1);
    longer.set(archive);
    const { url } = await serve((req, res, context) => {
      if (context.count > 2) context.serve(req, res, { bytes: longer });
      else context.serve(req, res);
    });
    const error = await errorOf(() => readBig(url));
    expect(error.code).toBe('ERR_REMOTE_CHANGED');
    expect(error.message).toMatch(/size is now/);
  });
});

describe('redirects, concurrency, abort and close', () => {
  it('follows a redirect chain once, then asks the final URL directly', async () => {
    const { server } = await serve((req, res, context) => {
      if (req.url === '/resolve/ckpt.npz') return void res.writeHead(302, { Location: '/hop' }).end();
      if (req.url === '/hop') return void res.writeHead(307, { Location: '/cdn/ckpt.npz' }).end();
      if (req.url === '/cdn/ckpt.npz') return context.serve(req, res);
      res.writeHead(404).end();
    });
    expectBig(await readBig(`${server.origin}/resolve/ckpt.npz`));
    const paths = server.log.map((request) => request.url);
    expect(paths.slice(0, 3)).toEqual(['/resolve/ckpt.npz', '/hop', '/cdn/ckpt.npz']);
    expect(paths.slice(3).every((path) => path === '/cdn/ckpt.npz')).toBe(true);
    expect(paths.length).toBeGreaterThan(4);
  });

  it('a resolved URL that stops working (expired signature) is resolved again through the original URL', async () => {
    let expired = false;
    const { server } = await serve((req, res, context) => {
      if (req.url === '/resolve/ckpt.npz') {
        const target = expired ? '/cdn/ckpt.npz?sig=2' : '/cdn/ckpt.npz?sig=1';
        return void res.writeHead(302, { Location: target }).end();
      }
      if (req.url === '/cdn/ckpt.npz?sig=1' && context.count > 3) {
        expired = true;
        return void res.writeHead(403).end();
      }
      context.serve(req, res);
    });
    expectBig(await readBig(`${server.origin}/resolve/ckpt.npz`));
    expect(server.log.some((request) => request.url === '/cdn/ckpt.npz?sig=2')).toBe(true);
  });

  it('credentials are not carried to another origin, neither by the redirect nor by later direct requests', async () => {
    const { server: cdn, url: cdnUrl } = await serve((req, res, context) => context.serve(req, res));
    const { server: hub } = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer hub-token') return void res.writeHead(401).end();
      res.writeHead(302, { Location: cdnUrl }).end();
    });
    expectBig(await readBig(`${hub.origin}/resolve/ckpt.npz`, { ...FAST, headers: { Authorization: 'Bearer hub-token', 'X-Trace': 't1' } }));
    expect(hub.log).toHaveLength(1);
    expect(cdn.log.length).toBeGreaterThan(2);
    expect(cdn.log.every((request) => request.authorization === undefined)).toBe(true);
  });

  it('a same-origin redirect keeps every header; a cross-origin one drops Authorization, Cookie and Proxy-Authorization only', async () => {
    const headers = { Authorization: 'Bearer hub-token', Cookie: 'session=abc', 'Proxy-Authorization': 'Basic cHJveHk=', 'X-Trace': 't1' };
    const { server: cdn, url: cdnUrl } = await serve((req, res, context) => context.serve(req, res));
    const { server: hub } = await serve((req, res) => {
      if (req.url === '/resolve/ckpt.npz') return void res.writeHead(302, { Location: '/signed/ckpt.npz' }).end();
      // The same-origin hop must still carry the token, or this answers 401.
      if (req.headers.authorization !== 'Bearer hub-token') return void res.writeHead(401).end();
      res.writeHead(302, { Location: cdnUrl }).end();
    });
    expectBig(await readBig(`${hub.origin}/resolve/ckpt.npz`, { ...FAST, headers }));
    expect(hub.log.map((request) => request.url)).toEqual(['/resolve/ckpt.npz', '/signed/ckpt.npz']);
    expect(hub.log.every((request) => request.headers.cookie === 'session=abc' && request.headers['proxy-authorization'] === 'Basic cHJveHk=')).toBe(true);
    // Every request the other origin saw, the redirected one and the direct ones after it.
    expect(cdn.log.length).toBeGreaterThan(2);
    for (const request of cdn.log) {
      expect(request.headers.authorization).toBeUndefined();
      expect(request.headers.cookie).toBeUndefined();
      expect(request.headers['proxy-authorization']).toBeUndefined();
      expect(request.headers['x-trace']).toBe('t1');
    }
  });

  it('a redirect loop is refused at once, not retried and not followed forever', async () => {
    const { server, url } = await serve((req, res) => void res.writeHead(302, { Location: req.url === '/a' ? '/b' : '/a' }).end());
    const error = await errorOf(() => openNpz(url.replace('/ckpt.npz', '/a'), { http: FAST }));
    expect(error.code).toBe('ERR_REMOTE_NETWORK');
    expect(error.message).toMatch(/redirect loop/);
    expect(server.log.map((request) => request.url)).toEqual(['/a', '/b']);
  });

  it('a redirect chain longer than 10 hops ends in ERR_REMOTE_STATUS naming the limit, after exactly 11 requests', async () => {
    const { server, url } = await serve((req, res) => {
      const hop = Number(/^\/hop(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(302, { Location: `/hop${hop + 1}` }).end();
    });
    const error = await errorOf(() => openNpz(url, { http: FAST }));
    expect(error.code).toBe('ERR_REMOTE_STATUS');
    expect(error.actual).toBe(302);
    expect(error.message).toMatch(/more than 10 hops/);
    expect(server.log).toHaveLength(11);
  });

  it('close() closes the connections the source kept alive: the server sees none left open', async () => {
    const { server, url } = await serve((req, res, context) => context.serve(req, res));
    const source = await httpSource(url, { ...FAST, concurrency: 4, requestSize: 256 * 1024 });
    await source.read(bigData.start, BIG);
    // Keep-alive: the connections outlive the requests until the pool is closed.
    expect(server.openConnections()).toBeGreaterThan(1);
    await source.close();
    await expect.poll(() => server.openConnections(), { timeout: 2_000 }).toBe(0);
  });

  it("goes through a caller's dispatcher (a proxy, say) and leaves it open on close()", async () => {
    const { server, url } = await serve((req, res, context) => context.serve(req, res));
    let dispatched = 0;
    const agent = new Agent();
    const counting = agent.compose((dispatch) => (options, handler) => {
      dispatched++;
      return dispatch(options, handler);
    });
    try {
      const source = await httpSource(url, { ...FAST, dispatcher: counting });
      const bytes = await source.read(bigData.start, 4096);
      expect(Buffer.from(bytes).equals(Buffer.from(archive.subarray(bigData.start, bigData.start + 4096)))).toBe(true);
      await source.close();
      expect(dispatched).toBe(server.log.length);
      expect(dispatched).toBeGreaterThanOrEqual(2);
      // Still the caller's to use.
      const after = await agent.request({ origin: new URL(url).origin, path: new URL(url).pathname, method: 'GET', headers: { range: 'bytes=0-0' } });
      await after.body.dump();
      expect(after.statusCode).toBe(206);
    } finally {
      await agent.close();
    }
  });

  it('a read of 1 MiB or more alone is spread over the idle connections; one issued while they are all busy goes out in requestSize parts', async () => {
    const { server, url } = await serve((req, res, context) => context.serve(req, res));
    const source = await httpSource(url, { ...FAST, concurrency: 4, requestSize: 1 << 20 });
    try {
      const lengthOf = (range: string | undefined): number => {
        const parsed = parseRange(range, archive.length);
        return typeof parsed === 'string' ? -1 : parsed.end - parsed.start;
      };
      // Below 1 MiB (header-scan windows) a read stays one request, idle connections or not.
      let before = server.log.length;
      await source.read(bigData.start, (1 << 20) - 1);
      expect(server.log.slice(before).map((request) => lengthOf(request.range))).toEqual([(1 << 20) - 1]);
      before = server.log.length;
      const alone = await source.read(bigData.start, 1 << 20);
      expect(Buffer.from(alone).equals(Buffer.from(archive.subarray(bigData.start, bigData.start + (1 << 20))))).toBe(true);
      expect(server.log.slice(before).map((request) => lengthOf(request.range))).toEqual([262144, 262144, 262144, 262144]);
      before = server.log.length;
      // The first read takes every connection (4 parts of 1 MiB); the second finds none idle.
      const [busy, late] = await Promise.all([source.read(bigData.start, BIG), source.read(bigData.start + 100, 1 << 20)]);
      expect(Buffer.from(busy).equals(Buffer.from(archive.subarray(bigData.start, bigData.end)))).toBe(true);
      expect(Buffer.from(late).equals(Buffer.from(archive.subarray(bigData.start + 100, bigData.start + 100 + (1 << 20))))).toBe(true);
      expect(server.log.slice(before).map((request) => lengthOf(request.range))).toEqual([1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20]);
    } finally {
      await source.close();
    }
  });

  it('asks for identity encoding, so ranges are file offsets', async () => {
    const { server, url } = await serve((req, res, context) => context.serve(req, res));
    expectBig(await readBig(url));
    // Node 20's fetch repeats the value ('identity, identity'); what matters is that no compression is offered.
    const offered = server.log.flatMap((request) => (request.acceptEncoding ?? '').split(',').map((token) => token.trim()));
    expect(new Set(offered)).toEqual(new Set(['identity']));
  });

  it('maxArrayBytes refuses a large array before its data is fetched', async () => {
    const { server, url } = await serve((req, res, context) => context.serve(req, res));
    const file = await openNpz(url, { http: FAST, maxArrayBytes: 1024 * 1024 });
    const before = server.bytes();
    expect((await errorOf(() => file.get('big'))).code).toBe('ERR_NPY_TOO_LARGE');
    await file.close();
    expect(server.bytes() - before).toBeLessThan(128 * 1024);
  });

  it('keeps at most `concurrency` requests in flight for a large read, and uses them', async () => {
    let inFlight = 0;
    let peak = 0;
    const { url } = await serve(async (req, res, context) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      res.on('close', () => inFlight--);
      await new Promise((resolve) => setTimeout(resolve, 20));
      context.serve(req, res);
    });
    const source = await httpSource(url, { ...FAST, concurrency: 3, requestSize: 256 * 1024 });
    peak = 0;
    const bytes = await source.read(bigData.start, BIG);
    await source.close();
    expect(Buffer.from(bytes).equals(Buffer.from(archive.subarray(bigData.start, bigData.end)))).toBe(true);
    expect(peak).toBe(3);
  });

  it('a slot freed while reads wait goes to one waiting read only: a read issued later still finds no spare slot', async () => {
    let inFlight = 0;
    let peak = 0;
    let served = 0;
    const { url } = await serve(async (req, res, context) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      res.on('close', () => inFlight--);
      await new Promise((resolve) => setTimeout(resolve, 15));
      context.serve(req, res);
      served++;
    });
    const source = await httpSource(url, { ...FAST, concurrency: 3, requestSize: 128 * 1024 });
    peak = 0;
    served = 0;
    const first = source.read(bigData.start, BIG);
    // Several parts of the first read have finished and handed their slots to waiting parts.
    await expect.poll(() => served, { timeout: 10_000, interval: 5 }).toBeGreaterThanOrEqual(6);
    const second = source.read(bigData.start, 1024 * 1024);
    const [a, b] = await Promise.all([first, second]);
    await source.close();
    expect(Buffer.from(a).equals(Buffer.from(archive.subarray(bigData.start, bigData.end)))).toBe(true);
    expect(Buffer.from(b).equals(Buffer.from(archive.subarray(bigData.start, bigData.start + 1024 * 1024)))).toBe(true);
    expect(peak).toBe(3);
  });

  it('an AbortSignal stops the requests in flight: ERR_ABORTED, and the server sees the connection go', async () => {
    const hung: ServerResponse[] = [];
    const { url } = await serve((req, res, context) => {
      const range = overlapsBig(req);
      // Header windows are answered; the array's data requests hang.
      if (range !== undefined && range.end - range.start > 100_000) hung.push(res);
      else context.serve(req, res);
    });
    const controller = new AbortController();
    const file: NpzFile = await openNpz(url, { http: { ...FAST, timeoutMs: 60_000 }, signal: controller.signal });
    const pending = errorOf(() => file.get('big'));
    await expect.poll(() => hung.length).toBeGreaterThan(0);
    controller.abort();
    expect((await pending).code).toBe('ERR_ABORTED');
    await expect.poll(() => hung.every((res) => res.destroyed || res.socket === null || res.socket.destroyed)).toBe(true);
    await file.close();
  });

  it('close() stops reads in flight with ERR_NPZ_CLOSED, and later reads too', async () => {
    const { server, url } = await serve((req, res, context) => {
      if (context.count === 1) context.serve(req, res);
    });
    const source = await httpSource(url, FAST);
    const pending = errorOf(() => source.read(0, 1000));
    await expect.poll(() => server.log.length).toBe(2);
    await source.close();
    expect((await pending).code).toBe('ERR_NPZ_CLOSED');
    expect((await errorOf(() => source.read(0, 10))).code).toBe('ERR_NPZ_CLOSED');
  });
});

describe('reads that grow the cached tail', () => {
  it('two concurrent reads below the tail whose answers arrive in reverse order both get their own bytes', async () => {
    const tailSize = 4096;
    const cacheStart = archive.length - tailSize;
    // The lower read's answer is held back until the higher read has grown the tail.
    let releaseLow: (() => void) | undefined;
    const { url } = await serve((req, res, context) => {
      const range = parseRange(req.headers.range, archive.length);
      if (context.count > 1 && typeof range === 'object' && range.start === cacheStart - 3000) {
        releaseLow = () => context.serve(req, res);
        return;
      }
      context.serve(req, res);
      if (context.count > 1 && releaseLow !== undefined) setTimeout(() => releaseLow?.(), 20);
    });
    const source = await httpSource(url, { ...FAST, tailSize });
    try {
      const low = source.read(cacheStart - 3000, 100);
      // Let the lower read go out first, so the server holds its answer.
      await new Promise((resolve) => setTimeout(resolve, 30));
      const high = source.read(cacheStart - 1000, 100);
      const [lowBytes, highBytes] = await Promise.all([low, high]);
      expect(Buffer.from(lowBytes).equals(Buffer.from(archive.subarray(cacheStart - 3000, cacheStart - 2900)))).toBe(true);
      expect(Buffer.from(highBytes).equals(Buffer.from(archive.subarray(cacheStart - 1000, cacheStart - 900)))).toBe(true);
      // Both grown ranges stay cached: a read across them costs no request.
      const again = await source.read(cacheStart - 3000, 3000);
      expect(Buffer.from(again).equals(Buffer.from(archive.subarray(cacheStart - 3000, cacheStart)))).toBe(true);
    } finally {
      await source.close();
    }
  });
});
