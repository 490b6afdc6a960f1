/**
 * `npm run fixture -- --out FILE [--model paligemma-3b|paligemma2-3b] [--precision bf16|f16|f32|mixed]
 *  [--scale 0.25] [--seed 0]`: writes a PaliGemma-shaped checkpoint (224 px, big_vision names and shapes) with
 * lazy leaves, in bounded memory. `--scale 1` (the default) is the real model: 5.85 GB in bf16.
 */
import { parseArgs } from 'node:util';
import { peakRssBytes } from './lib/rss.js';
import { parseModel, parsePrecision, parseScale, writeFixture } from './lib/fixture.js';

const USAGE = 'usage: npm run fixture -- --out FILE [--model paligemma-3b|paligemma2-3b] [--precision bf16|f16|f32|mixed] [--scale S] [--seed N]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      model: { type: 'string', default: 'paligemma-3b' },
      precision: { type: 'string', default: 'bf16' },
      scale: { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || values.out === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer; got ${values.seed}`);
  let lastReport = 0;
  const summary = await writeFixture({
    out: values.out,
    model: parseModel(values.model),
    precision: parsePrecision(values.precision),
    scale: parseScale(values.scale),
    seed,
    onProgress: (done, total) => {
      const now = performance.now();
      if (!process.stderr.isTTY || now - lastReport < 1000) return;
      lastReport = now;
      process.stderr.write(`  ${(done / 1e9).toFixed(2)} / ~${(total / 1e9).toFixed(2)} GB\r`);
    },
  });
  const rss = peakRssBytes();
  process.stdout.write(
    `${summary.path}: ${summary.model} ${summary.precision} scale ${summary.scale}, ${summary.entries} arrays, ` +
      `${(summary.fileBytes / 1e9).toFixed(3)} GB in ${summary.seconds.toFixed(1)} s ` +
      `(${(summary.fileBytes / 1e9 / summary.seconds).toFixed(2)} GB/s), peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exitCode = 1;
});
