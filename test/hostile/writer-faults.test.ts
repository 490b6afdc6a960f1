import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { readNpz } from '../../src/npz/read.js';
import { saveNpz, saveNpzStream, type SaveOptions } from '../../src/npz/save.js';
import type { FlatTree } from '../../src/tree/flatten.js';
import type { LazyArray, Leaf } from '../../src/npy/write.js';
import { hasNumpy, runPython } from '../helpers/python.js';
import { openFdCount, seededRandom } from './fuzz-core.js';
import { BIG_CHUNK_BYTES, BIG_CHUNKS, BIG_LEAVES, bigByte } from './writer-child.js';

// Every writer failure must leave the target path holding the previous file (or, when the failure came after
// the rename, the complete new one), no temp file, no open descriptor, and reject with an NpzError. Seeded, so a
// failing case is replayable from the printed seed and case number.

const SEED = 0xfa_17;
const CASES_PER_FAULT = 12;
const KILLS = Number(process.env['HOSTILE_KILLS'] ?? 6);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./writer-child.ts', import.meta.url));
/** saveNpz's temp file: `.<target name>.<12 hex digits>.tmp` in the target's directory. */
const TEMP_NAME = /^\.ckpt\.npz\.[0-9a-f]{12}\.tmp$/;

const root = mkdtempSync(join(tmpdir(), 'npz-writer-faults-'));
let oldFile = '';
let oldBytes = Buffer.alloc(0);
const tally: Record<string, number> = {};
const count = (what: string): void => {
  tally[what] = (tally[what] ?? 0) + 1;
};

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
  rmSync(root, { recursive: true, force: true });
});

interface Plan {
  tree: Record<string, Leaf>;
  expected: Map<string, Buffer>;
  lazy: string[];
}

/** A seeded tree of 3-6 leaves, in-memory and lazy, about 0.5-4 MiB in all; `inject` wraps lazy leaves. */
function planTree(random: () => number, inject?: (name: string, leaf: LazyArray) => LazyArray): Plan {
  const tree: Record<string, Leaf> = {};
  const expected = new Map<string, Buffer>();
  const lazy: string[] = [];
  const leaves = 3 + Math.floor(random() * 4);
  for (let index = 0; index < leaves; index++) {
    const name = `leaf_${index}`;
    const chunkSize = 4096 * (1 + Math.floor(random() * 64));
    const chunks = 1 + Math.floor(random() * 6);
    const size = chunkSize * chunks;
    const fill = (chunk: number): number => (index * 16 + chunk + 1) & 0xff;
    const bytes = Buffer.alloc(size);
    for (let chunk = 0; chunk < chunks; chunk++) bytes.fill(fill(chunk), chunk * chunkSize, (chunk + 1) * chunkSize);
    expected.set(name, bytes);
    if (random() < 0.5) {
      tree[name] = { dtype: 'uint8', shape: [size], data: new Uint8Array(bytes) };
      continue;
    }
    lazy.push(name);
    const leaf: LazyArray = {
      dtype: 'uint8',
      shape: [size],
      async *chunks() {
        for (let chunk = 0; chunk < chunks; chunk++) yield new Uint8Array(chunkSize).fill(fill(chunk));
      },
    };
    tree[name] = inject ? inject(name, leaf) : leaf;
  }
  return { tree, expected, lazy };
}

async function matchesPlan(input: string | Uint8Array, plan: Plan): Promise<boolean> {
  const seen = new Map<string, Buffer>();
  for await (const [key, array] of readNpz(input)) seen.set(key, Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength));
  return seen.size === plan.expected.size && [...plan.expected].every(([key, bytes]) => seen.get(key)?.equals(bytes) === true);
}

function caseDir(label: string): { dir: string; target: string } {
  const dir = mkdtempSync(join(root, `${label}-`));
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
      if (victim === '') continue; // no lazy leaf drawn this time
      const label = `seed ${SEED} source case ${index} (${how} in ${victim})`;
      const code = how === 'short' || how === 'long' ? 'ERR_SOURCE_LENGTH' : 'ERR_SOURCE';
      const toPath = await saveAndCheck(label, plan, plan.tree);
      expect(toPath, label).toMatchObject({ code, entry: victim });
      const toStream = await streamAndCheck(label, plan, plan.tree, new Collector());
      expect(toStream, label).toMatchObject({ code, entry: victim });
    }
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
    }
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
    }
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
        const plan = planTree(random);
        const method = (['writev', 'writev', 'write', 'sync'] as const)[index % 4]!;
        const code = random() < 0.5 ? 'ENOSPC' : 'EIO';
        let calls = 0;
        // Only the file's own fsync: the directory fsync after the rename is best effort by design.
        const failOn = method === 'sync' ? 0 : Math.floor(random() * 4);
        let injected = false;
        proto[method] = function (this: unknown, ...args: unknown[]) {
          if (calls++ === failOn) {
            injected = true;
            return Promise.reject(Object.assign(new Error(`${code}: injected ${method} failure`), { code }));
          }
          return original[method].apply(this, args);
        };
        const label = `seed ${SEED + 3} file case ${index} (${method} call ${failOn} fails with ${code})`;
        const failure = await saveAndCheck(label, plan, plan.tree);
        proto[method] = original[method];
        // A member layout may need fewer calls than failOn (e.g. no header patch without lazy leaves).
        if (injected) {
          expect(failure, label).toMatchObject({ code: 'ERR_IO' });
          expect(((failure as Error).cause as { code?: string }).code, label).toBe(code);
        } else {
          expect(failure, label).toBeUndefined();
        }
      }
    } finally {
      Object.assign(proto, original);
    }
  });
});

describe('an abort at a seeded point', () => {
  it('during progress, inside a lazy leaf, or from a timer: ERR_ABORTED and the old file, or a finished save', async () => {
    const random = seededRandom(SEED + 4);
    for (let index = 0; index < CASES_PER_FAULT * 3; index++) {
      const controller = new AbortController();
      const where = (['progress', 'chunk', 'timer'] as const)[index % 3]!;
      let abortChunk = Math.floor(random() * 8);
      const plan = planTree(random, (_name, leaf) => ({
        ...leaf,
        async *chunks() {
          for await (const bytes of leaf.chunks() as AsyncIterable<Uint8Array>) {
            if (where === 'chunk' && abortChunk-- === 0) controller.abort(new Error('injected abort'));
            yield bytes;
          }
        },
      }));
      const total = [...plan.expected.values()].reduce((sum, bytes) => sum + bytes.length, 0);
      const threshold = Math.floor(random() * total);
      const delay = Math.floor(random() * 20);
      const options: SaveOptions = {
        signal: controller.signal,
        onProgress: ({ bytesDone }) => {
          if (where === 'progress' && bytesDone >= threshold) controller.abort();
        },
      };
      const timer = where === 'timer' ? setTimeout(() => controller.abort(), delay) : undefined;
      const label = `seed ${SEED + 4} abort case ${index} (${where})`;
      const failure = index % 2 === 0 ? await saveAndCheck(label, plan, plan.tree, options) : await streamAndCheck(label, plan, plan.tree, new Collector(), options);
      clearTimeout(timer);
      if (failure !== undefined) expect(failure, label).toMatchObject({ code: 'ERR_ABORTED' });
    }
  });
});

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Runs the child writer; resolves with its exit details. `killAfterMs` counts from its 'start' line. */
function runChild(target: string, killAfterMs?: number): Promise<{ signal: NodeJS.Signals | null; code: number | null; startedToExitMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'big', target], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let started = 0;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      if (started === 0 && chunk.toString().includes('start')) {
        started = performance.now();
        if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal === null) reject(new Error(`writer child failed (${code}): ${stderr}`));
      else resolve({ code, signal, startedToExitMs: started === 0 ? 0 : performance.now() - started });
    });
  });
}

describe('a process killed with SIGKILL during saveNpz', () => {
  it(`${KILLS} seeded kills: the target is always the old file or the complete new one`, async () => {
    const referenceDir = mkdtempSync(join(root, 'reference-'));
    const reference = join(referenceDir, 'ckpt.npz');
    const { startedToExitMs } = await runChild(reference);
    const newSha = sha256(readFileSync(reference));
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

    const random = seededRandom(SEED + 5);
    const outcomes: string[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const { dir, target } = caseDir(`kill-${kill}`);
      const delay = Math.floor(random() * startedToExitMs * 1.2);
      const exit = await runChild(target, delay);
      const sha = sha256(readFileSync(target));
      const state = sha === sha256(oldBytes) ? 'old' : sha === newSha ? 'new' : 'OTHER';
      const temps = readdirSync(dir).filter((name) => name !== 'ckpt.npz');
      outcomes.push(`kill ${kill} at ${delay} ms (${exit.signal ?? `exit ${exit.code}`}): ${state} file, ${temps.length} temp`);
      expect(state, outcomes.at(-1)).not.toBe('OTHER');
      // A killed writer cannot clean up: its temp file is left, and must be recognisable by name.
      for (const name of temps) expect(name).toMatch(TEMP_NAME);
      if (exit.signal === 'SIGKILL' && state === 'new') count('kill after rename: new file');
      else if (exit.signal === 'SIGKILL') count(`kill before rename: old file, ${temps.length} temp left`);
      else count('child finished before the kill: new file');
      if (temps.length > 0) {
        // The next save to the same target works regardless of the leftover, which it does not touch.
        await saveNpz(target, { after: Int8Array.of(1) });
        expect(readdirSync(dir).filter((name) => name !== 'ckpt.npz').sort()).toEqual(temps.sort());
      }
    }
    console.log(`SIGKILL during saveNpz (reference run ${startedToExitMs.toFixed(0)} ms):\n  ${outcomes.join('\n  ')}`);
  });
});
