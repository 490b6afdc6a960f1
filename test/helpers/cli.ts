import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the built CLI as a subprocess, the way a user does. `ensureBuilt` rebuilds dist/ only when a source file
 * is newer than the bin, under a lock so parallel test files do not run tsc at the same time.
 */

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'dist', 'cli', 'main.js');

function newestMtime(directory: string): number {
  let newest = 0;
  for (const dirent of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, dirent.name);
    newest = Math.max(newest, dirent.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function isStale(): boolean {
  try {
    return statSync(BIN).mtimeMs < newestMtime(join(ROOT, 'src'));
  } catch {
    return true;
  }
}

export function ensureBuilt(): void {
  if (!isStale()) return;
  const lock = join(tmpdir(), 'npz-stream-cli-build.lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`could not take the build lock ${lock}`);
      spawnSync('sleep', ['0.2']);
    }
  }
  try {
    if (!isStale()) return;
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    // tsc emits even when another module has a type error; the CLI tests only need the emitted files.
    if (isStale()) throw new Error(`npm run build did not refresh ${BIN}:\n${build.stdout}\n${build.stderr}`);
  } finally {
    rmdirSync(lock);
  }
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const RELAUNCH_GUARD = 'NPZ_STREAM_HUGETLB_RELAUNCHED';
const HUGETLB = 'glibc.malloc.hugetlb=1';

/**
 * The environment a CLI run gets: the CLI relaunches itself once with glibc's huge-page tunable set
 * (src/cli/hugepages.ts), and a test that runs it for its output need not pay for two node processes each time, so
 * the tunable and the relaunch guard are set up front, as the relaunched process would have them. A test that
 * sets either itself keeps its own; the relaunch is tested on its own in test/cli/hugepages.test.ts, and `startCli`
 * and `startView` (Ctrl-C tests) still go through it.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (env[RELAUNCH_GUARD] !== undefined || /(^|:)glibc\.malloc\.hugetlb=/.test(env['GLIBC_TUNABLES'] ?? '')) return env;
  const tunables = env['GLIBC_TUNABLES'] ?? '';
  return { ...env, GLIBC_TUNABLES: tunables === '' ? HUGETLB : `${tunables}:${HUGETLB}`, [RELAUNCH_GUARD]: '1' };
}

export function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    encoding: 'utf8',
    env: cliEnv(options.env),
    maxBuffer: 1 << 28,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `runCli` with standard output as bytes, and standard input fed from `input` when given. */
export function runCliBytes(args: readonly string[], options: { input?: Uint8Array } = {}): { status: number | null; stdout: Buffer; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(), input: options.input, maxBuffer: 1 << 28 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString('utf8') };
}

/** Starts the CLI without waiting, for tests that signal it mid-run; `preload` modules are given to node --import. */
export function startCli(args: readonly string[], preload: readonly string[] = []) {
  const imports = preload.flatMap((module) => ['--import', module]);
  return spawn(process.execPath, [...imports, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The preload that parks the CLI's second write until SIGINT (see pause-mid-write.mjs). */
export const PAUSE_MID_WRITE = new URL('./pause-mid-write.mjs', import.meta.url).href;

/** `runCli` without blocking this process, for a CLI that talks to a server the test runs in-process. */
export function runCliAsync(args: readonly string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
