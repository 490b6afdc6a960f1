/**
 * The read planner over an in-memory source that records every read it gets: what reaches the source for each
 * kind of request (one read, a stream of pieces, a batch of runs, a small read around), on a cheap source and on a
 * round-trip one. Reads complete after scripted delays, so order and depth are observable.
 */
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
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
  /** Reads still pending, oldest first; only with `manual`. */
  pending: Array<() => void>;
}

const bytesOf = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) & 255);

/**
 * A source over `bytes`. Each read waits `delay(n)` ms (n = its 0-based number), or until released by hand with
 * `manual`; `fail(offset)` makes a read at that offset reject.
 */
function recording(
  bytes: Uint8Array,
  cost: ReadCost | undefined,
  options: { delay?: (n: number) => number; manual?: boolean; fail?: (offset: number) => Error | undefined } = {},
): Recording {
  const source: Recording = {
    size: bytes.length,
    reads: [],
    inFlight: 0,
    maxInFlight: 0,
    pending: [],
    ...(cost === undefined ? {} : { readCost: cost }),
    async read(offset, length, into, signal) {
      const n = source.reads.length;
      source.reads.push({ offset, length, into: into !== undefined, signal });
      source.inFlight++;
      source.maxInFlight = Math.max(source.maxInFlight, source.inFlight);
      try {
        if (options.manual === true) await new Promise<void>((resolve) => source.pending.push(resolve));
        else await new Promise((resolve) => setTimeout(resolve, options.delay?.(n) ?? 0));
        if (signal?.aborted === true) throw signal.reason;
        const error = options.fail?.(offset);
        if (error !== undefined) throw error;
        const available = bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
        if (into === undefined) return available.slice();
        into.set(available);
        return into.subarray(0, available.length);
      } finally {
        source.inFlight--;
      }
    },
    close: async () => undefined,
  };
  return source;
}

const same = (actual: Uint8Array, expected: Uint8Array): boolean => Buffer.from(actual).equals(Buffer.from(expected));

async function drain(iterable: AsyncIterable<Uint8Array>, each?: (piece: Uint8Array) => void | Promise<void>): Promise<Uint8Array[]> {
  const copies: Uint8Array[] = [];
  for await (const piece of iterable) {
    copies.push(piece.slice());
    await each?.(piece);
  }
  return copies;
}

const joined = (pieces: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(pieces));

describe('ReadPlanner.over', () => {
  it('wraps a source once: a planner is its own planner', () => {
    const source = recording(bytesOf(10), undefined);
    const planner = ReadPlanner.over(source);
    expect(ReadPlanner.over(planner)).toBe(planner);
    expect(planner.size).toBe(10);
    expect(planner.readCost).toBeUndefined();
  });
});

describe('one positional read', () => {
  it('a cheap source gets every read as asked: nothing merged, split or held back', async () => {
    const data = bytesOf(8 * MIB);
    const source = recording(data, undefined);
    const planner = new ReadPlanner(source);
    const results = await Promise.all([planner.read(0, 10), planner.read(20, 10), planner.read(100, 6 * MIB), planner.read(9 * MIB, 5)]);
    // Even a read past the end reaches the source, so its own answer (or error, e.g. after close) is the one seen.
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[0, 10], [20, 10], [100, 6 * MIB], [9 * MIB, 5]]);
    expect(same(results[2] as Uint8Array, data.subarray(100, 100 + 6 * MIB))).toBe(true);
  });

  it('a cheap source with a cached tail: reads below it are still not merged', async () => {
    const data = bytesOf(MIB);
    const source = recording(data, undefined);
    const planner = new ReadPlanner(source, { tail: data.slice(MIB - 1000) });
    await Promise.all([planner.read(0, 10), planner.read(20, 10), planner.read(MIB - 10, 10)]);
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[0, 10], [20, 10]]);
  });

  it('round trip: small reads issued in one turn go out merged when within the gap, as aligned copies', async () => {
    const data = bytesOf(MIB);
    const source = recording(data, { gapBytes: 4096, parallelReads: 4 });
    const planner = new ReadPlanner(source);
    const offsets = [5000, 100, 9000, 2000, 200_000];
    const reads = await Promise.all(offsets.map((offset) => planner.read(offset, 64)));
    reads.forEach((bytes, i) => expect(same(bytes, data.subarray(offsets[i] as number, (offsets[i] as number) + 64))).toBe(true));
    reads.forEach((bytes) => expect(bytes.byteOffset % 8).toBe(0));
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[100, 9064 - 100], [200_000, 64]]);
  });

  it('round trip: reads of more than 64 KiB are not held back to merge', async () => {
    const source = recording(bytesOf(MIB), { gapBytes: 4096, parallelReads: 4 });
    const planner = new ReadPlanner(source);
    await Promise.all([planner.read(0, 64 * KIB + 1), planner.read(64 * KIB + 1, 64 * KIB + 1)]);
    expect(source.reads).toHaveLength(2);
  });

  it('round trip: a large read is split over idle slots, parts land in place, reads in flight stay bounded', async () => {
    const data = bytesOf(8 * MIB);
    const source = recording(data, { parallelReads: 3, requestBytes: MIB }, { delay: () => 2 });
    const planner = new ReadPlanner(source);
    const into = new Uint8Array(4 * MIB + 10).fill(0xee);
    const result = await planner.read(10, 4 * MIB, into);
    expect(result.buffer).toBe(into.buffer);
    expect(same(result, data.subarray(10, 10 + 4 * MIB))).toBe(true);
    expect(into[4 * MIB]).toBe(0xee);
    // 3 idle slots: 4 MiB / 3 rounds up past the 1 MiB request size, so 1 MiB parts.
    expect(source.reads.map((read) => read.length)).toEqual([MIB, MIB, MIB, MIB]);
    expect(source.reads.every((read) => read.into)).toBe(true);
    expect(source.maxInFlight).toBe(3);
    // Alone on 3 idle slots, 1.5 MiB is cut in three.
    source.reads.length = 0;
    await planner.read(0, 1.5 * MIB);
    expect(source.reads.map((read) => read.length)).toEqual([512 * KIB, 512 * KIB, 512 * KIB]);
  });

  it('round trip: the first failing part stops its siblings, and its error is the one reported', async () => {
    const failure = new Error('part failed');
    const source = recording(bytesOf(4 * MIB), { parallelReads: 4, requestBytes: MIB }, { manual: true, fail: (offset) => (offset === MIB ? failure : undefined) });
    const planner = new ReadPlanner(source);
    const pending = planner.read(0, 4 * MIB).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(source.reads).toHaveLength(4);
    // The second part fails first.
    source.pending[1]?.();
    expect(await pending).toBe(failure);
    expect(source.reads.filter((read) => read.offset !== MIB).every((read) => read.signal?.aborted === true)).toBe(true);
    for (const release of source.pending) release();
  });

  it('a split read is clipped to the size first; a source that then ends early gives the bytes up to its first short part', async () => {
    const source = recording(bytesOf(2 * MIB + 100), { parallelReads: 2, requestBytes: MIB });
    expect((await new ReadPlanner(source).read(MIB, 4 * MIB)).length).toBe(MIB + 100);
    expect(source.reads.map((read) => read.length)).toEqual([(MIB + 100) / 2, (MIB + 100) / 2]);
    // A file cut while being read: its size still claims 4 MiB, its bytes end at 2.5 MiB.
    const cut = recording(bytesOf(2.5 * MIB), { parallelReads: 4, requestBytes: MIB });
    const planner = new ReadPlanner({ ...cut, size: 4 * MIB, read: cut.read.bind(cut), readCost: cut.readCost });
    const bytes = await planner.read(0, 4 * MIB);
    expect(bytes.length).toBe(2.5 * MIB);
    expect(same(bytes, bytesOf(2.5 * MIB))).toBe(true);
  });

  it('checks its arguments like every source', async () => {
    const planner = new ReadPlanner(recording(bytesOf(100), { parallelReads: 2 }));
    for (const [offset, length] of [[-1, 1], [0, 1.5], [Number.NaN, 1]] as const) {
      const error = await planner.read(offset, length).catch((e: unknown) => e);
      expect(isNpzError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
    }
    expect(isNpzError(await planner.read(0, 10, new Uint8Array(5)).catch((e: unknown) => e), 'ERR_INVALID_ARGUMENT')).toBe(true);
    expect((await planner.read(100, 10)).length).toBe(0);
  });
});

describe('the cached tail', () => {
  const size = MIB;
  const data = bytesOf(size);
  const seeded = (source: RandomAccessSource): ReadPlanner => new ReadPlanner(source, { tail: data.slice(size - 4096) });

  it('serves reads inside it without the source, as aligned copies or into the destination', async () => {
    const source = recording(data, { gapBytes: 64 * KIB, parallelReads: 2 });
    const planner = seeded(source);
    expect(same(await planner.read(size - 100, 50), data.subarray(size - 100, size - 50))).toBe(true);
    const into = new Uint8Array(60);
    await planner.read(size - 4096, 60, into);
    expect(same(into, data.subarray(size - 4096, size - 4036))).toBe(true);
    expect(source.reads).toHaveLength(0);
  });

  it('a small read just below it grows it, fetching only the missing bytes; the grown part is then free', async () => {
    const source = recording(data, { gapBytes: 64 * KIB, parallelReads: 2 });
    const planner = seeded(source);
    const start = size - 4096 - 50_000;
    expect(same(await planner.read(start, 100), data.subarray(start, start + 100))).toBe(true);
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[start, size - 4096 - start]]);
    expect(same(await planner.read(start + 1000, 30_000), data.subarray(start + 1000, start + 31_000))).toBe(true);
    expect(source.reads).toHaveLength(1);
  });

  it('a read further below it than the gap is an ordinary read and leaves the tail as it was', async () => {
    const source = recording(data, { gapBytes: 1000, parallelReads: 2 });
    const planner = seeded(source);
    const start = size - 4096 - 1100;
    await planner.read(start, 50);
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[start, 50]]);
    await planner.read(size - 4096 - 10, 10);
    expect(source.reads).toHaveLength(2);
  });

  it('after close() reads go to the source (which refuses them), never to the dropped cache', async () => {
    const source = recording(data, { parallelReads: 2 });
    let closed = false;
    source.close = async () => void (closed = true);
    const planner = new ReadPlanner(source, {
      tail: data.slice(size - 4096),
      guard: () => {
        if (closed) throw new Error('closed');
      },
    });
    await planner.close();
    await expect(planner.read(size - 10, 5)).rejects.toThrow('closed');
  });
});

describe('pieces: an ordered stream with bounded reads in flight', () => {
  it('into caller memory: pieces land in place, in order, 4 in flight on a cheap source, and the all-issued cue fires before the last completes', async () => {
    const data = bytesOf(MIB);
    // Later reads finish first.
    const source = recording(data, undefined, { delay: (n) => 20 - n });
    const planner = new ReadPlanner(source);
    const into = new Uint8Array(10 * 64 * KIB);
    let issuedAt = -1;
    let inFlightAtCue = 0;
    let yielded = 0;
    const onAllIssued = (): void => {
      issuedAt = yielded;
      inFlightAtCue = source.inFlight;
    };
    const pieces = planner.pieces(1000, into.length, { pieceBytes: 64 * KIB, into, onAllIssued });
    const offsets: number[] = [];
    for await (const piece of pieces) {
      expect(piece.buffer).toBe(into.buffer);
      offsets.push(piece.byteOffset);
      yielded++;
    }
    expect(offsets).toEqual(Array.from({ length: 10 }, (_, i) => i * 64 * KIB));
    expect(same(into, data.subarray(1000, 1000 + into.length))).toBe(true);
    expect(source.maxInFlight).toBe(4);
    // The last read went out as soon as piece 5 arrived (5 handed out so far), and was still in flight then.
    expect(issuedAt).toBe(5);
    expect(inFlightAtCue).toBeGreaterThanOrEqual(1);
  });

  it('streaming from a cheap source keeps 2 in flight; a round-trip source as many as it asks, unmerged', async () => {
    const data = bytesOf(MIB);
    for (const [cost, depth] of [[undefined, 2], [{ gapBytes: 64 * KIB, parallelReads: 6 }, 6]] as const) {
      const source = recording(data, cost, { delay: () => 3 });
      const pieces = await drain(new ReadPlanner(source).pieces(0, MIB, { pieceBytes: 32 * KIB }));
      expect(same(joined(pieces), data)).toBe(true);
      expect(source.maxInFlight, JSON.stringify(cost)).toBe(depth);
      expect(source.reads).toHaveLength(32);
    }
  });

  it('recycled: a ring of depth + 1 buffers, a buffer reused only after its piece was consumed', async () => {
    const data = bytesOf(MIB);
    const source = recording(data, undefined, { delay: (n) => (n % 2) * 3 });
    const buffers = new Set<ArrayBufferLike>();
    const pieces = await drain(new ReadPlanner(source).pieces(0, MIB, { pieceBytes: 64 * KIB, recycle: true }), (piece) => void buffers.add(piece.buffer));
    expect(same(joined(pieces), data)).toBe(true);
    expect(buffers.size).toBe(3);
  });

  it('a source that ignores the destination: its bytes are still put in place', async () => {
    const data = bytesOf(MIB);
    const inner = recording(data, undefined);
    const careless: RandomAccessSource = { size: MIB, read: (offset, length) => inner.read(offset, length), close: async () => undefined };
    const into = new Uint8Array(MIB);
    const pieces = await drain(new ReadPlanner(careless).pieces(0, MIB, { pieceBytes: 100 * KIB, into }));
    expect(same(into, data)).toBe(true);
    expect(pieces.length).toBe(11);
  });

  it('a source that ends early: the caller\u2019s error, naming where it ended', async () => {
    const planner = new ReadPlanner(recording(bytesOf(1000), undefined));
    const error = await drain(planner.pieces(0, 2000, { pieceBytes: 300, shortRead: (end, expected) => new Error(`short ${end} ${expected}`) })).catch((e: unknown) => e);
    expect((error as Error).message).toBe('short 1000 1200');
    const fallback = await drain(planner.pieces(0, 2000, { pieceBytes: 300 })).catch((e: unknown) => e);
    expect(isNpzError(fallback, 'ERR_IO')).toBe(true);
  });

  it('leaving the loop early returns only once every read it issued has settled', async () => {
    const source = recording(bytesOf(MIB), undefined, { delay: (n) => (n === 0 ? 0 : 30) });
    const into = new Uint8Array(MIB);
    for await (const _ of new ReadPlanner(source).pieces(0, MIB, { pieceBytes: 64 * KIB, into })) break;
    expect(source.inFlight).toBe(0);
  });
});

describe('readRuns: a batch of byte runs merged by cost', () => {
  const runs = [
    { offset: 0, length: 100, id: 'a' },
    { offset: 150, length: 100, id: 'b' },
    { offset: 300_000, length: 100, id: 'c' },
    { offset: 300_200, length: 50, id: 'd' },
    { offset: 900_000, length: 10, id: 'e' },
  ];

  it('round trip: runs within the gap share a read, exact spans, handed back in order with their runs', async () => {
    const data = bytesOf(MIB);
    // Later reads complete first.
    const source = recording(data, { gapBytes: 1000, parallelReads: 8 }, { delay: (n) => 30 - 10 * n });
    const groups: Array<[number, number, string[]]> = [];
    for await (const group of new ReadPlanner(source).readRuns(runs)) {
      expect(same(group.bytes, data.subarray(group.start, group.start + group.bytes.length))).toBe(true);
      groups.push([group.start, group.bytes.length, group.runs.map((run) => run.id)]);
    }
    expect(groups).toEqual([[0, 250, ['a', 'b']], [300_000, 250, ['c', 'd']], [900_000, 10, ['e']]]);
    expect(source.maxInFlight).toBe(3);
  });

  it('keeps at most 16 merged reads in flight, and the source\u2019s own bound when lower', async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ offset: i * 10_000, length: 10 }));
    for (const [parallelReads, depth] of [[64, 16], [3, 3]]) {
      const source = recording(bytesOf(MIB), { gapBytes: 0, parallelReads }, { delay: () => 3 });
      for await (const _ of new ReadPlanner(source).readRuns(many));
      expect(source.maxInFlight).toBe(depth);
      expect(source.reads).toHaveLength(40);
    }
  });

  it('a cheap source reads through any gap within the span, one read at a time, small reads rounded up to 64 KiB', async () => {
    const source = recording(bytesOf(MIB), undefined, { delay: () => 2 });
    const planner = new ReadPlanner(source);
    const groups = [];
    for await (const group of planner.readRuns(runs, { maxSpan: 400_000 })) groups.push(group.runs.length);
    expect(groups).toEqual([4, 1]);
    expect(source.maxInFlight).toBe(1);
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[0, 300_250], [900_000, 64 * KIB]]);
    // The window read for 'e' serves its neighbours.
    await planner.readAround(900_500, 100);
    expect(source.reads).toHaveLength(2);
  });

  it('a failed read is reported in order, after the groups before it, and nothing is left unhandled', async () => {
    const failure = new Error('third failed');
    const source = recording(bytesOf(MIB), { gapBytes: 0, parallelReads: 4 }, { delay: (n) => (n === 0 ? 20 : 0), fail: (offset) => (offset === 300_200 ? failure : undefined) });
    const seen: number[] = [];
    const error = await (async () => {
      for await (const group of new ReadPlanner(source).readRuns(runs.slice(0, 5).map(({ offset, length }) => ({ offset, length: Math.min(length, 50) })))) {
        seen.push(group.start);
      }
    })().catch((e: unknown) => e);
    expect(error).toBe(failure);
    expect(seen).toEqual([0, 150, 300_000]);
  });

  it('refuses runs out of order', async () => {
    const planner = new ReadPlanner(recording(bytesOf(100), undefined));
    const error = await (async () => {
      for await (const _ of planner.readRuns([{ offset: 50, length: 1 }, { offset: 10, length: 1 }]));
    })().catch((e: unknown) => e);
    expect(isNpzError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
  });
});

describe('readAround: small reads from one cached window', () => {
  it('rounds a small read up to 64 KiB and serves its neighbours from it; a larger one goes straight through', async () => {
    const data = bytesOf(MIB);
    const source = recording(data, undefined);
    const planner = new ReadPlanner(source);
    expect(same(await planner.readAround(1000, 128), data.subarray(1000, 1128))).toBe(true);
    expect(same(await planner.readAround(1000 + 64 * KIB - 100, 100), data.subarray(1000 + 64 * KIB - 100, 1000 + 64 * KIB))).toBe(true);
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[1000, 64 * KIB]]);
    await planner.readAround(1000 + 64 * KIB - 99, 100);
    await planner.readAround(0, planner.aroundLimit + 1);
    expect(source.reads.map(({ offset, length }) => [offset, length]).slice(1)).toEqual([[1000 + 64 * KIB - 99, 64 * KIB], [0, planner.aroundLimit + 1]]);
  });

  it('near the end of the source the window is what is left', async () => {
    const source = recording(bytesOf(1000), undefined);
    const planner = new ReadPlanner(source);
    expect((await planner.readAround(900, 50)).length).toBe(50);
    expect(source.reads.map(({ offset, length }) => [offset, length])).toEqual([[900, 100]]);
  });
});
