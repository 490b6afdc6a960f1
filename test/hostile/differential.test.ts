/**
 * Differential fuzzing of damaged npz archives against numpy (np.load of every key) and CPython's zipfile
 * (namelist + testzip), all judged in one Python process per run; see differential-core.ts for the bases, the
 * damage and the key-by-key comparison. DIFF_FUZZ_SEED replays a run, DIFF_FUZZ_CASES widens it (the seed is
 * printed, and every failure names its case, base and mutation).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { hasNumpy, NO_NUMPY, withSkipReason } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { judge, judgeWithNumpy, LENIENT, makeBases, makeCases, ourVerdicts, PENDING, READERS, STRICTER, type Reader } from './differential-core.js';

const SEED = Number(process.env['DIFF_FUZZ_SEED'] ?? 0x21d1ff);
const CASES = Number(process.env['DIFF_FUZZ_CASES'] ?? 300);

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'differential fuzz against numpy and zipfile'), () => {
  const temp = makeTempDir('differential');
  afterAll(() => temp.remove());

  it(`${CASES} damaged numpy archives (seed ${SEED}): never other bytes, never data numpy refuses, refusals documented`, { timeout: 1_800_000 }, async () => {
    const bases = makeBases(temp.path);
    const cases = makeCases(bases, CASES, SEED, temp.path);
    const numpy = judgeWithNumpy(cases.map((c) => c.path));
    const tally: Record<string, Record<Reader, number>> = {};
    const failures: string[] = [];
    for (const c of cases) {
      const ours = await ourVerdicts(c);
      for (const reader of READERS) {
        const verdict = judge(reader, numpy[c.index]!, ours[reader], c.where);
        for (const pair of verdict.tally) {
          tally[pair] ??= { openNpz: 0, readNpz: 0, stream: 0 };
          tally[pair][reader] += 1;
        }
        for (const problem of verdict.failures) failures.push(`seed ${SEED} case ${c.index} (${c.base}, ${c.kind}: ${c.detail}) ${reader}: ${problem}`);
      }
    }
    const rows = Object.entries(tally).sort(([a], [b]) => (a < b ? -1 : 1));
    console.log(
      `differential fuzz seed ${SEED}: ${CASES} cases over ${bases.length} bases; verdict pairs by key (openNpz / readNpz / stream):\n` +
        rows.map(([pair, n]) => `  ${String(n.openNpz).padStart(5)} ${String(n.readNpz).padStart(5)} ${String(n.stream).padStart(5)}  ${pair}`).join('\n'),
    );
    expect(failures).toEqual([]);
    // Every deliberate difference is in the error catalogue's table.
    const catalogue = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
    const table = catalogue.slice(catalogue.indexOf('### Differences from numpy and zipfile on damaged archives'));
    for (const id of [...Object.keys(STRICTER), ...Object.keys(LENIENT), ...Object.keys(PENDING)]) expect(table, id).toContain(id);
    // The run must exercise agreement and refusal on every reader.
    for (const reader of READERS) {
      expect(tally['same']?.[reader] ?? 0, reader).toBeGreaterThan(CASES);
      expect(tally['both refuse']?.[reader] ?? 0, reader).toBeGreaterThan(CASES / 10);
      expect(rows.filter(([, n]) => n[reader] > 0).length, reader).toBeGreaterThan(5);
    }
  });
});
