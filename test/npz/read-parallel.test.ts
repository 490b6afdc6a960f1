/**
 * The parallel paths of the readers: several positional reads in flight per array (as deep as a source asks
 * with `readCost.parallelReads`), readNpz reading one array ahead, and `reuse`. Reads complete out of order here on
 * purpose; every test checks the bytes (and so the CRC path) against what was written.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NpyArray } from '../../src/npy/array.js';
import { loadNpz, readNpz, saveNpzStream } from '../../src/index.js';
import type { RandomAccessSource } from '../../src/io/random-access.js';
import { Writable } from 'node:stream';
import { isNpzError } from '../../src/errors.js';
import { localDataStart, record, setU32, zipLayout } from '../helpers/zip-layout.js';
import { randomBytes, sha256 } from '../helpers/bytes.js';
import { collect } from '../helpers/streams.js';

const KIB = 1024;
const MIB = 1024 * KIB;


/** An array as [key, sha256 of its data], for comparing what readNpz yields. */
const hashed = ([key, array]: [string, NpyArray]): [string, string] => [key, sha256(array.data)];

/** An npz in memory (np.savez layout) of uint8 arrays a, b, c, ... with the given sizes. */
async function archiveOf(sizes: number[]): Promise<{ bytes: Uint8Array; arrays: Map<string, Uint8Array> }> {
  const arrays = new Map(sizes.map((size, i) => [String.fromCharCode(97 + i), randomBytes(size, i + 1)]));
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      parts.push(Buffer.from(chunk));
      callback();
    },
  });
  const tree = Object.fromEntries([...arrays].map(([name, data]) => [name, { dtype: 'uint8' as const, shape: [data.length], data }]));
  await saveNpzStream(tree, sink);
  return { bytes: new Uint8Array(Buffer.concat(parts)), arrays };
}

interface SlowSource extends RandomAccessSource {
  inFlight: number;
  maxInFlight: number;
  reads: Array<{ offset: number; length: number }>;
  /** Every read's start and end, in the order they happened. */
  events: Array<{ kind: 'start' | 'end'; offset: number }>;
  /** Reads so far that start in [from, to). */
  readsWithin(from: number, to: number): number;
}

/**
 * Bytes served after a random delay of up to `maxDelayMs`, so reads issued together complete out of order.
 * `fail(offset)` makes reads covering that offset reject.
 */
interface SlowSourceOptions {
  maxDelayMs?: number;
  parallelReads?: number;
  failAt?: number;
  /**
   * Reads ending at `hold.end` (the last read of a member) are held until a read starting in [release.start,
   * release.end) begins, or `hold.timeoutMs` passes: the order then depends on the reader, not on timers.
   */
  hold?: { end: number; release: [number, number]; timeoutMs: number };
}

function slowSource(bytes: Uint8Array, options: SlowSourceOptions = {}): SlowSource {
  let releaseHeld: (() => void) | undefined;
  const released = new Promise<void>((resolve) => (releaseHeld = resolve));
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const source: SlowSource = {
    size: bytes.length,
    inFlight: 0,
    maxInFlight: 0,
    reads: [],
    events: [],
    ...(options.parallelReads === undefined ? {} : { readCost: { gapBytes: 0, parallelReads: options.parallelReads } }),
    readsWithin(from, to) {
      return this.reads.filter((r) => r.offset >= from && r.offset < to).length;
    },
    async read(offset, length, into) {
      source.reads.push({ offset, length });
      source.events.push({ kind: 'start', offset });
      const hold = options.hold;
      if (hold !== undefined && offset >= hold.release[0] && offset < hold.release[1]) releaseHeld?.();
      source.inFlight++;
      source.maxInFlight = Math.max(source.maxInFlight, source.inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, random() * (options.maxDelayMs ?? 2)));
        if (hold !== undefined && offset < hold.end && offset + length >= hold.end) {
          await Promise.race([released, new Promise((resolve) => setTimeout(resolve, hold.timeoutMs))]);
        }
        const failAt = options.failAt;
        if (failAt !== undefined && offset <= failAt && failAt < offset + length) throw new Error(`injected failure at ${failAt}`);
        const available = bytes.subarray(offset, Math.min(offset + length, bytes.length));
        if (into === undefined) return available.slice();
        into.set(available);
        return into.subarray(0, available.length);
      } finally {
        source.inFlight--;
        source.events.push({ kind: 'end', offset });
      }
    },
    async close() {},
  };
  return source;
}

/** Where each member's data lies in the archive. */
function dataRanges(bytes: Uint8Array, names: string[]): Map<string, [number, number]> {
  const layout = zipLayout(bytes);
  return new Map(
    names.map((name) => {
      const r = record(layout, `${name}.npy`);
      const start = localDataStart(bytes, r);
      return [name, [start, start + r.compressedSize]];
    }),
  );
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  // Give any stray rejection a chance to be reported before checking.
  await new Promise((resolve) => setTimeout(resolve, 20));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

describe('parallel reads of one array', () => {
  it('keeps several reads in flight, lands each in place and verifies the CRC', async () => {
    const { bytes, arrays } = await archiveOf([3 * MIB + 17, 100, 2 * MIB]);
    const source = slowSource(bytes);
    const got = await collect(readNpz(source, { chunkSize: 64 * KIB, readAhead: false }), hashed);
    expect(got).toEqual([...arrays].map(([k, v]) => [k, sha256(v)]));
    // The default for a local-file-like source: more than one at a time, never more than four.
    expect(source.maxInFlight).toBeGreaterThan(1);
    expect(source.maxInFlight).toBeLessThanOrEqual(4);
  });

  it("goes as deep as the source's readCost.parallelReads asks, clamped to 64", async () => {
    const { bytes, arrays } = await archiveOf([4 * MIB]);
    const deep = slowSource(bytes, { parallelReads: 12 });
    expect(await collect(readNpz(deep, { chunkSize: 64 * KIB, readAhead: false }), hashed)).toEqual([['a', sha256(arrays.get('a')!)]]);
    expect(deep.maxInFlight).toBe(12);
    const huge = slowSource(bytes, { parallelReads: 1000 });
    await collect(readNpz(huge, { chunkSize: 16 * KIB, readAhead: false }), hashed);
    expect(huge.maxInFlight).toBe(64);
    const one = slowSource(bytes, { parallelReads: 1 });
    await collect(readNpz(one, { chunkSize: 64 * KIB, readAhead: false }), hashed);
    expect(one.maxInFlight).toBe(1);
    for (const invalid of [0, -3, Number.NaN]) {
      const fallback = slowSource(bytes, { parallelReads: invalid });
      await collect(readNpz(fallback, { chunkSize: 64 * KIB, readAhead: false }), hashed);
      expect(fallback.maxInFlight, `readCost.parallelReads ${invalid}`).toBe(4);
    }
  });

  it('streams chunks() as deep as the source asks too', async () => {
    const { openNpz } = await import('../../src/index.js');
    const { bytes, arrays } = await archiveOf([2 * MIB]);
    for (const reuseBuffers of [false, true]) {
      const source = slowSource(bytes, { parallelReads: 6 });
      const npz = await openNpz(source);
      const hash = createHash('sha256');
      for await (const chunk of npz.chunks('a', { chunkSize: 32 * KIB, reuseBuffers })) hash.update(chunk);
      await npz.close();
      expect(hash.digest('hex')).toBe(sha256(arrays.get('a')!));
      expect(source.maxInFlight).toBe(6);
    }
  });

  it('still catches a flipped byte and a short source when reads complete out of order', async () => {
    const { bytes } = await archiveOf([1 * MIB + 3, 2 * MIB]);
    const ranges = dataRanges(bytes, ['a', 'b']);
    const damaged = bytes.slice();
    const [bStart, bEnd] = ranges.get('b')!;
    damaged[bStart + Math.floor((bEnd - bStart) * 0.7)]! ^= 0x01;
    const error = await collect(readNpz(slowSource(damaged), { chunkSize: 64 * KIB }), hashed).catch((e: unknown) => e);
    expect(isNpzError(error, 'ERR_ZIP_CRC_MISMATCH')).toBe(true);
    expect(error).toMatchObject({ entry: 'b.npy' });

    const failing = slowSource(bytes, { failAt: bStart + 300 * KIB });
    const failure = await collect(readNpz(failing, { chunkSize: 64 * KIB }), hashed).catch((e: unknown) => e);
    expect((failure as Error).message).toContain('injected failure');
    // The reader returned only once no read it issued was still running.
    expect(failing.inFlight).toBe(0);
  });
});

describe('readNpz read-ahead', () => {
  it('reads the next array while the caller holds the current one; readAhead: false waits to be asked', async () => {
    // c is large, and only reads starting in its first half count: opening reads the archive's tail.
    const { bytes, arrays } = await archiveOf([512 * KIB, 768 * KIB, 2 * MIB]);
    const ranges = dataRanges(bytes, ['a', 'b', 'c']);
    for (const readAhead of [true, false]) {
      const source = slowSource(bytes);
      const seen: string[] = [];
      for await (const [key, array] of readNpz(source, { readAhead, chunkSize: 64 * KIB })) {
        expect(sha256(array.data)).toBe(sha256(arrays.get(key)!));
        seen.push(key);
        if (key !== 'a') continue;
        // The caller works on 'a' for a while.
        await new Promise((resolve) => setTimeout(resolve, 60));
        const [bStart, bEnd] = ranges.get('b')!;
        const [cStart, cEnd] = ranges.get('c')!;
        if (readAhead) {
          expect(source.readsWithin(bStart, bEnd), 'b was read ahead').toBeGreaterThan(0);
          // At most one array ahead.
          expect(source.readsWithin(cStart, (cStart + cEnd) / 2), 'c was not').toBe(0);
        } else {
          expect(source.readsWithin(bStart, bEnd), 'b waits to be asked for').toBe(0);
        }
      }
      expect(seen).toEqual(['a', 'b', 'c']);
    }
  });

  it('reads ahead only while the held array and the next fit in the largest array plus 64 MiB', async () => {
    // b and c are each over 64 MiB: holding b while reading c would hold two large arrays at once.
    const { bytes, arrays } = await archiveOf([1 * MIB, 70 * MIB, 70 * MIB, 1 * MIB]);
    const ranges = dataRanges(bytes, ['a', 'b', 'c', 'd']);
    const source = slowSource(bytes, { maxDelayMs: 2 });
    const readAheadWhileHolding: Record<string, boolean> = {};
    const followers: Record<string, string> = { a: 'b', b: 'c', c: 'd' };
    for await (const [key, array] of readNpz(source)) {
      expect(sha256(array.data), key).toBe(sha256(arrays.get(key)!));
      const follower = followers[key];
      if (follower === undefined) continue;
      await new Promise((resolve) => setTimeout(resolve, 60));
      const [start, end] = ranges.get(follower)!;
      readAheadWhileHolding[key] = source.readsWithin(start, end) > 0;
    }
    expect(readAheadWhileHolding).toEqual({ a: true, b: false, c: true });
  });

  it('starts the next array once the last reads of the current one are issued, before they complete', async () => {
    const { bytes, arrays } = await archiveOf([2 * MIB, 2 * MIB]);
    const ranges = dataRanges(bytes, ['a', 'b']);
    const [aStart, aEnd] = ranges.get('a')!;
    const [, bEnd] = ranges.get('b')!;
    for (const readAhead of [true, false]) {
      // b's member (local header, then data) follows a's data directly. a's last read is held until a read of b
      // starts (or 1 s passes, which is how it ends without read-ahead), so timers cannot decide the order.
      const source = slowSource(bytes, { maxDelayMs: 8, parallelReads: 4, hold: { end: aEnd, release: [aEnd, bEnd], timeoutMs: 1000 } });
      const seen = await collect(readNpz(source, { readAhead, chunkSize: 64 * KIB }), hashed);
      expect(seen).toEqual([...arrays].map(([key, data]) => [key, sha256(data)]));
      // Opening reads the archive's tail (which may start inside b) and the members' headers: look only at what
      // follows a's first data read past its header window.
      const reading = source.events.slice(source.events.findIndex((e) => e.kind === 'start' && e.offset >= aStart + 512 * KIB && e.offset < aEnd));
      const lastEndOfA = reading.findLastIndex((e) => e.kind === 'end' && e.offset >= aStart && e.offset < aEnd);
      const firstStartOfB = reading.findIndex((e) => e.kind === 'start' && e.offset >= aEnd && e.offset < bEnd);
      expect(firstStartOfB).toBeGreaterThan(0);
      if (readAhead) expect(firstStartOfB, 'b starts while a is still in flight').toBeLessThan(lastEndOfA);
      else expect(firstStartOfB, 'b waits to be asked for').toBeGreaterThan(lastEndOfA);
    }
  });

  it('surfaces an error in member order: the array before a damaged one is still handed out', async () => {
    const { bytes, arrays } = await archiveOf([256 * KIB, 256 * KIB, 256 * KIB]);
    const layout = zipLayout(bytes);
    const damaged = bytes.slice();
    // A wrong CRC in b's central directory record: b reads to its end, then fails verification.
    const b = record(layout, 'b.npy');
    setU32(damaged, b.at + 16, (b.crc ^ 0xdeadbeef) >>> 0);
    for (const readAhead of [true, false]) {
      const received: string[] = [];
      const error = await (async () => {
        for await (const [key, array] of readNpz(slowSource(damaged), { readAhead })) {
          expect(sha256(array.data)).toBe(sha256(arrays.get(key)!));
          received.push(key);
          // b is (being) read ahead now; its failure must wait until b is asked for.
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
      })().catch((e: unknown) => e);
      expect(received, `readAhead ${readAhead}`).toEqual(['a']);
      expect(isNpzError(error, 'ERR_ZIP_CRC_MISMATCH')).toBe(true);
      expect(error).toMatchObject({ entry: 'b.npy' });
    }
  });

  it('leaving the loop early stops the read-ahead, waits for its reads, and leaves no unhandled rejection', async () => {
    const { bytes } = await archiveOf([128 * KIB, 4 * MIB, 128 * KIB]);
    const [bStart] = dataRanges(bytes, ['b']).get('b')!;
    // b's read-ahead fails part-way; nobody ever asks for b.
    const source = slowSource(bytes, { maxDelayMs: 5, failAt: bStart + 2 * MIB });
    for await (const [key] of readNpz(source, { chunkSize: 64 * KIB })) {
      expect(key).toBe('a');
      await new Promise((resolve) => setTimeout(resolve, 15));
      break;
    }
    expect(source.inFlight, 'no read still running once the loop has returned').toBe(0);
    const issued = source.reads.length;
    // Far fewer reads than b takes: the read-ahead stopped when the loop ended.
    expect(issued).toBeLessThan(4 * MIB / (64 * KIB));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(source.reads.length, 'no read issued after the loop returned').toBe(issued);
  });

  it("the caller's abort stops the read-ahead's reads and surfaces as ERR_ABORTED on the next request", async () => {
    const { bytes } = await archiveOf([64 * KIB, 8 * MIB]);
    const source = slowSource(bytes, { maxDelayMs: 3 });
    const controller = new AbortController();
    const error = await (async () => {
      for await (const [key] of readNpz(source, { signal: controller.signal, chunkSize: 64 * KIB })) {
        expect(key).toBe('a');
        await new Promise((resolve) => setTimeout(resolve, 10));
        controller.abort(new Error('stop'));
      }
    })().catch((e: unknown) => e);
    expect(isNpzError(error, 'ERR_ABORTED')).toBe(true);
    expect(source.inFlight).toBe(0);
    expect(source.reads.length).toBeLessThan(8 * MIB / (64 * KIB));
    const issued = source.reads.length;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(source.reads.length).toBe(issued);
  });
});

describe('readNpz reuse', () => {
  it('hands out correct arrays from a few reused buffers: two with read-ahead, one without', async () => {
    const sizes = [300 * KIB, 200 * KIB, 300 * KIB, 100 * KIB, 64 * KIB];
    const { bytes, arrays } = await archiveOf(sizes);
    for (const readAhead of [true, false]) {
      const buffers: ArrayBufferLike[] = [];
      for await (const [key, array] of readNpz(slowSource(bytes), { reuse: true, readAhead, chunkSize: 32 * KIB })) {
        // Valid until the next array is requested: check it now.
        expect(sha256(array.data), key).toBe(sha256(arrays.get(key)!));
        expect(array.data.byteOffset).toBe(0);
        expect(array.data.byteLength).toBe(arrays.get(key)!.length);
        if (!buffers.includes(array.data.buffer)) buffers.push(array.data.buffer);
      }
      // Each slot grows only when an array needs more, so the first (largest) arrays set the sizes.
      expect(buffers.length, `readAhead ${readAhead}`).toBe(readAhead ? 2 : 1);
    }
  });

  it('is off by default, and loadNpz never shares memory between arrays', async () => {
    const { bytes } = await archiveOf([1000, 2000, 3000]);
    const distinct = (list: NpyArray[]): number => new Set(list.map((a) => a.data.buffer)).size;
    const plain: NpyArray[] = [];
    for await (const [, array] of readNpz(bytes)) plain.push(array);
    expect(distinct(plain)).toBe(3);
    // A JavaScript caller can pass reuse to loadNpz anyway; it is ignored.
    const tree = await loadNpz(bytes, { reuse: true } as Parameters<typeof loadNpz>[1]);
    const leaves = Object.values(tree) as NpyArray[];
    expect(distinct(leaves)).toBe(3);
    expect(leaves.map((a) => sha256(a.data))).toEqual(plain.map((a) => sha256(a.data)));
  });
});
