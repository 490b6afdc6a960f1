import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isNpzError } from '../../src/errors.js';
import { type NpzEntry, type OpenNpzOptions } from '../../src/npz/open.js';
import { openNpz, readNpz } from '../../src/index.js';
import { openFdCount } from './fds.js';
import { seededRandom } from './bytes.js';
import { GOOD_DIR } from './fixtures.js';
import { describeArray } from './streams.js';
import { localDataStart, zipLayout } from './zip-layout.js';

/**
 * Seeded mutation fuzzing of numpy-written archives. Each case damages one fixture (truncation, bit flips, byte
 * writes, zeroed or deleted blocks), writes it to a file and reads it twice (openNpz + get of every array + one
 * chunked read, then readNpz). A case passes when each read either throws an NpzError or returns exactly the
 * arrays of the undamaged file; a different array, any other exception, a hang or a file descriptor left open
 * fails it. Shared by test/hostile/fuzz.test.ts (bounded) and test/slow/fuzz-long.test.ts (FUZZ_CASES).
 */

export const FUZZ_FIXTURES = [
  'pipe.npz',
  'compressed.npz',
  'pipe-compressed.npz',
  'deflate-and-stored.npz',
  'paligemma-tiny.npz',
  'unicode-names.npz',
  'npy-v2.npz',
  'npy-v3.npz',
  'with-notes.npz',
  'all-dtypes.npz',
] as const;

// npy-v2.npz holds a header numpy itself only reads with max_header_size raised.
const READ_OPTIONS: OpenNpzOptions = { maxHeaderSize: 200_000 };

export type MutationKind = 'truncate' | 'bitflip' | 'bytewrite' | 'multiflip' | 'zeroblock' | 'delete';
export const MUTATION_KINDS: readonly MutationKind[] = ['truncate', 'bitflip', 'bytewrite', 'multiflip', 'zeroblock', 'delete'];

interface Snapshot {
  /** Array entries as openNpz lists them (non-array members are never read, so they are not compared). */
  entries: string[];
  arrays: Map<string, string>;
  /** The codes of the entries openNpz listed as damaged (its default, `damaged: 'list'`), in directory order. */
  damaged: string[];
}

function describeEntry(entry: NpzEntry): string {
  if (!entry.isArray) return '';
  return JSON.stringify([entry.name, entry.memberName, entry.dtype, entry.descr, entry.shape, entry.fortranOrder, entry.byteLength]);
}

/** The NpzError code `read` throws; a read that succeeds, or fails otherwise, is a harness failure. */
async function codeThrownBy(read: () => Promise<unknown>, what: string): Promise<string> {
  try {
    await read();
  } catch (error) {
    if (isNpzError(error)) return error.code;
    throw error;
  }
  throw new Error(`${what} returned data`);
}

/**
 * Everything openNpz returns for a file; throws whatever the reader throws. A damaged entry must throw its
 * listed error from get and chunks, and the same file opened with `damaged: 'error'` must be refused.
 */
async function readThroughOpen(path: string): Promise<Snapshot> {
  const file = await openNpz(path, READ_OPTIONS);
  const damaged: string[] = [];
  try {
    for (const entry of file.entries) {
      if (entry.damaged !== true) continue;
      const listed = entry.error.code;
      const got = await codeThrownBy(() => file.get(entry.name), `get of the damaged entry ${entry.name}`);
      const streamedCode = await codeThrownBy(async () => {
        for await (const _ of file.chunks(entry.name)) throw new Error(`chunks of the damaged entry ${entry.name} handed out a chunk`);
      }, `chunks of the damaged entry ${entry.name}`);
      if (got !== listed || streamedCode !== listed) throw new Error(`the damaged entry ${entry.name} is listed with ${listed}, but get threw ${got} and chunks ${streamedCode}`);
      damaged.push(listed);
    }
    const arrays = new Map<string, string>();
    const entries = file.entries.filter((entry) => entry.isArray);
    for (const entry of entries) arrays.set(entry.name, describeArray(await file.get(entry.name)));
    // One streamed read too: chunks() verifies on its own path (its last chunk comes after the CRC check).
    const streamed = entries.at(-1);
    if (streamed !== undefined) for await (const _ of file.chunks(streamed.name, { chunkSize: 4096 }));
    return { entries: entries.map(describeEntry), arrays, damaged };
  } finally {
    await file.close();
  }
}

/** The strict open of a file openNpz listed with damaged entries: must be refused with an NpzError. */
async function strictOpenRefuses(path: string): Promise<boolean> {
  try {
    const file = await openNpz(path, { ...READ_OPTIONS, damaged: 'error' });
    await file.close();
    return false;
  } catch (error) {
    if (isNpzError(error)) return true;
    throw error;
  }
}

async function readThroughStream(path: string): Promise<Map<string, string>> {
  const arrays = new Map<string, string>();
  for await (const [key, array] of readNpz(path, READ_OPTIONS)) arrays.set(key, describeArray(array));
  return arrays;
}

/**
 * With nothing damaged, openNpz must list and return exactly the original arrays. With damaged entries, every
 * array it still returns must be the original's array of that name, and the strict open must refuse the file.
 */
async function judgeOpened(path: string, snapshot: Snapshot, original: Original): Promise<string | undefined> {
  if (snapshot.damaged.length === 0) {
    const same = snapshot.entries.join('\n') === original.snapshot.entries.join('\n') && sameMap(snapshot.arrays, original.snapshot.arrays);
    return same ? 'identical' : undefined;
  }
  for (const [name, array] of snapshot.arrays) if (original.snapshot.arrays.get(name) !== array) return undefined;
  if (!(await strictOpenRefuses(path))) throw new Error(`listed ${snapshot.damaged.join(', ')} as damaged, yet opened with damaged: 'error'`);
  return `listed damaged: ${snapshot.damaged[0]}`;
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([key, value]) => b.get(key) === value);
}

interface Original {
  name: string;
  bytes: Uint8Array;
  snapshot: Snapshot;
  /** Byte ranges holding zip and npy structure, where damage is most interesting (the rest is array data). */
  structure: Array<[number, number]>;
}

function structureOf(bytes: Uint8Array): Array<[number, number]> {
  const layout = zipLayout(bytes);
  const ranges: Array<[number, number]> = [[layout.cdOffset, bytes.length]];
  for (const record of layout.records) {
    const dataStart = localDataStart(bytes, record);
    // The local header, and the npy header after it (its first 128 bytes, or less for a small member).
    ranges.push([record.localHeaderOffset, Math.min(dataStart + 128, dataStart + record.compressedSize)]);
  }
  return ranges;
}

export async function loadOriginals(names: readonly string[] = FUZZ_FIXTURES): Promise<Original[]> {
  const originals: Original[] = [];
  for (const name of names) {
    const path = join(GOOD_DIR, name);
    const bytes = new Uint8Array(readFileSync(path));
    const snapshot = await readThroughOpen(path);
    if (snapshot.damaged.length > 0) throw new Error(`${name}: a fixture lists damaged entries (${snapshot.damaged.join(', ')})`);
    if (!sameMap(snapshot.arrays, await readThroughStream(path))) throw new Error(`${name}: the two read paths disagree`);
    originals.push({ name, bytes, snapshot, structure: structureOf(bytes) });
  }
  return originals;
}

export interface Mutation {
  kind: MutationKind;
  fixture: string;
  /** Human-readable and replayable: offsets and values. */
  detail: string;
  bytes: Uint8Array;
}

function pick(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/** Half the point mutations land in structure (headers, central directory, end records), half anywhere. */
function position(random: () => number, original: Original): number {
  if (random() < 0.5) return pick(random, original.bytes.length);
  const [start, end] = original.structure[pick(random, original.structure.length)] as [number, number];
  return start + pick(random, Math.max(1, end - start));
}

export function mutate(random: () => number, original: Original, kind: MutationKind): Mutation {
  const size = original.bytes.length;
  const bytes = original.bytes.slice();
  const base = { kind, fixture: original.name };
  switch (kind) {
    case 'truncate': {
      // Structure boundaries (record starts and ends, off by one either way) are where parsers slip.
      const at = random() < 0.5 ? pick(random, size) : Math.max(0, Math.min(size - 1, position(random, original) + pick(random, 3) - 1));
      return { ...base, detail: `length ${at}`, bytes: bytes.subarray(0, at) };
    }
    case 'bitflip': {
      const at = position(random, original);
      const bit = pick(random, 8);
      bytes[at]! ^= 1 << bit;
      return { ...base, detail: `bit ${bit} of byte ${at}`, bytes };
    }
    case 'bytewrite': {
      const at = position(random, original);
      const value = (bytes[at]! + 1 + pick(random, 255)) & 0xff;
      bytes[at] = value;
      return { ...base, detail: `byte ${at} = ${value}`, bytes };
    }
    case 'multiflip': {
      const flips: string[] = [];
      for (let i = 2 + pick(random, 7); i > 0; i--) {
        const at = position(random, original);
        const bit = pick(random, 8);
        bytes[at]! ^= 1 << bit;
        flips.push(`${at}.${bit}`);
      }
      return { ...base, detail: `bits ${flips.join(' ')}`, bytes };
    }
    case 'zeroblock': {
      // A lost disk sector or a sparse hole: 512 aligned bytes read back as zeros.
      const at = Math.floor(position(random, original) / 512) * 512;
      bytes.fill(0, at, at + 512);
      return { ...base, detail: `zeros at ${at}..${Math.min(size, at + 512)}`, bytes };
    }
    case 'delete': {
      const at = position(random, original);
      const length = 1 + pick(random, 64);
      const out = new Uint8Array(size - Math.min(length, size - at));
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(Math.min(size, at + length)), at);
      return { ...base, detail: `delete ${length} bytes at ${at}`, bytes: out };
    }
  }
}

export interface FuzzTotals {
  cases: number;
  byKind: Record<MutationKind, number>;
  /** 'identical' (the original arrays came back) or the NpzError code, per read path. */
  outcomes: Record<string, number>;
  failures: string[];
}

type Outcome = { ok: true; result: string } | { ok: false; why: string };

/** `judge` names a good result ('identical', or how the damage was reported) or returns undefined for wrong data. */
async function outcomeOf<T>(work: () => Promise<T>, judge: (value: T) => string | undefined | Promise<string | undefined>, timeoutMs: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const value = await Promise.race([work(), timeout]);
    if (value === 'timeout') return { ok: false, why: `no result after ${timeoutMs} ms (hang)` };
    const result = await judge(value);
    return result !== undefined ? { ok: true, result } : { ok: false, why: 'returned arrays that differ from the original' };
  } catch (error) {
    if (isNpzError(error)) return { ok: true, result: error.code };
    return { ok: false, why: `threw a non-NpzError: ${(error as Error)?.stack ?? String(error)}` };
  } finally {
    clearTimeout(timer);
  }
}

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Directory for the damaged files (each case overwrites the same file). */
  dir: string;
  timeoutMs?: number;
  originals: Original[];
}

function emptyTotals(): FuzzTotals {
  return {
    cases: 0,
    byKind: Object.fromEntries(MUTATION_KINDS.map((kind) => [kind, 0])) as Record<MutationKind, number>,
    outcomes: {},
    failures: [],
  };
}

/** Writes one damaged file, reads it both ways, and adds the outcome (or the failure) to `totals`. */
async function checkCase(path: string, bytes: Uint8Array, original: Original, kind: MutationKind, label: string, totals: FuzzTotals, timeoutMs: number): Promise<void> {
  writeFileSync(path, bytes);
  const checkFds = process.platform === 'linux';
  const fdsBefore = checkFds ? openFdCount() : 0;
  const opened = await outcomeOf(() => readThroughOpen(path), (snapshot) => judgeOpened(path, snapshot, original), timeoutMs);
  const streamed = await outcomeOf(() => readThroughStream(path), (arrays) => (sameMap(arrays, original.snapshot.arrays) ? 'identical' : undefined), timeoutMs);
  const leaked = checkFds ? openFdCount() - fdsBefore : 0;
  totals.cases += 1;
  totals.byKind[kind] += 1;
  for (const [readPath, outcome] of [['openNpz', opened], ['readNpz', streamed]] as const) {
    if (outcome.ok) totals.outcomes[outcome.result] = (totals.outcomes[outcome.result] ?? 0) + 1;
    else totals.failures.push(`${label}: ${readPath} ${outcome.why}`);
  }
  if (leaked > 0) totals.failures.push(`${label}: ${leaked} file descriptor(s) left open`);
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzTotals> {
  const random = seededRandom(options.seed);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const totals = emptyTotals();
  const path = join(options.dir, 'case.npz');
  for (let index = 0; index < options.cases; index++) {
    const original = options.originals[index % options.originals.length] as Original;
    const kind = MUTATION_KINDS[pick(random, MUTATION_KINDS.length)] as MutationKind;
    const mutation = mutate(random, original, kind);
    const label = `seed ${options.seed} case ${index}: ${mutation.fixture} ${kind} ${mutation.detail}`;
    // FUZZ_TRACE=1 names each case on stderr before it runs, so a case that never returns (a loop that starves
    // the timeout's timer) can still be found.
    if (process.env['FUZZ_TRACE'] !== undefined) writeSync(2, `${label}\n`);
    await checkCase(path, mutation.bytes, original, kind, label, totals, timeoutMs);
  }
  return totals;
}

/** Every truncation point of each original (every `stride`-th byte, plus the last 64 and the first 64). */
export async function runTruncationSweep(options: { originals: Original[]; dir: string; stride: number; timeoutMs?: number }): Promise<FuzzTotals> {
  const totals = emptyTotals();
  const path = join(options.dir, 'truncated.npz');
  for (const original of options.originals) {
    const size = original.bytes.length;
    for (let at = 0; at < size; at += at < 64 || at >= size - 64 ? 1 : options.stride) {
      const label = `truncation sweep: ${original.name} length ${at}`;
      await checkCase(path, original.bytes.subarray(0, at), original, 'truncate', label, totals, options.timeoutMs ?? 10_000);
    }
  }
  return totals;
}

export function formatTotals(title: string, totals: FuzzTotals): string {
  const kinds = MUTATION_KINDS.map((kind) => `${kind} ${totals.byKind[kind]}`).join(', ');
  const outcomes = Object.entries(totals.outcomes)
    .sort(([, a], [, b]) => b - a)
    .map(([outcome, count]) => `  ${outcome.padEnd(28)} ${count}`)
    .join('\n');
  return `${title}: ${totals.cases} cases (${kinds}); ${totals.failures.length} failures\noutcomes (per read path, 2 per case):\n${outcomes}`;
}
