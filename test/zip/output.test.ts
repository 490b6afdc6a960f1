/**
 * BatchedOutput's views-or-copies choice for in-memory data (src/zip/write/output.ts), on a fake clock: the sink
 * advances the clock by what a write "costs", so the choice is deterministic. A sink that is slow on the caller's
 * memory and fast on anything else is the kernel that pays a fault per page of user memory it reads first.
 */
import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nodeCodecs as codecs } from '../../src/node/codecs.js';
import type { ZipSink } from '../../src/io/sink.js';
import { Crc32 } from '../../src/zip/write/crc32.js';
import { BatchedOutput, COPY_SLICE_BYTES, CopyPolicy, PROBE_BYTES, SLOW_VIEWS, VIEW_SLICE_BYTES } from '../../src/io/output.js';

/** Distinct bytes per seed (random, but the same array is compared with itself). */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  randomFillSync(out);
  out[0] = seed & 0xff;
  return out;
}

/**
 * A sink on a fake clock. Each write resolves on a later turn of the event loop, after advancing the clock by
 * `cost(chunk)` milliseconds per chunk; the bytes are taken when the write resolves (as a kernel may read them
 * any time until then), so a buffer refilled while its write is in flight shows up as wrong bytes.
 */
class ClockSink implements ZipSink {
  readonly releasesChunks: boolean;
  readonly written: Uint8Array[] = [];
  readonly writes: Uint8Array[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** While set, writes wait for it before they take their bytes (a kernel still reading a buffer). */
  gate: Promise<void> | undefined;
  constructor(
    readonly clock: { t: number },
    private readonly cost: (chunk: Uint8Array) => number,
    private readonly failAt?: number,
    releasesChunks = true,
  ) {
    this.releasesChunks = releasesChunks;
  }

  write(chunks: readonly Uint8Array[]): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const index = this.writes.length;
    this.writes.push([...chunks]);
    return new Promise((resolve, reject) => {
      setImmediate(async () => {
        if (this.gate) await this.gate;
        this.inFlight -= 1;
        for (const chunk of chunks) this.clock.t += this.cost(chunk);
        if (index === this.failAt) {
          reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
          return;
        }
        for (const chunk of chunks) this.written.push(chunk.slice());
        resolve();
      });
    });
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.written);
  }
}

/** Milliseconds per MiB a write of the caller's memory costs (a slow kernel) and of any other memory. */
function kernel(caller: readonly Uint8Array[], slowMsPerMiB: number, fastMsPerMiB = 0): (chunk: Uint8Array) => number {
  return (chunk) => ((caller.some((c) => c.buffer === chunk.buffer) ? slowMsPerMiB : fastMsPerMiB) * chunk.byteLength) / (1 << 20);
}

const heads = Array.from({ length: 4 }, (_, i) => pattern(100, 1000 + i));

/** Puts every array after its head, without draining: the last write may still be in flight. */
async function putAll(out: BatchedOutput, arrays: Uint8Array[]): Promise<number[]> {
  const crcs: number[] = [];
  for (const [i, array] of arrays.entries()) {
    await out.put(heads[i]!);
    const crc = new Crc32(codecs.crc32);
    await out.putStable(array, crc);
    crcs.push(crc.value);
  }
  return crcs;
}

async function writeAll(sink: ZipSink & { clock: { t: number } }, arrays: Uint8Array[], signal?: AbortSignal): Promise<{ out: BatchedOutput; crcs: number[] }> {
  const out = new BatchedOutput(sink, { now: () => sink.clock.t, signal });
  const crcs = await putAll(out, arrays);
  await out.drain();
  return { out, crcs };
}

/** The writer's own buffers a sink was handed (copies), as opposed to views of the caller's arrays. */
function copyBuffers(sink: ClockSink, arrays: Uint8Array[]): Set<ArrayBufferLike> {
  const caller = new Set(arrays.map((a) => a.buffer));
  return new Set(sink.writes.flat().filter((c) => c.byteLength >= 1 << 20 && !caller.has(c.buffer)).map((c) => c.buffer));
}

function expected(arrays: Uint8Array[]): Uint8Array {
  return Buffer.concat(arrays.flatMap((array, i) => [heads[i]!, array]));
}

describe('BatchedOutput: in-memory data as views or copies', () => {
  it('keeps views while the sink takes them as fast as the main thread hashes', async () => {
    const arrays = [pattern(40 << 20, 1), pattern(3 << 20, 2)];
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 0));
    const { out, crcs } = await writeAll(sink, arrays);
    expect(out.stats.copyBytes).toBe(0);
    expect(out.stats.viewBytes).toBe(43 << 20);
    expect(Buffer.compare(sink.bytes(), expected(arrays))).toBe(0);
    expect(crcs).toEqual(arrays.map((a) => codecs.crc32(a, 0)));
    // Views of the caller's memory, none larger than a slice.
    const viewSizes = sink.writes.flat().filter((c) => c.buffer === arrays[0]!.buffer).map((c) => c.byteLength);
    expect(viewSizes[0]).toBe(PROBE_BYTES);
    expect(Math.max(...viewSizes)).toBe(VIEW_SLICE_BYTES);
  });

  it('copies when the sink is slow on the caller\'s memory, and probes views less and less often', async () => {
    const arrays = [pattern(120 << 20, 3)];
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 4));
    const { out, crcs } = await writeAll(sink, arrays);
    const { viewBytes, copyBytes, probes } = out.stats;
    // The first SLOW_VIEWS MiB showed the slow kernel; then copies of one MiB, with failed probes of one MiB after
    // 8, 16 and 32 more slices (the next would come after 64, past the end).
    expect(viewBytes).toBe((SLOW_VIEWS + probes) * PROBE_BYTES);
    expect(copyBytes).toBe((120 << 20) - viewBytes);
    expect(probes).toBe(3);
    // Two buffers take turns, never one that a write still holds: the bytes are exactly the caller's.
    expect(Buffer.compare(sink.bytes(), expected(arrays))).toBe(0);
    expect(crcs).toEqual([codecs.crc32(arrays[0]!, 0)]);
    const copyBuffers = new Set(sink.writes.flat().filter((c) => c.byteLength === COPY_SLICE_BYTES && c.buffer !== arrays[0]!.buffer).map((c) => c.buffer));
    expect(copyBuffers.size).toBe(2);
    expect(sink.maxInFlight).toBe(1);
  });

  it('goes back to views once a probe finds the kernel fast on the caller\'s memory again', async () => {
    // The first array is slow for the kernel (just computed), the second fast (already read once).
    const slow = pattern(48 << 20, 4);
    const fast = pattern(100 << 20, 5);
    const sink = new ClockSink({ t: 0 }, kernel([slow], 4));
    const { out } = await writeAll(sink, [slow, fast]);
    expect(Buffer.compare(sink.bytes(), expected([slow, fast]))).toBe(0);
    // After a successful probe, the rest of the fast array went out as views of it.
    const chunks = sink.writes.flat();
    const fastViews = chunks.filter((c) => c.buffer === fast.buffer).reduce((n, c) => n + c.byteLength, 0);
    expect(fastViews).toBeGreaterThan(32 << 20);
    expect(chunks.at(-1)!.buffer).toBe(fast.buffer);
    expect(Math.max(...chunks.filter((c) => c.buffer === fast.buffer).map((c) => c.byteLength))).toBe(VIEW_SLICE_BYTES);
    expect(out.stats.probes).toBeGreaterThanOrEqual(1);
  });

  it('keeps copying when every write is slow (a cold page cache): no probes, the copies cost nothing', async () => {
    const arrays = [pattern(60 << 20, 6)];
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 4, 4));
    const { out } = await writeAll(sink, arrays);
    expect(out.stats.probes).toBe(0);
    expect(out.stats.copyBytes).toBe((60 << 20) - SLOW_VIEWS * PROBE_BYTES);
    expect(Buffer.compare(sink.bytes(), expected(arrays))).toBe(0);
  });

  it('gives a sink that may keep chunks after a write (a stream) views only, however slow', async () => {
    const arrays = [pattern(40 << 20, 8)];
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 4), undefined, false);
    const { out } = await writeAll(sink, arrays);
    expect(out.stats.copyBytes).toBe(0);
    expect(sink.writes.flat().filter((c) => c.byteLength > 100).every((c) => c.buffer === arrays[0]!.buffer)).toBe(true);
    expect(Buffer.compare(sink.bytes(), expected(arrays))).toBe(0);
  });

  it('a failed write rejects the next wait and the drain, with the sink\'s error as ERR_IO', async () => {
    const arrays = [pattern(64 << 20, 7)];
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 4), 5);
    const error = await writeAll(sink, arrays).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'ERR_IO' });
    expect(String((error as Error).message)).toContain('ENOSPC');
    // Nothing after the failed write reached the sink.
    expect(sink.writes.length).toBe(6);
  });
});

describe('BatchedOutput: a failed write', () => {
  it('fails the drain even when it failed before anyone waited for it (the last copy of an array, then a pause)', async () => {
    const arrays = [pattern(6 << 20, 13)];
    // Write 0 is the head and the first MiB, 1 and 2 the next (three slow views: copies follow), 3-5 the copies;
    // the last one fails, and putStable returns before it is done.
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 4), 5);
    const out = new BatchedOutput(sink, { now: () => sink.clock.t });
    await out.put(heads[0]!);
    await out.putStable(arrays[0]!);
    expect(SLOW_VIEWS).toBe(3);
    expect(out.stats.copyBytes).toBe(3 << 20);
    // Long enough for the failed write to have settled.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(
      (async () => {
        await out.put(heads[1]!);
        await out.drain();
      })(),
    ).rejects.toMatchObject({ code: 'ERR_IO' });
    expect(sink.writes.length).toBe(6);
  });
});

describe('BatchedOutput: one write at a time on a sink that takes no overlapping writes', () => {
  it('the bytes after an array\'s last copy wait for its write, also when the drain sends them', async () => {
    const arrays = [pattern(12 << 20, 14)];
    const big = pattern(3 << 20, 15);
    const sink = new ClockSink({ t: 0 }, kernel(arrays, 4));
    const out = new BatchedOutput(sink, { now: () => sink.clock.t });
    await out.put(heads[0]!);
    await out.putStable(arrays[0]!);
    // The last copy is still being written: a lazy leaf's chunk follows it, then another array and a small tail.
    await out.put(big);
    await out.putStable(arrays[0]!);
    await out.put(heads[1]!);
    await out.drain();
    expect(out.stats.copyBytes).toBeGreaterThan(16 << 20);
    expect(sink.maxInFlight).toBe(1);
    expect(Buffer.compare(sink.bytes(), Buffer.concat([heads[0]!, arrays[0]!, big, arrays[0]!, heads[1]!]))).toBe(0);
  });
});

describe('BatchedOutput: large chunks (lazy leaves)', () => {
  it('go out in writes of at most a MiB, the first completing the batch before it; bytes and CRC intact', async () => {
    const big = pattern((5 << 20) + 123, 11);
    const borrowed = pattern(3 << 20, 12);
    const sink = new ClockSink({ t: 0 }, () => 0);
    const out = new BatchedOutput(sink, { now: () => sink.clock.t });
    await out.put(heads[0]!);
    const crc = new Crc32(codecs.crc32);
    await out.put(big, crc);
    expect(crc.value).toBe(codecs.crc32(big, 0));
    await out.put(heads[1]!);
    await out.put(borrowed, undefined, true);
    // A borrowed chunk is handed back only once the sink has every byte of it.
    expect(Buffer.concat(sink.written).length).toBe(100 + big.byteLength + 100 + borrowed.byteLength);
    await out.drain();
    expect(Buffer.compare(sink.bytes(), Buffer.concat([heads[0]!, big, heads[1]!, borrowed]))).toBe(0);
    const sizes = sink.writes.map((chunks) => chunks.reduce((n, c) => n + c.byteLength, 0));
    expect(Math.max(...sizes)).toBe(1 << 20);
    // Every write but the last two (the tail of `big` with the next head, then the tail of `borrowed`) is a full MiB.
    expect(sizes.slice(0, 5).every((size) => size === 1 << 20)).toBe(true);
  });
});

describe('BatchedOutput: the copy buffers outlive a save', () => {
  it('a finished save hands its two buffers to the next one, which still writes exactly its own bytes', async () => {
    const first = [pattern(24 << 20, 20)];
    const sinkA = new ClockSink({ t: 0 }, kernel(first, 4));
    await writeAll(sinkA, first);
    const second = [pattern(24 << 20, 21), pattern(9 << 20, 22)];
    const sinkB = new ClockSink({ t: 0 }, kernel(second, 4));
    const { crcs } = await writeAll(sinkB, second);
    expect(copyBuffers(sinkA, first).size).toBe(2);
    // The same ArrayBuffers (identity: toEqual would call any two buffers of one size equal).
    const kept = copyBuffers(sinkA, first);
    expect([...copyBuffers(sinkB, second)].every((b) => kept.has(b))).toBe(true);
    expect(Buffer.compare(sinkA.bytes(), expected(first))).toBe(0);
    expect(Buffer.compare(sinkB.bytes(), expected(second))).toBe(0);
    expect(crcs).toEqual(second.map((a) => codecs.crc32(a, 0)));
  });

  it('a save that starts while another drains never refills a buffer the other\'s last write still reads', async () => {
    const first = [pattern(24 << 20, 23)];
    const sinkA = new ClockSink({ t: 0 }, kernel(first, 4));
    const outA = new BatchedOutput(sinkA, { now: () => sinkA.clock.t });
    await putAll(outA, first);
    // A's last copy is in flight; its sink takes the bytes only once B is done.
    let release!: () => void;
    sinkA.gate = new Promise((resolve) => (release = resolve));
    const drainA = outA.drain();
    const second = [pattern(24 << 20, 24)];
    const sinkB = new ClockSink({ t: 0 }, kernel(second, 4));
    await writeAll(sinkB, second);
    release();
    await drainA;
    expect(copyBuffers(sinkB, second).size).toBe(2);
    expect([...copyBuffers(sinkB, second)].some((b) => copyBuffers(sinkA, first).has(b))).toBe(false);
    expect(Buffer.compare(sinkA.bytes(), expected(first))).toBe(0);
    expect(Buffer.compare(sinkB.bytes(), expected(second))).toBe(0);
  });

  it('an aborted save drops its buffers: a write it abandoned may still be reading one', async () => {
    // A clean save first, so the aborted one takes kept buffers rather than fresh ones.
    const warm = [pattern(16 << 20, 25)];
    await writeAll(new ClockSink({ t: 0 }, kernel(warm, 4)), warm);
    const first = [pattern(24 << 20, 26)];
    const sinkA = new ClockSink({ t: 0 }, kernel(first, 4));
    const controller = new AbortController();
    const outA = new BatchedOutput(sinkA, { now: () => sinkA.clock.t, signal: controller.signal });
    await putAll(outA, first);
    let release!: () => void;
    sinkA.gate = new Promise((resolve) => (release = resolve));
    const drainA = outA.drain();
    controller.abort();
    await expect(drainA).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    // The abandoned write has not taken its bytes yet when the next save starts.
    const second = [pattern(24 << 20, 27)];
    const sinkB = new ClockSink({ t: 0 }, kernel(second, 4));
    await writeAll(sinkB, second);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(copyBuffers(sinkA, first).size).toBe(2);
    expect([...copyBuffers(sinkB, second)].some((b) => copyBuffers(sinkA, first).has(b))).toBe(false);
    expect(Buffer.compare(sinkB.bytes(), expected(second))).toBe(0);
  });
});

/**
 * A file that takes overlapping writes: each write takes its place when it is called and its bytes when it finishes
 * (as a kernel may read them any time until then). Writes finish out of order: an even-numbered write takes three
 * turns of the event loop, an odd one a single turn, so it often finishes before the one called before it.
 */
class PlacedSink implements ZipSink {
  readonly releasesChunks = true;
  readonly overlappingWrites = true;
  readonly writes: Uint8Array[][] = [];
  readonly image: Uint8Array;
  inFlight = 0;
  maxInFlight = 0;
  /** How many writes had been called when the failing one failed. */
  callsAtFailure: number | undefined;
  #position = 0;
  constructor(
    size: number,
    readonly clock: { t: number },
    private readonly cost: (chunk: Uint8Array) => number,
    private readonly failAt?: number,
  ) {
    this.image = new Uint8Array(size);
  }

  write(chunks: readonly Uint8Array[]): Promise<void> {
    const index = this.writes.length;
    this.writes.push([...chunks]);
    const at = this.#position;
    for (const chunk of chunks) this.#position += chunk.byteLength;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        this.inFlight -= 1;
        for (const chunk of chunks) this.clock.t += this.cost(chunk);
        if (index === this.failAt) {
          this.callsAtFailure = this.writes.length;
          reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
          return;
        }
        let to = at;
        for (const chunk of chunks) {
          this.image.set(chunk, to);
          to += chunk.byteLength;
        }
        resolve();
      };
      const turn = (left: number): void => void setImmediate(() => (left > 1 ? turn(left - 1) : finish()));
      turn(index % 2 === 0 ? 3 : 1);
    });
  }

  /** The bytes written so far, up to the end of the last write called. */
  bytes(): Uint8Array {
    return this.image.subarray(0, this.#position);
  }
}

describe('BatchedOutput: two writes in flight on a file that takes overlapping writes', () => {
  it('copies: never more than two in flight, three buffers taking turns, bytes in place though writes finish out of order', async () => {
    const arrays = [pattern(40 << 20, 30), pattern(7 << 20, 31)];
    const want = expected(arrays);
    const sink = new PlacedSink(want.byteLength, { t: 0 }, kernel(arrays, 4));
    const out = new BatchedOutput(sink, { now: () => sink.clock.t });
    const crcs = await putAll(out, arrays);
    await out.drain();
    expect(sink.inFlight).toBe(0);
    expect(out.stats.copyBytes).toBeGreaterThan(36 << 20);
    expect(sink.maxInFlight).toBe(2);
    // Three buffers take turns: one per write in flight and the one being filled.
    const caller = new Set(arrays.map((a) => a.buffer));
    expect(new Set(sink.writes.flat().filter((c) => c.byteLength >= 1 << 20 && !caller.has(c.buffer)).map((c) => c.buffer)).size).toBe(3);
    expect(Buffer.compare(sink.bytes(), want)).toBe(0);
    expect(crcs).toEqual(arrays.map((a) => codecs.crc32(a, 0)));
  });

  it('views and large chunks: two in flight, the drain waits for the last of them', async () => {
    const arrays = [pattern(12 << 20, 32)];
    const big = pattern((6 << 20) + 5, 33);
    const want = Buffer.concat([expected(arrays), big]);
    const sink = new PlacedSink(want.byteLength, { t: 0 }, () => 0);
    const out = new BatchedOutput(sink, { now: () => sink.clock.t });
    const crcs = await putAll(out, arrays);
    const crc = new Crc32(codecs.crc32);
    await out.put(big, crc);
    expect(out.stats.copyBytes).toBe(0);
    await out.drain();
    expect(sink.inFlight).toBe(0);
    expect(sink.maxInFlight).toBe(2);
    expect(Buffer.compare(sink.bytes(), want)).toBe(0);
    expect([...crcs, crc.value]).toEqual([...arrays, big].map((a) => codecs.crc32(a, 0)));
  });

  it('a borrowed chunk is handed back only once every write holding a piece of it is done', async () => {
    const borrowed = pattern(5 << 20, 34);
    const want = Buffer.concat([heads[0]!, borrowed]);
    const sink = new PlacedSink(want.byteLength, { t: 0 }, () => 0);
    const out = new BatchedOutput(sink, { now: () => sink.clock.t });
    await out.put(heads[0]!);
    await out.put(borrowed, undefined, true);
    expect(sink.inFlight).toBe(0);
    // The caller refills its buffer at once: the sink must already have taken every byte.
    borrowed.fill(0);
    await out.drain();
    expect(Buffer.compare(sink.bytes(), want)).toBe(0);
  });

  it('a write that fails before the one called ahead of it still fails the next wait and the drain; nothing starts after it', async () => {
    const arrays = [pattern(32 << 20, 35)];
    const sink = new PlacedSink(expected(arrays).byteLength, { t: 0 }, kernel(arrays, 4), 7);
    const error = await writeAll(sink, arrays).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'ERR_IO' });
    expect(String((error as Error).message)).toContain('ENOSPC');
    // Write 7 fails at once while write 6 is still under way; once 6 is done there is room, yet no write starts.
    expect(sink.callsAtFailure).toBe(8);
    expect(sink.writes.length).toBe(sink.callsAtFailure);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(sink.inFlight).toBe(0);
  });
});

describe('CopyPolicy', () => {
  it('switches to copies only when the waits for SLOW_VIEWS views in a row exceed the copies they would replace', () => {
    const policy = new CopyPolicy();
    expect(policy.next()).toBe('view');
    // 16 MiB at the assumed 8 GB/s is ~2.1 ms to copy: a 1 ms wait says views are fine.
    policy.viewed(16 << 20, 1);
    expect(policy.next()).toBe('view');
    // Slow writes, one short of a run, then a fast one: still views.
    for (let i = 1; i < SLOW_VIEWS; i++) policy.viewed(16 << 20, 20);
    policy.viewed(16 << 20, 1);
    for (let i = 1; i < SLOW_VIEWS; i++) policy.viewed(16 << 20, 20);
    expect(policy.next()).toBe('view');
    policy.viewed(16 << 20, 20);
    expect(policy.next()).toBe('copy');
  });

  it('probes after a run of main-bound copies, and backs off after a failed probe', () => {
    const policy = new CopyPolicy();
    for (let i = 0; i < SLOW_VIEWS; i++) policy.viewed(1 << 20, 10);
    const mainBound = (): number => {
      let n = 0;
      while (policy.next() === 'copy') {
        policy.copied(4 << 20, 0.3, 0);
        n += 1;
      }
      return n;
    };
    const first = mainBound();
    expect(policy.next()).toBe('probe');
    policy.viewed(1 << 20, 10, true);
    expect(mainBound()).toBe(2 * first);
    policy.viewed(1 << 20, 10, true);
    // A copy the main thread waited for restarts the run: the writes, not the copies, set the pace.
    policy.copied(4 << 20, 0.3, 0);
    policy.copied(4 << 20, 0.3, 5);
    expect(mainBound()).toBe(4 * first);
    policy.viewed(1 << 20, 0.05, true);
    expect(policy.next()).toBe('view');
  });
});
