import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { openNpz, streamNpz } from '../../src/index.js';
import { ensureBuilt } from '../helpers/cli.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { browserAvailable, launchBrowser, openPage, startServer, type TestServer } from '../browser/harness.js';
// @ts-expect-error plain JavaScript shared with the page
import * as summary from '../browser/page/summary.js';

/**
 * A numpy-written npz of 70 000 members in headless chromium, from a File and from a URL served by ranges, against
 * what Node reads (opt-in: `npm run test:slow`; the quick corpus test is test/browser/corpus.test.ts).
 */

const MANY_MEMBERS = fileURLToPath(new URL('../fixtures/gen/make_many_members.py', import.meta.url));
const MANY = 'many-70000.npz';
const enabled = browserAvailable() && hasNumpy();
const skipReason = hasNumpy() ? 'no chromium' : NO_NUMPY;

type Summary = Record<string, string>;
const { summarizeFile, summarizeStream } = summary as {
  summarizeFile(file: unknown, chunkSize?: number): Promise<Summary>;
  summarizeStream(entries: AsyncIterable<unknown>): Promise<Summary>;
};

describe.skipIf(!enabled)(withSkipReason(!enabled, skipReason, 'npz-stream/browser in chromium: 70 000 members'), () => {
  let dir: TempDir;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const inPage = <T>(method: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(`window.npzTest[${JSON.stringify(method)}](...${JSON.stringify(args)})`) as Promise<T>;

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('browser-many');
    runPython(`import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')`, [MANY_MEMBERS, '70000', dir.file(MANY)]);
    server = await startServer({ files: dir.path });
    browser = await launchBrowser();
    ({ context, page } = await openPage(browser, server));
    await page.addScriptTag({ type: 'module', url: '/page/run.js' });
    await page.waitForFunction('window.npzTestReady === true');
    await page.setInputFiles('#picker', [dir.file(MANY)]);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    dir?.remove();
  });

  it('70 000 members from a File and from a URL, in few requests', async () => {
    const file = await openNpz(dir.file(MANY));
    const expected = await summarizeFile(file).finally(() => file.close());
    expect(JSON.parse(expected['entries']!).length).toBe(70_000);
    expect(await inPage('openNpz', MANY, 'file')).toEqual(expected);
    const before = server.log.length;
    expect(await inPage('openNpz', MANY, 'url')).toEqual(expected);
    // Opening reads the directory and headers in a few large ranges; get() of 70 000 members is served from them.
    const requests = server.log.slice(before).filter((entry) => entry.url.endsWith(MANY));
    expect(requests.every((entry) => entry.range !== undefined && entry.status === 206)).toBe(true);
    // About one 64 KiB window per 64 KiB of members (17 MB): not one request per member.
    expect(requests.length).toBeLessThan(1000);
    expect(await inPage('streamNpz', MANY, 'file-stream')).toEqual(await summarizeStream(streamNpz(createReadStream(dir.file(MANY)))));
  });
});
