import { copyFileSync, createReadStream, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  loadNpz,
  openNpz,
  openSafetensors,
  openSafetensorsIndex,
  readNpz,
  readSafetensors,
  saveSafetensors,
  saveSafetensorsShards,
  streamNpz,
  type NpyArray,
} from '../../src/index.js';
import { ensureBuilt } from '../helpers/cli.js';
import { hasNumpy, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { browserAvailable, launchBrowser, openPage, startServer, type TestServer } from './harness.js';
// @ts-expect-error plain JavaScript shared with the page
import * as summary from './page/summary.js';

/**
 * The browser entry against the Node entry on the same files: a numpy-written corpus (every dtype, Fortran order,
 * big-endian, 0-d, empty, deflated, data descriptors; 70 000 members in test/slow/browser-many-members.test.ts) and the damaged fixtures, read in headless
 * chromium from Files chosen through <input type="file"> and from URLs served by ranges on 127.0.0.1. Everything
 * the page reports must equal what Node reads, error codes included.
 */

const GOOD = fileURLToPath(new URL('../fixtures/good/', import.meta.url));
const BAD = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));
const CORPUS = readdirSync(GOOD).filter((name) => name.endsWith('.npz')).sort();
const BAD_NPZ = readdirSync(BAD).filter((name) => name.endsWith('.npz')).sort();
const BAD_SAFETENSORS = readdirSync(BAD).filter((name) => name.endsWith('.safetensors')).sort();

const enabled = browserAvailable() && hasNumpy();
const skipReason = hasNumpy() ? 'no chromium' : NO_NUMPY;

type Summary = Record<string, string>;

const { summarizeFile, summarizeSlices, summarizePairs, summarizeStream, openAndReadAll, drainCode } = summary as {
  summarizeFile(file: unknown, chunkSize?: number): Promise<Summary>;
  summarizeSlices(file: unknown): Promise<Summary>;
  summarizePairs(pairs: AsyncIterable<[string, NpyArray]>): Promise<Summary>;
  summarizeStream(entries: AsyncIterable<unknown>): Promise<Summary>;
  openAndReadAll(open: (input: never) => Promise<unknown>, input: unknown): Promise<string>;
  drainCode(iterable: AsyncIterable<unknown>): Promise<string>;
};

async function nodeFile<T extends { close(): Promise<void> }>(file: T, work: (file: T) => Promise<Summary>): Promise<Summary> {
  try {
    return await work(file);
  } finally {
    await file.close();
  }
}

describe.skipIf(!enabled)(withSkipReason(!enabled, skipReason, 'npz-stream/browser in chromium'), () => {
  let dir: TempDir;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  const path = (name: string): string => dir.file(name);
  const inPage = <T>(method: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(`window.npzTest[${JSON.stringify(method)}](...${JSON.stringify(args)})`) as Promise<T>;
  /** Runs `body` in the page with `lib` (npz-stream/browser), `s` (the summaries), `fileUrl` and `picked` in scope. */
  const run = <T>(body: string): Promise<T> =>
    page.evaluate(`(async () => { const { lib, summary: s, fileUrl, picked } = window.npzTest; ${body} })()`) as Promise<T>;

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('browser-corpus');
    for (const name of [...CORPUS, ...BAD_NPZ, ...BAD_SAFETENSORS]) copyFileSync(join(name.startsWith('ERR_') ? BAD : GOOD, name), path(name));
    // safetensors of the corpus's arrays that safetensors can hold (C order, a safetensors dtype), one file and shards.
    const arrays: Array<[string, NpyArray]> = [];
    for await (const [key, array] of readNpz(path('all-dtypes.npz'))) {
      if (!array.fortranOrder && array.dtype !== 'raw' && !array.dtype.startsWith('complex')) arrays.push([key, array]);
    }
    const flat = function* (): Generator<[string, NpyArray]> {
      yield* arrays;
    };
    await saveSafetensors(path('all-dtypes.safetensors'), flat(), { metadata: { format: 'np' } });
    await saveSafetensorsShards(path('sharded/model.safetensors'), flat(), { maxShardSize: 200 });
    server = await startServer({ files: dir.path });
    browser = await launchBrowser();
    ({ context, page, errors } = await openPage(browser, server));
    await page.addScriptTag({ type: 'module', url: '/page/run.js' });
    await page.waitForFunction('window.npzTestReady === true');
    await page.setInputFiles('#picker', [...CORPUS, ...BAD_NPZ, ...BAD_SAFETENSORS, 'all-dtypes.safetensors'].map(path));
    await page.setInputFiles('#folder', dir.file('sharded'));
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    dir?.remove();
  });

  it('the page loaded the library with no bundler and reported no error', () => {
    expect(errors).toEqual([]);
  });

  describe.each(CORPUS)('%s', (name) => {
    // numpy wrote a 72 KB header there, which the default limit (numpy's) refuses; dup-names repeats a member.
    const options = name === 'npy-v2.npz' ? { maxHeaderSize: 200_000 } : name === 'dup-names.npz' ? { duplicates: 'last' as const } : {};

    it('openNpz from a File and from a URL: the entries, get() and chunks() equal Node\'s', async () => {
      const expected = await nodeFile(await openNpz(path(name), options), (file) => summarizeFile(file));
      expect(await inPage('openNpz', name, 'file', options)).toEqual(expected);
      expect(await inPage('openNpz', name, 'url', options)).toEqual(expected);
    });

    it('readNpz from a File, a URL, a File\'s stream and a response body, and streamNpz: equal to Node\'s', async () => {
      const pairs = await summarizePairs(readNpz(path(name), options));
      for (const source of ['file', 'url', 'bytes']) expect(await inPage('readNpz', name, source, options)).toEqual(pairs);
      const streamed = await summarizePairs(readNpz(createReadStream(path(name)), options));
      for (const source of ['file-stream', 'url-body']) expect(await inPage('readNpz', name, source, options)).toEqual(streamed);
      const entries = await summarizeStream(streamNpz(createReadStream(path(name)), options));
      expect(await inPage('streamNpz', name, 'file-stream', options)).toEqual(entries);
    });
  });

  it('safetensors from a File and a URL, and a sharded checkpoint from its index URL and from a chosen folder', async () => {
    const name = 'all-dtypes.safetensors';
    const expected = await nodeFile(await openSafetensors(path(name)), (file) => summarizeFile(file));
    expect(await inPage('openSafetensors', name, 'file')).toEqual(expected);
    expect(await inPage('openSafetensors', name, 'url')).toEqual(expected);
    expect(await inPage('readSafetensors', name, 'url')).toEqual(await summarizePairs(readSafetensors(path(name))));

    const sharded = await nodeFile(await openSafetensorsIndex(path('sharded/model.safetensors.index.json')), (file) => summarizeFile(file));
    expect(JSON.parse(sharded['entries']!).some((entry: { shard: string }) => entry.shard.endsWith('-of-00003.safetensors') || entry.shard.includes('-of-'))).toBe(true);
    const fromUrl = await run(`
      const file = await lib.openSafetensorsIndex(new URL('/files/sharded/model.safetensors.index.json', location.href).href);
      try { return await s.summarizeFile(file); } finally { await file.close(); }
    `);
    expect(fromUrl).toEqual(sharded);
    const fromFolder = await run(`
      const file = await lib.openSafetensorsIndex(document.getElementById('folder').files);
      try { return await s.summarizeFile(file); } finally { await file.close(); }
    `);
    expect(fromFolder).toEqual(sharded);
  });

  it.each([
    ['all-dtypes.npz', 'npz'],
    ['compressed.npz', 'npz'],
    ['paligemma-tiny.npz', 'npz'],
    ['all-dtypes.safetensors', 'safetensors'],
  ] as const)('slices and shards of %s from a File and a URL equal Node\'s (Fortran, big-endian and deflated members included)', async (name, format) => {
    const open = format === 'safetensors' ? openSafetensors : openNpz;
    const expected = await nodeFile(await open(path(name)), (file) => summarizeSlices(file));
    // The summary holds slices that read data and slices that were refused with a code; both kinds must be there.
    expect(expected['slices']).toContain('"shape"');
    expect(expected['slices']).toContain('ERR_INVALID_ARGUMENT');
    expect(await inPage('slices', name, 'file', format)).toEqual(expected);
    expect(await inPage('slices', name, 'url', format)).toEqual(expected);
  });

  describe.each(BAD_NPZ)('%s', (name) => {
    it('gives the same error codes as on Node: open and read every array, readNpz, from a stream', async () => {
      const expected = {
        open: await openAndReadAll(openNpz as never, path(name)),
        url: await openAndReadAll(openNpz as never, path(name)),
        read: await drainCode(readNpz(path(name))),
        stream: await drainCode(readNpz(createReadStream(path(name)))),
        streamEntries: await drainCode(streamNpz(createReadStream(path(name)))),
      };
      expect(expected.open).toBe(name.split('--')[0]);
      expect(await inPage('badNpz', name)).toEqual(expected);
    });
  });

  describe.each(BAD_SAFETENSORS)('%s', (name) => {
    it('gives the same error code as on Node from a File, a URL and readSafetensors', async () => {
      const code = await openAndReadAll(openSafetensors as never, path(name));
      const read = await drainCode(readSafetensors(path(name)));
      expect(code).toBe(name.split('--')[0]);
      expect(await inPage('badSafetensors', name)).toEqual({ open: code, url: code, read });
    });
  });

  it('loadNpz in the page builds the same tree as on Node', async () => {
    const tree = await loadNpz(path('paligemma-tiny.npz'));
    const names = JSON.stringify(Object.keys(tree).sort());
    const inBrowser = await run(`return JSON.stringify(Object.keys(await lib.loadNpz(picked('paligemma-tiny.npz'))).sort());`);
    expect(inBrowser).toBe(names);
  });
});
