import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import type { NpzFile } from '../../src/index.js';
import { runPython } from './python.js';
import { makeTempDir } from './tmp.js';
import { BIN, ROOT, ensureBuilt } from './cli.js';

/**
 * Runs `npz-stream view` the way a person does (the built CLI, its URL read from the first line of stdout) and
 * drives Debian's chromium through playwright-core. No browser is ever downloaded.
 */

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const BINS = 64;

export function browserAvailable(testFile: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  console.warn(`\n!!! SKIPPED ${testFile}: no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH) !!!\n`);
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // playwright adds --headless and a fresh temporary --user-data-dir itself; the rest keeps chromium off the network.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface RunningView {
  url: string;
  port: number;
  token: string;
  stderr(): string;
  /** Ctrl-C, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startView(args: readonly string[], options: { cwd?: string } = {}): Promise<RunningView> {
  ensureBuilt();
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [BIN, 'view', ...args], {
    cwd: options.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const end = stdout.indexOf('\n');
      if (end >= 0) resolve(stdout.slice(0, end));
    });
    void exited.then((code) => reject(new Error(`npz-stream view exited (${code}) before printing its URL: ${stderr}`)));
  });
  const parsed = new URL(url);
  return {
    url,
    port: Number(parsed.port),
    token: parsed.searchParams.get('token') ?? '',
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

export interface ViewExpectations {
  names: string[];
  histograms: Record<string, { min: number; max: number; counts: number[] }>;
  /** [name, ||a - b|| / ||a||], largest first, from numpy in float64. */
  changed: [string, number][];
  equal: string[];
  onlyB: string[];
  shapeChanged: string[];
  flipped: string;
}

/** base.npz, tuned.npz, truncated.npz and flipped.npz written by numpy, with what numpy says about them. */
export function makeViewFixtures(): { dir: string; expected: ViewExpectations } {
  const dir = makeTempDir('view').path;
  const script = fileURLToPath(new URL('./make_view_fixtures.py', import.meta.url));
  const output = runPython(`import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')`, [script, dir, String(BINS)]);
  return { dir, expected: JSON.parse(output) as ViewExpectations };
}

export const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));

export interface Reads {
  started: string[];
  completed: string[];
  stoppedEarly: string[];
}

/** The file, read 8 bytes per 10 ms, so work on it lasts long enough to watch and to walk away from. */
export function slowly(file: NpzFile, reads: Reads): NpzFile {
  return {
    format: file.format,
    entries: file.entries,
    has: (name) => file.has(name),
    get: (name) => file.get(name),
    shard: (name, options) => file.shard(name, options),
    get readStats() {
      return file.readStats;
    },
    close: () => file.close(),
    chunks(name, options = {}) {
      return (async function* () {
        reads.started.push(name);
        let complete = false;
        try {
          for await (const chunk of file.chunks(name)) {
            for (let at = 0; at < chunk.length; at += 8) {
              await sleep(10, undefined, options.signal === undefined ? {} : { signal: options.signal });
              yield chunk.slice(at, at + 8);
            }
          }
          complete = true;
        } finally {
          (complete ? reads.completed : reads.stoppedEarly).push(name);
        }
      })();
    },
  };
}

