import { copyFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { saveNpz } from '../../src/index.js';
import { ensureBuilt } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { withSkipReason } from '../helpers/python.js';
import { browserAvailable, launchBrowser, openPage, startServer, type TestServer } from './harness.js';

/**
 * URLs in the page go through fetch with the same rules as on Node: every read a Range request answered 206 with
 * the exact Content-Range; a server that ignores Range is refused, not downloaded; statuses map to the same codes;
 * a cross-origin server works when it allows the Range header and exposes Content-Range, and reads as unusable (not
 * as wrong data) when it does not.
 */

const FIXTURE = fileURLToPath(new URL('../fixtures/good/all-dtypes.npz', import.meta.url));
const enabled = browserAvailable();

describe.skipIf(!enabled)(withSkipReason(!enabled, 'no chromium', 'URLs read by ranges in the page'), () => {
  let dir: TempDir;
  let server: TestServer;
  let other: TestServer;
  let unexposed: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const code = (expression: string): Promise<string> =>
    page.evaluate(`(async () => { const { lib } = window.npzTest; return window.npzTest.code(async () => { ${expression} }); })()`) as Promise<string>;

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('browser-http');
    copyFileSync(FIXTURE, dir.file('all-dtypes.npz'));
    // Larger than the opening suffix request (256 KiB), so that request is answered 206, not 416.
    await saveNpz(dir.file('large.npz'), { weights: new Float32Array(128 * 1024).map((_, i) => i) });
    server = await startServer({ files: dir.path });
    other = await startServer({ files: dir.path, cors: { expose: true } });
    unexposed = await startServer({ files: dir.path, cors: { expose: false } });
    browser = await launchBrowser();
    ({ context, page } = await openPage(browser, server));
    await page.addScriptTag({ type: 'module', url: '/page/run.js' });
    await page.waitForFunction('window.npzTestReady === true');
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all([server, other, unexposed].map((running) => running?.close()));
    dir?.remove();
  });

  it('a relative URL resolves against the page and is read by ranges only', async () => {
    const before = server.log.length;
    expect(await code(`const file = await lib.openNpz('/files/all-dtypes.npz'); await file.get(file.entries[0].name); await file.close();`)).toBe('resolved');
    const requests = server.log.slice(before);
    // The opening suffix range is longer than this small file: `send` answers 416, and the object is read by offset.
    expect(requests.map((request) => [request.range, request.status])).toEqual([
      ['bytes=-262144', 416],
      ['bytes=0-86282', 206],
    ]);
    const large = server.log.length;
    expect(await code(`const file = await lib.openNpz('/files/large.npz'); await file.get('weights'); await file.close();`)).toBe('resolved');
    expect(server.log.slice(large).every((request) => request.range !== undefined && request.status === 206)).toBe(true);
  });

  it('refuses a server that ignores Range (ERR_REMOTE_RANGE) and maps statuses as on Node', async () => {
    expect(await code(`await lib.openNpz('/norange/all-dtypes.npz');`)).toBe('ERR_REMOTE_RANGE');
    expect(await code(`await lib.openNpz('/files/missing.npz', { http: { retries: 0 } });`)).toBe('ERR_REMOTE_STATUS');
    expect(await code(`await lib.openNpz('ftp://example.invalid/x.npz');`)).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(`await lib.openNpz('/files/all-dtypes.npz', { http: { concurrency: 0 } });`)).toBe('ERR_INVALID_ARGUMENT');
  });

  it('reads another origin that allows Range and exposes Content-Range; one that does not expose it is refused', async () => {
    expect(await code(`const file = await lib.openNpz('${other.origin}/files/large.npz'); await file.get('weights'); await file.close();`)).toBe('resolved');
    expect(await code(`await lib.openNpz('${unexposed.origin}/files/large.npz');`)).toBe('ERR_REMOTE_RANGE');
  });

  it('stops on the caller\'s signal with ERR_ABORTED', async () => {
    expect(await code(`const stop = new AbortController(); stop.abort(); await lib.openNpz('/files/all-dtypes.npz', { signal: stop.signal });`)).toBe('ERR_ABORTED');
  });
});
