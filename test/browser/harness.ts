import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import send from 'send';
import type { Browser, BrowserContext, Page } from 'playwright-core';

/**
 * The browser tests' world: the built library, the page helpers and the test files served on 127.0.0.1 (ranges and
 * ETags by `send`), and Debian's chromium driven through playwright-core. No browser is ever downloaded.
 */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const PAGE_DIR = fileURLToPath(new URL('./page/', import.meta.url));

export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  console.warn(`\n!!! SKIPPED browser tests: no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH) !!!\n`);
  return false;
}

/** Flags for a headless chromium on a shared machine with no network: no GPU, no sandbox, no background traffic. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-default-apps',
];

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // playwright adds --headless and a fresh temporary --user-data-dir itself.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface Served {
  method: string;
  url: string;
  range: string | undefined;
  status: number;
}

export interface TestServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  log: Served[];
  close(): Promise<void>;
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>npz-stream browser tests</title>
<input type="file" id="picker" multiple>
<input type="file" id="folder" webkitdirectory multiple>
`;

export interface ServerOptions {
  /** Directory served under /files/ (ranges, ETag, Last-Modified). */
  files: string;
  /** Send CORS headers (for a page of another origin); `expose: false` leaves Content-Range unexposed. */
  cors?: { expose: boolean };
}

/**
 * /page.html (an empty page with file inputs), /dist/ (the built library), /page/ (the page helpers), /files/ (the
 * test files, by ranges), /norange/ (the same files, Range ignored: whole 200s).
 */
export async function startServer(options: ServerOptions): Promise<TestServer> {
  const log: Served[] = [];
  const sockets = new Set<Socket>();
  const serve = (req: IncomingMessage, res: ServerResponse, root: string, path: string): void => {
    send(req, path, { root, etag: true, lastModified: true, acceptRanges: true, cacheControl: false, dotfiles: 'deny' })
      .on('error', (error: { status?: number }) => {
        res.statusCode = error.status ?? 500;
        res.end();
      })
      .pipe(res);
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const entry: Served = { method: req.method ?? 'GET', url: url.pathname, range: req.headers.range, status: 0 };
    log.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    if (options.cors !== undefined) {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-allow-headers', 'range, if-match, authorization');
      if (options.cors.expose) res.setHeader('access-control-expose-headers', 'content-range, etag, last-modified, content-length');
      if (req.method === 'OPTIONS') {
        res.statusCode = 204;
        res.end();
        return;
      }
    }
    const path = decodeURIComponent(url.pathname);
    if (path === '/favicon.ico') {
      res.statusCode = 204;
      res.end();
    } else if (path === '/page.html' || path === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE);
    } else if (path.startsWith('/dist/')) serve(req, res, join(ROOT, 'dist'), path.slice('/dist'.length));
    else if (path.startsWith('/page/')) serve(req, res, PAGE_DIR, path.slice('/page'.length));
    else if (path.startsWith('/files/')) serve(req, res, options.files, path.slice('/files'.length));
    else if (path.startsWith('/norange/')) {
      delete req.headers.range;
      serve(req, res, options.files, path.slice('/norange'.length));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A fresh page on the server's /page.html, its console errors and uncaught exceptions collected. */
export async function openPage(browser: Browser, server: TestServer): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(`${server.origin}/page.html`);
  return { context, page, errors };
}
