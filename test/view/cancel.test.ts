import { request, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { openNpz, type NpzFile } from '../../src/index.js';
import { startViewServer, type ViewServer } from '../../src/cli/view/server.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { slowly, type Reads } from '../helpers/view.js';

/**
 * Long work stops when the page stops waiting: the server's reads are aborted when the response closes early, and
 * progress arrives while the work runs. The file below is the real fixture, read 8 bytes per 10 ms so that
 * "while it runs" lasts long enough to observe.
 */

const TENSOR = 'llm/layers/attn/q_einsum/w'; // float32 (2, 2, 8, 4): 512 bytes, ~0.7 s per pass at this pace

let server: ViewServer | undefined;
let real: NpzFile | undefined;

afterEach(async () => {
  await server?.close();
  await real?.close();
  server = undefined;
  real = undefined;
});

async function serve(log: string[]): Promise<{ reads: Reads; port: number; token: string }> {
  real = await openNpz(PALIGEMMA);
  const reads: Reads = { started: [], completed: [], stoppedEarly: [] };
  server = await startViewServer({ files: [{ path: 'slow.npz', file: slowly(real, reads) }, { path: 'same.npz', file: slowly(real, reads) }], log: (line) => log.push(line) });
  return { reads, port: server.port, token: server.token };
}

/** Opens an NDJSON endpoint and hands back its lines as they come, and the request to abort. */
function open(port: number, path: string): Promise<{ lines: () => unknown[]; abort: () => void; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (response: IncomingMessage) => {
      const lines: unknown[] = [];
      let buffered = '';
      const ended = new Promise<void>((done) => response.on('end', done).on('close', done));
      response.setEncoding('utf8').on('data', (text: string) => {
        buffered += text;
        let end;
        while ((end = buffered.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buffered.slice(0, end)));
          buffered = buffered.slice(end + 1);
        }
      });
      resolve({ lines: () => lines, abort: () => req.destroy(), ended });
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}

async function until(condition: () => boolean, what: string | (() => string)): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 10_000) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(10);
  }
}

type ProgressLine = { type: string; done: number; total: number };

describe('view server work', () => {
  it('reports progress while a tensor is read, then the result', async () => {
    const log: string[] = [];
    const { reads, port, token } = await serve(log);
    const stream = await open(port, `/api/tensor?file=0&name=${encodeURIComponent(TENSOR)}&token=${token}`);
    await stream.ended;
    const lines = stream.lines() as ProgressLine[];
    const progress = lines.filter((line) => line.type === 'progress');
    // Two passes (statistics, histogram) over 512 bytes, reported as it goes, not only at the end.
    expect(progress.at(-1)).toMatchObject({ done: 1024, total: 1024 });
    expect(progress.some((line) => line.done > 0 && line.done < 1024)).toBe(true);
    expect(lines.at(-1)).toMatchObject({ type: 'result', result: { name: TENSOR, stats: { count: 128 } } });
    expect(reads.completed).toEqual([TENSOR, TENSOR]);
    expect(log).toEqual([]);
  });

  it('stops reading when the page stops waiting for a tensor', async () => {
    const log: string[] = [];
    const { reads, port, token } = await serve(log);
    const stream = await open(port, `/api/tensor?file=0&name=${encodeURIComponent(TENSOR)}&token=${token}`);
    await until(() => (stream.lines() as ProgressLine[]).some((line) => line.type === 'progress' && line.done > 0), 'the first progress');
    stream.abort();
    await until(() => reads.stoppedEarly.length > 0, 'the read to stop');
    expect(reads.stoppedEarly).toEqual([TENSOR]);
    expect(reads.completed).toEqual([]);
    await until(() => log.length > 0, 'the log line');
    expect(log[0]).toMatch(/^view: cancelled statistics of llm\/layers\/attn\/q_einsum\/w after \d+ B of 1\.00 KiB: the page stopped waiting$/);
    // Nothing else starts reading afterwards.
    await sleep(100);
    expect(reads.started).toEqual([TENSOR]);
  });

  it('stops the diff of two files when the page leaves, and no read is left running', async () => {
    const log: string[] = [];
    const { reads, port, token } = await serve(log);
    const stream = await open(port, `/api/diff?token=${token}`);
    await until(() => (stream.lines() as ProgressLine[]).some((line) => line.type === 'progress' && line.done > 0), 'the first progress');
    stream.abort();
    await until(() => reads.stoppedEarly.length > 0, 'the read to stop');
    const startedBefore = reads.started.length;
    // Every read that began either finished before the abort or stopped; none is left running.
    await sleep(50);
    expect(reads.completed.length + reads.stoppedEarly.length).toBe(reads.started.length);
    // The tensor being compared, in A (and in B when its read had begun).
    expect(reads.stoppedEarly.length).toBeLessThanOrEqual(2);
    expect(new Set(reads.stoppedEarly).size).toBe(1);
    await until(() => log.length > 0, 'the log line');
    expect(log[0]).toMatch(/^view: cancelled the diff after /);
    await sleep(100);
    expect(reads.started.length).toBe(startedBefore);
  });
});
