/**
 * The read planner's batches of data runs (what slices read through), over an in-memory source that records every
 * read: exact ranges, runs landing in the caller's memory, a gap asked again for each read, reads in flight, and
 * a loop left early or aborted; plus the counts the planner keeps of what reached the source.
 */
import { describe, expect, it } from 'vitest';
import { ReadPlanner } from '../../src/io/planner/index.js';
import type { RandomAccessSource, ReadCost } from '../../src/io/random-access.js';

const KIB = 1024;
const MIB = 1024 * KIB;

interface Recorded {
  offset: number;
  length: number;
  into: boolean;
  signal: AbortSignal | undefined;
}

interface Recording extends RandomAccessSource {
  reads: Recorded[];
  inFlight: number;
  maxInFlight: number;
  settled: number;
}

const bytesOf = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) & 255);

function recording(bytes: Uint8Array, cost: ReadCost | undefined, delayMs = 1): Recording {
  const source: Recording = {
    size: bytes.length,
    reads: [],
    inFlight: 0,
    maxInFlight: 0,
    settled: 0,
    ...(cost === undefined ? {} : { readCost: cost }),
    async read(offset, length, into, signal) {
      source.reads.push({ offset, length, into: into !== undefined, signal });
      source.inFlight++;
      source.maxInFlight = Math.max(source.maxInFlight, source.inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        const available = bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
        if (into === undefined) return available.slice();
        into.set(available);
        return into.subarray(0, available.length);
      } finally {
        source.inFlight--;
        source.settled++;
      }
    },
    close: async () => undefined,
  };
  return source;
}

const rows = (count: number, stride: number, length: number, from = 0): Array<{ offset: number; length: number }> =>
  Array.from({ length: count }, (_, i) => ({ offset: from + i * stride, length }));

describe('batches of data runs', () => {
  it('a cheap source reads exactly the merged ranges (no cached window), several at once when they land in memory', async () => {
    const data = bytesOf(4 * MIB);
    const source = recording(data, undefined);
    const planner = new ReadPlanner(source);
    const runs = rows(12, 256 * KIB, 100);
    const groups = [];
    for await (const group of planner.readRuns(runs, { gapBytes: 1000, landing: 'into' })) groups.push(group);
    expect(source.reads.map((read) => [read.offset, read.length])).toEqual(runs.map((run) => [run.offset, run.length]));
    expect(source.maxInFlight).toBe(4);
    groups.forEach((group, i) => expect(Buffer.from(group.bytes).equals(Buffer.from(data.subarray(i * 256 * KIB, i * 256 * KIB + 100)))).toBe(true));
    // A header scan's batch is unchanged: on a cheap source every gap within the span is read through, one read
    // at a time, and a small read goes through the 64 KiB window.
    source.reads.length = 0;
    source.maxInFlight = 0;
    for await (const _ of planner.readRuns(rows(3, 256 * KIB, 100))) void _;
    for await (const _ of planner.readRuns(rows(1, 0, 100, 3 * MIB))) void _;
    expect(source.reads.map((read) => [read.offset, read.length])).toEqual([
      [0, 512 * KIB + 100],
      [3 * MIB, 64 * KIB],
    ]);
    expect(source.maxInFlight).toBe(1);
  });

  it('a run read on its own lands in the memory given for it; merged runs come back together', async () => {
    const data = bytesOf(MIB);
    const source = recording(data, undefined);
    const planner = new ReadPlanner(source);
    const destination = new Uint8Array(300).fill(0xee);
    const runs = [
      { offset: 1000, length: 100, at: 0 },
      { offset: 1150, length: 100, at: 100 },
      { offset: 90_000, length: 100, at: 200 },
    ];
    const seen = [];
    for await (const group of planner.readRuns(runs, { gapBytes: 64, landing: 'into', into: (run) => destination.subarray(run.at, run.at + run.length) })) {
      seen.push({ start: group.start, runs: group.runs.length, landed: group.landed, length: group.bytes.length });
    }
    expect(seen).toEqual([
      { start: 1000, runs: 2, landed: false, length: 250 },
      { start: 90_000, runs: 1, landed: true, length: 100 },
    ]);
    expect(source.reads.map((read) => read.into)).toEqual([false, true]);
    expect(Buffer.from(destination.subarray(200)).equals(Buffer.from(data.subarray(90_000, 90_100)))).toBe(true);
    expect(destination[0]).toBe(0xee);
  });

  it('a round-trip source: merged reads are neither merged further nor split, and the gap is asked for each read', async () => {
    const source = recording(bytesOf(16 * MIB), { gapBytes: 64 * KIB, parallelReads: 4, requestBytes: MIB });
    const planner = new ReadPlanner(source);
    // Four runs 32 KiB apart, 4 KiB each: the gap function decides read by read.
    const gaps = [0, 0, 64 * KIB];
    let asked = 0;
    const groups = [];
    for await (const group of planner.readRuns(rows(4, 32 * KIB, 4 * KIB), {
      gapBytes: () => {
        asked++;
        return gaps.shift() ?? 0;
      },
      landing: 'into',
    })) {
      groups.push(group.runs.length);
    }
    expect(groups).toEqual([1, 1, 2]);
    expect(asked).toBe(3);
    // Small reads issued together are not merged behind the batch's back (the policy's gap is 64 KiB).
    expect(source.reads.map((read) => [read.offset, read.length])).toEqual([
      [0, 4 * KIB],
      [32 * KIB, 4 * KIB],
      [64 * KIB, 36 * KIB],
    ]);
    // A 3 MiB merged read is one request, not three of the 1 MiB request size.
    source.reads.length = 0;
    for await (const _ of planner.readRuns(rows(3, MIB, 64 * KIB, 4 * MIB), { gapBytes: MIB, maxSpan: 4 * MIB, landing: 'fresh' })) void _;
    expect(source.reads.map((read) => read.length)).toEqual([2 * MIB + 64 * KIB]);
    expect(source.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('leaving the loop early stops the reads issued ahead and returns once they settled', async () => {
    const source = recording(bytesOf(MIB), { parallelReads: 8 }, 20);
    const planner = new ReadPlanner(source);
    for await (const _ of planner.readRuns(rows(40, 10 * KIB, 100), { gapBytes: 0, landing: 'fresh' })) break;
    expect(source.reads.length).toBe(8);
    expect(source.settled).toBe(8);
    expect(source.reads.slice(1).every((read) => read.signal?.aborted === true)).toBe(true);
  });

  it("an aborted signal ends the batch with the signal's reason", async () => {
    const source = recording(bytesOf(MIB), undefined);
    const planner = new ReadPlanner(source);
    const controller = new AbortController();
    const reason = new Error('stop');
    const error = await (async () => {
      for await (const _ of planner.readRuns(rows(10, 10 * KIB, 100), { gapBytes: 0, landing: 'fresh', signal: controller.signal })) controller.abort(reason);
    })().catch((caught: unknown) => caught);
    expect(error).toBe(reason);
    expect(source.reads.length).toBeLessThan(10);
  });

  it('readStats count the reads that reached the source and their bytes; a seeded tail counts as one', async () => {
    const data = bytesOf(MIB);
    const cheap = new ReadPlanner(recording(data, undefined));
    await cheap.read(0, 10);
    await cheap.read(MIB - 5, 10);
    expect(cheap.readStats).toEqual({ reads: 2, bytes: 15 });
    const remote = new ReadPlanner(recording(data, { parallelReads: 2 }), { tail: data.slice(MIB - 4096) });
    expect(remote.readStats).toEqual({ reads: 1, bytes: 4096 });
    // Served from the tail: nothing reaches the source.
    await remote.read(MIB - 100, 50);
    expect(remote.readStats).toEqual({ reads: 1, bytes: 4096 });
    await remote.read(0, 3 * KIB);
    expect(remote.readStats).toEqual({ reads: 2, bytes: 4096 + 3 * KIB });
  });
});
