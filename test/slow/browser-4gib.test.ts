import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { openNpz } from '../../src/index.js';
import { ensureBuilt } from '../helpers/cli.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { browserAvailable, launchBrowser, openPage, startServer, type TestServer } from '../browser/harness.js';
import { WRITE_BIG_MEMBER } from '../helpers/big-member.js';

/**
 * A numpy-written npz past 4 GiB (its first member, a float32 array of 4 GiB + 3 MiB written by CPython's zipfile,
 * ZIP64 throughout) opened in headless chromium from a File chosen through <input type="file"> and from a URL
 * served by ranges: listed, the small array read exactly, the big one streamed through chunks() with its CRC-32
 * checked by the reader and its bytes spot-checked against the generator's formula, while the page's memory (live
 * JS heap plus ArrayBuffer backing stores, read through the DevTools protocol after a forced garbage collection)
 * stays under 256 MB. Run with `npm run test:slow`.
 */

const DATA_BYTES = 4 * 1024 ** 3 + 3 * 1024 ** 2 + 4;
const MEMORY_BUDGET = 256 * 1024 * 1024;
const enabled = browserAvailable() && hasNumpy();

/** Page code: streams `big` from `input`, checking sampled bytes against the generator's formula. */
const STREAM_BIG = String.raw`async (input) => {
  const { lib } = window.npzTest;
  const file = await lib.openNpz(input);
  try {
    const entries = JSON.stringify(file.entries);
    const small = Array.from((await file.get('small')).data);
    // block[i] = (i * 2654435761 >> 13) & 0xff over a 16 MiB block, repeated; the data starts after the npy header.
    const expectedByte = (position) => Number(((BigInt(position % 16777216) * 2654435761n) >> 13n) & 255n);
    let total = 0;
    let chunks = 0;
    let checked = 0;
    for await (const chunk of file.chunks('big')) {
      for (const at of [0, chunk.length >> 1, chunk.length - 1]) {
        if (chunk[at] !== expectedByte(total + at)) throw new Error('byte ' + (total + at) + ' is ' + chunk[at] + ', expected ' + expectedByte(total + at));
        checked++;
      }
      total += chunk.length;
      chunks++;
      window.npzProgress = total;
    }
    return { entries, small, total, chunks, checked };
  } finally {
    await file.close();
  }
}`;

interface Streamed {
  entries: string;
  small: number[];
  total: number;
  chunks: number;
  checked: number;
}

describe.skipIf(!enabled)(withSkipReason(!enabled, hasNumpy() ? 'no chromium' : NO_NUMPY, 'a 4 GiB npz in chromium'), () => {
  let dir: TempDir;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let path: string;

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('browser-4gib');
    path = dir.file('big.npz');
    runPython(WRITE_BIG_MEMBER, [path, String(DATA_BYTES)]);
    server = await startServer({ files: dir.path });
    browser = await launchBrowser();
    ({ context, page } = await openPage(browser, server));
    await page.addScriptTag({ type: 'module', url: '/page/run.js' });
    await page.waitForFunction('window.npzTestReady === true');
    await page.setInputFiles('#picker', [path]);
    cdp = await context.newCDPSession(page);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    dir?.remove();
  });

  /** Live JS heap plus ArrayBuffer memory after a forced garbage collection. */
  async function pageMemory(): Promise<number> {
    await cdp.send('HeapProfiler.collectGarbage');
    const usage = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
    if (usage.backingStorageSize === undefined) throw new Error('this chromium does not report ArrayBuffer memory (Runtime.getHeapUsage.backingStorageSize)');
    return usage.usedSize + usage.backingStorageSize;
  }

  /** Runs the page's streaming of `big` from `input`, sampling the page's memory until it is done. */
  async function streamWhileSampling(input: string): Promise<{ result: Streamed; peak: number; samples: number }> {
    const running = page.evaluate(`(${STREAM_BIG})(${input})`) as Promise<Streamed>;
    let done = false;
    void running.finally(() => (done = true)).catch(() => undefined);
    let peak = 0;
    let samples = 0;
    while (!done) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (done) break;
      peak = Math.max(peak, await pageMemory());
      samples++;
    }
    const result = await running;
    peak = Math.max(peak, await pageMemory());
    return { result, peak, samples };
  }

  async function nodeEntries(): Promise<string> {
    const file = await openNpz(path);
    try {
      return JSON.stringify(file.entries);
    } finally {
      await file.close();
    }
  }

  it('from a File chosen through <input type="file">: listed, read exactly, streamed with its CRC checked, under 256 MB', async () => {
    const { result, peak, samples } = await streamWhileSampling(`window.npzTest.picked('big.npz')`);
    expect(result.entries).toBe(await nodeEntries());
    expect(result.small).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(result.total).toBe(DATA_BYTES);
    expect(samples).toBeGreaterThan(2);
    console.log(`File: ${result.chunks} chunks, ${samples} memory samples, peak ${(peak / 1024 ** 2).toFixed(1)} MB`);
    expect(peak).toBeLessThan(MEMORY_BUDGET);
  });

  it('from a URL served by ranges: the same, in ranged requests only', async () => {
    const before = server.log.length;
    const { result, peak, samples } = await streamWhileSampling(`window.npzTest.fileUrl('big.npz')`);
    expect(result.entries).toBe(await nodeEntries());
    expect(result.small).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(result.total).toBe(DATA_BYTES);
    const requests = server.log.slice(before);
    expect(requests.every((request) => request.range !== undefined && request.status === 206)).toBe(true);
    console.log(`URL: ${result.chunks} chunks, ${requests.length} requests, ${samples} memory samples, peak ${(peak / 1024 ** 2).toFixed(1)} MB`);
    expect(peak).toBeLessThan(MEMORY_BUDGET);
  });
});
