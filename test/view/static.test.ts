import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import send from 'send';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpz, saveSafetensorsShards, type NpyArray } from '../../src/index.js';
import { jsonNumbers } from '../../src/cli/view/work-stream.js';
import { STATIC_CSP } from '../../src/cli/view/static-site.js';
import { runCli } from '../helpers/cli.js';
import { hasNumpy, NO_NUMPY, withSkipReason } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { browserAvailable, launchBrowser, makeViewFixtures, startView, type RunningView, type ViewExpectations } from '../helpers/view.js';

/**
 * `npz-stream view --static DIR`: the page written out, served by a plain static server on 127.0.0.1, opens files
 * chosen through <input type=file> and URLs beside it, and its numbers (overview, a tensor's statistics, histogram
 * and first values, the diff of a pair) equal the JSON the `view` server gives for the same files. Every request the
 * page makes stays on its origin; a URL on another origin is refused before anything is fetched.
 */

const hasBrowser = browserAvailable('test/view/static.test.ts');
const enabled = hasBrowser && hasNumpy();
const skipReason = hasBrowser ? NO_NUMPY : 'no chromium (apt-get install -y chromium, or set CHROMIUM_PATH)';

interface StaticServer {
  origin: string;
  requests: string[];
  close(): Promise<void>;
}

/** DIR at /, the fixtures at /files/ (with ranges, by `send`); every request logged. */
async function serveStatic(root: string, files: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests.push(request.url ?? '');
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const [from, rest] = path.startsWith('/files/') ? [files, path.slice('/files'.length)] : [root, path];
    send(request, rest, { root: from, etag: true, lastModified: true, acceptRanges: true, cacheControl: false, dotfiles: 'deny' })
      .on('error', (error: { status?: number }) => {
        response.statusCode = error.status ?? 500;
        response.end();
      })
      .pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** JSON's view of a value, as the server sends it (NaN and the infinities as strings): what both sides compare in. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, jsonNumbers));
}

/** The `view` server's answer to /api/PATH: JSON, or the result line of a streamed job. */
async function serverApi(view: RunningView, path: string, params: Record<string, string>): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${view.port}/api/${path}?${new URLSearchParams({ ...params, token: view.token })}`);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  if (!(response.headers.get('content-type') ?? '').includes('ndjson')) return JSON.parse(text);
  const lines = text.trim().split('\n').map((line) => JSON.parse(line) as { type: string; result?: unknown });
  const result = lines.find((line) => line.type === 'result');
  expect(result, text).toBeDefined();
  return result!.result;
}

/** The static page's answer to the same request, computed in its worker. */
async function pageApi(page: Page, path: string, params: Record<string, string>): Promise<unknown> {
  return asJson(await page.evaluate(([path, params]) => (globalThis as unknown as { npzView: { request(p: string, q: object): Promise<unknown> } }).npzView.request(path!, params!), [path, params] as const));
}

let browser: Browser;
let fixtures: { dir: string; expected: ViewExpectations };
let site: string;
let staticServer: StaticServer;
let otherServer: StaticServer;
let pair: RunningView;

beforeAll(async () => {
  if (!enabled) return;
  fixtures = makeViewFixtures();
  site = makeTempDir('view-static').path;
  const written = runCli(['view', '--static', site]);
  expect(written.status, written.stderr).toBe(0);
  staticServer = await serveStatic(site, fixtures.dir);
  otherServer = await serveStatic(site, fixtures.dir);
  [browser, pair] = await Promise.all([launchBrowser(), startView(['base.npz', 'tuned.npz'], { cwd: fixtures.dir })]);
}, 60_000);

afterAll(async () => {
  if (!enabled) return;
  await browser?.close();
  await pair?.stop();
  await staticServer?.close();
  await otherServer?.close();
  if (site !== undefined) rmSync(site, { recursive: true, force: true });
  if (fixtures !== undefined) rmSync(fixtures.dir, { recursive: true, force: true });
});

/** A page on the static site; fails the test on a page error or a request to any other origin. */
async function withStaticPage<T>(use: (page: Page) => Promise<T>, path = '/index.html'): Promise<T> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const failures: string[] = [];
  const elsewhere: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console: ${message.text()}`);
  });
  const watch = (url: string): void => {
    if (!url.startsWith(`${staticServer.origin}/`) && !url.startsWith('data:')) elsewhere.push(url);
  };
  page.on('request', (request) => watch(request.url()));
  page.on('worker', (worker) => watch(worker.url()));
  try {
    await page.goto(`${staticServer.origin}${path}`);
    const result = await use(page);
    expect(failures).toEqual([]);
    expect(elsewhere).toEqual([]);
    return result;
  } finally {
    await page.close();
  }
}

async function histogramCounts(page: Page): Promise<number[]> {
  return page.locator('svg.histogram rect.bin').evaluateAll((rects) => rects.map((rect) => Number(rect.getAttribute('data-count'))));
}

describe.skipIf(!enabled)(withSkipReason(!enabled, skipReason, 'npz-stream view --static in chromium'), () => {
  it('writes index.html with a strict CSP and its assets, the worker bundled without Node', () => {
    for (const name of ['index.html', 'assets/app.js', 'assets/format.js', 'assets/local.js', 'assets/style.css', 'assets/worker.js']) {
      expect(existsSync(join(site, name)), name).toBe(true);
      expect(statSync(join(site, name)).size, name).toBeGreaterThan(0);
    }
    const html = readFileSync(join(site, 'index.html'), 'utf8');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${STATIC_CSP}">`);
    expect(STATIC_CSP).toMatch(/^default-src 'self';/);
    expect(STATIC_CSP).not.toMatch(/unsafe|\*|https?:/);
    // Relative asset paths: the directory can be served under any path.
    expect(html).toContain('src="assets/app.js"');
    const worker = readFileSync(join(site, 'assets/worker.js'), 'utf8');
    expect(worker).not.toMatch(/\bfrom\s*["']node:|require\(["']node:/);
    // A second run replaces the files and leaves nothing else behind.
    expect(runCli(['view', '--static', site]).status).toBe(0);
    expect(readFileSync(join(site, 'index.html'), 'utf8')).toBe(html);
    expect(runCli(['view', '--static', site, 'base.npz']).status).toBe(2);
  });

  it('two chosen files: overview, a tensor’s stats, histogram and first values, and the diff equal the server’s JSON', async () => {
    await withStaticPage(async (page) => {
      await page.locator('#open-files').setInputFiles([join(fixtures.dir, 'base.npz'), join(fixtures.dir, 'tuned.npz')]);
      // A pair opens on the diff, computed in the worker and drawn by the same page code as the server's.
      await page.locator('table.diffs tbody tr').first().waitFor();
      const { changed, equal, onlyB, shapeChanged } = fixtures.expected;
      expect(await page.locator('table.diffs tbody tr').count()).toBe(changed.length + equal.length + onlyB.length + shapeChanged.length);

      const diff = await serverApi(pair, 'diff', {});
      expect(await pageApi(page, 'diff', {})).toEqual(diff);
      for (const file of ['0', '1']) expect(await pageApi(page, 'overview', { file })).toEqual(await serverApi(pair, 'overview', { file }));
      const [changedName] = changed[0]!;
      expect(await pageApi(page, 'tensor-diff', { name: changedName })).toEqual(await serverApi(pair, 'tensor-diff', { name: changedName }));

      for (const name of Object.keys(fixtures.expected.histograms)) {
        const report = (await serverApi(pair, 'tensor', { file: '0', name })) as { histogram: { counts: number[] } };
        expect(await pageApi(page, 'tensor', { file: '0', name }), name).toEqual(report);
        expect(await pageApi(page, 'entry', { file: '0', name })).toEqual(await serverApi(pair, 'entry', { file: '0', name }));
        expect(await pageApi(page, 'preview', { file: '0', name })).toEqual(await serverApi(pair, 'preview', { file: '0', name }));
        // And the page draws what it computed: the tensor page's bins hold the same counts.
        await page.evaluate((hash) => ((globalThis as unknown as { location: { hash: string } }).location.hash = hash), `#tensor/0/${encodeURIComponent(name)}`);
        await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
        await page.locator('svg.histogram').waitFor();
        expect(await histogramCounts(page)).toEqual(report.histogram.counts);
        expect(report.histogram.counts).toEqual(fixtures.expected.histograms[name]!.counts);
      }
    });
    // Everything came from the page's own origin; the other server saw nothing.
    expect(otherServer.requests).toEqual([]);
  });

  it('a URL beside the page opens by ranges; a URL on another origin is refused before any request', async () => {
    const name = Object.keys(fixtures.expected.histograms)[0]!;
    await withStaticPage(async (page) => {
      await page.locator('table.tensors tbody tr').first().waitFor();
      expect(await page.locator('table.tensors tbody td.name').count()).toBe(fixtures.expected.names.length);
      expect(await pageApi(page, 'overview', { file: '0' })).toEqual(await serverApi(pair, 'overview', { file: '0' }));
      expect(await pageApi(page, 'tensor', { file: '0', name })).toEqual(await serverApi(pair, 'tensor', { file: '0', name }));
    }, '/index.html?a=files/base.npz');
    const ranged = staticServer.requests.filter((url) => url.startsWith('/files/base.npz'));
    expect(ranged.length).toBeGreaterThan(0);

    await withStaticPage(async (page) => {
      await page.fill('input[name="a"]', `${otherServer.origin}/files/base.npz`);
      await page.click('form.open-urls button');
      await expect(page.locator('.error-message').innerText()).resolves.toContain('another origin');
    });
    expect(otherServer.requests).toEqual([]);
  });

  it('damage: a truncated file’s error and a flipped byte’s row in the diff, as the server reports them', async () => {
    const view = await startView(['base.npz', 'flipped.npz'], { cwd: fixtures.dir });
    try {
      const diff = (await serverApi(view, 'diff', {})) as { name: string; kind: string }[];
      expect(diff.find((row) => row.name === fixtures.expected.flipped)?.kind).toBe('damaged');
      await withStaticPage(async (page) => {
        await page.locator('table.diffs tbody tr').first().waitFor();
        expect(await pageApi(page, 'diff', {})).toEqual(diff);
      }, '/index.html?a=files/base.npz&b=files/flipped.npz');
    } finally {
      expect(await view.stop()).toBe(0);
    }
    await withStaticPage(async (page) => {
      await page.locator('#open-files').setInputFiles(join(fixtures.dir, 'truncated.npz'));
      await expect(page.locator('.error-message').innerText()).resolves.not.toBe('');
      const files = (await pageApi(page, 'files', {})) as { files: { error: { code: string } | null }[] };
      expect(files.files[0]!.error?.code).toMatch(/^ERR_ZIP_/);
    });
  });

  it('a sharded safetensors checkpoint, chosen as its index and shards or by the index URL, equals the server’s JSON', async () => {
    // Three tensors of base.npz (float32, float16, bfloat16) in shards of at most 150 kB.
    const wanted = new Set(Object.keys(fixtures.expected.histograms));
    const tree: [string, NpyArray][] = [];
    for await (const [name, array] of readNpz(join(fixtures.dir, 'base.npz'))) if (wanted.has(name)) tree.push([name, array]);
    const shards = join(fixtures.dir, 'shards');
    mkdirSync(shards);
    const saved = await saveSafetensorsShards(join(shards, 'model.safetensors'), tree.values(), { maxShardSize: 150_000 });
    expect(saved.files.length).toBeGreaterThan(2);
    const view = await startView([join('shards', 'model.safetensors.index.json')], { cwd: fixtures.dir });
    try {
      const overview = await serverApi(view, 'overview', { file: '0' });
      const reports = new Map<string, unknown>();
      for (const name of wanted) reports.set(name, await serverApi(view, 'tensor', { file: '0', name }));
      const check = async (page: Page): Promise<void> => {
        await page.locator('table.tensors tbody tr, .error').first().waitFor();
        expect(await page.locator('.error').count(), await page.locator('main').innerText()).toBe(0);
        expect(await pageApi(page, 'overview', { file: '0' })).toEqual(overview);
        for (const [name, report] of reports) expect(await pageApi(page, 'tensor', { file: '0', name }), name).toEqual(report);
      };
      await withStaticPage(async (page) => {
        await page.locator('#open-files').setInputFiles(readdirSync(shards).map((name) => join(shards, name)));
        await check(page);
      });
      await withStaticPage(check, '/index.html?a=files/shards/model.safetensors.index.json');
    } finally {
      expect(await view.stop()).toBe(0);
    }
  });
});
