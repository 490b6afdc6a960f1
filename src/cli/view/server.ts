import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ArrayFile } from '../../index.js';
import { isDamagedEntry, reportedByName, type ReportedEntry, type TensorEntry } from '../npz-input.js';
import { formatBytes } from '../table.js';
import { loadAssets, type PageAssets } from './assets.js';
import { compareOrReport, diffPlan, orderDiffs, tensorDiffPlan, type TensorDiff } from './diff-report.js';
import { TOKEN_PARAMETER, newToken, refusalOf } from './guard.js';
import { jsonInSlices } from './json-text.js';
import { nextTurn, overviewOf, rowOf } from './overview.js';
import { streamedBoxReader, tensorPreview, type BoxReader } from './preview.js';
import { DEFAULT_BINS, reportBytes, tensorReport, type TensorReport } from './tensor-report.js';
import { RunningWork, errorBody, jsonNumbers, streamWork } from './work-stream.js';

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
  /** How the preview reads parts of a tensor; default: streaming the tensor up to the last value shown. */
  readBoxes?: BoxReader;
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

/** Resolves when the response can take more, or has closed (a page that left does not leave this waiting). */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(value, jsonNumbers));
}

class ViewApi {
  readonly #files: readonly ViewFile[];
  readonly #bins: number;
  readonly #log: (line: string) => void;
  readonly #running: RunningWork;
  /** Each file's overview as JSON text, made once (in slices, between other requests) and then served as is. */
  readonly #overviews = new Map<number, Promise<Uint8Array[]>>();
  readonly #reports = new Map<string, TensorReport>();
  readonly #arrays = new Map<number, Map<string, ReportedEntry>>();
  #diff: TensorDiff[] | undefined;
  /** Single tensors compared for the tensor page, by name. */
  readonly #tensorDiffs = new Map<string, TensorDiff>();

  constructor(options: ViewServerOptions, running: RunningWork) {
    this.#files = options.files;
    this.#bins = options.bins ?? DEFAULT_BINS;
    this.#log = options.log ?? (() => {});
    this.#running = running;
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
      case '/api/entry':
        return this.#entry(query, response);
      case '/api/tensor':
        return this.#tensor(query, response);
      case '/api/preview':
        return this.#preview(query, response);
      case '/api/diff':
        return this.#diffAll(response);
      case '/api/tensor-diff':
        return this.#diffOne(query, response);
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

  /** A file's arrays (and damaged members, which stand where their array would) by name, indexed on first use (a file may hold 100 000 of them). */
  #arraysOf(index: number, file: ArrayFile): Map<string, ReportedEntry> {
    let arrays = this.#arrays.get(index);
    if (arrays === undefined) {
      arrays = reportedByName(file.entries);
      this.#arrays.set(index, arrays);
    }
    return arrays;
  }

  #tensorOf(query: URLSearchParams, response: ServerResponse): { index: number; file: ArrayFile; entry: TensorEntry; view: ViewFile } | undefined {
    const opened = this.#fileOf(query, response);
    if (opened === undefined) return undefined;
    const name = query.get('name') ?? '';
    const entry = this.#arraysOf(opened.index, opened.file).get(name);
    if (entry !== undefined && isDamagedEntry(entry)) {
      sendJson(response, 422, { error: entry.error, damaged: true });
      return undefined;
    }
    if (entry === undefined) {
      sendJson(response, 404, { error: { code: 'ERR_NPZ_NOT_FOUND', message: `no array named ${JSON.stringify(name)} in the file` } });
      return undefined;
    }
    return { ...opened, entry, view: this.#files[opened.index]! };
  }

  async #overview(query: URLSearchParams, response: ServerResponse): Promise<void> {
    const opened = this.#fileOf(query, response);
    if (opened === undefined) return;
    const { index, file } = opened;
    let text = this.#overviews.get(index);
    if (text === undefined) {
      text = overviewOf(file).then((overview) => jsonInSlices(overview, jsonNumbers, nextTurn));
      this.#overviews.set(index, text);
      text.catch(() => this.#overviews.delete(index));
    }
    const pieces = await text;
    response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': pieces.reduce((sum, piece) => sum + piece.length, 0) });
    // Piece by piece as the connection takes them: tens of megabytes are never copied in one go.
    for (const piece of pieces) {
      if (response.destroyed) return;
      if (!response.write(piece)) await drained(response);
    }
    response.end();
  }

  /** One tensor's row of the overview, for the tensor page (without the whole overview of a large file). */
  #entry(query: URLSearchParams, response: ServerResponse): void {
    const target = this.#tensorOf(query, response);
    if (target !== undefined) sendJson(response, 200, rowOf(target.entry));
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
      { running: this.#running, onCancel: (progress) => this.#cancelled(`statistics of ${entry.name}`, progress) },
    );
    if (result !== undefined && cached === undefined) {
      if (this.#reports.size >= REPORT_CACHE_LIMIT) this.#reports.delete(this.#reports.keys().next().value!);
      this.#reports.set(key, result);
    }
  }

  async #preview(query: URLSearchParams, response: ServerResponse): Promise<void> {
    const target = this.#tensorOf(query, response);
    if (target === undefined) return;
    const controller = this.#running.start();
    const cancel = (): void => {
      if (!response.writableEnded) controller.abort();
    };
    response.on('close', cancel);
    try {
      const readBoxes = target.view.readBoxes ?? streamedBoxReader(target.file);
      const preview = await tensorPreview(target.entry, readBoxes, controller.signal);
      sendJson(response, 200, preview);
    } catch (error) {
      if (!controller.signal.aborted) sendJson(response, 422, { error: errorBody(error) });
    } finally {
      this.#running.finish(controller);
      response.off('close', cancel);
    }
  }

  /** Both opened files of a pair, or undefined after answering with why there are not two. */
  #pair(response: ServerResponse): [ArrayFile, ArrayFile] | undefined {
    const [viewA, viewB] = this.#files;
    if (viewA === undefined || viewB === undefined) {
      sendJson(response, 404, { error: { code: 'ERR_INVALID_ARGUMENT', message: 'the diff needs two files' } });
      return undefined;
    }
    const failed = [viewA, viewB].find((view) => view.file === undefined);
    if (failed !== undefined || viewA.file === undefined || viewB.file === undefined) {
      sendJson(response, 422, { error: failed?.error ?? { code: 'ERR_IO', message: 'a file could not be opened' } });
      return undefined;
    }
    return [viewA.file, viewB.file];
  }

  /** What changed in one tensor between A and B (the tensor page of a pair). */
  async #diffOne(query: URLSearchParams, response: ServerResponse): Promise<void> {
    const pair = this.#pair(response);
    if (pair === undefined) return;
    const [fileA, fileB] = pair;
    const name = query.get('name') ?? '';
    const plan = tensorDiffPlan(this.#arraysOf(0, fileA).get(name), this.#arraysOf(1, fileB).get(name));
    if (plan.structural === undefined && plan.pending === undefined) {
      return sendJson(response, 404, { error: { code: 'ERR_NPZ_NOT_FOUND', message: `no array named ${JSON.stringify(name)} in either file` } });
    }
    const cached = plan.structural ?? this.#tensorDiffs.get(name) ?? this.#diff?.find((diff) => diff.name === name);
    const pending = plan.pending;
    const result = await streamWork(
      response,
      {
        total: cached === undefined && pending !== undefined ? pending.a.byteLength : 0,
        run: async (signal, progress) => cached ?? compareOrReport(fileA, fileB, pending!, signal, progress),
      },
      { running: this.#running, onCancel: (progress) => this.#cancelled(`the comparison of ${name}`, progress) },
    );
    if (result !== undefined && cached === undefined) {
      if (this.#tensorDiffs.size >= REPORT_CACHE_LIMIT) this.#tensorDiffs.delete(this.#tensorDiffs.keys().next().value!);
      this.#tensorDiffs.set(name, result);
    }
  }

  async #diffAll(response: ServerResponse): Promise<void> {
    const pair = this.#pair(response);
    if (pair === undefined) return;
    const [fileA, fileB] = pair;
    const cached = this.#diff;
    const plan = diffPlan(fileA, fileB);
    const result = await streamWork(
      response,
      {
        total: cached === undefined ? plan.pending.reduce((sum, pair) => sum + pair.a.byteLength, 0) : 0,
        run: async (signal, progress) => {
          if (cached !== undefined) return cached;
          const diffs = [...plan.structural];
          for (const pair of plan.pending) diffs.push(await compareOrReport(fileA, fileB, pair, signal, progress));
          return orderDiffs(diffs);
        },
      },
      { running: this.#running, onCancel: (progress) => this.#cancelled('the diff', progress) },
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
  const running = new RunningWork();
  const api = new ViewApi(options, running);
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
      running.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
