/**
 * A separate process that writes with saveNpz, for the crash and concurrency tests (run with `node --import tsx`):
 *
 *   writer-child.ts big <target>          one saveNpz of a lazy 64 MiB tree; prints 'start' first, 'done' after
 *   writer-child.ts loop <target> <count> rewrites <target> with versions 1..count, printing 'wrote <k>' each time
 *
 * The content is a pure function of the leaf, chunk and version numbers, so the parent can check any file it finds.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveNpz } from '../../src/npz/save.js';
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

/** Version k: every value is k, and the sizes change with k so a mix of two versions cannot look whole. */
export function versionTree(version: number): Record<string, Int32Array | BigInt64Array> {
  return {
    version: BigInt64Array.of(BigInt(version)),
    weights: new Int32Array(1000 * (1 + (version % 3))).fill(version),
    bias: new Int32Array(10 + (version % 7)).fill(-version),
  };
}

async function main(): Promise<void> {
  const [mode, target, count] = process.argv.slice(2);
  if (target === undefined) throw new Error('usage: writer-child.ts big|loop <target> [count]');
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
  throw new Error(`unknown mode ${mode}`);
}

// Imported by the tests for its content functions; runs only as a script.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
