import { makeTempDir } from '../helpers/tmp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUZZ_FIXTURES, MUTATION_KINDS, formatTotals, loadOriginals, runFuzz } from '../helpers/fuzz.js';

// Bounded, seeded mutation fuzzing in `npm test`; the long run is test/slow/fuzz-long.test.ts (FUZZ_CASES).
// A failure prints its seed, case index, fixture and mutation, so `runFuzz` with that seed replays it.

const SEED = 0x5eed_2024;
const CASES = 1000;

describe('seeded fuzz of numpy-written archives (bounded)', () => {
  const scratch = makeTempDir('fuzz');
  const dir = scratch.path;
  let unhandled = 0;
  const onUnhandled = (): void => {
    unhandled += 1;
  };
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    scratch.remove();
  });

  it(`${CASES} cases: every read is an NpzError or the original arrays, with no hang and no leaked fd`, async () => {
    const originals = await loadOriginals();
    expect(originals.map((original) => original.name)).toEqual([...FUZZ_FIXTURES]);
    const totals = await runFuzz({ seed: SEED, cases: CASES, dir, originals });
    console.log(formatTotals(`fuzz seed ${SEED}`, totals));
    expect(totals.failures).toEqual([]);
    expect(unhandled).toBe(0);
    expect(totals.cases).toBe(CASES);
    // The mix must really exercise every mutation kind and both outcomes (a fuzzer that only ever produced one
    // error code, or never a clean read, would be testing nothing).
    for (const kind of MUTATION_KINDS) expect(totals.byKind[kind]).toBeGreaterThan(CASES / 10);
    expect(totals.outcomes['identical'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(totals.outcomes).length).toBeGreaterThan(10);
  });
});
