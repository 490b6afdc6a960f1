import type { ServerResponse } from 'node:http';
import { NpzError } from '../../index.js';
import { rootError } from '../context.js';
import { WorkProgress } from './progress-report.js';

/**
 * Long work answered as NDJSON: a progress line every 100 ms, then one `result` or `error` line. When the page
 * stops waiting (it navigated away, or aborted its fetch) the response closes and the work is aborted, so an
 * abandoned 2 GB pass stops reading within a chunk.
 */

const PROGRESS_INTERVAL_MS = 100;

/** JSON has no NaN or Infinity; the page turns these strings back into numbers. */
export function jsonNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function errorBody(error: unknown): { code: string; message: string } {
  const root = rootError(error);
  return { code: root.code, message: root.message };
}

/**
 * The work a server has in progress, each with a controller of its own, so that closing the server stops all of
 * it. One shared signal with a listener per request would hold one listener per request in flight (Node warns
 * past ten); here a request adds itself to a set and leaves it when done.
 */
export class RunningWork {
  readonly #controllers = new Set<AbortController>();
  #stopped: NpzError | undefined;

  /** A controller for new work; already aborted once the server stops. Pass it to `finish` when done. */
  start(): AbortController {
    const controller = new AbortController();
    if (this.#stopped !== undefined) controller.abort(this.#stopped);
    else this.#controllers.add(controller);
    return controller;
  }

  finish(controller: AbortController): void {
    this.#controllers.delete(controller);
  }

  /** Work in progress, for tests and logs. */
  get size(): number {
    return this.#controllers.size;
  }

  stop(): void {
    this.#stopped ??= new NpzError('ERR_ABORTED', 'the server is stopping');
    for (const controller of this.#controllers) controller.abort(this.#stopped);
    this.#controllers.clear();
  }
}

export interface StreamedWork<T> {
  total: number;
  run(signal: AbortSignal, progress: WorkProgress): Promise<T>;
}

/** Streams `work` to `response`; resolves with the result, or undefined when it failed or was cancelled. */
export async function streamWork<T>(
  response: ServerResponse,
  work: StreamedWork<T>,
  events: { running: RunningWork; onCancel(progress: WorkProgress): void },
): Promise<T | undefined> {
  const controller = events.running.start();
  const progress = new WorkProgress(work.total);
  const write = (line: unknown): void => {
    if (!response.writableEnded && !response.destroyed) response.write(`${JSON.stringify(line, jsonNumbers)}\n`);
  };
  const cancel = (): void => {
    if (response.writableEnded || controller.signal.aborted) return;
    controller.abort(new NpzError('ERR_ABORTED', 'the page stopped waiting'));
    events.onCancel(progress);
  };
  response.on('close', cancel);

  response.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8' });
  let reported = -1;
  const report = (): void => {
    if (progress.done === reported) return;
    reported = progress.done;
    write({ type: 'progress', done: progress.done, total: progress.total, detail: progress.detail });
  };
  report();
  const timer = setInterval(report, PROGRESS_INTERVAL_MS);
  try {
    const result = await work.run(controller.signal, progress);
    report();
    write({ type: 'result', result });
    return result;
  } catch (error) {
    if (!controller.signal.aborted) write({ type: 'error', error: errorBody(error) });
    return undefined;
  } finally {
    clearInterval(timer);
    events.running.finish(controller);
    response.off('close', cancel);
    if (!response.writableEnded) response.end();
  }
}
