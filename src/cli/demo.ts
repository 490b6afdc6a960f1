import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';
import { isNpzError, loadNpz, openNpz, saveNpz, type NpyArray, type NpzTree } from '../index.js';
import { formatBytes } from './table.js';
import { syntheticDataBytes, syntheticPaliGemma, type PaliGemmaModel, type SyntheticPrecision } from '../paligemma/index.js';

/**
 * `npz-stream demo` (and `npm start`): the whole library on an embedded default, a shrunken PaliGemma 3B
 * checkpoint in bfloat16 — generate lazily, stream to disk, list, verify every CRC, load back and compare,
 * then show numpy loading the same file when python3 + numpy are installed.
 */

const HELP = `usage: npz-stream demo [--model paligemma-3b|paligemma2-3b] [--precision bfloat16|float16|float32|mixed]
                       [--scale 0.03] [--out FILE] [--keep]

Writes a PaliGemma-shaped checkpoint of deterministic pseudo-random weights, lists it, verifies every CRC-32,
loads it back and compares, and prints sizes, throughput and peak memory. Without --out the file goes to a
temporary directory that is removed afterwards (unless --keep).`;

const MIB = 1024 * 1024;

/** Python's tuple repr, as numpy prints shapes. */
function shapeText(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Bytes per second in the same binary units as every size the CLI prints (`1.25 GiB/s`). */
function throughput(bytes: number, seconds: number): string {
  return `${formatBytes(bytes / seconds)}/s`;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - start) / 1e9];
}

/** CRC-32 of the bytes a synthetic leaf yields: what the file must hold for that leaf. */
async function expectedCrc(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
  let crc = 0;
  // zlib.crc32 returns 0 for an empty view over an empty buffer, whatever the running value: skip those.
  for await (const chunk of chunks) if (chunk.byteLength > 0) crc = crc32(chunk, crc);
  return crc;
}

/** Views of at most 1 GiB: zlib's crc32 takes a 32-bit length, and a float32 tensor of the real model is larger. */
function* slices(data: ArrayBufferView): Generator<Uint8Array> {
  const size = 1 << 30;
  for (let start = 0; start < data.byteLength; start += size) {
    yield new Uint8Array(data.buffer, data.byteOffset + start, Math.min(size, data.byteLength - start));
  }
}

function leafAt(tree: NpzTree, name: string): NpyArray | undefined {
  let node: NpzTree | NpyArray | undefined = tree;
  for (const part of name.split('/')) node = node === undefined || ArrayBuffer.isView((node as NpyArray).data) ? undefined : (node as NpzTree)[part];
  return node !== undefined && ArrayBuffer.isView((node as NpyArray).data) ? (node as NpyArray) : undefined;
}

function numpyCheck(path: string, name: string, crc: number): string {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'skipped (python3 with numpy not found)';
  const script = `
import sys, time, zlib, numpy as np
t = time.perf_counter()
with np.load(sys.argv[1]) as f:
    arrays = {k: f[k] for k in f.files}
elapsed = time.perf_counter() - t
a = arrays[sys.argv[2]]
print(len(arrays), a.dtype.str, str(a.shape).replace(' ', ''), zlib.crc32(a.tobytes()), f"{elapsed:.2f}")
`;
  const run = spawnSync('python3', ['-c', script, path, name], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`numpy could not load the file: ${run.stderr}`);
  const [count, descr, shape, numpyCrc, seconds] = run.stdout.trim().split(' ');
  if (Number(numpyCrc) !== crc) throw new Error(`numpy read different bytes for "${name}" (crc ${numpyCrc}, expected ${crc})`);
  return `np.load read ${count} arrays in ${seconds} s; "${name}" is ${descr} ${shape}, same bytes as ours`;
}

export async function runDemo(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'paligemma-3b' },
      precision: { type: 'string', default: 'bfloat16' },
      scale: { type: 'string', default: '0.03' },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const model = values.model as PaliGemmaModel;
  const precision = values.precision as SyntheticPrecision;
  const scale = Number(values.scale);
  if (!['paligemma-3b', 'paligemma2-3b'].includes(model) || !['bfloat16', 'float16', 'float32', 'mixed'].includes(precision) || !(scale > 0 && scale <= 1)) {
    process.stderr.write(`npz-stream demo: bad --model, --precision or --scale\n${HELP}\n`);
    return 2;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);

  const workDir = values.out === undefined ? await mkdtemp(join(tmpdir(), 'npz-stream-demo-')) : undefined;
  const path = values.out ?? join(workDir as string, `${model}-224.${precision}.npz`);
  try {
    // 1. A lazy checkpoint: nothing is generated until the writer pulls each chunk.
    const checkpoint = syntheticPaliGemma({ model, precision, scale });
    const dataBytes = syntheticDataBytes(checkpoint);
    log(`npz-stream demo: ${model} @224 (scale ${scale}), ${checkpoint.length} tensors, ${precision}, ${formatBytes(dataBytes)} of weights`);

    // 2. Stream it to disk, atomically.
    const [summary, writeSeconds] = await timed(() => saveNpz(path, checkpoint.values()));
    const fileBytes = (await stat(path)).size;
    log(`  1. wrote   ${path}`);
    log(`             ${summary.entries} members, ${formatBytes(summary.bytesWritten)} in ${writeSeconds.toFixed(2)} s`);

    // 3. List it from the central directory and npy headers only.
    const [listing, listSeconds] = await timed(async () => {
      const file = await openNpz(path);
      try {
        return file.entries.map((entry) => (entry.isArray ? [entry.name, entry.dtype, shapeText(entry.shape), entry.byteLength] as const : [entry.name, 'other', '', entry.memberSize] as const));
      } finally {
        await file.close();
      }
    });
    log(`  2. listed  ${listing.length} entries in ${(listSeconds * 1000).toFixed(1)} ms, e.g.`);
    for (const [name, dtype, shape, bytes] of [listing[0], listing.find(([n]) => n === 'llm/layers/mlp/gating_einsum')].filter((row) => row !== undefined)) {
      log(`             ${name.padEnd(46)} ${dtype.padEnd(9)} ${shape.padEnd(22)} ${formatBytes(bytes)}`);
    }

    // 4. Verify every CRC-32 by streaming every member.
    const [verifiedBytes, verifySeconds] = await timed(async () => {
      const file = await openNpz(path);
      let total = 0;
      try {
        for (const entry of file.entries) {
          if (!entry.isArray) continue;
          for await (const chunk of file.chunks(entry.name, { reuseBuffers: true })) total += chunk.byteLength;
        }
      } finally {
        await file.close();
      }
      return total;
    });
    log(`  3. verified every CRC-32 (${formatBytes(verifiedBytes)} streamed in ${verifySeconds.toFixed(2)} s)`);

    // 5. Load it back into a tree and compare with what was generated.
    const [tree, loadSeconds] = await timed(() => loadNpz(path));
    let compared = 0;
    for (const [name, leaf] of checkpoint) {
      const loaded = leafAt(tree, name);
      if (loaded === undefined) throw new Error(`"${name}" is missing from the loaded tree`);
      // Sliced views: a float32 tensor of the real model is over 4 GiB, more than one Uint8Array can span.
      const same =
        loaded.dtype === leaf.dtype &&
        loaded.shape.join() === leaf.shape.join() &&
        (await expectedCrc(slices(loaded.data))) === (await expectedCrc(leaf.chunks()));
      if (!same) throw new Error(`"${name}" came back different from what was written`);
      compared++;
    }
    log(`  4. loaded  the tree in ${loadSeconds.toFixed(2)} s; ${compared}/${checkpoint.length} tensors identical to what was generated`);

    // 6. numpy reads the same file.
    const probeName = 'llm/final_norm/scale';
    const probeLeaf = checkpoint.find(([name]) => name === probeName)?.[1];
    log(`  5. numpy:  ${numpyCheck(path, probeName, probeLeaf === undefined ? 0 : await expectedCrc(probeLeaf.chunks()))}`);
    log('');
    const rows: [string, string, string][] = [
      ['write (generate + saveNpz + fsync)', formatBytes(fileBytes), throughput(fileBytes, writeSeconds)],
      ['verify (chunks, CRC-32)', formatBytes(verifiedBytes), throughput(verifiedBytes, verifySeconds)],
      ['load (loadNpz, CRC-32)', formatBytes(dataBytes), throughput(dataBytes, loadSeconds)],
    ];
    log(`  ${'step'.padEnd(36)} ${'size'.padStart(10)} ${'throughput'.padStart(12)}`);
    for (const [step, size, rate] of rows) log(`  ${step.padEnd(36)} ${size.padStart(10)} ${rate.padStart(12)}`);
    log(`  peak RSS ${(peakRssBytes() / MIB).toFixed(0)} MiB (the loaded tree alone holds ${formatBytes(dataBytes)})`);
    if (values.keep || values.out !== undefined) log(`  kept ${path}`);
    return 0;
  } catch (error) {
    process.stderr.write(`npz-stream demo: ${error instanceof Error ? error.message : String(error)}${isNpzError(error) ? ` [${error.code}]` : ''}\n`);
    return 1;
  } finally {
    if (workDir !== undefined && !values.keep) await rm(workDir, { recursive: true, force: true });
  }
}
