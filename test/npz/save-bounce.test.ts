/**
 * Members larger than a write batch or bounce buffer (src/zip/output.ts): data crosses buffer boundaries and local
 * headers are patched after they left for the file. saveNpz is checked against np.savez byte for byte, and the
 * bounce-buffer writer against a sink whose writes finish late and out of order (a buffer refilled too early
 * would show up as wrong bytes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LazyArray, Leaf } from '../../src/npy/write.js';
import { saveNpz } from '../../src/npz/save.js';
import { BOUNCE_BYTES, ZipWriter } from '../../src/zip/writer.js';
import type { ZipSink } from '../../src/zip/sinks.js';
import { hasNumpy, runPython } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { MemorySink } from '../zip/memory-sink.js';
import { randomBytes } from './fixtures.js';


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

// Sizes around and past the 4 MiB buffer: 2.5 buffers, a member that ends exactly on a boundary once the
// archive's own bytes are counted is unlikely either way, so odd sizes and tiny members sit in between.
const SPECS: Spec[] = [
  spec('tiny', 'int16', '<i2', [3], 1),
  spec('big/kernel', 'float32', '<f4', [2561, 1031], 2),
  spec('mid', 'uint8', '|u1', [BOUNCE_BYTES - 7], 3),
  spec('empty', 'float32', '<f4', [0, 4], 4),
  spec('small/bias', 'float32', '<f4', [1000], 5),
  spec('last', 'int16', '<i2', [3 * 1024 * 1024 + 1], 6),
];

function typed(s: Spec): Leaf {
  const { buffer, byteOffset, byteLength } = s.bytes.slice();
  const data = s.dtype === 'uint8' ? new Uint8Array(buffer, byteOffset, byteLength) : s.dtype === 'int16' ? new Int16Array(buffer, byteOffset, byteLength / 2) : new Float32Array(buffer, byteOffset, byteLength / 4);
  return { dtype: s.dtype, shape: s.shape, data } as Leaf;
}

/** Lazy leaves in chunks of uneven sizes, from a reused buffer (the writer must copy before the next pull). */
function lazy(s: Spec): LazyArray {
  return {
    dtype: s.dtype,
    shape: s.shape,
    async *chunks() {
      const scratch = new Uint8Array(1536 * 1024);
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
  it.skipIf(!hasNumpy())('writes exactly np.savez\'s bytes from in-memory and from lazy leaves', async () => {
    const memoryPath = join(tmp.path, 'memory.npz');
    await saveNpz(memoryPath, SPECS.map((s): [string, Leaf] => [s.name, typed(s)]).values(), { fsync: false });
    expect(Buffer.compare(readFileSync(memoryPath), numpyBytes!)).toBe(0);
    const lazyPath = join(tmp.path, 'lazy.npz');
    await saveNpz(lazyPath, SPECS.map((s): [string, Leaf] => [s.name, lazy(s)]).values());
    expect(Buffer.compare(readFileSync(lazyPath), numpyBytes!)).toBe(0);
  });
});

/**
 * A seekable sink whose appends finish after a random delay, in any order, each copying its bytes only when it
 * finishes: a writer that refills a buffer before the write of it resolved would put later bytes in its place.
 */
class LateSink implements ZipSink {
  readonly file = new Uint8Array(32 << 20);
  length = 0;
  inFlight = 0;
  maxInFlight = 0;
  #seed = 7;

  async write(chunks: readonly Uint8Array[]): Promise<void> {
    let at = this.length;
    for (const chunk of chunks) this.length += chunk.byteLength;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.#seed = (this.#seed * 1103515245 + 12345) & 0x7fffffff;
    await new Promise((resolve) => setTimeout(resolve, (this.#seed % 5) + 1));
    for (const chunk of chunks) {
      this.file.set(chunk, at);
      at += chunk.byteLength;
    }
    this.inFlight--;
  }

  async writeAt(data: Uint8Array, position: number): Promise<void> {
    if (this.inFlight > 0) throw new Error('a header patch while appends are still in flight could be overwritten');
    this.file.set(data, position);
  }

  bytes(): Uint8Array {
    return this.file.subarray(0, this.length);
  }
}

describe('ZipWriter bounce buffers', () => {
  const entries = () =>
    SPECS.map((s, i) => ({ name: `${s.name}.npy`, head: randomBytes(64, 100 + i), data: i % 2 === 0 ? s.bytes : lazy(s).chunks(), size: s.bytes.length }));

  async function write(sink: ZipSink, options: ConstructorParameters<typeof ZipWriter>[1]): Promise<number[]> {
    const progress: number[] = [];
    const writer = new ZipWriter(sink, { ...options, onWrite: (n) => progress.push(n) });
    for (const entry of entries()) await writer.add(entry);
    await writer.finish();
    return progress;
  }

  it('gives the same archive as views, with 1 or several writes in flight finishing out of order', async () => {
    const reference = new MemorySink(true);
    await write(reference, {});
    const expected = reference.bytes();
    for (const writesInFlight of [1, 3]) {
      const sink = new LateSink();
      const progress = await write(sink, { bounceBytes: 256 * 1024, writesInFlight });
      expect(Buffer.compare(sink.bytes(), expected), `writesInFlight ${writesInFlight}`).toBe(0);
      expect(sink.maxInFlight).toBe(writesInFlight);
      // Progress counts accepted bytes in order, up to the whole archive.
      expect(progress.every((n, i) => i === 0 || n > progress[i - 1]!)).toBe(true);
      expect(progress.at(-1)).toBe(expected.length);
    }
  });
});
