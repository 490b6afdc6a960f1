import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, NO_NUMPY, withSkipReason } from '../helpers/python.js';
import { openNpz } from '../../src/index.js';
import { startViewServer } from '../../src/cli/view/server.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { BINS, DOCS, browserAvailable, launchBrowser, makeViewFixtures, slowly, startView, type Reads, type RunningView, type ViewExpectations } from '../helpers/view.js';

/**
 * What a person sees in a real browser (Debian's chromium via playwright-core), checked against numpy: every tensor
 * listed, histogram bins with numpy's counts, the changed tensors first in the diff, and an error on the page
 * (not a spinner forever) for damaged files. Also writes the README's two screenshots into docs/.
 */

const hasBrowser = browserAvailable('test/view/page.test.ts');
const enabled = hasBrowser && hasNumpy();
const skipReason = hasBrowser ? NO_NUMPY : 'no chromium (apt-get install -y chromium, or set CHROMIUM_PATH)';

let browser: Browser;
let fixtures: { dir: string; expected: ViewExpectations };

beforeAll(async () => {
  if (!enabled) return;
  fixtures = makeViewFixtures();
  browser = await launchBrowser();
});

afterAll(async () => {
  if (!enabled) return;
  await browser?.close();
  if (fixtures !== undefined) rmSync(fixtures.dir, { recursive: true, force: true });
});

async function withView<T>(files: string[], use: (page: Page, view: RunningView) => Promise<T>): Promise<T> {
  // Started in the fixture directory so the page (and the README's screenshots) show short names.
  const view = await startView(files, { cwd: fixtures.dir });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(error.message));
  page.on('requestfailed', (failed) => {
    // Cancelled fetches are the page's own doing; anything else is a request that should not have been made.
    if (!failed.failure()?.errorText.includes('ERR_ABORTED')) failures.push(`${failed.url()}: ${failed.failure()?.errorText}`);
  });
  try {
    const result = await use(page, view);
    expect(failures).toEqual([]);
    return result;
  } finally {
    await page.close();
    expect(await view.stop()).toBe(0);
  }
}

async function tensorNames(page: Page): Promise<string[]> {
  return page.locator('table.tensors tbody td.name').allInnerTexts();
}

/** Counts as the page shows them: each bar's tooltip ends with its count. */
async function histogramCounts(page: Page): Promise<number[]> {
  const titles = await page.locator('svg.histogram rect.bin title').allTextContents();
  return titles.map((title) => Number(title.slice(title.lastIndexOf(':') + 1)));
}

describe.skipIf(!enabled)(withSkipReason(!enabled, skipReason, 'npz-stream view in chromium'), () => {
  it('overview: totals, the byte chart and every tensor of a PaliGemma-shaped checkpoint', async () => {
    await withView(['base.npz'], async (page, view) => {
      await page.goto(view.url);
      await page.locator('table.tensors tbody tr').first().waitFor();
      const { names } = fixtures.expected;
      expect(await tensorNames(page)).toEqual(names);
      await expect(page.locator('.count').innerText()).resolves.toBe(`${names.length} of ${names.length} tensors`);
      const tensorsCard = page.locator('.card').filter({ has: page.locator('.card-label', { hasText: /^tensors$/ }) });
      await expect(tensorsCard.locator('.card-value').innerText()).resolves.toBe(String(names.length));
      // The byte chart names the subtrees; llm/layers is most of the model, so it is split one level further.
      const bars = await page.locator('svg.bars .bar-row title').allTextContents();
      expect(bars.some((text) => text.startsWith('llm/embedder/…'))).toBe(true);
      expect(bars.some((text) => text.startsWith('llm/layers/mlp/…'))).toBe(true);
      expect(bars.some((text) => text.startsWith('img/Transformer/…'))).toBe(true);
      // The tree's root counts every tensor.
      await expect(page.locator('.tree > li > details > summary').first().innerText()).resolves.toContain(`${names.length} tensors`);
      await page.screenshot({ path: join(DOCS, 'view-overview.png'), caret: 'hide', animations: 'disabled' });

      await page.fill('input.filter', 'llm/layers/attn');
      const attention = names.filter((name) => name.includes('llm/layers/attn'));
      expect(await tensorNames(page)).toEqual(attention);
    });
  });

  it('a tensor: stats and a histogram with numpy’s bin counts, for float32, float16 and bfloat16', async () => {
    await withView(['base.npz'], async (page, view) => {
      for (const [name, expected] of Object.entries(fixtures.expected.histograms)) {
        await page.goto(`${view.url}#tensor/0/${encodeURIComponent(name)}`);
        // The page swaps its whole content at once, so this heading with a histogram is this tensor's histogram.
        await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
        await page.locator('svg.histogram').waitFor();
        const counts = await histogramCounts(page);
        expect(counts).toHaveLength(BINS);
        expect(counts, name).toEqual(expected.counts);
        expect(Number(await page.locator('.stat-min dd').innerText())).toBeCloseTo(expected.min, 5);
        expect(Number(await page.locator('.stat-max dd').innerText())).toBeCloseTo(expected.max, 5);
        await expect(page.locator('.stat-NaN dd').innerText()).resolves.toBe('0');
        // The first values as numpy prints them: summarised past 1000 elements.
        await expect(page.locator('pre.preview').innerText()).resolves.toContain('...');
      }
      // Log counts redraw the same bins with other heights.
      const tallest = async () => Math.max(...(await page.locator('svg.histogram rect.bin').evaluateAll((rects) => rects.map((rect) => Number(rect.getAttribute('height'))))));
      const lowest = async () => Math.min(...(await page.locator('svg.histogram rect.bin').evaluateAll((rects) => rects.map((rect) => Number(rect.getAttribute('height'))).filter((height) => height > 0))));
      const before = (await lowest()) / (await tallest());
      await page.click('button.scale-toggle');
      await expect(page.locator('button.scale-toggle').innerText()).resolves.toBe('linear counts');
      expect((await lowest()) / (await tallest())).toBeGreaterThan(before);
      expect(await histogramCounts(page)).toEqual(Object.values(fixtures.expected.histograms).at(-1)!.counts);
    });
  });

  it('two files open on the diff: structure changes called out, changed tensors by relative change, unchanged last', async () => {
    await withView(['base.npz', 'tuned.npz'], async (page, view) => {
      await page.goto(view.url);
      await page.locator('table.diffs tbody tr').first().waitFor();
      const rows = await page.locator('table.diffs tbody tr').evaluateAll((trs) =>
        trs.map((tr) => ({
          name: tr.querySelector('td.name')!.firstChild!.textContent!,
          status: tr.querySelector('.badge')!.textContent!,
          relative: tr.querySelector('td.relative')!.textContent!,
        })),
      );
      const { changed, equal, onlyB, shapeChanged } = fixtures.expected;
      const structural = [...shapeChanged, ...onlyB];
      expect(rows).toHaveLength(structural.length + changed.length + equal.length);
      expect(rows.slice(0, structural.length).map((row) => row.name).sort()).toEqual(structural.sort());
      const changedRows = rows.slice(structural.length, structural.length + changed.length);
      expect(changedRows.map((row) => row.name)).toEqual(changed.map(([name]) => name));
      changedRows.forEach((row, index) => {
        expect(row.status).toBe('changed');
        expect(Number(row.relative)).toBeCloseTo(changed[index]![1], 5);
      });
      const rest = rows.slice(structural.length + changed.length);
      expect(rest.every((row) => row.status === 'unchanged')).toBe(true);
      expect(rest.map((row) => row.name).sort()).toEqual([...equal].sort());
      const callout = await page.locator('.callout').innerText();
      expect(callout).toContain('only in B');
      expect(callout).toContain('llm/layers/lora/q_a');
      expect(callout).toContain('shape changed');
      expect(callout).toContain('(1, 16, 64)');
      expect(callout).toContain('(1, 64, 64)');
      // The chart's bars follow the same order.
      const bars = await page.locator('svg.bars .bar-row title').allTextContents();
      expect(bars.map((title) => title.slice(0, title.lastIndexOf(':')))).toEqual(changed.map(([name]) => name));
      await page.screenshot({ path: join(DOCS, 'view-diff.png'), caret: 'hide', animations: 'disabled' });
    });
  });

  it('a file whose central directory is cut short: an error on the page, with its code', async () => {
    await withView(['truncated.npz'], async (page, view) => {
      await page.goto(view.url);
      const error = page.locator('.error[role=alert]');
      await error.waitFor({ timeout: 10_000 });
      await expect(error.locator('h2').innerText()).resolves.toContain('truncated.npz');
      await expect(error.locator('.error-code').innerText()).resolves.toMatch(/^ERR_ZIP_/);
      expect(view.stderr()).toMatch(/cannot read .*truncated\.npz: .*\[ERR_ZIP_/);
    });
  });

  it('a flipped data byte: the listing works, the tensor shows the CRC error instead of statistics', async () => {
    await withView(['flipped.npz'], async (page, view) => {
      await page.goto(view.url);
      await page.locator('table.tensors tbody tr').first().waitFor();
      expect(await tensorNames(page)).toEqual(fixtures.expected.names);
      await page.goto(`${view.url}#tensor/0/${encodeURIComponent(fixtures.expected.flipped)}`);
      const errors = page.locator('.error[role=alert]');
      await errors.first().waitFor({ timeout: 10_000 });
      await expect(errors.locator('.error-code').allInnerTexts()).resolves.toContain('ERR_ZIP_CRC_MISMATCH');
      expect(await page.locator('svg.histogram').count()).toBe(0);
    });
  });

  it('shows progress while a tensor is read, and the server stops reading when the page moves on', async () => {
    const real = await openNpz(PALIGEMMA);
    const reads: Reads = { started: [], completed: [], stoppedEarly: [] };
    const log: string[] = [];
    const server = await startViewServer({ files: [{ path: 'slow.npz', file: slowly(real, reads) }], log: (line) => log.push(line) });
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}#tensor/0/${encodeURIComponent('llm/layers/attn/q_einsum/w')}`);
      const progress = page.locator('.progress[role=status] .progress-text');
      await expect.poll(() => progress.innerText(), { timeout: 10_000 }).toMatch(/^statistics: [1-9]\d* B of 1\.00 KiB$/);
      await page.click('.crumbs a');
      await page.locator('table.tensors tbody tr').first().waitFor();
      // Both reads the tensor page started (statistics, first values) stop; none finishes.
      await expect.poll(() => reads.stoppedEarly.length, { timeout: 10_000 }).toBe(reads.started.length);
      expect(new Set(reads.stoppedEarly)).toEqual(new Set(['llm/layers/attn/q_einsum/w']));
      expect(reads.completed).toEqual([]);
      await expect.poll(() => log.join('\n')).toMatch(/cancelled statistics of llm\/layers\/attn\/q_einsum\/w/);
    } finally {
      await page.close();
      await server.close();
      await real.close();
    }
  });
});
