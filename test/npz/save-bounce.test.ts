/**
 * Members larger than a write batch (src/zip/write/output.ts): data crosses batch boundaries and local headers are
 * patched after they left for the file. saveNpz is checked against np.savez byte for byte.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LazyArray, Leaf } from '../../src/npy/write.js';
import { saveNpz } from '../../src/index.js';
import type { FileSink, Platform } from '../../src/io/platform.js';
import { saveNpz as saveNpzOn } from '../../src/npz/save.js';
import { nodePlatform } from '../../src/node/platform.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { randomBytes } from '../helpers/bytes.js';


interface Spec {
  name: string;
  dtype: 'uint8' | 'float32' | 'int16';
  descr: string;
  shape: number[];
  bytes: Uint8Array;
}

const ITEM = { uint8: 1, float32: 4, int16: 2 } as const;
const spec = (name: string, dtype: Spec['dtype'], descr: string, shape: number[], seed: number): Spec => ({
  name,
  dtype,
  descr,
  shape,
  bytes: randomBytes(shape.reduce((a, b) => a * b, 1) * ITEM[dtype], seed),
});

// A size past a few write batches, just short of 4 MiB (what a larger buffer would be):
const FOUR_MIB = 4 << 20;

// Sizes around and past the 4 MiB mark: 2.5 buffers, a member that ends exactly on a boundary once the
// archive's own bytes are counted is unlikely either way, so odd sizes and tiny members sit in between.
const SPECS: Spec[] = [
  spec('tiny', 'int16', '<i2', [3], 1),
  spec('big/kernel', 'float32', '<f4', [2561, 1031], 2),
  spec('mid', 'uint8', '|u1', [FOUR_MIB - 7], 3),
  spec('empty', 'float32', '<f4', [0, 4], 4),
  spec('small/bias', 'float32', '<f4', [1000], 5),
  spec('last', 'int16', '<i2', [3 * 1024 * 1024 + 1], 6),
  // Long enough that the writer copies a few slices after the slow views that make it switch.
  spec('wide', 'uint8', '|u1', [6 * 1024 * 1024 + 3], 7),
];

function typed(s: Spec): Leaf {
  const { buffer, byteOffset, byteLength } = s.bytes.slice();
  const data = s.dtype === 'uint8' ? new Uint8Array(buffer, byteOffset, byteLength) : s.dtype === 'int16' ? new Int16Array(buffer, byteOffset, byteLength / 2) : new Float32Array(buffer, byteOffset, byteLength / 4);
  return { dtype: s.dtype, shape: s.shape, data } as Leaf;
}

/** The buffers lazy leaves fill (not the writer's). */
const lazyBuffers = new WeakSet<ArrayBufferLike>();

/** Lazy leaves in chunks of uneven sizes, from a reused buffer (the writer must copy before the next pull). */
function lazy(s: Spec): LazyArray {
  return {
    dtype: s.dtype,
    shape: s.shape,
    async *chunks() {
      const scratch = new Uint8Array(1536 * 1024);
      lazyBuffers.add(scratch.buffer);
      const sizes = [1, 4096 * 3 + 5, 1536 * 1024, 700 * 1024 + 3];
      for (let at = 0, i = 0; at < s.bytes.length; i++) {
        const size = Math.min(sizes[i % sizes.length]!, s.bytes.length - at);
        scratch.set(s.bytes.subarray(at, at + size));
        yield scratch.subarray(0, size);
        at += size;
      }
    },
  };
}

let tmp: TempDir;
let numpyBytes: Uint8Array | undefined;

beforeAll(() => {
  tmp = makeTempDir('save-bounce');
  if (!hasNumpy()) return;
  for (const s of SPECS) writeFileSync(join(tmp.path, `${s.name.replace('/', '_')}.raw`), s.bytes);
  const out = join(tmp.path, 'numpy.npz');
  const specs = JSON.stringify(SPECS.map((s) => ({ name: s.name, descr: s.descr, shape: s.shape, raw: join(tmp.path, `${s.name.replace('/', '_')}.raw`) })));
  runPython(
    `import sys, json, numpy as np
specs = json.loads(sys.argv[2])
arrays = {s['name']: np.fromfile(s['raw'], dtype=np.dtype(s['descr'])).reshape(s['shape']) for s in specs}
with open(sys.argv[1], 'wb') as f:
    np.savez(f, **arrays)`,
    [out, specs],
  );
  numpyBytes = new Uint8Array(readFileSync(out));
});

afterAll(() => tmp?.remove());

describe('saveNpz with members larger than a write buffer', () => {
  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'writes exactly np.savez\'s bytes from in-memory and from lazy leaves'), async () => {
    const memoryPath = join(tmp.path, 'memory.npz');
    await saveNpz(memoryPath, SPECS.map((s): [string, Leaf] => [s.name, typed(s)]).values(), { fsync: false });
    expect(Buffer.compare(readFileSync(memoryPath), numpyBytes!)).toBe(0);
    const lazyPath = join(tmp.path, 'lazy.npz');
    await saveNpz(lazyPath, SPECS.map((s): [string, Leaf] => [s.name, lazy(s)]).values());
    expect(Buffer.compare(readFileSync(lazyPath), numpyBytes!)).toBe(0);
  });

  /** saveNpz through `wrap`ped file sinks (the writer's choice of views or copies follows what the sink reports). */
  const saveThrough = async (wrap: (sink: FileSink) => FileSink, path: string, leaves: Iterable<[string, Leaf]>): Promise<void> => {
    const platform: Platform = {
      ...nodePlatform,
      files: { ...nodePlatform.files, writeAtomically: (target, produce, options) => nodePlatform.files.writeAtomically(target, (sink) => produce(wrap(sink)), options) },
    };
    await saveNpzOn(platform, path, leaves, { fsync: false });
  };
  const BIG = 1 << 20;

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, "writes np.savez's bytes as views of the arrays"), async () => {
    const leaves = SPECS.map((s): [string, Leaf] => [s.name, typed(s)]);
    const caller = new Set(leaves.map(([, leaf]) => (leaf as { data: ArrayBufferView }).data.buffer));
    const big: Uint8Array[] = [];
    // A sink that may keep chunks after a write gets views only, whatever the kernel's speed.
    const viewsOnly = (sink: FileSink): FileSink => ({
      releasesChunks: false,
      async write(chunks) {
        big.push(...chunks.filter((c) => c.byteLength >= BIG));
        await sink.write(chunks);
      },
      writeAt: (data, position) => sink.writeAt(data, position),
    });
    const path = join(tmp.path, 'views.npz');
    await saveThrough(viewsOnly, path, leaves.values());
    expect(big.length).toBeGreaterThan(0);
    expect(big.every((c) => caller.has(c.buffer))).toBe(true);
    expect(Buffer.compare(readFileSync(path), numpyBytes!)).toBe(0);
  });

  const copiedTitle = "writes np.savez's bytes when a slow kernel makes the writer copy arrays through its buffers, twice (the second save reuses them), lazy leaves in between";
  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, copiedTitle), async () => {
    // Every other member lazy, so copied arrays and borrowed chunks of a reused buffer alternate in one archive.
    const leaves = SPECS.map((s, i): [string, Leaf] => [s.name, i % 2 === 0 ? typed(s) : lazy(s)]);
    const caller = new Set(SPECS.flatMap((_, i) => (i % 2 === 0 ? [(leaves[i]![1] as { data: ArrayBufferView }).data.buffer] : [])));
    const copies: ArrayBufferLike[][] = [];
    // A file sink that takes 20 ms for any write of the caller's arrays, as a kernel that faults on every page
    // of freshly computed memory would; writes from the writer's own buffers go through at once.
    const slowOnCaller = (round: ArrayBufferLike[]) => (sink: FileSink): FileSink => ({
      releasesChunks: true,
      async write(chunks) {
        if (chunks.some((c) => c.byteLength >= BIG && caller.has(c.buffer))) await new Promise((r) => setTimeout(r, 20));
        round.push(...chunks.filter((c) => c.byteLength >= BIG && !caller.has(c.buffer) && !lazyBuffers.has(c.buffer)).map((c) => c.buffer));
        await sink.write(chunks);
      },
      writeAt: (data, position) => sink.writeAt(data, position),
    });
    for (const round of [0, 1]) {
      copies.push([]);
      const path = join(tmp.path, `copied-${round}.npz`);
      await saveThrough(slowOnCaller(copies[round]!), path, leaves.values());
      expect(copies[round]!.length).toBeGreaterThan(0);
      expect(Buffer.compare(readFileSync(path), numpyBytes!)).toBe(0);
    }
    // The second save copied through the first one's buffers.
    expect(copies[1]!.some((b) => copies[0]!.includes(b))).toBe(true);
  });
});
