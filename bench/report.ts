/**
 * `node --import tsx bench/report.ts [RESULTS_JSON...] [--report-dir DIR]`: rewrites the RESULTS.md blocks and
 * throughput.svg from saved results (default: every bench/out/results-*.json), without running anything.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeReport } from './lib/report.js';
import type { BenchResults } from './lib/results.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { 'report-dir': { type: 'string', default: BENCH_DIR } },
    allowPositionals: true,
  });
  const outDir = join(BENCH_DIR, 'out');
  const files =
    positionals.length > 0
      ? positionals.map((p) => resolve(p))
      : (await readdir(outDir)).filter((f) => /^results-.+\.json$/.test(f)).map((f) => join(outDir, f));
  if (files.length === 0) throw new Error(`no results to report: run npm run bench first (looked in ${outDir})`);
  for (const file of files) {
    const results = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
    const written = await writeReport(resolve(values['report-dir']), results);
    process.stderr.write(`${file} -> ${written.join(', ')}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
