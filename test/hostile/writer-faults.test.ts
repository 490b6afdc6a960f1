import { spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { readNpz, saveNpz, saveNpzStream } from '../../src/index.js';
import { type SaveOptions } from '../../src/npz/save.js';
import type { FlatTree } from '../../src/tree/flatten.js';
import type { LazyArray, Leaf } from '../../src/npy/write.js';
import { openFdCount } from '../helpers/fds.js';
import { hasNumpy, runPython } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { seededRandom, sha256 } from '../helpers/bytes.js';
import { BIG_CHUNK_BYTES, BIG_CHUNKS, BIG_LEAVES, STOP_POINTS, bigByte, type StopPoint } from '../helpers/writer-child.js';

// Every writer failure must leave the target path holding the previous file (or, when the failure came after
// the rename, the complete new one), no temp file, no open descriptor, and reject with an NpzError. Seeded, so a
// failing case is replayable from the printed seed and case number. Every case is built so its fault lands (a
// lazy leaf to fail or abort in, a call index the save really makes), and each kind asserts how many landed: were
// the writer to stop using what a fault patches, the cases would fail rather than pass as clean saves.

const SEED = 0xfa_17;
const CASES_PER_FAULT = 12;
const KILLS = Number(process.env['HOSTILE_KILLS'] ?? 6);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('../helpers/writer-child.ts', import.meta.url));
/** saveNpz's temp file: `.<target name>.<12 hex digits>.tmp` in the target's directory. */
const TEMP_NAME = /^\.ckpt\.npz\.[0-9a-f]{12}\.tmp$/;

const rootDir = makeTempDir('writer-faults');
const root = rootDir.path;
let oldFile = '';
let oldBytes = Buffer.alloc(0);
const tally: Record<string, number> = {};
const count = (what: string): void => {
  tally[what] = (tally[what] ?? 0) + 1;
};
/** Faults that landed, by kind: what each test's floor is checked against. */
const landedTally: Record<string, number> = {};
const landed = (kind: string): void => {
  landedTally[kind] = (landedTally[kind] ?? 0) + 1;
};
const landedCounts = (): Record<string, number> => ({ ...landedTally });

beforeAll(() => {
  // The previous checkpoint is numpy's own, so "the old file survived" means a file numpy wrote and can still read.
  oldFile = join(root, 'old.npz');
  if (hasNumpy()) {
    runPython(`import sys, numpy as np\nnp.savez(sys.argv[1], old=np.arange(1000, dtype='<f4'), step=np.int64(41))`, [oldFile]);
  } else {
    writeFileSync(oldFile, 'a previous checkpoint');
  }
  oldBytes = readFileSync(oldFile);
});
afterAll(() => {
  console.log(`writer faults: ${JSON.stringify(tally)}`);
  rootDir.remove();
});

interface Plan {
  tree: Record<string, Leaf>;
  expected: Map<string, Buffer>;
  lazy: string[];
  /** Chunks the lazy leaves yield in all. */
  lazyChunks: number;
}

/**
 * A seeded tree of 3-6 leaves, in-memory and lazy, about 0.5-4 MiB in all; `inject` wraps lazy leaves, and when it
 * is given the last leaf is always lazy, so there is at least one leaf for it to act on.
 */
/**
 * `firstChunks`: make the first leaf lazy with that many 1 MiB chunks, more than a write batch (1 MiB) or bounce
 * buffer (4 MiB) holds, so its local header has been written before its CRC is known and must be patched.
 */
function planTree(random: () => number, inject?: (name: string, leaf: LazyArray) => LazyArray, firstChunks?: number): Plan {
  const tree: Record<string, Leaf> = {};
  const expected = new Map<string, Buffer>();
  const lazy: string[] = [];
  let lazyChunks = 0;
  const leaves = 3 + Math.floor(random() * 4);
  for (let index = 0; index < leaves; index++) {
    const name = `leaf_${index}`;
    const big = index === 0 && firstChunks !== undefined;
    const chunkSize = big ? 1 << 20 : 4096 * (1 + Math.floor(random() * 64));
    const chunks = big ? firstChunks : 1 + Math.floor(random() * 6);
    const size = chunkSize * chunks;
    const fill = (chunk: number): number => (index * 16 + chunk + 1) & 0xff;
    const bytes = Buffer.alloc(size);
    for (let chunk = 0; chunk < chunks; chunk++) bytes.fill(fill(chunk), chunk * chunkSize, (chunk + 1) * chunkSize);
    expected.set(name, bytes);
    const lastChanceForLazy = inject !== undefined && lazy.length === 0 && index === leaves - 1;
    if (!big && random() < 0.5 && !lastChanceForLazy) {
      tree[name] = { dtype: 'uint8', shape: [size], data: new Uint8Array(bytes) };
      continue;
    }
    lazy.push(name);
    lazyChunks += chunks;
    const leaf: LazyArray = {
      dtype: 'uint8',
      shape: [size],
      async *chunks() {
        for (let chunk = 0; chunk < chunks; chunk++) yield new Uint8Array(chunkSize).fill(fill(chunk));
      },
    };
    tree[name] = inject ? inject(name, leaf) : leaf;
  }
  return { tree, expected, lazy, lazyChunks };
}

async function matchesPlan(input: string | Uint8Array, plan: Plan): Promise<boolean> {
  const seen = new Map<string, Buffer>();
  for await (const [key, array] of readNpz(input)) seen.set(key, Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength));
  return seen.size === plan.expected.size && [...plan.expected].every(([key, bytes]) => seen.get(key)?.equals(bytes) === true);
}

function caseDir(label: string): { dir: string; target: string } {
  const dir = makeTempDir(label.replace(/[^\w-]+/g, '_'), root).path;
  const target = join(dir, 'ckpt.npz');
  copyFileSync(oldFile, target);
  return { dir, target };
}

/** Runs saveNpz and checks the invariant; returns the rejection (or undefined when it resolved). */
async function saveAndCheck(label: string, plan: Plan, tree: unknown, options: SaveOptions = {}): Promise<unknown> {
  const { dir, target } = caseDir(label);
  const fds = openFdCount();
  let failure: unknown;
  try {
    await saveNpz(target, tree as Record<string, Leaf>, options);
  } catch (error) {
    failure = error;
  }
  expect(readdirSync(dir), label).toEqual(['ckpt.npz']);
  expect(openFdCount(), `${label}: descriptors`).toBe(fds);
  if (failure === undefined) {
    expect(await matchesPlan(target, plan), `${label}: a resolved save wrote the complete new file`).toBe(true);
    count('saveNpz resolved (new file complete)');
  } else {
    expect(isNpzError(failure), `${label}: ${String(failure)}`).toBe(true);
    expect(readFileSync(target).equals(oldBytes), `${label}: the old file is intact`).toBe(true);
    count(`saveNpz ${(failure as { code: string }).code} (old file intact)`);
  }
  return failure;
}

/** A Writable collecting what it accepts, failing with `code` once `failAfter` bytes have gone through. */
class FlakyWritable extends Writable {
  readonly received: Buffer[] = [];
  private accepted = 0;
  constructor(
    private readonly failAfter: number,
    private readonly code: string,
    private readonly async: boolean,
  ) {
    super({ highWaterMark: 64 << 10 });
  }
  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error | null) => void): void {
    if (this.accepted + chunk.length > this.failAfter) {
      const error = Object.assign(new Error(`write ${this.code} (injected)`), { code: this.code });
      if (this.async) setImmediate(() => callback(error));
      else callback(error);
      return;
    }
    this.accepted += chunk.length;
    this.received.push(chunk);
    setImmediate(callback);
  }
}

/** Runs saveNpzStream and checks: an NpzError, a destroyed destination, and output that never reads as other data. */
async function streamAndCheck(label: string, plan: Plan, tree: unknown, out: Writable & { received: Buffer[] }, options: SaveOptions = {}): Promise<unknown> {
  let failure: unknown;
  try {
    await saveNpzStream(tree as Record<string, Leaf>, out, options);
  } catch (error) {
    failure = error;
  }
  const written = Buffer.concat(out.received);
  if (failure === undefined) {
    expect(await matchesPlan(written, plan), label).toBe(true);
    count('saveNpzStream resolved');
    return undefined;
  }
  expect(isNpzError(failure), `${label}: ${String(failure)}`).toBe(true);
  expect(out.destroyed, `${label}: destination destroyed`).toBe(true);
  // What reached the destination is either refused by a reader or, if the failure came at the very end, whole.
  let partial: string;
  try {
    partial = (await matchesPlan(written, plan)) ? 'complete' : 'DIFFERENT';
  } catch (error) {
    partial = isNpzError(error) ? 'refused' : `threw ${String(error)}`;
  }
  expect(['refused', 'complete'], `${label}: partial output`).toContain(partial);
  count(`saveNpzStream ${(failure as { code: string }).code} (partial output ${partial})`);
  return failure;
}

class Collector extends Writable {
  readonly received: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.received.push(chunk);
    setImmediate(callback);
  }
}

describe('a source that fails midway', () => {
  it(`${CASES_PER_FAULT} seeded cases per way of failing, to a path and to a stream`, async () => {
    const random = seededRandom(SEED);
    for (let index = 0; index < CASES_PER_FAULT * 2; index++) {
      const how = (['async-throw', 'sync-throw', 'short', 'long'] as const)[index % 4]!;
      let victim = '';
      let failChunk = 0;
      const plan = planTree(random, (name, leaf) => {
        if (victim !== '') return leaf;
        victim = name;
        failChunk = Math.floor(random() * 3);
        return {
          ...leaf,
          chunks(): AsyncIterable<Uint8Array> {
            if (how === 'sync-throw') throw new Error('injected: chunks() cannot start');
            const inner = leaf.chunks() as AsyncIterable<Uint8Array>;
            return (async function* () {
              let chunk = 0;
              for await (const bytes of inner) {
                if (chunk++ === failChunk && how === 'async-throw') throw new Error('injected: upstream read failed');
                yield how === 'short' ? bytes.subarray(1) : bytes;
              }
              // A leaf with fewer chunks than failChunk fails after its last one instead.
              if (how === 'async-throw') throw new Error('injected: upstream read failed at the end');
              if (how === 'long') yield new Uint8Array(1);
            })();
          },
        };
      });
      expect(victim, 'planTree always draws a lazy leaf when asked to wrap one').not.toBe('');
      const label = `seed ${SEED} source case ${index} (${how} in ${victim})`;
      const code = how === 'short' || how === 'long' ? 'ERR_SOURCE_LENGTH' : 'ERR_SOURCE';
      const toPath = await saveAndCheck(label, plan, plan.tree);
      expect(toPath, label).toMatchObject({ code, entry: victim });
      const toStream = await streamAndCheck(label, plan, plan.tree, new Collector());
      expect(toStream, label).toMatchObject({ code, entry: victim });
      landed(`source ${how}`);
    }
    expect(landedCounts()).toMatchObject({ 'source async-throw': 6, 'source sync-throw': 6, 'source short': 6, 'source long': 6 });
  });

  it('a flat iterable that throws after some pairs', async () => {
    const random = seededRandom(SEED + 1);
    for (let index = 0; index < CASES_PER_FAULT; index++) {
      const plan = planTree(random);
      const failAt = Math.floor(random() * plan.expected.size);
      const pairs = async function* (): AsyncGenerator<[string, Leaf]> {
        let at = 0;
        for (const entry of Object.entries(plan.tree)) {
          if (at++ === failAt) throw new Error('injected: the pair iterator broke');
          yield entry;
        }
      };
      const label = `seed ${SEED + 1} iterable case ${index} (throws at pair ${failAt})`;
      expect(await saveAndCheck(label, plan, pairs() as FlatTree)).toMatchObject({ code: 'ERR_SOURCE' });
      expect(await streamAndCheck(label, plan, pairs() as FlatTree, new Collector())).toMatchObject({ code: 'ERR_SOURCE' });
      landed('iterable throws');
    }
    expect(landedCounts()['iterable throws']).toBe(CASES_PER_FAULT);
  });
});

describe('a destination that fails', () => {
  it('a stream failing with EPIPE / ENOSPC after a seeded number of bytes', async () => {
    const random = seededRandom(SEED + 2);
    for (let index = 0; index < CASES_PER_FAULT * 2; index++) {
      const plan = planTree(random);
      const total = [...plan.expected.values()].reduce((sum, bytes) => sum + bytes.length, 0);
      const failAfter = Math.floor(random() * total);
      const code = index % 2 === 0 ? 'EPIPE' : 'ENOSPC';
      const label = `seed ${SEED + 2} stream case ${index} (${code} after ${failAfter} of ~${total} bytes)`;
      const failure = await streamAndCheck(label, plan, plan.tree, new FlakyWritable(failAfter, code, random() < 0.5));
      expect(failure, label).toMatchObject({ code: 'ERR_IO' });
      expect(((failure as Error).cause as { code?: string }).code, label).toBe(code);
      landed(`stream ${code}`);
    }
    expect(landedCounts()).toMatchObject({ 'stream EPIPE': CASES_PER_FAULT, 'stream ENOSPC': CASES_PER_FAULT });
  });

  it('the file failing with ENOSPC / EIO at a seeded write, header patch or fsync', async () => {
    // Fault injection below the library: every FileHandle shares this prototype.
    const probe: FileHandle = await open(oldFile, 'r');
    const proto = Object.getPrototypeOf(probe) as Record<'writev' | 'write' | 'sync', (...args: unknown[]) => Promise<unknown>>;
    await probe.close();
    const original = { writev: proto.writev, write: proto.write, sync: proto.sync };
    const random = seededRandom(SEED + 3);
    try {
      for (let index = 0; index < CASES_PER_FAULT * 2; index++) {
        const method = (['writev', 'writev', 'write', 'sync'] as const)[index % 4]!;
        const code = random() < 0.5 ? 'ENOSPC' : 'EIO';
        // A clean run of a plan counts the calls, so the failing call is one the save really makes. The header
        // patch (write) reaches the file only for a lazy leaf whose header has left the write buffer, so those
        // plans start with a lazy leaf larger than the buffer; a save that never makes the call fails the case.
        let calls = 0;
        let plan: Plan | undefined;
        let made = 0;
        const countLabel = `seed ${SEED + 3} file case ${index} (counting ${method} calls)`;
        for (let attempt = 0; attempt < 10 && made === 0; attempt++) {
          plan = method === 'write' ? planTree(random, (_name, leaf) => leaf, 5 + Math.floor(random() * 3)) : planTree(random);
          calls = 0;
          proto[method] = function (this: unknown, ...args: unknown[]) {
            calls++;
            return original[method].apply(this, args);
          };
          expect(await saveAndCheck(countLabel, plan, plan.tree), countLabel).toBeUndefined();
          proto[method] = original[method];
          made = calls;
        }
        expect(made, `${countLabel}: the save goes through FileHandle.${method}`).toBeGreaterThan(0);
        // Only the file's own fsync (the first): the directory fsync after the rename is best effort by design.
        const failOn = method === 'sync' ? 0 : Math.floor(random() * made);
        calls = 0;
        let injected = false;
        proto[method] = function (this: unknown, ...args: unknown[]) {
          if (calls++ === failOn) {
            injected = true;
            return Promise.reject(Object.assign(new Error(`${code}: injected ${method} failure`), { code }));
          }
          return original[method].apply(this, args);
        };
        const label = `seed ${SEED + 3} file case ${index} (${method} call ${failOn} of ${made} fails with ${code})`;
        const failure = await saveAndCheck(label, plan!, plan!.tree);
        proto[method] = original[method];
        expect(injected, label).toBe(true);
        expect(failure, label).toMatchObject({ code: 'ERR_IO' });
        expect(((failure as Error).cause as { code?: string }).code, label).toBe(code);
        landed(`file ${method}`);
      }
      expect(landedCounts()).toMatchObject({ 'file writev': CASES_PER_FAULT, 'file write': CASES_PER_FAULT / 2, 'file sync': CASES_PER_FAULT / 2 });
    } finally {
      Object.assign(proto, original);
    }
  });
});

describe('an abort at a seeded point', () => {
  it('during progress, inside a lazy leaf, or from a timer: ERR_ABORTED and no trace of the new file', async () => {
    const random = seededRandom(SEED + 4);
    for (let index = 0; index < CASES_PER_FAULT * 3; index++) {
      const controller = new AbortController();
      const where = (['progress', 'chunk', 'timer'] as const)[index % 3]!;
      const delay = Math.floor(random() * 20);
      let chunksSeen = 0;
      let stopAtChunk = -1; // set once the plan (and so its number of lazy chunks) is known
      const plan = planTree(random, (_name, leaf) => ({
        ...leaf,
        async *chunks() {
          for await (const bytes of leaf.chunks() as AsyncIterable<Uint8Array>) {
            if (chunksSeen++ === stopAtChunk) {
              if (where === 'chunk') controller.abort(new Error('injected abort'));
              // A slow source: the abort timer was armed first with a shorter delay, so it fires while we wait.
              if (where === 'timer') await new Promise((resolve) => setTimeout(resolve, delay + 50));
            }
            yield bytes;
          }
        },
      }));
      const run = (options: SaveOptions, label: string): Promise<unknown> =>
        index % 2 === 0 ? saveAndCheck(label, plan, plan.tree, options) : streamAndCheck(label, plan, plan.tree, new Collector(), options);
      // Progress is reported as write batches complete, the last one with the end records. A clean run counts the
      // reports that come before the end, and the abort goes into one of those.
      let reports = 0;
      const countLabel = `seed ${SEED + 4} abort case ${index} (counting progress reports)`;
      if (where === 'progress') {
        const clean = await run({ onProgress: ({ bytesDone, bytesTotal }) => void (bytesDone < bytesTotal! && reports++) }, countLabel);
        expect(clean, countLabel).toBeUndefined();
        expect(reports, `${countLabel}: progress is reported before the end`).toBeGreaterThan(0);
      }
      const abortAtReport = Math.floor(random() * reports);
      stopAtChunk = Math.floor(random() * plan.lazyChunks);
      let report = 0;
      const options: SaveOptions = {
        signal: controller.signal,
        onProgress: () => {
          if (where === 'progress' && report++ === abortAtReport) controller.abort();
        },
      };
      const timer = where === 'timer' ? setTimeout(() => controller.abort(), delay) : undefined;
      const label = `seed ${SEED + 4} abort case ${index} (${where}, chunk ${stopAtChunk} of ${plan.lazyChunks}, report ${abortAtReport} of ${reports}, ${delay} ms)`;
      const failure = await run(options, label);
      clearTimeout(timer);
      expect(controller.signal.aborted, label).toBe(true);
      expect(failure, label).toMatchObject({ code: 'ERR_ABORTED' });
      landed(`abort ${where}`);
    }
    expect(landedCounts()).toMatchObject({ 'abort progress': CASES_PER_FAULT, 'abort chunk': CASES_PER_FAULT, 'abort timer': CASES_PER_FAULT });
  });
});

interface ChildExit {
  signal: NodeJS.Signals | null;
  code: number | null;
  /** From the line that armed the kill (or from 'start') to 'close'. */
  armedToCloseMs: number;
  /** The line that armed the kill. */
  armedBy: string;
}

/**
 * Runs writer-child.ts with `args` and resolves once it has closed (exited and its stdio drained). With `kill`, a
 * SIGKILL is sent `delayMs` after the child prints one of the lines `afterLines`.
 */
function runChild(args: string[], kill?: { afterLines: string[]; delayMs: number }): Promise<ChildExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const armOn = kill?.afterLines ?? ['start'];
    let armed = 0;
    let armedBy = '';
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((printed) => armOn.includes(printed));
      if (armed === 0 && line !== undefined) {
        armed = performance.now();
        armedBy = line;
        if (kill !== undefined) setTimeout(() => child.kill('SIGKILL'), kill.delayMs);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`writer child failed (${code}): ${stderr}`));
      else resolve({ code, signal, armedToCloseMs: armed === 0 ? 0 : performance.now() - armed, armedBy });
    });
  });
}

describe('a process killed with SIGKILL during saveNpz', () => {
  let newSha = '';
  let referenceMs = 0;

  beforeAll(async () => {
    const reference = join(makeTempDir('reference', root).path, 'ckpt.npz');
    referenceMs = (await runChild(['big', reference])).armedToCloseMs;
    newSha = sha256(readFileSync(reference));
    // The reference (a finished run) is verified independently: our reader, and numpy when present.
    let arrays = 0;
    for await (const [key, array] of readNpz(reference)) {
      const leaf = Number(key.replace('layer_', ''));
      const bytes = array.data as Uint8Array;
      for (let chunk = 0; chunk < BIG_CHUNKS; chunk++) expect(bytes[chunk * BIG_CHUNK_BYTES + 7]).toBe(bigByte(leaf, chunk));
      arrays++;
    }
    expect(arrays).toBe(BIG_LEAVES);
    if (hasNumpy()) {
      const check = runPython(
        `import sys, numpy as np\nz = np.load(sys.argv[1])\nprint(len(z.files), sum(int(z[k][::${BIG_CHUNK_BYTES}].astype(np.int64).sum()) for k in z.files))`,
        [reference],
      ).trim();
      let expectedSum = 0;
      for (let leaf = 0; leaf < BIG_LEAVES; leaf++) for (let chunk = 0; chunk < BIG_CHUNKS; chunk++) expectedSum += bigByte(leaf, chunk);
      expect(check).toBe(`${BIG_LEAVES} ${expectedSum}`);
    }
  });

  /** What a killed save left behind: which file is at the target, and the temp files beside it. */
  function aftermath(dir: string, target: string): { state: 'old' | 'new' | 'OTHER'; temps: string[] } {
    const sha = sha256(readFileSync(target));
    const state = sha === sha256(oldBytes) ? 'old' : sha === newSha ? 'new' : 'OTHER';
    const temps = readdirSync(dir).filter((name) => name !== 'ckpt.npz');
    // A killed writer cannot clean up: its temp file is left, and must be recognisable by name.
    for (const name of temps) expect(name).toMatch(TEMP_NAME);
    return { state, temps };
  }

  /** The next save to the same target works regardless of a leftover temp file, which it does not touch. */
  async function saveAgainBeside(dir: string, target: string, temps: string[]): Promise<void> {
    await saveNpz(target, { after: Int8Array.of(1) });
    expect(readdirSync(dir).filter((name) => name !== 'ckpt.npz').sort()).toEqual([...temps].sort());
    expect(await matchesPlan(target, { tree: {}, expected: new Map([['after', Buffer.of(1)]]), lazy: [], lazyChunks: 0 })).toBe(true);
  }

  const expectedAt: Record<StopPoint, { state: 'old' | 'new'; temp: 'partial' | 'complete' | 'none' }> = {
    writing: { state: 'old', temp: 'partial' },
    'before-rename': { state: 'old', temp: 'complete' },
    'in-rename': { state: 'new', temp: 'none' },
    after: { state: 'new', temp: 'none' },
  };

  it.each(STOP_POINTS)('killed at %s: the target is exactly the old or the complete new file', async (point) => {
    const { dir, target } = caseDir(`stop-${point}`);
    // 'after' is always a stop: a save that never reaches the aimed point is killed there, and fails the case.
    const exit = await runChild(['stop', target, point], { afterLines: [point, 'after'], delayMs: 0 });
    expect(exit.armedBy, 'the save reached the point aimed at').toBe(point);
    expect(exit.signal, 'the child was waiting at the point, so the kill landed there').toBe('SIGKILL');
    const { state, temps } = aftermath(dir, target);
    const want = expectedAt[point];
    expect(state).toBe(want.state);
    expect(temps).toHaveLength(want.temp === 'none' ? 0 : 1);
    if (want.temp !== 'none') {
      // Before the rename the temp already holds the whole, synced new file; mid-write it holds part of it.
      const tempSha = sha256(readFileSync(join(dir, temps[0]!)));
      if (want.temp === 'complete') expect(tempSha).toBe(newSha);
      else expect(tempSha).not.toBe(newSha);
    }
    count(`kill ${point}: ${state} file, ${temps.length} temp`);
    await saveAgainBeside(dir, target, temps);
  });

  it(`${KILLS} seeded kills at random moments: the target is always the old file or the complete new one`, async () => {
    const random = seededRandom(SEED + 5);
    const outcomes: string[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const { dir, target } = caseDir(`kill-${kill}`);
      const delay = Math.floor(random() * referenceMs * 1.2);
      const exit = await runChild(['big', target], { afterLines: ['start'], delayMs: delay });
      const { state, temps } = aftermath(dir, target);
      outcomes.push(`kill ${kill} at ${delay} ms (${exit.signal ?? `exit ${exit.code}`}): ${state} file, ${temps.length} temp`);
      expect(state, outcomes.at(-1)).not.toBe('OTHER');
      if (exit.signal === null) expect(state, outcomes.at(-1)).toBe('new'); // it finished before the kill
      count(`random kill: ${state} file, ${temps.length} temp`);
      if (temps.length > 0) await saveAgainBeside(dir, target, temps);
    }
    console.log(`SIGKILL during saveNpz (reference run ${referenceMs.toFixed(0)} ms):\n  ${outcomes.join('\n  ')}`);
  });
});
