import { readFileSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { openNpz, saveNpzStream, saveSafetensors, openSafetensors } from '../../src/index.js';
import { ensureBuilt } from '../helpers/cli.js';
import { hasNumpy, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { browserAvailable, launchBrowser, openPage, startServer, type TestServer } from './harness.js';
// @ts-expect-error plain JavaScript shared with the page
import { makeTree } from './page/save.js';

/**
 * Writing in the page: saveNpzStream and saveSafetensorsStream into a WritableStream give the bytes Node's writers
 * give for the same tree (lazy leaves included); a compressed npz written with CompressionStream reads back in Node
 * and in numpy; a destination that fails leaves an NpzError, not a hang.
 */

const enabled = browserAvailable();

async function nodeBytes(write: (out: PassThrough) => Promise<unknown>): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (part: Buffer) => parts.push(part));
  await write(out);
  return Buffer.concat(parts);
}

describe.skipIf(!enabled)(withSkipReason(!enabled, 'no chromium', 'writing from the page into a WritableStream'), () => {
  let dir: TempDir;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  const run = <T>(body: string): Promise<T> =>
    page.evaluate(`(async () => { const { lib } = window.npzTest; const save = await import('/page/save.js'); ${body} })()`) as Promise<T>;

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('browser-save');
    server = await startServer({ files: dir.path });
    browser = await launchBrowser();
    ({ context, page, errors } = await openPage(browser, server));
    await page.addScriptTag({ type: 'module', url: '/page/run.js' });
    await page.waitForFunction('window.npzTestReady === true');
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    dir?.remove();
  });

  it('saveNpzStream gives the bytes of Node\'s saveNpzStream, lazy leaf included', async () => {
    const expected = await nodeBytes((out) => saveNpzStream(makeTree(), out));
    const written = await run<string>(`
      const sink = save.collector();
      const summary = await lib.saveNpzStream(save.makeTree(), sink.stream);
      if (summary.bytesWritten !== sink.bytes().length) throw new Error('summary disagrees');
      return save.toBase64(sink.bytes());
    `);
    expect(Buffer.from(written, 'base64').equals(expected)).toBe(true);
  });

  it('saveSafetensorsStream gives the bytes of saveSafetensors', async () => {
    const path = dir.file('tree.safetensors');
    await saveSafetensors(path, makeTree(), { metadata: { format: 'pt' } });
    const written = await run<string>(`
      const sink = save.collector();
      await lib.saveSafetensorsStream(save.makeTree(), sink.stream, { metadata: { format: 'pt' } });
      return save.toBase64(sink.bytes());
    `);
    expect(Buffer.from(written, 'base64').equals(readFileSync(path))).toBe(true);
  });

  it('a compressed npz from CompressionStream reads back in Node (and numpy) with the same values', async () => {
    const written = await run<string>(`
      const sink = save.collector();
      await lib.saveNpzStream(save.makeTree(), sink.stream, { compress: true });
      return save.toBase64(sink.bytes());
    `);
    const path = dir.file('compressed.npz');
    writeFileSync(path, Buffer.from(written, 'base64'));
    const file = await openNpz(path);
    try {
      expect(file.entries.every((entry) => entry.compression === 'deflate')).toBe(true);
      const lazy = await file.get('lazy');
      expect(lazy.data.byteLength).toBe(3 * 1024 * 1024);
      const bytes = new Uint8Array(lazy.data.buffer, lazy.data.byteOffset, lazy.data.byteLength);
      expect(bytes[65536 + 5]).toBe((65536 + 35) & 0xff);
    } finally {
      await file.close();
    }
    if (hasNumpy()) {
      const out = runPython('import numpy as np, sys; z = np.load(sys.argv[1]); print(z["lazy"].nbytes, z["img/kernel"].dtype, z["img/kernel"][2, 3] == np.float32(11 / 3))', [path]);
      expect(out.trim()).toBe(`${3 * 1024 * 1024} float32 True`);
    }
  });

  it('a destination that fails rejects with ERR_IO and aborts nothing else; a locked or wrong destination is refused', async () => {
    const codes = await run<Record<string, string>>(`
      let written = 0;
      const failing = new WritableStream({ write() { if (++written > 2) throw new Error('disk full'); } });
      const result = {};
      result.failing = await window.npzTest.code(() => lib.saveNpzStream(save.makeTree(), failing));
      const locked = new WritableStream();
      locked.getWriter();
      result.locked = await window.npzTest.code(() => lib.saveNpzStream(save.makeTree(), locked));
      result.notStream = await window.npzTest.code(() => lib.saveSafetensorsStream(save.makeTree(), {}));
      const aborted = new AbortController();
      aborted.abort();
      result.aborted = await window.npzTest.code(() => lib.saveSafetensorsStream(save.makeTree(), new WritableStream(), { signal: aborted.signal }));
      return result;
    `);
    expect(codes).toEqual({ failing: 'ERR_IO', locked: 'ERR_INVALID_ARGUMENT', notStream: 'ERR_INVALID_ARGUMENT', aborted: 'ERR_ABORTED' });
  });

  it('chromium\'s DecompressionStream refuses bytes after the deflate stream, so deflated members use it (not the TypeScript inflater)', async () => {
    // Where a host drops such bytes silently (Node 20) the codecs send every member through the TypeScript inflater.
    expect(await run<boolean>(`return (await import('/dist/browser/codecs.js')).nativeInflateRefusesTrailingBytes();`)).toBe(true);
  });

  it('opens what it wrote: a safetensors written in the page reads back in the page and in Node', async () => {
    const written = await run<string>(`
      const sink = save.collector();
      await lib.saveSafetensorsStream(save.makeTree(), sink.stream);
      const file = await lib.openSafetensors(new Blob([sink.bytes()]));
      const halves = await file.get('img/halves');
      const view = lib.asFloat16Array(halves);
      await file.close();
      return JSON.stringify({ names: file.entries.map((entry) => entry.name), halves: view === undefined ? null : Array.from(view) });
    `);
    const { names, halves } = JSON.parse(written) as { names: string[]; halves: number[] | null };
    const path = dir.file('tree.safetensors');
    await saveSafetensors(path, makeTree());
    const file = await openSafetensors(path);
    expect(names).toEqual(file.entries.map((entry) => entry.name));
    await file.close();
    // Chromium has Float16Array (since 135): float16 data views as numbers without a copy.
    expect(halves).toEqual([1, 2, -2, 0.5]);
    expect(errors).toEqual([]);
  });
});
