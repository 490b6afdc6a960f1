import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { WRITE_BIG_MEMBER } from '../helpers/big-member.js';

// A stored member past 4 GiB, written by CPython's zipfile in streaming mode (zf.open(..., 'w')), followed by a
// small member whose local header offset needs ZIP64 too. Run with `npm run test:slow`.
const DATA_BYTES = 4 * 1024 ** 3 + 3 * 1024 ** 2 + 4;
const RSS_BUDGET = 128 * 1024 * 1024;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'a stored member larger than 4 GiB'), () => {
  let dir: TempDir;
  let path: string;
  let written: { sha256: string; offsets: Record<string, number> };

  beforeAll(() => {
    dir = makeTempDir('read-4gib');
    path = dir.file('big.npz');
    written = JSON.parse(runPython(WRITE_BIG_MEMBER, [path, String(DATA_BYTES)]));
  });
  afterAll(() => dir.remove());

  it('streams through chunks() with bounded memory and the exact bytes', async () => {
    const file = await openNpz(path);
    try {
      const big = file.entries.find((entry) => entry.name === 'big')!;
      expect(big.isArray && [big.dtype, big.byteLength]).toEqual(['float32', DATA_BYTES]);
      expect(written.offsets['small.npy']).toBeGreaterThan(2 ** 32);

      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      let total = 0;
      let chunks = 0;
      const digest = createHash('sha256');
      for await (const chunk of file.chunks('big')) {
        digest.update(chunk);
        total += chunk.length;
        if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(total).toBe(DATA_BYTES);
      expect(digest.digest('hex')).toBe(written.sha256);
      expect(peak - baseline).toBeLessThan(RSS_BUDGET);

      // The member after it sits past 4 GiB: its offset comes from a ZIP64 extra field.
      expect([...((await file.get('small')).data as Int32Array)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

      // get() of the whole array: one buffer past 4 GiB, filled (and verified) in segments.
      const array = await file.get('big');
      expect(array.data).toBeInstanceOf(Float32Array);
      expect(array.data.byteLength).toBe(DATA_BYTES);
      const whole = createHash('sha256');
      for (let at = 0; at < DATA_BYTES; at += 2 ** 30) {
        whole.update(new Uint8Array(array.data.buffer, at, Math.min(2 ** 30, DATA_BYTES - at)));
      }
      expect(whole.digest('hex')).toBe(written.sha256);
    } finally {
      await file.close();
    }
  });
});
