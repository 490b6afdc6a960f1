/**
 * The header scan's read plan follows the source's `readCost`: a source that pays a round trip per read gets
 * reads that skip member data beyond its gap, several in flight, visited in file order whatever order they
 * complete in; a source without it (a local file, a buffer) keeps the coalesced 4 MiB windows, one read at a time.
 * Sources here are in-process wrappers over the bytes of a numpy-written checkpoint, so every read is counted and
 * completion order is scripted.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz } from '../../src/index.js';
import { bufferSource, type RandomAccessSource } from '../../src/index.js';
import type { ReadCost } from '../../src/io/random-access.js';
import { ZipArchive } from '../../src/zip/random/archive.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { hasNumpy, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { headerWindows, writeCheckpoint, type Checkpoint } from '../helpers/checkpoint.js';
import { zipLayout, type ZipLayout } from '../helpers/zip-layout.js';

interface Scripted {
  source: RandomAccessSource;
  reads: Array<{ offset: number; length: number }>;
  /** Most reads pending at once. */
  maxPending(): number;
}

/**
 * A source over `bytes` with an optional `readCost`; `delay(n, offset)` (n = 0-based read count) makes a read wait, and
 * `fail(offset)` makes a read at that offset reject.
 */
function scripted(bytes: Uint8Array, cost: ReadCost | undefined, delay: (n: number, offset: number) => number = () => 0, fail?: (offset: number) => Error | undefined): Scripted {
  const inner = bufferSource(bytes);
  const reads: Array<{ offset: number; length: number }> = [];
  let pending = 0;
  let most = 0;
  const source: RandomAccessSource = {
    size: inner.size,
    async read(offset, length, into) {
      const n = reads.length;
      reads.push({ offset, length });
      pending++;
      most = Math.max(most, pending);
      try {
        await sleep(delay(n, offset));
        const error = fail?.(offset);
        if (error !== undefined) throw error;
        return await inner.read(offset, length, into);
      } finally {
        pending--;
      }
    },
    close: () => inner.close(),
    ...(cost === undefined ? {} : { readCost: cost }),
  };
  return { source, reads, maxPending: () => most };
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'header scan policy by source cost'), () => {
  let checkpoint: Checkpoint;
  let bytes: Uint8Array;
  let layout: ZipLayout;
  const GAP = 64 * 1024;

  beforeAll(() => {
    checkpoint = writeCheckpoint();
    bytes = readFileSync(checkpoint.path);
    layout = zipLayout(checkpoint.path);
  }, 60_000);
  afterAll(() => checkpoint?.remove());

  /** Reads the scan made: those starting at a member's local header, below the central directory. */
  function scanReads(reads: Scripted['reads']): Scripted['reads'] {
    const headers = new Set(layout.records.map((member) => member.localHeaderOffset));
    return reads.filter((read) => headers.has(read.offset) && read.offset < layout.cdOffset);
  }

  it('a round-trip source: exactly the planned windows, no member data beyond the gap, reads in flight up to its limit', async () => {
    const planned = headerWindows(layout, GAP);
    // Later reads of each batch finish first, so in-order visiting cannot come from completion order.
    const { source, reads, maxPending } = scripted(bytes, { gapBytes: GAP, parallelReads: 3 }, (n) => 5 + 10 * (3 - (n % 3)));
    const file = await openNpz(source);
    try {
      const reference = await openNpz(bufferSource(bytes));
      expect(file.entries).toEqual(reference.entries);
      await reference.close();
      expect(scanReads(reads)).toEqual(planned.map((window) => ({ offset: window.start, length: window.end - window.start })));
      expect(maxPending()).toBe(3);
      const kernel = await file.get('img/head/kernel');
      expect(kernel.shape).toEqual([256, 512]);
    } finally {
      await file.close();
    }
  });

  it('a nonsense readCost from a custom source reads no member data and keeps at most 16 windows in flight', async () => {
    const planned = headerWindows(layout, 0);
    expect(planned.length).toBeGreaterThan(16);
    const { source, reads, maxPending } = scripted(bytes, { gapBytes: Number.NaN, parallelReads: 1e9 }, () => 5);
    const file = await openNpz(source);
    await file.close();
    expect(scanReads(reads)).toEqual(planned.map((window) => ({ offset: window.start, length: window.end - window.start })));
    expect(maxPending()).toBe(16);
  });

  it('the scan visits members in file order while window reads complete out of order', async () => {
    const { source } = scripted(bytes, { gapBytes: GAP, parallelReads: 4 }, (n) => 40 - 10 * (n % 4));
    const archive = await ZipArchive.open(source, nodeCodecs);
    const visited: number[] = [];
    await archive.scan(archive.entries, ({ entry, dataStart }) => {
      visited.push(entry.localHeaderOffset);
      expect(dataStart).toBe(entry.localHeaderOffset + 30 + entry.rawName.length + 20);
    });
    const offsets = layout.records.map((member) => member.localHeaderOffset).sort((a, b) => a - b);
    expect(visited).toEqual(offsets);
  });

  it('a source without readCost keeps the local policy: 4 MiB windows over member data, one read at a time', async () => {
    const planned = headerWindows(layout, Number.POSITIVE_INFINITY);
    const { source, reads, maxPending } = scripted(bytes, undefined, () => 1);
    const file = await openNpz(source);
    await file.close();
    // Local windows of a few bytes go through the 64 KiB read window, so only their starts are the plan's.
    expect(scanReads(reads).map((read) => read.offset)).toEqual(planned.map((window) => window.start));
    expect(planned.length).toBeLessThan(headerWindows(layout, GAP).length);
    expect(maxPending()).toBe(1);
  });

  it('a window read that fails while earlier ones are pending rejects the open with its error, and leaves nothing unhandled', async () => {
    const planned = headerWindows(layout, GAP);
    const first = planned[0]?.start;
    const third = planned[2]?.start;
    const fourth = planned[3]?.start;
    const failure = new Error('window read failed');
    const later = new Error('a later window failed too');
    // The first window is slow; the third and fourth fail at once, before anyone awaits them.
    const { source } = scripted(
      bytes,
      { gapBytes: GAP, parallelReads: 4 },
      (_, offset) => (offset === first ? 50 : 0),
      (offset) => (offset === third ? failure : offset === fourth ? later : undefined),
    );
    await expect(openNpz(source)).rejects.toBe(failure);
    // Let any rejection nobody handled surface (vitest fails the run on one).
    await sleep(20);
  });
});
