import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ArrayFile } from '../../index.js';
import { isArrayEntry, isDamagedEntry, type TensorEntry } from '../npz-input.js';
import { formatBytes } from '../table.js';
import { loadAssets, type PageAssets } from './assets.js';
import { compareOrReport, diffPlan, orderDiffs, type TensorDiff } from './diff-report.js';
import { TOKEN_PARAMETER, newToken, refusalOf } from './guard.js';
import { overviewOf, type Overview } from './overview.js';
import { DEFAULT_BINS, reportBytes, tensorPreview, tensorReport, type TensorReport } from './tensor-report.js';
import { errorBody, jsonNumbers, streamWork } from './work-stream.js';

/**
 * The HTTP side of `npz-stream view`: the page, and a small JSON API over the files named on the command line.
 * Files are addressed by their position (0 for A, 1 for B) and tensors by their key in that file, never by a
 * path, so nothing outside the named files can be reached.
 */

export const LOOPBACK = '127.0.0.1';

export interface ViewFile {
  /** As given on the command line, for display. */
  path: string;
  /** File size in bytes, when known. */
  size?: number;
  file?: ArrayFile;
  /** Why the file could not be opened (the page shows it). */
  error?: { code: string; message: string };
}

export interface ViewServerOptions {
  files: readonly ViewFile[];
  /** 0 (default) picks a free port. */
  port?: number;
  bins?: number;
  /** One line per notable event (cancelled work, failures). */
  log?: (line: string) => void;
}

export interface ViewServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

/** Finished results, so revisiting a tensor or reloading the diff costs nothing; a few hundred small objects. */
const REPORT_CACHE_LIMIT = 512;

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(`${text}\n`);
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(value, jsonNumbers));
}

class ViewApi {
  readonly #files: readonly ViewFile[];
  readonly #bins: number;
  readonly #log: (line: string) => void;
  readonly #stopping: AbortSignal;
  readonly #overviews = new Map<number, Overview>();
  readonly #reports = new Map<string, TensorReport>();
  #diff: TensorDiff[] | undefined;

  constructor(options: ViewServerOptions, stopping: AbortSignal) {
    this.#files = options.files;
    this.#bins = options.bins ?? DEFAULT_BINS;
    this.#log = options.log ?? (() => {});
    this.#stopping = stopping;
  }

  async handle(route: string, query: URLSearchParams, response: ServerResponse): Promise<void> {
    switch (route) {
      case '/api/files':
        return sendJson(response, 200, {
          files: this.#files.map((view, index) => ({
            index,
            label: index === 0 ? 'A' : 'B',
            path: view.path,
            size: view.size ?? null,
            error: view.error ?? null,
          })),
          bins: this.#bins,
        });
      case '/api/overview':
        return this.#overview(query, response);
      case '/api/tensor':
        return this.#tensor(query, response);
      case '/api/preview':
        return this.#preview(query, response);
      case '/api/diff':
        return this.#diffAll(response);
      default:
        return sendText(response, 404, 'not found');
    }
  }

  /** The opened file a request names, or undefined after answering with the reason. */
  #fileOf(query: URLSearchParams, response: ServerResponse): { index: number; file: ArrayFile } | undefined {
    const text = query.get('file') ?? '';
    const index = /^[01]$/.test(text) ? Number(text) : -1;
    const view = this.#files[index];
    if (view === undefined) {
      sendJson(response, 404, { error: { code: 'ERR_INVALID_ARGUMENT', message: `no file ${JSON.stringify(text)}; files are 0..${this.#files.length - 1}` } });
      return undefined;
    }
    if (view.file === undefined) {
      sendJson(response, 422, { error: view.error ?? { code: 'ERR_IO', message: 'the file could not be opened' } });
      return undefined;
    }
    return { index, file: view.file };
  }

  #tensorOf(query: URLSearchParams, response: ServerResponse): { index: number; file: ArrayFile; entry: TensorEntry } | undefined {
    const opened = this.#fileOf(query, response);
    if (opened === undefined) return undefined;
    const name = query.get('name') ?? '';
    const entry = opened.file.entries.find((candidate) => candidate.name === name);
    if (entry !== undefined && isDamagedEntry(entry)) {
      sendJson(response, 422, { error: entry.error, damaged: true });
      return undefined;
    }
    if (entry === undefined || !isArrayEntry(entry)) {
      sendJson(response, 404, { error: { code: 'ERR_NPZ_NOT_FOUND', message: `no array named ${JSON.stringify(name)} in the file` } });
      return undefined;
    }
    return { ...opened, entry };
  }

  #overview(query: URLSearchParams, response: ServerResponse): void {
    const opened = this.#fileOf(query, response);
    if (opened === undefined) return;
    let overview = this.#overviews.get(opened.index);
    if (overview === undefined) {
      overview = overviewOf(opened.file);
      this.#overviews.set(opened.index, overview);
    }
    sendJson(response, 200, overview);
  }

  async #tensor(query: URLSearchParams, response: ServerResponse): Promise<void> {
    const target = this.#tensorOf(query, response);
    if (target === undefined) return;
    const { index, file, entry } = target;
    const key = `${index}\0${entry.name}`;
    const cached = this.#reports.get(key);
    const bins = this.#bins;
    const result = await streamWork(
      response,
      {
        total: cached === undefined ? reportBytes(entry) : 0,
        run: async (signal, progress) => cached ?? tensorReport(file, entry, { bins, signal, progress }),
      },
      { serverSignal: this.#stopping, onCancel: (progress) => this.#cancelled(`statistics of ${entry.name}`, progress) },
    );
    if (result !== undefined && cached === undefined) {
      if (this.#reports.size >= REPORT_CACHE_LIMIT) this.#reports.delete(this.#reports.keys().next().value!);
      this.#reports.set(key, result);
    }
  }

  async #preview(query: URLSearchParams, response: ServerResponse): Promise<void> {
    const target = this.#tensorOf(query, response);
    if (target === undefined) return;
    const controller = new AbortController();
    const cancel = (): void => {
      if (!response.writableEnded) controller.abort();
    };
    response.on('close', cancel);
    try {
      const preview = await tensorPreview(target.file, target.entry, AbortSignal.any([controller.signal, this.#stopping]));
      sendJson(response, 200, preview);
    } catch (error) {
      if (!controller.signal.aborted) sendJson(response, 422, { error: errorBody(error) });
    } finally {
      response.off('close', cancel);
    }
  }

  async #diffAll(response: ServerResponse): Promise<void> {
    const [viewA, viewB] = this.#files;
    if (viewA === undefined || viewB === undefined) return sendJson(response, 404, { error: { code: 'ERR_INVALID_ARGUMENT', message: 'the diff needs two files' } });
    const failed = [viewA, viewB].find((view) => view.file === undefined);
    if (failed !== undefined || viewA.file === undefined || viewB.file === undefined) {
      return sendJson(response, 422, { error: failed?.error ?? { code: 'ERR_IO', message: 'a file could not be opened' } });
    }
    const fileA = viewA.file;
    const fileB = viewB.file;
    const cached = this.#diff;
    const plan = diffPlan(fileA, fileB);
    const result = await streamWork(
      response,
      {
        total: cached === undefined ? plan.pending.reduce((sum, entry) => sum + entry.byteLength, 0) : 0,
        run: async (signal, progress) => {
          if (cached !== undefined) return cached;
          const diffs = [...plan.structural];
          for (const entry of plan.pending) diffs.push(await compareOrReport(fileA, fileB, entry, signal, progress));
          return orderDiffs(diffs);
        },
      },
      { serverSignal: this.#stopping, onCancel: (progress) => this.#cancelled('the diff', progress) },
    );
    if (result !== undefined) this.#diff = result;
  }

  #cancelled(what: string, progress: { done: number; total: number }): void {
    this.#log(`view: cancelled ${what} after ${formatBytes(progress.done)} of ${formatBytes(progress.total)}: the page stopped waiting`);
  }
}

export async function startViewServer(options: ViewServerOptions): Promise<ViewServer> {
  const token = newToken();
  const assets: PageAssets = loadAssets(token);
  const stopping = new AbortController();
  const api = new ViewApi(options, stopping.signal);
  let port = options.port ?? 0;

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    let url: URL;
    try {
      url = new URL(request.url ?? '/', `http://${LOOPBACK}:${port}`);
    } catch {
      return sendText(response, 400, 'bad request');
    }
    const refusal = refusalOf(request, url, { token, port });
    if (refusal !== undefined) return sendText(response, refusal.status, `refused: ${refusal.reason}`);
    const route = url.pathname;
    if (route === '/') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      return void response.end(assets.page);
    }
    if (route.startsWith('/assets/')) {
      const asset = assets.asset(route.slice('/assets/'.length));
      if (asset === undefined) return sendText(response, 404, 'not found');
      response.writeHead(200, { 'Content-Type': asset.contentType });
      return void response.end(asset.body);
    }
    if (route.startsWith('/api/')) {
      api.handle(route, url.searchParams, response).catch((error: unknown) => {
        options.log?.(`view: ${route} failed: ${errorBody(error).message}`);
        if (!response.headersSent) sendJson(response, 500, { error: errorBody(error) });
        else response.destroy();
      });
      return;
    }
    sendText(response, 404, 'not found');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${LOOPBACK}:${port}/?${TOKEN_PARAMETER}=${token}`,
    port,
    token,
    close: async () => {
      stopping.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
