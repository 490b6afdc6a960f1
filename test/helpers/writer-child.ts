/**
 * A separate process that writes with saveNpz, for the crash and concurrency tests (run with `node --import tsx`):
 *
 *   writer-child.ts big <target>          one saveNpz of a lazy 64 MiB tree; prints 'start' first, 'done' after
 *   writer-child.ts loop <target> <count> rewrites <target> with versions 1..count, printing 'wrote <k>' each time
 *   writer-child.ts step <target>        for each stdin line 'write <k>', rewrites <target> with version k and prints
 *                                         'wrote <k>'; exits when stdin ends (the parent sets the pace)
 *   writer-child.ts stop <target> <point>  the big save, but halted at a chosen point for the parent to SIGKILL:
 *                                         'writing' (mid-data), 'before-rename' (temp complete and synced),
 *                                         'in-rename' (renamed, saveNpz not yet back) or 'after' (saveNpz resolved);
 *                                         prints the point's name once it is there, then waits forever
 *
 * The content is a pure function of the leaf, chunk and version numbers, so the parent can check any file it finds.
 */
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { saveNpz } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';

export const BIG_LEAVES = 8;
export const BIG_CHUNKS = 8;
export const BIG_CHUNK_BYTES = 1 << 20;

/** Byte value of chunk `chunk` of leaf `leaf` in the big tree. */
export function bigByte(leaf: number, chunk: number): number {
  return (leaf * 16 + chunk + 1) & 0xff;
}

export function bigTree(): Record<string, LazyArray> {
  const tree: Record<string, LazyArray> = {};
  for (let leaf = 0; leaf < BIG_LEAVES; leaf++) {
    tree[`layer_${leaf}`] = {
      dtype: 'uint8',
      shape: [BIG_CHUNKS * BIG_CHUNK_BYTES],
      async *chunks() {
        // A fresh buffer per chunk: yielded chunks belong to the writer.
        for (let chunk = 0; chunk < BIG_CHUNKS; chunk++) yield new Uint8Array(BIG_CHUNK_BYTES).fill(bigByte(leaf, chunk));
      },
    };
  }
  return tree;
}

/** Elements of `weights` per size step: 160-480 KB, past the 64 KiB window a reader caches at open, so reads of a
 * file held open really go to its inode. */
export const WEIGHTS_STEP = 40_000;

/** Version k: every value is k, and the sizes change with k so a mix of two versions cannot look whole. */
export function versionTree(version: number): Record<string, Int32Array | BigInt64Array> {
  return {
    version: BigInt64Array.of(BigInt(version)),
    weights: new Int32Array(WEIGHTS_STEP * (1 + (version % 3))).fill(version),
    bias: new Int32Array(10 + (version % 7)).fill(-version),
  };
}

export const STOP_POINTS = ['writing', 'before-rename', 'in-rename', 'after'] as const;
export type StopPoint = (typeof STOP_POINTS)[number];

/** Announces the point on stdout, then never returns (the interval keeps the process alive until it is killed). */
function halt(point: StopPoint): Promise<never> {
  process.stdout.write(`${point}\n`);
  setInterval(() => undefined, 60_000);
  return new Promise<never>(() => undefined);
}

async function stopAt(target: string, point: StopPoint): Promise<void> {
  const tree = bigTree();
  if (point === 'writing') {
    // Halfway through the data: four leaves are on disk, the fifth has yielded half its chunks.
    const leaf = tree['layer_4']!;
    tree['layer_4'] = {
      ...leaf,
      async *chunks() {
        let chunk = 0;
        for await (const bytes of leaf.chunks() as AsyncIterable<Uint8Array>) {
          if (chunk++ === BIG_CHUNKS / 2) await halt('writing');
          yield bytes;
        }
      },
    };
  }
  if (point === 'before-rename' || point === 'in-rename') {
    // saveNpz imports rename from node:fs/promises; syncBuiltinESMExports carries the patch into that binding.
    const rename = fsPromises.rename;
    fsPromises.rename = async (from, to) => {
      if (point === 'before-rename') await halt(point);
      await rename(from, to);
      await halt(point);
    };
    syncBuiltinESMExports();
  }
  await saveNpz(target, tree);
  await halt('after');
}

async function main(): Promise<void> {
  const [mode, target, count] = process.argv.slice(2);
  if (target === undefined) throw new Error('usage: writer-child.ts big|loop|step|stop <target> [count|point]');
  if (mode === 'big') {
    process.stdout.write('start\n');
    await saveNpz(target, bigTree());
    process.stdout.write('done\n');
    return;
  }
  if (mode === 'loop') {
    for (let version = 1; version <= Number(count ?? 1000); version++) {
      // fsync off: the loop is about rename atomicity for concurrent readers, not durability.
      await saveNpz(target, versionTree(version), { fsync: false });
      process.stdout.write(`wrote ${version}\n`);
    }
    return;
  }
  if (mode === 'step') {
    for await (const line of createInterface({ input: process.stdin })) {
      const version = Number(/^write (\d+)$/.exec(line)?.[1] ?? Number.NaN);
      if (!Number.isInteger(version)) throw new Error(`step: unexpected line ${JSON.stringify(line)}`);
      await saveNpz(target, versionTree(version), { fsync: false });
      process.stdout.write(`wrote ${version}\n`);
    }
    return;
  }
  if (mode === 'stop') {
    if (!(STOP_POINTS as readonly string[]).includes(count ?? '')) throw new Error(`unknown stop point ${count}`);
    await stopAt(target, count as StopPoint);
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

// Imported by the tests for its content functions; runs only as a script.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
