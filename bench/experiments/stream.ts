/**
 * `npm run build && node --import tsx bench/experiments/stream.ts [--fixture FILE] [--scale S] [--runs N]`: the
 * same archive verified two ways in the same run, alternating: `cat FILE | npz-stream verify -` (front to back from
 * a pipe) and `npz-stream verify FILE` (random access). Reports the median wall time and throughput of each. Without
 * --fixture a PaliGemma-shaped bf16 fixture at --scale (default 0.05) is written to a temp dir first.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseScale, writeFixture } from '../lib/fixture.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

function timed(command: string): number {
  const start = performance.now();
  const result = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(`${command} failed (${result.status}): ${result.stdout}${result.stderr}`);
  return seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { fixture: { type: 'string' }, scale: { type: 'string', default: '0.05' }, runs: { type: 'string', default: '3' } },
    strict: true,
  });
  const runs = Number(values.runs);
  const work = values.fixture === undefined ? mkdtempSync(join(tmpdir(), 'npz-stream-bench-stream-')) : undefined;
  try {
    const fixture = values.fixture === undefined ? join(work as string, 'fixture.npz') : resolve(values.fixture);
    if (values.fixture === undefined) {
      await writeFixture({ out: fixture, model: 'paligemma-3b', precision: 'bfloat16', scale: parseScale(values.scale), seed: 0 });
    }
    const bytes = statSync(fixture).size;
    const quoted = `'${fixture.replaceAll("'", `'\\''`)}'`;
    const cases = {
      'cat FILE | verify -': `cat ${quoted} | '${process.execPath}' '${BIN}' verify - --quiet`,
      'verify FILE': `'${process.execPath}' '${BIN}' verify ${quoted} --quiet`,
    };
    // Warm the page cache, so both cases read from memory.
    timed(`cat ${quoted} > /dev/null`);
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
    for (let run = 0; run < runs; run++) {
      for (const [name, command] of Object.entries(cases)) times[name]!.push(timed(command));
    }
    console.log(`fixture ${fixture}: ${(bytes / 1e6).toFixed(1)} MB, ${runs} run(s) each, median wall time (process start included)`);
    for (const [name, list] of Object.entries(times)) {
      const seconds = median(list);
      console.log(`  ${name.padEnd(22)} ${seconds.toFixed(3)} s  ${(bytes / seconds / 1e9).toFixed(2)} GB/s  (runs: ${list.map((s) => s.toFixed(3)).join(', ')})`);
    }
  } finally {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }
}

await main();
