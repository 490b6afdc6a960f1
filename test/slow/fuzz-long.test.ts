import { makeTempDir } from '../helpers/tmp.js';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTotals, loadOriginals, runFuzz, runTruncationSweep } from '../helpers/fuzz.js';

// The long, opt-in fuzz run (`npm run test:slow`, or `npx vitest run --config vitest.slow.config.ts
// test/slow/fuzz-long.test.ts`). FUZZ_CASES (default 20000) mutation cases from FUZZ_SEED, then a truncation
// sweep of every fixture at every FUZZ_TRUNCATE_STRIDE-th length (default 3; 1 is every length). The totals it prints
// are the figures docs/RELIABILITY.md quotes.

const CASES = Number(process.env['FUZZ_CASES'] ?? 20_000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x10_6f_22);
const STRIDE = Number(process.env['FUZZ_TRUNCATE_STRIDE'] ?? 3);

describe('long seeded fuzz of numpy-written archives', () => {
  const scratch = makeTempDir('fuzz-long');
  const dir = scratch.path;
  let unhandled = 0;
  const onUnhandled = (): void => {
    unhandled += 1;
  };
  process.on('unhandledRejection', onUnhandled);
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    scratch.remove();
  });

  it(`${CASES} mutation cases from seed ${SEED}`, async () => {
    const originals = await loadOriginals();
    const started = performance.now();
    const totals = await runFuzz({ seed: SEED, cases: CASES, dir, originals });
    console.log(`${formatTotals(`fuzz seed ${SEED}`, totals)}\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
    expect(totals.failures).toEqual([]);
    expect(totals.cases).toBe(CASES);
    expect(unhandled).toBe(0);
  });

  it(`truncation of every fixture at every length (step ${STRIDE})`, async () => {
    const originals = await loadOriginals();
    const started = performance.now();
    const totals = await runTruncationSweep({ originals, dir, stride: STRIDE });
    console.log(`${formatTotals('truncation sweep', totals)}\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
    expect(totals.failures).toEqual([]);
    expect(totals.cases).toBeGreaterThan(0);
    expect(unhandled).toBe(0);
  });
});
