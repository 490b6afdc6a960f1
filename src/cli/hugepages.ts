/**
 * The CLI runs with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: glibc (2.35 and later) then asks the kernel for
 * transparent huge pages on the large allocations that hold arrays, as numpy does for its own. Page faults on
 * fresh memory are most of a read's time on VMs, and a huge page takes one fault where 4 KiB pages take 512.
 * A tunable is read once when the process starts, so the CLI relaunches itself once with it set.
 */
import { spawn } from 'node:child_process';

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
