import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import type { LazyArray } from '../../src/npy/write.js';
import type { Tree } from '../../src/tree/flatten.js';
import { runPython } from '../helpers/python.js';

/** Checkpoints for the upload tests: float32 ramps, so numpy can check every value from the shape alone. */

export function ramp(count: number, offset = 0): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (i + offset) % 65_536;
  return out;
}

/** A lazy float32 ramp produced in `chunk`-element pieces (a fresh buffer each), with a hook per piece. */
export function lazyRamp(count: number, offset = 0, chunk = 256 * 1024, onChunk?: (index: number) => void): LazyArray {
  return {
    dtype: 'float32',
    shape: [count],
    async *chunks() {
      let index = 0;
      for (let start = 0; start < count; start += chunk) {
        onChunk?.(index++);
        const n = Math.min(chunk, count - start);
        const piece = new Float32Array(n);
        for (let i = 0; i < n; i++) piece[i] = (start + i + offset) % 65_536;
        yield new Uint8Array(piece.buffer);
      }
    },
  };
}

/**
 * A checkpoint of about 22 MiB: in-memory arrays and lazy ones (whose local headers are patched after their data),
 * small and large, so a 5 MiB part size cuts it into five parts with member boundaries inside parts.
 */
export function mixedTree(): Tree {
  return {
    params: {
      embedding: ramp(1_500_000, 1),
      head: { bias: ramp(10, 2), kernel: lazyRamp(2_000_000, 3) },
      small: lazyRamp(100, 4),
    },
    opt: { step: new Int32Array([7]), moment: lazyRamp(1_900_000, 5) },
  };
}

/** numpy's check of mixedTree() read back from `path`: every member's CRC (testzip), and every value. */
export const VERIFY_MIXED = String.raw`
import sys, zipfile, numpy as np
path = sys.argv[1]
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None
def ramp(n, off):
    return ((np.arange(n, dtype=np.int64) + off) % 65536).astype(np.float32)
with np.load(path) as d:
    assert sorted(d.files) == sorted(['params/embedding', 'params/head/bias', 'params/head/kernel', 'params/small', 'opt/step', 'opt/moment']), d.files
    assert (d['params/embedding'] == ramp(1500000, 1)).all()
    assert (d['params/head/bias'] == ramp(10, 2)).all()
    assert (d['params/head/kernel'] == ramp(2000000, 3)).all()
    assert (d['params/small'] == ramp(100, 4)).all()
    assert d['opt/step'].tolist() == [7]
    assert (d['opt/moment'] == ramp(1900000, 5)).all()
print('ok')
`;

export function numpyVerifies(path: string): string {
  return runPython(VERIFY_MIXED, [path]).trim();
}

export function fileBytes(path: string): Buffer {
  return readFileSync(path);
}

/** Everything an error carries, as text: message, cause chain, context (what a log or --json would show). */
export function everythingOf(error: unknown): string {
  return `${String(error)}\n${inspect(error, { depth: 8 })}\n${JSON.stringify(error)}`;
}
