import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { startView, type RunningView } from '../helpers/view.js';

/**
 * The view server's rules, each with a request that must be refused: no token, a wrong token, a Host that is not
 * 127.0.0.1:port (DNS rebinding), paths that try to leave the named files, methods other than GET, and any
 * address but loopback.
 */

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(view: RunningView, path: string, options: { host?: string; method?: string; address?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.address ?? '127.0.0.1',
        port: view.port,
        // Sent byte for byte: node does not normalise '..' in a request path.
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? `127.0.0.1:${view.port}` },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (text: string) => (body += text));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let view: RunningView;
let token: string;

beforeAll(async () => {
  view = await startView([PALIGEMMA]);
  token = view.token;
});

afterAll(async () => {
  expect(await view.stop()).toBe(0);
});

describe('npz-stream view: the URL', () => {
  it('is printed first on stdout, on 127.0.0.1, with a 256-bit random token', async () => {
    const url = new URL(view.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ok = await get(view, `/?token=${token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('npz-stream view');
    expect(ok.headers['content-security-policy']).toContain("default-src 'none'");
    expect(ok.headers['referrer-policy']).toBe('no-referrer');
  });

  it('carries a different token on every start', async () => {
    const other = await startView([PALIGEMMA]);
    try {
      expect(other.token).not.toBe(token);
      expect((await get(other, `/api/files?token=${token}`)).status).toBe(403);
    } finally {
      await other.stop();
    }
  });
});

describe('npz-stream view refuses', () => {
  it.each(['/', '/api/files', '/assets/app.js', '/api/overview?file=0', '/api/tensor?file=0&name=img/head/kernel'])(
    'a request without the token: %s -> 401',
    async (path) => {
      const answer = await get(view, path);
      expect(answer.status).toBe(401);
      expect(answer.body).not.toContain('img/head/kernel');
    },
  );

  it('a wrong token, an empty one, and the right one cut short -> 403 / 401', async () => {
    const wrong = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect((await get(view, `/api/files?token=${wrong}`)).status).toBe(403);
    expect((await get(view, `/api/files?token=${token.slice(0, 20)}`)).status).toBe(403);
    expect((await get(view, `/api/files?token=`)).status).toBe(401);
    // The token in another parameter or a header does not count.
    expect((await get(view, `/api/files?tok=${token}`)).status).toBe(401);
  });

  it.each([
    ['a rebinding domain', (port: number) => `evil.example:${port}`],
    ['a rebinding domain without the port', () => 'evil.example'],
    ['loopback on another port', (port: number) => `127.0.0.1:${port + 1}`],
    ['another loopback spelling', (port: number) => `127.1:${port}`],
    ['the machine name', (port: number) => `0.0.0.0:${port}`],
  ])('a Host header naming %s, even with the token -> 403', async (_label, host) => {
    const answer = await get(view, `/api/overview?file=0&token=${token}`, { host: host(view.port) });
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain('img/head/kernel');
  });

  it('but accepts localhost:port, which only this machine resolves', async () => {
    expect((await get(view, `/api/files?token=${token}`, { host: `localhost:${view.port}` })).status).toBe(200);
  });

  it.each([
    '/assets/../../package.json',
    '/assets/..%2F..%2Fpackage.json',
    '/assets/%2e%2e/%2e%2e/package.json',
    '/../../../../etc/passwd',
    '/..%2f..%2f..%2fetc%2fpasswd',
    '/assets/index.html',
    '/assets/',
    '/src/cli/view/assets/app.js',
    '/package.json',
    '/api/../package.json',
    '/api/overview?file=/etc/passwd',
    '/api/overview?file=../package.json',
    '/api/overview?file=2',
    '/api/overview?file=-1',
    '/api/tensor?file=0&name=../../../../etc/passwd',
    '/api/preview?file=0&name=/etc/passwd',
    '/api/tensor?file=0',
    '/api/raw?path=/etc/passwd',
  ])('a path outside the named files: %s -> 404', async (path) => {
    const answer = await get(view, `${path}${path.includes('?') ? '&' : '?'}token=${token}`);
    expect(answer.status).toBe(404);
    expect(answer.body).not.toMatch(/root:|"name": "npz-stream"|"devDependencies"|createElementNS/);
  });

  it.each(['POST', 'PUT', 'DELETE', 'OPTIONS'])('method %s -> 405', async (method) => {
    expect((await get(view, `/api/files?token=${token}`, { method })).status).toBe(405);
  });

  it('connections to any address but loopback', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal);
    if (external === undefined) {
      console.warn('no non-loopback IPv4 address on this machine; only the printed address was checked');
      return;
    }
    await expect(get(view, `/api/files?token=${token}`, { address: external.address })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
