/**
 * Slices without I/O: numpy's indexing rules as `normalizeSlice` applies them, the storage runs of a box (C and
 * Fortran order, folded into strided runs or not, cut at any span) against a brute-force gather, the Fortran-to-C
 * transposition, the lazy merge, the batch gap's rule, and the link meter on a scripted clock.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { LinkMeter, LATENCY_WINDOW_MS, MIN_TIMED_BYTES } from '../../src/io/planner/meter.js';
import { mergeRuns, mergeRunsLazily } from '../../src/io/planner/merge.js';
import { ASSUMED_THROUGHPUT, DEFAULT_GAP, MIN_DERIVED_GAP, MIN_LINK_SAMPLES, runGap } from '../../src/io/planner/policy.js';
import {
  copyRun,
  formatSlice,
  fortranToC,
  normalizeSlice,
  shardSlice,
  sliceRuns,
  storageLayout,
  type Slice,
  type SliceItem,
  type SliceRun,
} from '../../src/npy/slice.js';

/** Python's `range(*slice(start, stop, step).indices(size))` for step ≥ 1, written out the long way. */
function pythonRange(size: number, start: number | null, stop: number | null, step: number): number[] {
  let first = start ?? 0;
  if (first < 0) first += size;
  if (first < 0) first = 0;
  if (first > size) first = size;
  let end = stop ?? size;
  if (end < 0) end += size;
  if (end < 0) end = 0;
  if (end > size) end = size;
  const out: number[] = [];
  for (let i = first; i < end; i += step) out.push(i);
  return out;
}

/** Per axis, the indices numpy selects, and whether the axis stays. */
function selected(shape: readonly number[], slice: Slice): Array<{ indices: number[]; kept: boolean }> {
  return shape.map((size, axis) => {
    const item = slice[axis];
    if (item === null || item === undefined) return { indices: pythonRange(size, null, null, 1), kept: true };
    if (typeof item === 'number') return { indices: [item < 0 ? item + size : item], kept: false };
    const [start, stop, step] = item as readonly (number | null)[];
    return { indices: pythonRange(size, start ?? null, stop ?? null, step ?? 1), kept: true };
  });
}

/** The slice's bytes in C order, gathered element by element from data stored in C or Fortran order. */
function bruteForce(data: Uint8Array, shape: readonly number[], itemsize: number, fortran: boolean, slice: Slice): Uint8Array {
  const picks = selected(shape, slice);
  const strides = shape.map((_, axis) => {
    const dims = fortran ? shape.slice(0, axis) : shape.slice(axis + 1);
    return dims.reduce((product, dim) => product * dim, 1) * itemsize;
  });
  const out: number[] = [];
  const visit = (axis: number, offset: number): void => {
    if (axis === shape.length) {
      for (let b = 0; b < itemsize; b++) out.push(data[offset + b] as number);
      return;
    }
    for (const index of (picks[axis] as { indices: number[] }).indices) visit(axis + 1, offset + index * (strides[axis] as number));
  };
  visit(0, 0);
  return Uint8Array.from(out);
}

const pattern = (length: number, seed = 0): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 17 + (i >> 7)) & 255);

/** A slice item for an axis of `size`: in range indices, bounds past both ends, steps of 1 to size + 2. */
function itemFor(size: number): fc.Arbitrary<SliceItem> {
  const bound = fc.option(fc.integer({ min: -size - 3, max: size + 3 }), { nil: null });
  const items: Array<fc.Arbitrary<SliceItem>> = [
    fc.constant(null),
    fc.tuple(bound, bound),
    fc.tuple(bound, bound, fc.option(fc.integer({ min: 1, max: size + 2 }), { nil: null })),
  ];
  if (size > 0) items.push(fc.integer({ min: -size, max: size - 1 }));
  return fc.oneof(...items);
}

const caseArbitrary = fc
  .array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 4 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      slice: fc.integer({ min: 0, max: shape.length }).chain((count) => fc.tuple(...shape.slice(0, count).map(itemFor)) as fc.Arbitrary<SliceItem[]>),
      itemsize: fc.constantFrom(1, 2, 3, 4, 8, 16),
      fortran: fc.boolean(),
      gapBytes: fc.integer({ min: -1, max: 80 }),
      maxSpan: fc.integer({ min: 1, max: 300 }),
    }),
  );

describe('normalizeSlice: numpy basic indexing with steps ≥ 1', () => {
  it('result shapes are what the selected indices make', () => {
    fc.assert(
      fc.property(caseArbitrary, ({ shape, slice }) => {
        const box = normalizeSlice(shape, slice);
        const picks = selected(shape, slice);
        expect(box.resultShape).toEqual(picks.filter((pick) => pick.kept).map((pick) => pick.indices.length));
        box.picks.forEach((pick, axis) => {
          const indices = (picks[axis] as { indices: number[] }).indices;
          expect(pick.count).toBe(indices.length);
          if (indices.length > 0) expect(pick.start).toBe(indices[0]);
          if (indices.length > 1) expect(pick.step).toBe((indices[1] as number) - (indices[0] as number));
        });
      }),
      { numRuns: 400 },
    );
  });

  it('`[]` and all-null slices are the whole array; indexing every axis is 0-d', () => {
    expect(normalizeSlice([2, 3], []).whole).toBe(true);
    expect(normalizeSlice([2, 3], [null, [null, null]]).whole).toBe(true);
    expect(normalizeSlice([2, 3], [[0, 2, 1], [-3, 10]]).whole).toBe(true);
    expect(normalizeSlice([2, 3], [[0, 2, 2]]).whole).toBe(false);
    expect(normalizeSlice([2, 3], [0]).whole).toBe(false);
    expect(normalizeSlice([2, 3], [1, -1]).resultShape).toEqual([]);
    expect(normalizeSlice([], []).resultShape).toEqual([]);
    expect(normalizeSlice([0, 4], [[1, 3]]).resultShape).toEqual([0, 4]);
  });

  it('refuses what numpy refuses (or this API does not do), naming the axis', () => {
    const refused: Array<[number[], unknown, RegExp]> = [
      [[4, 5], [0, 5], /^axis 1: index 5 is out of range for size 5$/],
      [[4, 5], [-5], /^axis 0: index -5 is out of range for size 4$/],
      [[0], [0], /^axis 0: index 0 is out of range for size 0$/],
      [[4, 5], [null, [0, 4, 0]], /^axis 1: step must be at least 1, got 0$/],
      [[4, 5], [[null, null, -1]], /^axis 0: step must be at least 1, got -1$/],
      [[4, 5], [1.5], /^axis 0: index 1.5 is not an integer$/],
      [[4, 5], [null, [0.5, 2]], /^axis 1: start 0.5 is not an integer or null$/],
      [[4, 5], [null, ['1', 2]], /^axis 1: start "1" is not an integer or null$/],
      [[4, 5], [[1, 2, 3, 4]], /^axis 0: \[1,2,3,4\] is not an index/],
      [[4, 5], ['1'], /^axis 0: "1" is not an index/],
      [[4, 5], [0, 0, 0], /^axis 2: the slice has 3 items but the array has 2 axes$/],
      [[], [0], /^axis 0: the slice has 1 items but the array has 0 axes$/],
      [[], [null], /^axis 0: /],
      [[4], 3, /is a list/],
      [[4], [Number.NaN], /^axis 0: index NaN is not an integer$/],
      [[4], [[null, Number.POSITIVE_INFINITY]], /^axis 0: stop Infinity/],
    ];
    for (const [shape, slice, message] of refused) {
      let error: unknown;
      try {
        normalizeSlice(shape, slice as Slice);
      } catch (caught) {
        error = caught;
      }
      expect(isNpzError(error, 'ERR_INVALID_ARGUMENT'), `${JSON.stringify(slice)} of ${JSON.stringify(shape)}`).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('bounds far past the ends clip as Python clips them', () => {
    expect(normalizeSlice([4], [[-1e20, 1e20]]).resultShape).toEqual([4]);
    expect(normalizeSlice([4], [[10, -10]]).resultShape).toEqual([0]);
    expect(normalizeSlice([4], [[-2, null]]).picks[0]).toEqual({ start: 2, step: 1, count: 2, dropped: false });
  });

  it('formatSlice spells a slice as numpy does', () => {
    expect(formatSlice([[0, 2], null, 5])).toBe('[0:2, :, 5]');
    expect(formatSlice([[null, null, 2], [-3, null], [1, 4, 1]])).toBe('[::2, -3:, 1:4]');
    expect(formatSlice([])).toBe('[]');
  });
});

describe('shardSlice', () => {
  it('the index-th of count equal parts; negative axes count from the end', () => {
    expect(shardSlice([2048, 16384], { axis: 1, index: 3, count: 8 })).toEqual([null, [6144, 8192]]);
    expect(shardSlice([6, 4], { axis: -2, index: 2, count: 3 })).toEqual([[4, 6], null]);
    expect(shardSlice([6], { axis: 0, index: 0, count: 1 })).toEqual([[0, 6]]);
  });

  it('refuses uneven splits, indices and axes outside, naming the sizes', () => {
    const refused: Array<[number[], unknown, RegExp]> = [
      [[10, 7], { axis: 1, index: 0, count: 2 }, /axis 1 of size 7 does not divide into 2 equal shards \(shape \(10, 7\)\)/],
      [[10, 8], { axis: 1, index: 2, count: 2 }, /shard index 2 is outside 0…1 for 2 shards/],
      [[10, 8], { axis: 1, index: -1, count: 2 }, /shard index -1 is outside/],
      [[10, 8], { axis: 2, index: 0, count: 2 }, /shard axis 2 is outside an array of 2 axes \(shape \(10, 8\)\)/],
      [[10, 8], { axis: -3, index: 0, count: 2 }, /shard axis -3 is outside/],
      [[], { axis: 0, index: 0, count: 1 }, /shard axis 0 is outside an array of 0 axes/],
      [[10, 8], { axis: 0, index: 0, count: 0 }, /shard count must be a positive integer, got 0/],
      [[10, 8], { axis: 0.5, index: 0, count: 2 }, /shard axis 0.5/],
      [[10, 8], null, /a shard is/],
    ];
    for (const [shape, shard, message] of refused) {
      let error: unknown;
      try {
        shardSlice(shape, shard as never);
      } catch (caught) {
        error = caught;
      }
      expect(isNpzError(error, 'ERR_INVALID_ARGUMENT'), JSON.stringify(shard)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('storage runs of a box', () => {
  it('gathered into place (and transposed from Fortran order), they are the brute-force slice, byte for byte', () => {
    fc.assert(
      fc.property(caseArbitrary, ({ shape, slice, itemsize, fortran, gapBytes, maxSpan }) => {
        const count = shape.reduce((product, dim) => product * dim, 1);
        const dataOffset = 7;
        const file = pattern(dataOffset + count * itemsize + 5, shape.length);
        const data = file.subarray(dataOffset, dataOffset + count * itemsize);
        const box = normalizeSlice(shape, slice);
        const layout = storageLayout(box, itemsize, fortran);
        expect(layout.byteLength).toBe(box.size * itemsize);
        const storage = new Uint8Array(layout.byteLength).fill(0xee);
        let at = 0;
        let end = dataOffset;
        for (const run of sliceRuns(layout, { dataOffset, gapBytes, maxSpan })) {
          // Runs come sorted, without overlap, inside the data, each spanning at most maxSpan.
          expect(run.offset).toBeGreaterThanOrEqual(end);
          expect(run.offset + run.length).toBeLessThanOrEqual(dataOffset + data.length);
          expect(run.length).toBeLessThanOrEqual(Math.max(maxSpan, run.size));
          if (run.count > 1) expect(run.stride - run.size).toBeLessThanOrEqual(gapBytes);
          expect(run.at).toBe(at);
          copyRun(run, file, 0, storage);
          at += run.count * run.size;
          end = run.offset + run.length;
        }
        expect(at).toBe(layout.byteLength);
        const result = fortran && box.resultShape.length > 1 ? fortranToC(storage, box.resultShape, itemsize) : storage;
        expect(Buffer.from(result).equals(Buffer.from(bruteForce(data, shape, itemsize, fortran, slice)))).toBe(true);
      }),
      { numRuns: 600 },
    );
  });

  it('a row slice of a C-order matrix is one run; a column shard is one run per row, folded when its gaps are worth it', () => {
    const box = normalizeSlice([2048, 16384], [[10, 20]]);
    expect(storageLayout(box, 2, false)).toEqual({ base: 10 * 32768, runBytes: 10 * 32768, loops: [], byteLength: 10 * 32768 });
    const shard = normalizeSlice([2048, 16384], shardSlice([2048, 16384], { axis: 1, index: 3, count: 8 }));
    const layout = storageLayout(shard, 2, false);
    expect(layout).toEqual({ base: 3 * 4096, runBytes: 4096, loops: [{ count: 2048, stride: 32768 }], byteLength: 8 << 20 });
    const exact = [...sliceRuns(layout, { dataOffset: 0, gapBytes: 28 * 1024 - 1, maxSpan: 4 << 20 })];
    expect(exact).toHaveLength(2048);
    expect(exact.every((run) => run.count === 1 && run.length === 4096)).toBe(true);
    const folded = [...sliceRuns(layout, { dataOffset: 0, gapBytes: 28 * 1024, maxSpan: 4 << 20 })];
    expect(folded).toHaveLength(16);
    expect(folded[0]).toMatchObject({ offset: 3 * 4096, count: 128, stride: 32768, size: 4096, length: 127 * 32768 + 4096 });
    // The same column shard of a Fortran-order matrix is one contiguous run.
    expect(storageLayout(shard, 2, true).loops).toEqual([]);
  });

  it('a gap given as a function is asked again as runs are made', () => {
    const layout = storageLayout(normalizeSlice([6, 10], [null, [0, 2]]), 1, false);
    let gap = 100;
    const runs: SliceRun[] = [];
    for (const run of sliceRuns(layout, { dataOffset: 0, gapBytes: () => gap, maxSpan: 25 })) {
      runs.push(run);
      gap = 0;
    }
    // The first run folds rows 0–2 (span 22 ≤ 25); then runs are plain.
    expect(runs.map((run) => [run.offset, run.count])).toEqual([
      [0, 3],
      [30, 1],
      [40, 1],
      [50, 1],
    ]);
  });

  it('fortranToC keeps every bit of every item size, aligned or not', () => {
    for (const itemsize of [1, 2, 3, 4, 8, 16]) {
      const shape = [3, 4, 5];
      const count = 60;
      const source = pattern(count * itemsize + 1, itemsize).subarray(1);
      const expected = bruteForce(source, shape, itemsize, true, []);
      expect(Buffer.from(fortranToC(source, shape, itemsize)).equals(Buffer.from(expected)), `unaligned, itemsize ${itemsize}`).toBe(true);
      const aligned = source.slice();
      expect(Buffer.from(fortranToC(aligned, shape, itemsize)).equals(Buffer.from(expected)), `aligned, itemsize ${itemsize}`).toBe(true);
    }
  });
});

describe('the lazy merge', () => {
  it('groups exactly as mergeRuns does, taking runs only as reads are asked for', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 50 })), { maxLength: 40 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 300 }), (pairs, gapBytes, maxSpan) => {
        const runs = pairs.map(([offset, length]) => ({ offset, length })).sort((a, b) => a.offset - b.offset);
        const lazy = [...mergeRunsLazily(runs, { gapBytes, maxSpan, size: 220 })];
        const eager = mergeRuns(runs, { gapBytes, maxSpan, size: 220 });
        expect(lazy.map((read) => [read.start, read.end, read.runs.length])).toEqual(eager.map((read) => [read.start, read.end, read.last - read.first]));
      }),
    );
    let pulled = 0;
    function* counted(): Generator<{ offset: number; length: number }> {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield { offset: i * 100, length: 10 };
      }
    }
    const reads = mergeRunsLazily(counted(), { gapBytes: 0, maxSpan: 1000 });
    reads.next();
    reads.next();
    expect(pulled).toBe(3);
  });

  it('refuses runs out of order, and asks a gap function once per read', () => {
    expect(() => [...mergeRunsLazily([{ offset: 10, length: 1 }, { offset: 5, length: 1 }], { gapBytes: 100, maxSpan: 100 })]).toThrow(/sorted by offset/);
    expect(() => [...mergeRunsLazily([{ offset: 10, length: 1 }, { offset: 50, length: 1 }, { offset: 5, length: 1 }], { gapBytes: 0, maxSpan: 100 })]).toThrow(/sorted by offset/);
    const gaps = [100, 0];
    const runs = [0, 20, 40, 60].map((offset) => ({ offset, length: 5 }));
    const reads = [...mergeRunsLazily(runs, { gapBytes: () => gaps.shift() ?? 0, maxSpan: 30 })];
    expect(reads.map((read) => [read.start, read.end])).toEqual([
      [0, 25],
      [40, 45],
      [60, 65],
    ]);
  });
});

describe('the gap of a batch of runs', () => {
  it('a cheap source: what a local read costs, 40 kB', () => {
    expect(runGap(undefined, 4)).toBe(40_000);
  });

  it('a measured link: latency × throughput shared by the reads in flight; none before enough requests', () => {
    expect(runGap({ latencyMs: 20, bytesPerSecond: 100e6, latencySamples: 50, gapBytes: 65536 }, 8)).toBe(250_000);
    expect(runGap({ latencyMs: 0.3, bytesPerSecond: 500e6, latencySamples: 50 }, 8)).toBe(18_750);
    expect(runGap({ latencyMs: 20, bytesPerSecond: 100e6, latencySamples: MIN_LINK_SAMPLES - 1 }, 8)).toBe(0);
    // Throughput unknown yet: the assumed one.
    expect(runGap({ latencyMs: 20, latencySamples: 50 }, 8)).toBe((0.02 * ASSUMED_THROUGHPUT) / 8);
    // A declared latency (no sample count) is trusted; tiny products stop at the floor.
    expect(runGap({ latencyMs: 0.01, bytesPerSecond: 1e6 }, 8)).toBe(MIN_DERIVED_GAP);
  });

  it('no link: the declared gap, else the default', () => {
    expect(runGap({ gapBytes: 1234 }, 8)).toBe(1234);
    expect(runGap({ gapBytes: -5 }, 8)).toBe(0);
    expect(runGap({ parallelReads: 8 }, 8)).toBe(DEFAULT_GAP);
  });
});

describe('the link meter', () => {
  function clock(): { now: () => number; advance: (ms: number) => void } {
    let t = 1000;
    return { now: () => t, advance: (ms) => void (t += ms) };
  }

  it('latency: the lowest time to first byte within 5 minutes, at least the latest one', () => {
    const time = clock();
    const meter = new LinkMeter(time.now);
    expect(meter.latencyMs).toBeUndefined();
    const request = (ms: number): void => {
      const timing = meter.begin();
      time.advance(ms);
      timing.firstByte();
      timing.end(100);
    };
    request(30);
    request(5);
    request(50);
    expect(meter.latencyMs).toBe(5);
    expect(meter.samples).toBe(3);
    time.advance(LATENCY_WINDOW_MS - 100);
    request(40);
    expect(meter.latencyMs).toBe(5);
    // The 5 ms sample ages out; of those left the lowest is 40.
    time.advance(100);
    expect(meter.latencyMs).toBe(40);
    time.advance(2 * LATENCY_WINDOW_MS);
    expect(meter.latencyMs).toBe(40);
    // A failure before any head is no sample.
    const failed = meter.begin();
    time.advance(1);
    failed.end(0);
    expect(meter.samples).toBe(4);
  });

  it('throughput: bytes over busy time, overlapping transfers once, only once enough was timed', () => {
    const time = clock();
    const meter = new LinkMeter(time.now);
    // Latency 10 ms; two 2 MiB transfers overlapping: busy from 10 ms after the first send to the last byte.
    const a = meter.begin();
    time.advance(10);
    a.firstByte();
    const b = meter.begin();
    time.advance(10);
    b.firstByte();
    time.advance(20);
    a.end(2 << 20);
    time.advance(10);
    b.end(2 << 20);
    // Busy 40 ms (from a's send + 10 ms to b's end), 4 MiB.
    expect(meter.bytesPerSecond).toBeCloseTo((4 << 20) / 0.04, 0);
    // A lone small transfer is not timed.
    const small = new LinkMeter(time.now);
    const c = small.begin();
    time.advance(1);
    c.firstByte();
    time.advance(1);
    c.end(512 * 1024);
    expect(small.bytesPerSecond).toBeUndefined();
    // Timed, but fewer bytes than MIN_TIMED_BYTES in all: not reported yet.
    const partial = new LinkMeter(time.now);
    const d = partial.begin();
    time.advance(1);
    d.firstByte();
    time.advance(5);
    d.end(MIN_TIMED_BYTES / 2);
    expect(partial.bytesPerSecond).toBeUndefined();
    const e = partial.begin();
    time.advance(1);
    e.firstByte();
    time.advance(5);
    e.end(MIN_TIMED_BYTES / 2);
    expect(partial.bytesPerSecond).toBeCloseTo(MIN_TIMED_BYTES / 0.01, 0);
  });
});
