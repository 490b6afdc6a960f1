import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UndiciExchange } from '../../src/node/objectstore/exchange.js';

/**
 * The upload exchange's timeout is a no-progress timeout: a part that keeps moving on a slow link is never cut
 * off, however long it takes in all; a part the server stops reading fails (retryably) once nothing moved for the
 * timeout. undici's own headers timeout, which starts once the whole body is handed to the socket, cut a steady
 * 24 MiB part off on a link slower than 24 MiB per timeout.
 */

let server: Server | undefined;
afterEach(async () => {
  // A request the server never finished reading keeps its connection open: close it, or close() waits forever.
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A server that reads each request body slowly (a pause after every chunk), or not at all, then answers. */
async function slowReader(pauseMs: number | 'never'): Promise<string> {
  server = createServer((request, response) => {
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      request.pause();
      if (pauseMs !== 'never') setTimeout(() => request.resume(), pauseMs);
    });
    request.on('end', () => response.end(`received ${received}`));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}/part`;
}

describe('upload exchange timeout', () => {
  it('a part that keeps moving is not cut off, though sending it takes longer than the timeout', async () => {
    const url = await slowReader(8);
    const exchange = new UndiciExchange({ connections: 1, timeoutMs: 2000 });
    try {
      const body = new Uint8Array(24 << 20);
      const result = await exchange.send({ method: 'PUT', url, headers: [['content-length', String(body.byteLength)]], body }, new AbortController().signal);
      expect(result.ok ? result.text : result.failure.reason).toBe(`received ${24 << 20}`);
    } finally {
      await exchange.close();
    }
  }, 30_000);

  it('a part the server stops reading fails, retryably, once nothing moved for the timeout', async () => {
    const url = await slowReader('never');
    const exchange = new UndiciExchange({ connections: 1, timeoutMs: 500 });
    try {
      const body = new Uint8Array(24 << 20);
      const result = await exchange.send({ method: 'PUT', url, headers: [['content-length', String(body.byteLength)]], body }, new AbortController().signal);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.failure).toMatchObject({ permanent: false, reason: 'no progress for 500 ms' });
    } finally {
      await exchange.close();
    }
  }, 30_000);
});
