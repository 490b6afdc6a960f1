/**
 * The read planner's decisions as pure functions: the policy derived from a source's read cost, merging runs,
 * splitting a large read, growing the cached tail, and the FIFO bound on reads in flight. No I/O.
 */
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/io/planner/limiter.js';
import { mergeRuns } from '../../src/io/planner/merge.js';
import {
  DEFAULT_GAP,
  MAX_DERIVED_GAP,
  MAX_TAIL_CACHE,
  MIN_DERIVED_GAP,
  derivedParallel,
  MIN_SPLIT,
  SMALL_READ,
  SPREAD_FROM,
  piecesInFlight,
  readPolicy,
  runReadsInFlight,
} from '../../src/io/planner/policy.js';
import { partSize, splitRead } from '../../src/io/planner/split.js';
import { TailCache, growsTail } from '../../src/io/planner/tail.js';

const KIB = 1024;
const MIB = 1024 * KIB;

describe('policy from a read cost', () => {
  it('no readCost is a cheap source: every gap read through, nothing split or limited', () => {
    const policy = readPolicy(undefined);
    expect(policy).toEqual({ roundTrip: false, gapBytes: Number.POSITIVE_INFINITY, parallelReads: undefined, requestBytes: Number.POSITIVE_INFINITY });
    expect(piecesInFlight(policy, 'into')).toBe(4);
    expect(piecesInFlight(policy, 'ring')).toBe(2);
    expect(piecesInFlight(policy, 'fresh')).toBe(2);
    expect(runReadsInFlight(policy)).toBe(1);
  });

  it('a declared gap wins; a nonsense one reads no gap; none at all gets the default', () => {
    expect(readPolicy({ gapBytes: 1234 }).gapBytes).toBe(1234);
    expect(readPolicy({ gapBytes: 0, latencyMs: 100, bytesPerSecond: 1e9 }).gapBytes).toBe(0);
    for (const nonsense of [Number.NaN, -1]) expect(readPolicy({ gapBytes: nonsense }).gapBytes).toBe(0);
    expect(readPolicy({}).gapBytes).toBe(DEFAULT_GAP);
    expect(readPolicy({ parallelReads: 4 }).roundTrip).toBe(true);
  });

  it('without a declared gap, the gap is latency × throughput (the bytes one round trip could carry), clamped', () => {
    expect(readPolicy({ latencyMs: 20, bytesPerSecond: 50e6 }).gapBytes).toBe(1_000_000);
    expect(readPolicy({ latencyMs: 0.01, bytesPerSecond: 50e6 }).gapBytes).toBe(MIN_DERIVED_GAP);
    expect(readPolicy({ latencyMs: 1000, bytesPerSecond: 1e9 }).gapBytes).toBe(MAX_DERIVED_GAP);
    // Half a link description is no description.
    expect(readPolicy({ latencyMs: 20 }).gapBytes).toBe(DEFAULT_GAP);
    expect(readPolicy({ latencyMs: Number.NaN, bytesPerSecond: 50e6 }).gapBytes).toBe(DEFAULT_GAP);
  });

  it('parallel reads: as asked, floored, at most 64; invalid falls back to the local depths', () => {
    expect(readPolicy({ parallelReads: 12.7 }).parallelReads).toBe(12);
    expect(readPolicy({ parallelReads: 1e9 }).parallelReads).toBe(64);
    expect(readPolicy({ parallelReads: 1 }).parallelReads).toBe(1);
    for (const invalid of [0, -3, Number.NaN, 0.5]) {
      const policy = readPolicy({ gapBytes: 0, parallelReads: invalid });
      expect(policy.parallelReads, String(invalid)).toBeUndefined();
      expect(piecesInFlight(policy, 'into')).toBe(4);
      expect(runReadsInFlight(policy)).toBe(1);
    }
    const remote = readPolicy({ parallelReads: 8 });
    expect(piecesInFlight(remote, 'into')).toBe(8);
    expect(piecesInFlight(remote, 'ring')).toBe(8);
    expect(runReadsInFlight(remote)).toBe(8);
    // A batch of runs holds at most 16 merged reads, whatever the source asks.
    expect(runReadsInFlight(readPolicy({ parallelReads: 40 }))).toBe(16);
  });

  it('without declared parallel reads, a link gets 1 + latency × throughput / read size of them, 2 to 16', () => {
    expect(readPolicy({ latencyMs: 20, bytesPerSecond: 100e6, requestBytes: 1e6 }).parallelReads).toBe(3);
    expect(derivedParallel(20, 100e6, 1e6)).toBe(3);
    expect(derivedParallel(20, 100e6, 2.5e6)).toBe(2);
    // With no request size the reads are assumed to be 1 MiB.
    expect(readPolicy({ latencyMs: 50, bytesPerSecond: 100 * MIB }).parallelReads).toBe(6);
    expect(derivedParallel(0.01, 1e6, 1e6)).toBe(2);
    expect(derivedParallel(1000, 1e9, 1e6)).toBe(16);
    // A declared value wins, also a nonsense one (then the local depths apply); half a link derives nothing.
    expect(readPolicy({ latencyMs: 50, bytesPerSecond: 1e9, parallelReads: 5 }).parallelReads).toBe(5);
    expect(readPolicy({ latencyMs: 50, bytesPerSecond: 1e9, parallelReads: Number.NaN }).parallelReads).toBeUndefined();
    expect(readPolicy({ latencyMs: 50 }).parallelReads).toBeUndefined();
  });

  it('request size: a declared one splits, none never does', () => {
    expect(readPolicy({ requestBytes: MIB }).requestBytes).toBe(MIB);
    expect(readPolicy({ parallelReads: 8 }).requestBytes).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('mergeRuns', () => {
  const run = (offset: number, length: number) => ({ offset, length });
  const plan = (gap: number, maxSpan = MIB) =>
    mergeRuns([run(0, 100), run(100 + gap, 100)], { gapBytes: 64, maxSpan, size: MIB }).map(({ first, last, start, end }) => [first, last, start, end]);

  it('reads through a gap of exactly gapBytes, and not one byte more', () => {
    expect(plan(64)).toEqual([[0, 2, 0, 264]]);
    expect(plan(65)).toEqual([[0, 1, 0, 100], [1, 2, 165, 265]]);
  });

  it('a merged read never spans more than maxSpan; one run longer than it stays one read', () => {
    expect(plan(0, 200)).toEqual([[0, 2, 0, 200]]);
    expect(plan(0, 199)).toEqual([[0, 1, 0, 100], [1, 2, 100, 200]]);
    expect(mergeRuns([run(0, 500)], { gapBytes: 0, maxSpan: 100 })).toEqual([{ first: 0, last: 1, start: 0, end: 500 }]);
  });

  it('overlapping and nested runs share a read that ends at the furthest end', () => {
    expect(mergeRuns([run(0, 100), run(10, 20), run(50, 200)], { gapBytes: 0, maxSpan: MIB })).toEqual([{ first: 0, last: 3, start: 0, end: 250 }]);
  });

  it('clips the last read to the source size', () => {
    expect(mergeRuns([run(0, 500)], { gapBytes: 0, maxSpan: MIB, size: 300 })).toEqual([{ first: 0, last: 1, start: 0, end: 300 }]);
    expect(mergeRuns([run(400, 10)], { gapBytes: 0, maxSpan: MIB, size: 300 })).toEqual([{ first: 0, last: 1, start: 400, end: 400 }]);
  });

  it('an infinite gap (a cheap source) merges everything the span allows', () => {
    const runs = [run(0, 10), run(3 * MIB, 10), run(5 * MIB, 10)];
    expect(mergeRuns(runs, { gapBytes: Number.POSITIVE_INFINITY, maxSpan: 4 * MIB }).map((read) => [read.first, read.last])).toEqual([[0, 2], [2, 3]]);
  });
});

describe('splitting a large read', () => {
  it('below 1 MiB a read stays whole up to the request size, idle slots or not', () => {
    expect(partSize(SPREAD_FROM - 1, MIB, 8)).toBe(SPREAD_FROM - 1);
    expect(partSize(600 * KIB, 256 * KIB, 8)).toBe(256 * KIB);
  });

  it('from 1 MiB a read is spread over the idle slots, never in parts below 256 KiB, never above the request size', () => {
    expect(partSize(MIB, MIB, 4)).toBe(256 * KIB);
    expect(partSize(4 * MIB, MIB, 8)).toBe(512 * KIB);
    expect(partSize(4 * MIB, MIB, 1)).toBe(MIB);
    expect(partSize(4 * MIB, MIB, 0)).toBe(MIB);
    expect(partSize(2 * MIB, MIB, 64)).toBe(MIN_SPLIT);
    expect(partSize(1_000_000, 64 * KIB, 4)).toBe(64 * KIB);
  });

  it('no request size: one part', () => {
    expect(splitRead(100 * MIB, Number.POSITIVE_INFINITY, 8)).toEqual([[0, 100 * MIB]]);
  });

  it('parts cover the read exactly, in order', () => {
    expect(splitRead(2.5 * MIB, MIB, 1)).toEqual([[0, MIB], [MIB, 2 * MIB], [2 * MIB, 2.5 * MIB]]);
    expect(splitRead(0, MIB, 1)).toEqual([]);
  });
});

describe('the cached tail', () => {
  const tail = { start: 1_000_000, length: 256 * KIB };

  it('a small read ending within a gap of the tail grows it; one byte further, or a larger read, does not', () => {
    expect(growsTail(tail.start - 1000 - 64 * KIB, tail.start - 64 * KIB, tail, 64 * KIB)).toBe(true);
    expect(growsTail(tail.start - 1000 - 64 * KIB - 1, tail.start - 64 * KIB - 1, tail, 64 * KIB)).toBe(false);
    expect(growsTail(tail.start - SMALL_READ, tail.start, tail, 64 * KIB)).toBe(true);
    expect(growsTail(tail.start - SMALL_READ - 1, tail.start, tail, 64 * KIB)).toBe(false);
  });

  it('stops growing past 16 MiB', () => {
    expect(growsTail(tail.start - 10, tail.start, { start: tail.start, length: MAX_TAIL_CACHE }, 0)).toBe(true);
    expect(growsTail(tail.start - 10, tail.start, { start: tail.start, length: MAX_TAIL_CACHE + 1 }, 0)).toBe(false);
  });

  it('serves reads inside it; prepends only the bytes still below it, staying one run to the end', () => {
    const all = Uint8Array.from({ length: 100 }, (_, i) => i);
    const cache = new TailCache(all.slice(80), 80);
    expect(cache.lookup(79, 90)).toBeUndefined();
    expect(Array.from(cache.lookup(85, 88) ?? [])).toEqual([85, 86, 87]);
    // Another read grew it to 70 meanwhile; a read of [60, 80) adds only [60, 70).
    cache.prepend(70, all.slice(70, 80));
    cache.prepend(60, all.slice(60, 80));
    expect(cache.start).toBe(60);
    expect(Array.from(cache.bytes)).toEqual(Array.from(all.slice(60)));
    // Bytes above the cache's start add nothing.
    cache.prepend(65, all.slice(65, 80));
    expect(cache.bytes.length).toBe(40);
  });
});

describe('Limiter', () => {
  it('bounds holders, hands a released slot to exactly one waiter, first come first served', async () => {
    const limiter = new Limiter(2);
    const a = await limiter.acquire();
    await limiter.acquire();
    expect(limiter.idle).toBe(0);
    const order: string[] = [];
    const c = limiter.acquire().then((slot) => (order.push('c'), slot));
    const d = limiter.acquire().then((slot) => (order.push('d'), slot));
    a.release();
    a.release(); // twice is once
    await c;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual(['c']);
    (await c).release();
    await d;
    expect(order).toEqual(['c', 'd']);
  });

  it('reports idle slots only while nobody waits', async () => {
    const limiter = new Limiter(3);
    expect(limiter.idle).toBe(3);
    const slot = await limiter.acquire();
    expect(limiter.idle).toBe(2);
    slot.release();
    expect(limiter.idle).toBe(3);
  });

  it('a waiter whose signal aborts leaves the queue with the reason and never takes a slot', async () => {
    const limiter = new Limiter(1);
    const held = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    const next = limiter.acquire();
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    held.release();
    await expect(next).resolves.toBeDefined();
    await expect(limiter.acquire(controller.signal)).rejects.toThrow('stop');
  });
});
