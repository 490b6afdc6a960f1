/**
 * The static viewer's computing side: a dedicated Worker that opens the chosen Files (or same-origin URLs) with the
 * browser entry and answers the page's requests with the very functions `npz-stream view` runs on its server
 * (overview, statistics and histogram, preview, diff), so both give the same numbers. The build bundles this file
 * with esbuild into `assets/worker.js`; it is the one module under src/cli/ that imports `browser/index.ts`
 * (test/architecture.test.ts names the exception).
 *
 * Messages in: `{ type: 'open', inputs, bins }`, `{ type: 'request', id, path, params }`, `{ type: 'cancel', id }`.
 * Messages out: `{ type: 'opened', files, bins }`, then per request `progress` lines and one `result` or `error`,
 * in the shapes the server's JSON API has (numbers as numbers: structured clone keeps NaN and Infinity).
 */
import { NpzError, blobSource, httpSource, openNpz, openSafetensors, openSafetensorsIndex, type ArrayFile, type RandomAccessSource } from '../../../browser/index.js';
import { formatOf, isDamagedEntry, reportedByName, type ReportedEntry, type TensorEntry } from '../../entries.js';
import { compareOrReport, diffPlan, orderDiffs, tensorDiffPlan, type TensorDiff } from '../diff-report.js';
import { overviewOf, rowOf, type Overview } from '../overview.js';
import { streamedBoxReader, tensorPreview, type BoxReader } from '../preview.js';
import { WorkProgress } from '../progress-report.js';
import { rangeBoxReader } from '../raw-boxes.js';
import { DEFAULT_BINS, reportBytes, tensorReport, type TensorReport } from '../tensor-report.js';

export type StaticInput = { kind: 'file'; file: File } | { kind: 'url'; url: string } | { kind: 'folder'; files: File[] };

interface OpenedFile {
  index: number;
  label: string;
  path: string;
  size: number | null;
  error: { code: string; message: string } | null;
  file?: ArrayFile;
  readBoxes?: BoxReader;
}

/** What a request that cannot be answered says, as the server's JSON errors do (status 404 or 422). */
class ViewRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function errorBody(error: unknown): { code: string; message: string } {
  let root = error;
  // Wrapped errors carry the NpzError that explains them as their cause.
  for (let depth = 0; depth < 8 && !(root instanceof NpzError) && root instanceof Error && root.cause !== undefined; depth++) root = root.cause;
  if (root instanceof NpzError || root instanceof ViewRequestError) return { code: root.code, message: root.message };
  return { code: 'ERR_IO', message: error instanceof Error ? error.message : String(error) };
}

/** A URL's label as the command line prints it: no user info, no query (a signature). */
function urlLabel(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search === '' ? '' : '?…'}`;
}

/** The page's own origin: the static viewer reads no other (its CSP forbids it; this says why, before a request). */
function sameOriginUrl(text: string): URL {
  const here = (globalThis as { location?: { href: string; origin: string } }).location;
  let url: URL;
  try {
    url = new URL(text, here?.href);
  } catch {
    throw new NpzError('ERR_INVALID_ARGUMENT', `not a valid URL: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (here !== undefined && url.origin !== here.origin) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `${urlLabel(url)} is on another origin; the static viewer reads files chosen here or URLs beside the page (${here.origin}) only`);
  }
  return url;
}

/**
 * Every request the worker makes goes through here: the page's origin only, whatever asks (a URL typed in, a shard
 * a shard index names).
 */
const sameOriginFetch: typeof fetch = (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  try {
    sameOriginUrl(url);
  } catch (error) {
    return Promise.reject(error);
  }
  return fetch(input, init);
};

const isIndexName = (name: string): boolean => /\.json$/i.test(name);

/** The inputs as opened: the Files of a shard index and its shards (chosen or dropped together) are one checkpoint. */
export function groupInputs(inputs: readonly StaticInput[]): StaticInput[] {
  const files = inputs.flatMap((input) => (input.kind === 'file' ? [input.file] : []));
  if (files.some((file) => isIndexName(file.name))) return [{ kind: 'folder', files }];
  return inputs.slice(0, 2);
}

async function openOne(input: StaticInput, index: number): Promise<OpenedFile> {
  const label = index === 0 ? 'A' : 'B';
  let path = input.kind === 'file' ? input.file.name : input.kind === 'url' ? input.url : (input.files.find((file) => isIndexName(file.name))?.name ?? 'shards');
  let size: number | null = input.kind === 'file' ? input.file.size : input.kind === 'folder' ? input.files.reduce((sum, file) => sum + file.size, 0) : null;
  let source: RandomAccessSource | undefined;
  try {
    if (input.kind === 'folder') {
      const file = await openSafetensorsIndex(input.files);
      return { index, label, path, size, error: null, file, readBoxes: streamedBoxReader(file) };
    }
    let formatName = path;
    if (input.kind === 'file') source = blobSource(input.file);
    else {
      const url = sameOriginUrl(input.url);
      path = urlLabel(url);
      formatName = url.pathname;
      if (isIndexName(formatName)) {
        // The shards are fetched beside the index, each through the same-origin fetch.
        const file = await openSafetensorsIndex(url, { http: { fetch: sameOriginFetch } });
        return { index, label, path, size, error: null, file, readBoxes: streamedBoxReader(file) };
      }
      source = await httpSource(url, { fetch: sameOriginFetch });
      size = source.size;
    }
    const format = formatOf(formatName);
    if (format === 'npy') throw new NpzError('ERR_INVALID_ARGUMENT', 'a bare .npy file is not opened by the static viewer; `npz-stream view` opens it');
    const file = format === 'safetensors' ? await openSafetensors(source) : await openNpz(source);
    const opened = source;
    const readBoxes = rangeBoxReader(async () => opened, streamedBoxReader(file));
    return { index, label, path, size, error: null, file, readBoxes };
  } catch (error) {
    await source?.close().catch(() => {});
    return { index, label, path, size, error: errorBody(error) };
  }
}

/** The answers of the server's API (src/cli/view/server.ts), computed here; caches as the server's. */
class LocalView {
  readonly #arrays = new Map<number, Map<string, ReportedEntry>>();
  readonly #overviews = new Map<number, Promise<Overview>>();
  readonly #reports = new Map<string, TensorReport>();
  readonly #tensorDiffs = new Map<string, TensorDiff>();
  #diff: TensorDiff[] | undefined;

  constructor(
    readonly files: OpenedFile[],
    readonly bins: number,
  ) {}

  #opened(params: Record<string, string>): { index: number; file: ArrayFile; view: OpenedFile } {
    const text = params['file'] ?? '';
    const index = /^[01]$/.test(text) ? Number(text) : -1;
    const view = this.files[index];
    if (view === undefined) throw new ViewRequestError(404, 'ERR_INVALID_ARGUMENT', `no file ${JSON.stringify(text)}; files are 0..${this.files.length - 1}`);
    if (view.file === undefined) throw new ViewRequestError(422, view.error?.code ?? 'ERR_IO', view.error?.message ?? 'the file could not be opened');
    return { index, file: view.file, view };
  }

  /** Arrays and damaged members (which stand where their array would), by name, as the server indexes them. */
  #arraysOf(index: number, file: ArrayFile): Map<string, ReportedEntry> {
    let arrays = this.#arrays.get(index);
    if (arrays === undefined) {
      arrays = reportedByName(file.entries);
      this.#arrays.set(index, arrays);
    }
    return arrays;
  }

  #tensor(params: Record<string, string>): { index: number; file: ArrayFile; view: OpenedFile; entry: TensorEntry } {
    const opened = this.#opened(params);
    const name = params['name'] ?? '';
    const entry = this.#arraysOf(opened.index, opened.file).get(name);
    if (entry !== undefined && isDamagedEntry(entry)) throw new ViewRequestError(422, entry.error.code, entry.error.message);
    if (entry === undefined) throw new ViewRequestError(404, 'ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in the file`);
    return { ...opened, entry };
  }

  #pair(): [ArrayFile, ArrayFile] {
    const [viewA, viewB] = this.files;
    if (viewA === undefined || viewB === undefined) throw new ViewRequestError(404, 'ERR_INVALID_ARGUMENT', 'the diff needs two files');
    const failed = [viewA, viewB].find((view) => view.file === undefined);
    if (failed !== undefined || viewA.file === undefined || viewB.file === undefined) {
      throw new ViewRequestError(422, failed?.error?.code ?? 'ERR_IO', failed?.error?.message ?? 'a file could not be opened');
    }
    return [viewA.file, viewB.file];
  }

  /** The work for one request: its size in bytes (for progress), and how to do it. */
  plan(path: string, params: Record<string, string>): { total: number; run(signal: AbortSignal, progress: WorkProgress): Promise<unknown> } {
    switch (path) {
      case 'files':
        return { total: 0, run: async () => ({ files: this.files.map(({ index, label, path, size, error }) => ({ index, label, path, size, error })), bins: this.bins }) };
      case 'overview': {
        const { index, file } = this.#opened(params);
        return {
          total: 0,
          run: () => {
            let overview = this.#overviews.get(index);
            if (overview === undefined) {
              // In a worker nothing waits on it: one go, no pauses.
              overview = overviewOf(file, () => Promise.resolve());
              this.#overviews.set(index, overview);
              overview.catch(() => this.#overviews.delete(index));
            }
            return overview;
          },
        };
      }
      case 'entry': {
        const { entry } = this.#tensor(params);
        return { total: 0, run: async () => rowOf(entry) };
      }
      case 'preview': {
        const { file, entry, view } = this.#tensor(params);
        return { total: 0, run: (signal) => tensorPreview(entry, view.readBoxes ?? streamedBoxReader(file), signal) };
      }
      case 'tensor': {
        const { index, file, entry } = this.#tensor(params);
        const key = `${index}\0${entry.name}`;
        const cached = this.#reports.get(key);
        return {
          total: cached === undefined ? reportBytes(entry) : 0,
          run: async (signal, progress) => {
            if (cached !== undefined) return cached;
            const report = await tensorReport(file, entry, { bins: this.bins, signal, progress });
            this.#reports.set(key, report);
            return report;
          },
        };
      }
      case 'tensor-diff': {
        const [fileA, fileB] = this.#pair();
        const name = params['name'] ?? '';
        const plan = tensorDiffPlan(this.#arraysOf(0, fileA).get(name), this.#arraysOf(1, fileB).get(name));
        if (plan.structural === undefined && plan.pending === undefined) throw new ViewRequestError(404, 'ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in either file`);
        const cached = plan.structural ?? this.#tensorDiffs.get(name) ?? this.#diff?.find((diff) => diff.name === name);
        const pending = plan.pending;
        return {
          total: cached === undefined && pending !== undefined ? pending.a.byteLength : 0,
          run: async (signal, progress) => {
            if (cached !== undefined) return cached;
            const diff = await compareOrReport(fileA, fileB, pending!, signal, progress);
            this.#tensorDiffs.set(name, diff);
            return diff;
          },
        };
      }
      case 'diff': {
        const [fileA, fileB] = this.#pair();
        const cached = this.#diff;
        const plan = diffPlan(fileA, fileB);
        return {
          total: cached === undefined ? plan.pending.reduce((sum, pair) => sum + pair.a.byteLength, 0) : 0,
          run: async (signal, progress) => {
            if (cached !== undefined) return cached;
            const diffs = [...plan.structural];
            for (const pair of plan.pending) diffs.push(await compareOrReport(fileA, fileB, pair, signal, progress));
            this.#diff = orderDiffs(diffs);
            return this.#diff;
          },
        };
      }
      default:
        throw new ViewRequestError(404, 'ERR_INVALID_ARGUMENT', `no request ${JSON.stringify(path)}`);
    }
  }
}

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

const PROGRESS_INTERVAL_MS = 100;

/** Wires the protocol to `scope` (the worker's global; a test may pass its own). */
export function serveLocalView(scope: WorkerScope): void {
  let view: LocalView | undefined;
  let opening: Promise<LocalView> | undefined;
  const running = new Map<number, AbortController>();

  const answer = async (id: number, path: string, params: Record<string, string>): Promise<void> => {
    const controller = new AbortController();
    running.set(id, controller);
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      const current = view ?? (await opening);
      if (current === undefined) throw new ViewRequestError(422, 'ERR_INVALID_ARGUMENT', 'no file is open');
      const work = current.plan(path, params);
      const progress = new WorkProgress(work.total);
      let reported = -1;
      const report = (): void => {
        if (progress.done === reported) return;
        reported = progress.done;
        scope.postMessage({ type: 'progress', id, done: progress.done, total: progress.total, detail: progress.detail });
      };
      if (work.total > 0) {
        report();
        timer = setInterval(report, PROGRESS_INTERVAL_MS);
      }
      const result = await work.run(controller.signal, progress);
      if (work.total > 0) report();
      scope.postMessage({ type: 'result', id, result });
    } catch (error) {
      if (!controller.signal.aborted) scope.postMessage({ type: 'error', id, status: error instanceof ViewRequestError ? error.status : 500, error: errorBody(error) });
    } finally {
      if (timer !== undefined) clearInterval(timer);
      running.delete(id);
    }
  };

  scope.addEventListener('message', (event) => {
    const message = event.data as { type?: string; id?: number; path?: string; params?: Record<string, string>; inputs?: StaticInput[]; bins?: number };
    if (message.type === 'open') {
      const bins = Number.isInteger(message.bins) && message.bins! >= 1 && message.bins! <= 1000 ? message.bins! : DEFAULT_BINS;
      const inputs = groupInputs(message.inputs ?? []);
      opening = Promise.all(inputs.map(openOne)).then((files) => (view = new LocalView(files, bins)));
      void opening.then((opened) => scope.postMessage({ type: 'opened', files: opened.files.map(({ index, label, path, size, error }) => ({ index, label, path, size, error })), bins }));
    } else if (message.type === 'request' && typeof message.id === 'number') {
      void answer(message.id, String(message.path ?? ''), message.params ?? {});
    } else if (message.type === 'cancel' && typeof message.id === 'number') {
      running.get(message.id)?.abort(new NpzError('ERR_ABORTED', 'the page stopped waiting'));
    }
  });
}

const scope = globalThis as unknown as Partial<WorkerScope> & { document?: unknown };
// Started as a worker (no document): answer the page.
if (typeof scope.postMessage === 'function' && scope.document === undefined && typeof scope.addEventListener === 'function') serveLocalView(scope as WorkerScope);
