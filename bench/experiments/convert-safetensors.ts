/**
 * `node --import tsx bench/experiments/convert-safetensors.ts FILE.npz [--dir DIR]`: times `cp` of FILE, then
 * `npz-stream convert` FILE -> .safetensors -> .npz (and FILE -> HF shards of 2GB), each as its own process
 * under /usr/bin/time for peak RSS, and checks that the npz that comes back equals FILE byte for byte. Make
 * FILE with `npm run fixture -- --out FILE --scale 0.25` (quick) or `--scale 1` (the full 5.85 GB bf16 model).
 * Each conversion is timed against a `cp` run right before it, since a shared machine drifts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const BIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;

interface Run {
  label: string;
  seconds: number;
  peakRssMiB: number;
}

function timed(label: string, command: string, args: string[]): Run {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], { encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${label} failed: ${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  return { label, seconds, peakRssMiB: Number(lines[lines.length - 1]) / 1024 };
}

function main(): void {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { dir: { type: 'string' } } });
  const [input] = positionals;
  if (input === undefined) throw new Error('usage: bench/experiments/convert-safetensors.ts FILE.npz [--dir DIR]');
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'npz-st-bench-'));
  const bytes = statSync(input).size;
  const st = join(dir, 'model.safetensors');
  const back = join(dir, 'back.npz');
  const rows: Array<Run & { bytes: number; cp: Run }> = [];
  try {
    const steps: Array<[string, string[], string]> = [
      ['npz -> safetensors', ['convert', input, st], input],
      ['safetensors -> npz', ['convert', st, back], st],
      ['npz -> HF shards (2GB)', ['convert', input, join(dir, 'hf', 'model.safetensors'), '--max-shard-size', '2GB'], input],
    ];
    for (const [label, args, source] of steps) {
      const cp = timed('cp', 'cp', [source, join(dir, 'copy')]);
      rmSync(join(dir, 'copy'));
      rows.push({ ...timed(label, process.execPath, [BIN, '--quiet', ...args]), bytes: statSync(source).size, cp });
    }
    const same = spawnSync('cmp', ['-s', input, back]).status === 0;
    process.stdout.write(`input ${input}: ${(bytes / 1e9).toFixed(3)} GB; npz -> safetensors -> npz byte-identical: ${same}\n`);
    process.stdout.write('| step | seconds | GB/s | cp GB/s (same run) | ratio to cp | peak RSS |\n|---|---|---|---|---|---|\n');
    for (const row of rows) {
      const gbps = row.bytes / 1e9 / row.seconds;
      const cpGbps = row.bytes / 1e9 / row.cp.seconds;
      process.stdout.write(
        `| ${row.label} | ${row.seconds.toFixed(2)} | ${gbps.toFixed(2)} | ${cpGbps.toFixed(2)} | ${(gbps / cpGbps).toFixed(2)} | ${row.peakRssMiB.toFixed(0)} MiB |\n`,
      );
    }
  } finally {
    if (values.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

main();
