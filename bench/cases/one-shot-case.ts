/**
 * One one-shot write in a process of its own (spawned by bench/one-shot.ts): what a user's script does. The
 * PaliGemma-shaped tree is generated in this process before the timer starts (each leaf a fresh typed array
 * filled from the synthetic generator, as a script that makes or loads its arrays would hold them), then one
 * write is timed. Further repetitions in the same process give the steady state.
 *
 * Writes: `save` (saveNpz, fsync off), `save-lazy` (saveNpz of lazy leaves with the same names and shapes, each
 * yielding 4 MiB views of a 64 MiB random pool, as the fair bench's save-lazy case), `plain` (the same bytes with
 * 1 MiB positional writes, one in flight: the plainest Node loop), `views16` (16 MiB writev views of the arrays),
 * `copy16` (16 MiB copies through one reused buffer). `source: 'fixture'` builds the leaves with readNpz of a
 * fixture instead (what the fair bench's save-memory case does).
 *
 * Before the timer starts, the process waits until the VM's free-page reporting has gone quiet (when the balloon
 * driver exposes it): memory freed by earlier processes or by the setup is then handed back to the host, so every
 * case starts its first call from the same page state, the one a script that ran for a while sees.
 *
 * Besides wall and CPU seconds, each repetition reports the process's page faults and a few system-wide memory
 * counters (/proc/vmstat, the balloon's free-page-reporting total), which do not depend on the machine's load.
 */
import { readFileSync } from 'node:fs';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { encodeNpyHeader, readNpz, saveNpz, type LazyArray, type NpyArray } from '../../dist/index.js';
import { syntheticPaliGemma } from '../../dist/paligemma/index.js';

export type OneShotWrite = 'save' | 'save-lazy' | 'plain' | 'views16' | 'copy16';

export interface OneShotArgs {
  write: OneShotWrite;
  source: 'generate' | 'fixture';
  /** PaliGemma 3B scale for `generate` (0.25: the 1.58 GB quick tree). */
  scale: number;
  fixture?: string;
  outDir: string;
  /** Timed calls in this process: the first is what a one-shot script feels, the later ones the steady state. */
  repeats: number;
  resultFile: string;
  /** Wait before the first call until free-page reporting was quiet this long (ms), at most maxMs; null: no wait. */
  settle: { quietMs: number; maxMs: number } | null;
  /** Milliseconds between deleting one call's file and the next call (0: none). */
  pauseMs?: number;
}

export interface Counters {
  minorFaults: number;
  majorFaults: number;
  vmstat: Record<string, number>;
  reportedKiB: number | null;
}

export interface OneShotRep {
  /** CLOCK_MONOTONIC nanoseconds at the start and end of the call (`perf record -k CLOCK_MONOTONIC` uses the same clock). */
  startNs: string;
  endNs: string;
  seconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** Counter deltas over the timed call. */
  delta: Counters;
}

export interface OneShotResult {
  write: OneShotWrite;
  source: OneShotArgs['source'];
  bytes: number;
  setupSeconds: number;
  reps: OneShotRep[];
  /** Resident anonymous memory in transparent huge pages after setup (smaps_rollup), bytes. */
  anonHugeBytes: number;
  rssAfterSetupBytes: number;
  maxRssBytes: number;
  glibcTunables: string | null;
  /** Counter deltas over the setup (making the tree). */
  setupDelta: Counters;
  /** Milliseconds waited for free-page reporting to go quiet, and whether it did (null: not waited). */
  settle: { waitedMs: number; quiet: boolean } | null;
}

const VMSTAT_KEYS = ['pgalloc_normal', 'pgfree', 'pgfault', 'thp_fault_alloc', 'nr_dirtied', 'nr_written', 'compact_stall', 'pgscan_kswapd', 'pgscan_direct'];
const PLAIN_BYTES = 1 << 20;
const SLICE_BYTES = 16 << 20;
const POOL_BYTES = 64 << 20;
const LAZY_CHUNK_BYTES = 4 << 20;

function vmstat(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync('/proc/vmstat', 'utf8').split('\n')) {
    const [key, value] = line.split(' ');
    if (key !== undefined && VMSTAT_KEYS.includes(key)) out[key] = Number(value);
  }
  return out;
}

function reportedKiB(): number | null {
  try {
    return Number(readFileSync('/sys/module/page_reporting/parameters/reported_kib', 'utf8'));
  } catch {
    return null;
  }
}

/** Waits until the reported total has not moved for `quietMs` (checked every 250 ms), at most `maxMs`. */
async function settle(options: { quietMs: number; maxMs: number }): Promise<{ waitedMs: number; quiet: boolean }> {
  const start = performance.now();
  let last = reportedKiB();
  if (last === null) return { waitedMs: 0, quiet: true };
  let quietSince = start;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = performance.now();
    const current = reportedKiB();
    if (current !== last) {
      last = current;
      quietSince = now;
    }
    if (now - quietSince >= options.quietMs) return { waitedMs: now - start, quiet: true };
    if (now - start >= options.maxMs) return { waitedMs: now - start, quiet: false };
  }
}

function counters(): Counters {
  const usage = process.resourceUsage();
  return { minorFaults: usage.minorPageFault, majorFaults: usage.majorPageFault, vmstat: vmstat(), reportedKiB: reportedKiB() };
}

function minus(after: Counters, before: Counters): Counters {
  const vm: Record<string, number> = {};
  for (const key of Object.keys(after.vmstat)) vm[key] = after.vmstat[key]! - (before.vmstat[key] ?? 0);
  return {
    minorFaults: after.minorFaults - before.minorFaults,
    majorFaults: after.majorFaults - before.majorFaults,
    vmstat: vm,
    reportedKiB: after.reportedKiB === null || before.reportedKiB === null ? null : after.reportedKiB - before.reportedKiB,
  };
}

function statusBytes(field: string, file = '/proc/self/status'): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(file, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The user's way: each leaf a fresh array, filled from the deterministic generator. */
async function generated(scale: number): Promise<[string, NpyArray][]> {
  const pairs: [string, NpyArray][] = [];
  for (const [name, leaf] of syntheticPaliGemma({ scale })) {
    const bytes = leaf.shape.reduce((a, b) => a * b, 1) * 2;
    const data = new Uint16Array(bytes / 2);
    const view = new Uint8Array(data.buffer);
    let at = 0;
    for await (const chunk of leaf.chunks()) {
      view.set(chunk, at);
      at += chunk.byteLength;
    }
    pairs.push([name, { dtype: 'bfloat16', descr: '<V2', shape: [...leaf.shape], fortranOrder: false, data }]);
  }
  return pairs;
}

async function fromFixture(fixture: string): Promise<[string, NpyArray][]> {
  const pairs: [string, NpyArray][] = [];
  for await (const pair of readNpz(fixture)) pairs.push(pair);
  return pairs;
}

/** Lazy leaves of the same names and shapes: 4 MiB views of one random pool, so the source costs almost nothing. */
function lazyLeaves(scale: number): () => Iterable<[string, LazyArray]> {
  const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
  randomFillSync(pool);
  const specs = syntheticPaliGemma({ scale }).map(([name, leaf]) => ({ name, shape: [...leaf.shape], bytes: leaf.shape.reduce((a, b) => a * b, 1) * 2 }));
  return () =>
    specs
      .map(({ name, shape, bytes }): [string, LazyArray] => [
        name,
        {
          dtype: 'bfloat16',
          descr: '<V2',
          shape,
          *chunks() {
            for (let done = 0, offset = 0; done < bytes; ) {
              const size = Math.min(LAZY_CHUNK_BYTES, bytes - done, POOL_BYTES - offset);
              yield pool.subarray(offset, offset + size);
              done += size;
              offset = (offset + size) % POOL_BYTES;
            }
          },
        },
      ])
      .values();
}

function bytesOf(array: NpyArray): Uint8Array {
  const { data } = array;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** npy header + data of every leaf, in order: the bytes a plain loop writes (the archive minus its zip records). */
function pieces(pairs: [string, NpyArray][]): Uint8Array[] {
  return pairs.flatMap(([, array]) => [encodeNpyHeader({ descr: array.descr, shape: array.shape }), bytesOf(array)]);
}

async function plainWrite(out: string, parts: Uint8Array[], shape: OneShotWrite): Promise<void> {
  const handle = await open(out, 'w');
  const bounce = shape === 'copy16' ? Buffer.allocUnsafeSlow(SLICE_BYTES) : undefined;
  try {
    let position = 0;
    let filled = 0;
    const flush = async (): Promise<void> => {
      for (let done = 0; done < filled; ) done += (await handle.write(bounce!, done, filled - done, position + done)).bytesWritten;
      position += filled;
      filled = 0;
    };
    for (const part of parts) {
      if (bounce !== undefined) {
        for (let at = 0; at < part.byteLength; ) {
          const n = Math.min(part.byteLength - at, SLICE_BYTES - filled);
          bounce.set(part.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === SLICE_BYTES) await flush();
        }
        continue;
      }
      const step = shape === 'plain' ? PLAIN_BYTES : SLICE_BYTES;
      for (let at = 0; at < part.byteLength; ) {
        const n = Math.min(step, part.byteLength - at);
        const { bytesWritten } =
          shape === 'plain' ? await handle.write(part, at, n, position) : await handle.writev([part.subarray(at, at + n)], position);
        at += bytesWritten;
        position += bytesWritten;
      }
    }
    if (bounce !== undefined) await flush();
  } finally {
    await handle.close();
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as OneShotArgs;
  const out = join(args.outDir, `one-shot-${args.write}.npz`);
  const setupBefore = counters();
  const setupStart = performance.now();
  const lazy = args.write === 'save-lazy' ? lazyLeaves(args.scale) : undefined;
  const pairs = lazy !== undefined ? [] : args.source === 'fixture' ? await fromFixture(args.fixture!) : await generated(args.scale);
  const parts = args.write === 'save' || lazy !== undefined ? [] : pieces(pairs);
  const setupSeconds = (performance.now() - setupStart) / 1000;
  const setupDelta = minus(counters(), setupBefore);
  const settled = args.settle === null ? null : await settle(args.settle);
  const anonHugeBytes = statusBytes('AnonHugePages', '/proc/self/smaps_rollup');
  const rssAfterSetupBytes = statusBytes('VmRSS');
  const reps: OneShotRep[] = [];
  let bytes = 0;
  for (let i = 0; i < args.repeats; i++) {
    await rm(out, { force: true });
    if (i > 0 && (args.pauseMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, args.pauseMs));
    const before = counters();
    const cpu = process.cpuUsage();
    const startNs = process.hrtime.bigint();
    const start = performance.now();
    if (args.write === 'save') await saveNpz(out, pairs.values(), { fsync: false });
    else if (lazy !== undefined) await saveNpz(out, lazy(), { fsync: false });
    else await plainWrite(out, parts, args.write);
    const seconds = (performance.now() - start) / 1000;
    const endNs = process.hrtime.bigint();
    const used = process.cpuUsage(cpu);
    reps.push({ startNs: String(startNs), endNs: String(endNs), seconds, userSeconds: used.user / 1e6, systemSeconds: used.system / 1e6, delta: minus(counters(), before) });
    bytes = (await stat(out)).size;
  }
  await rm(out, { force: true });
  const result: OneShotResult = {
    write: args.write,
    source: args.source,
    bytes,
    setupSeconds,
    reps,
    anonHugeBytes,
    rssAfterSetupBytes,
    maxRssBytes: statusBytes('VmHWM'),
    glibcTunables: process.env['GLIBC_TUNABLES'] ?? null,
    setupDelta,
    settle: settled,
  };
  await writeFile(args.resultFile, JSON.stringify(result));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
