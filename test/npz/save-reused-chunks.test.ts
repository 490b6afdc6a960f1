/**
 * Piping one npz into another with `chunks({ reuseBuffers: true })`: the reader refills a ring of three buffers,
 * so a writer that kept a chunk past the next pull (batching small writes, or a stream buffering them) would
 * write bytes of a later chunk in its place. Small chunks make the ring turn over many times per batch.
 */
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NpzFile } from '../../src/npz/open.js';
import { openNpz, readNpz, saveNpz, saveNpzStream } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';
import { hasNumpy, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { sha256 } from '../helpers/bytes.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

function lazyCopies(file: NpzFile, options: { chunkSize: number; compress?: boolean }): Array<[string, LazyArray]> {
  return file.entries.flatMap((entry): Array<[string, LazyArray]> =>
    entry.isArray
      ? [[entry.name, { dtype: entry.dtype, descr: entry.descr, shape: entry.shape, fortranOrder: entry.fortranOrder, chunks: () => file.chunks(entry.name, { reuseBuffers: true, chunkSize: options.chunkSize }) }]]
      : [],
  );
}

async function arraysOf(input: Uint8Array | string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [name, array] of readNpz(input)) out.set(name, sha256(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength)));
  return out;
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'writing chunks that the reader reuses'), () => {
  let dir: TempDir;
  let original: Uint8Array;

  beforeAll(() => {
    dir = makeTempDir('reused-chunks');
    original = pythonArchive(
      dir.file('source.npz'),
      "rng = np.random.default_rng(7)\nnp.savez(out, a=rng.standard_normal((64, 33)).astype(np.float32), b=rng.integers(0, 255, 50_000, dtype=np.uint8), c=rng.standard_normal(1000))",
    );
  });
  afterAll(() => dir.remove());

  it('saveNpz with 64-byte reused chunks reproduces np.savez byte for byte', async () => {
    const file = await openNpz(dir.file('source.npz'));
    try {
      await saveNpz(dir.file('copy.npz'), lazyCopies(file, { chunkSize: 64 }).values(), { fsync: false });
    } finally {
      await file.close();
    }
    expect(sha256(readFileSync(dir.file('copy.npz')))).toBe(sha256(original));
  });

  it('saveNpzStream into a stream that buffers, stored and deflated, keeps every byte', async () => {
    for (const compress of [false, true]) {
      const file = await openNpz(original);
      const sink = new PassThrough({ highWaterMark: 64 * 1024 * 1024 });
      const parts: Buffer[] = [];
      sink.on('data', (part: Buffer) => parts.push(part));
      try {
        await saveNpzStream(lazyCopies(file, { chunkSize: 64 }).values(), sink, { compress });
      } finally {
        await file.close();
      }
      expect(await arraysOf(new Uint8Array(Buffer.concat(parts)))).toEqual(await arraysOf(original));
    }
  });
});
