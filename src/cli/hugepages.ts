/**
 * The CLI runs with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: glibc (2.35 and later) then asks the kernel for
 * transparent huge pages on the large allocations that hold arrays, as numpy does for its own. Page faults on
 * fresh memory are most of a read's time on VMs, and a huge page takes one fault where 4 KiB pages take 512.
 * A tunable is read once when the process starts, so the CLI relaunches itself once with it set, for the
 * commands where that pays: those that move array data, on more than a little local input (see relaunchPays).
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';

const TUNABLE = 'glibc.malloc.hugetlb';
const HUGETLB = `${TUNABLE}=1`;
/** Set in the relaunched process (so it never relaunches again); set it yourself to opt out. */
export const RELAUNCH_GUARD = 'NPZ_STREAM_HUGETLB_RELAUNCHED';
/** glibc ignores tunables it does not know; hugetlb arrived in 2.35. */
const MIN_GLIBC: readonly [number, number] = [2, 35];

/** The glibc version this process runs on, or undefined (not Linux, or another C library such as musl). */
export function glibcVersion(): [number, number] | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const match = /^(\d+)\.(\d+)/.exec(header?.glibcVersionRuntime ?? '');
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * The environment to relaunch with, or undefined when this process should just run: not glibc ≥ 2.35, the
 * tunable already set (to anything: the user's choice stands), or this is already the relaunched process.
 */
export function hugePageEnvironment(env: NodeJS.ProcessEnv, glibc: [number, number] | undefined): NodeJS.ProcessEnv | undefined {
  if (env[RELAUNCH_GUARD] !== undefined) return undefined;
  if (glibc === undefined || glibc[0] < MIN_GLIBC[0] || (glibc[0] === MIN_GLIBC[0] && glibc[1] < MIN_GLIBC[1])) return undefined;
  const current = env['GLIBC_TUNABLES'] ?? '';
  if (current.split(':').some((item) => item.split('=')[0] === TUNABLE)) return undefined;
  return { ...env, GLIBC_TUNABLES: current === '' ? HUGETLB : `${current}:${HUGETLB}`, [RELAUNCH_GUARD]: '1' };
}

/** Commands that read or write array data; the others (ls, help, --version) only touch headers. */
const DATA_COMMANDS = new Set(['verify', 'cat', 'stats', 'diff', 'convert', 'extract', 'pack', 'view', 'demo']);
/** Below this much local input, a second process costs more than the page faults it saves. */
export const SMALL_INPUT_BYTES = 64 * 1024 * 1024;

/** The size of a local path: a regular file's bytes, Infinity for a directory, undefined when there is none. */
export function localSize(path: string): number | undefined {
  try {
    const stats = statSync(path);
    return stats.isFile() ? stats.size : stats.isDirectory() ? Infinity : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether relaunching with huge pages pays for this command line: only for a command that reads or writes
 * array data, and not for its help, nor when every input it names is a local file and together they are
 * small. stdin (`-`), URLs and directories count as large. `stringOptions` are the global options that take a
 * value (their value is not the command's name).
 */
export function relaunchPays(argv: readonly string[], stringOptions: ReadonlySet<string>, sizeOf: (path: string) => number | undefined = localSize): boolean {
  let index = 0;
  while (index < argv.length && argv[index]!.startsWith('-')) {
    const token = argv[index++]!;
    if (stringOptions.has(token.replace(/^--/, '')) && !token.includes('=')) index++;
  }
  const command = argv[index];
  if (command === undefined || !DATA_COMMANDS.has(command)) return false;
  const rest = argv.slice(index + 1);
  if (argv.some((token) => token === '--help' || token === '-h' || token === '--version' || token === '-V')) return false;
  if (command === 'demo') return true;
  let files = 0;
  let total = 0;
  for (const token of rest) {
    if (token === '-' || /^https?:\/\//i.test(token)) return true;
    if (token.startsWith('-')) continue;
    const size = sizeOf(token);
    if (size === undefined) continue;
    files++;
    total += size;
    if (total >= SMALL_INPUT_BYTES) return true;
  }
  // No local input found (a name that does not exist yet, say): let the command decide, with huge pages.
  return files === 0;
}

/** Interrupts that arrive this close together count as one (see relaunch below). */
export const SAME_INTERRUPT_MS = 250;

/**
 * Runs this same command line again in a child with `env`, stdio shared, and resolves with its exit code. A
 * SIGINT or SIGTERM sent to this process is passed on; a Ctrl-C in a terminal reaches both processes, which is
 * why the CLI treats two interrupts within SAME_INTERRUPT_MS as one. A child killed by a signal is mirrored by
 * this process dying of the same signal.
 */
export function relaunch(env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = (): void => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    };
    child.on('error', (error) => {
      done();
      reject(error);
    });
    child.on('exit', (code, signal) => {
      done();
      if (signal !== null) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}
