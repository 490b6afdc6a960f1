import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { readNpz, streamNpz } from '../../src/index.js';
import { MUTATION_KINDS, loadOriginals, mutate, type MutationKind } from '../helpers/fuzz.js';
import { seededRandom } from '../helpers/bytes.js';
import { zipLayout } from '../helpers/zip-layout.js';
import { describeArray, streamOf, type StreamKind } from '../helpers/streams.js';

// Seeded mutation fuzzing of the stream path: truncations, bit flips, byte writes, zeroed and deleted blocks (the
// mutations of test/helpers/fuzz.ts) plus garbage inserted between members. Each damaged archive is read
// eagerly (readNpz) and lazily (streamNpz + chunks()). Every array handed out, including those handed out before
// the read failed, must equal the undamaged original's; any failure must be an NpzError; no case may hang.
// STREAM_FUZZ_SEED and STREAM_FUZZ_CASES replay or widen a run; the seed is in every failure message.

const SEED = Number(process.env['STREAM_FUZZ_SEED'] ?? 0x5eed15);
const CASES = Number(process.env['STREAM_FUZZ_CASES'] ?? 360);
const TIMEOUT_MS = 10_000;
const READ_OPTIONS = { maxHeaderSize: 200_000 };

type Kind = MutationKind | 'garbage';

function garbageBetweenMembers(random: () => number, bytes: Uint8Array): { detail: string; bytes: Uint8Array } {
  const offsets = [...zipLayout(bytes).records.map((record) => record.localHeaderOffset), zipLayout(bytes).cdOffset];
  const at = offsets[Math.floor(random() * offsets.length)] as number;
  const length = 1 + Math.floor(random() * 40);
  const junk = Uint8Array.from({ length }, () => Math.floor(random() * 256));
  // Sometimes the junk starts like a record, to tempt the reader into trusting it.
  if (random() < 0.3 && length >= 4) junk.set([0x50, 0x4b, 0x03, 0x04]);
  const out = new Uint8Array(bytes.length + length);
  out.set(bytes.subarray(0, at));
  out.set(junk, at);
  out.set(bytes.subarray(at), at + length);
  return { detail: `${length} bytes of garbage at ${at}`, bytes: out };
}

async function withTimeout<T>(work: Promise<T>): Promise<T | 'hang'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), TIMEOUT_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An array handed out before a failure must be the original's. The one exception is its name: local headers
 * carry no checksum, so a damaged name is only caught when the central directory is read at the end
 * (ERR_ZIP_NAME_MISMATCH), or the read fails earlier on other damage; either way the read fails, and the data
 * under the unknown name must still be the original array at that position.
 */
function acceptable(key: string, value: string, index: number, expected: Map<string, string>, code: string | undefined): boolean {
  if (expected.get(key) === value) return true;
  return !expected.has(key) && code !== undefined && [...expected.values()][index] === value;
}

/** Reads eagerly; returns the failure found (wrong data, wrong error type), or the outcome. */
async function eager(bytes: Uint8Array, kind: StreamKind, expected: Map<string, string>): Promise<{ outcome: string; problem?: string }> {
  const yielded: Array<[string, string]> = [];
  try {
    for await (const [key, array] of readNpz(streamOf(bytes, kind), READ_OPTIONS)) yielded.push([key, describeArray(array)]);
  } catch (error) {
    const code = isNpzError(error) ? error.code : undefined;
    const wrong = yielded.find(([key, value], index) => !acceptable(key, value, index, expected, code));
    if (wrong !== undefined) return { outcome: 'wrong', problem: `yielded a wrong array ${wrong[0]} before failing` };
    return code !== undefined ? { outcome: code } : { outcome: 'crash', problem: `non-NpzError ${(error as Error)?.stack ?? String(error)}` };
  }
  const same = yielded.length === expected.size && yielded.every(([key, value]) => expected.get(key) === value);
  return same ? { outcome: 'identical' } : { outcome: 'wrong', problem: 'completed with arrays that differ from the original' };
}

/** Reads lazily: every member whose chunks() loop completed must hold the original's bytes. */
async function lazy(bytes: Uint8Array, kind: StreamKind, expected: Map<string, string>): Promise<{ outcome: string; problem?: string }> {
  let count = 0;
  const yielded: Array<[string, string]> = [];
  try {
    for await (const entry of streamNpz(streamOf(bytes, kind), { ...READ_OPTIONS, chunkSize: 777 })) {
      if (!entry.isArray) continue;
      const parts: Uint8Array[] = [];
      for await (const chunk of entry.chunks()) parts.push(chunk.slice());
      const data = Buffer.concat(parts).toString('base64');
      const described = JSON.stringify([entry.dtype, entry.descr, entry.shape, entry.fortranOrder, data]);
      yielded.push([entry.name, described]);
      count += 1;
    }
  } catch (error) {
    const code = isNpzError(error) ? error.code : undefined;
    const wrong = yielded.find(([key, value], index) => !acceptable(key, value, index, expected, code));
    if (wrong !== undefined) return { outcome: 'wrong', problem: `chunks() of ${wrong[0]} completed with wrong data` };
    return code !== undefined ? { outcome: code } : { outcome: 'crash', problem: `non-NpzError ${(error as Error)?.stack ?? String(error)}` };
  }
  const wrong = yielded.find(([key, value]) => expected.get(key) !== value);
  if (wrong !== undefined) return { outcome: 'wrong', problem: `chunks() of ${wrong[0]} completed with wrong data` };
  return count === expected.size ? { outcome: 'identical' } : { outcome: 'wrong', problem: `completed after ${count} of ${expected.size} arrays` };
}

describe('seeded fuzzing of the stream reader', () => {
  it(`never returns wrong data, hangs or crashes (seed ${SEED}, ${CASES} cases)`, { timeout: 600_000 }, async () => {
    const originals = await loadOriginals();
    const random = seededRandom(SEED);
    const kinds: Kind[] = [...MUTATION_KINDS, 'garbage'];
    const streamKinds: StreamKind[] = ['node', 'iterable', 'web'];
    const failures: string[] = [];
    const outcomes: Record<string, number> = {};
    for (let index = 0; index < CASES; index++) {
      const original = originals[index % originals.length]!;
      const kind = kinds[Math.floor(random() * kinds.length)]!;
      const mutation = kind === 'garbage' ? garbageBetweenMembers(random, original.bytes) : mutate(random, original, kind);
      const streamKind = streamKinds[index % streamKinds.length]!;
      const label = `seed ${SEED} case ${index}: ${original.name} ${kind} ${mutation.detail} (${streamKind})`;
      for (const [path, read] of [['readNpz', eager], ['streamNpz', lazy]] as const) {
        const result = await withTimeout(read(mutation.bytes, streamKind, original.snapshot.arrays));
        if (result === 'hang') failures.push(`${label}: ${path} gave no result after ${TIMEOUT_MS} ms`);
        else if (result.problem !== undefined) failures.push(`${label}: ${path} ${result.problem}`);
        else outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
      }
    }
    console.log(`stream fuzz seed ${SEED}: ${CASES} cases; outcomes ${JSON.stringify(outcomes)}`);
    expect(failures).toEqual([]);
    // The mutations must actually reach the reader's checks: most cases end in an error.
    expect(Object.entries(outcomes).filter(([outcome]) => outcome !== 'identical').length).toBeGreaterThan(5);
  });

  it('every truncation of a pipe-written (data descriptor) archive is an error, never data', async () => {
    const [original] = await loadOriginals(['pipe-compressed.npz']);
    const failures: string[] = [];
    for (let length = 0; length < original!.bytes.length; length += length < 64 || length > original!.bytes.length - 64 ? 1 : 5) {
      const result = await withTimeout(eager(original!.bytes.subarray(0, length), 'iterable', original!.snapshot.arrays));
      if (result === 'hang') failures.push(`length ${length}: hang`);
      else if (result.problem !== undefined || result.outcome === 'identical') failures.push(`length ${length}: ${result.problem ?? 'read as complete'}`);
    }
    expect(failures).toEqual([]);
  });
});
