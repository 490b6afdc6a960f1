import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveNpz, saveNpzStream } from '../../src/index.js';
import type { Leaf } from '../../src/npy/write.js';
import {
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
} from '../../src/zip/format/end-records.js';
import { decodeCentralDirectoryEntry } from '../../src/zip/format/records.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { expectedLoad, mixedTree, numpyLoad, orderedSpecs } from '../helpers/trees.js';

const scratch = makeTempDir('zip64-test');
const dir = scratch.path;
afterAll(() => scratch.remove());

function endRecords(bytes: Uint8Array) {
  const eocd = decodeEndOfCentralDirectory(bytes, bytes.byteLength - 22);
  const locator = decodeZip64Locator(bytes, bytes.byteLength - 22 - 20);
  const zip64 = decodeZip64EndOfCentralDirectory(bytes, locator.zip64EndOffset);
  return { eocd, locator, zip64 };
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'zip64 records'), () => {
  it('forced zip64 archives (file, lazy stream, compressed) load in numpy and carry zip64 records throughout', async () => {
    const { tree, specs } = mixedTree();
    const want = expectedLoad(await orderedSpecs(tree, specs));
    const cases = [
      { path: join(dir, 'forced.npz'), save: (p: string) => saveNpz(p, tree as never, { forceZip64: true }) },
      {
        path: join(dir, 'forced-stream.npz'),
        save: (p: string) => saveNpzStream(mixedTree(true).tree as never, createWriteStream(p), { forceZip64: true }),
      },
      { path: join(dir, 'forced-deflate.npz'), save: (p: string) => saveNpz(p, tree as never, { forceZip64: true, compress: true }) },
    ];
    for (const { path, save } of cases) {
      const summary = await save(path);
      expect(numpyLoad(path)).toEqual(want);
      const bytes = readFileSync(path);
      const { eocd, zip64 } = endRecords(bytes);
      expect(eocd).toMatchObject({ entries: 0xffff, centralDirectorySize: 0xffffffff, centralDirectoryOffset: 0xffffffff });
      expect(zip64.entries).toBe(summary.entries);
      let at = zip64.centralDirectoryOffset;
      for (let i = 0; i < zip64.entries; i++) {
        const entry = decodeCentralDirectoryEntry(bytes, at);
        // Sizes and offset all moved into the zip64 extra.
        expect(entry.extra.byteLength).toBe(28);
        at += entry.length;
      }
      expect(at).toBe(zip64.centralDirectoryOffset + zip64.centralDirectorySize);
    }
  });

  it('more than 65535 members: identical to np.savez of the same arrays, and numpy loads them all', async () => {
    const count = 65_537;
    const value = (i: number): number => (i * 7) % 101;
    function* pairs(): Generator<[string, Leaf]> {
      for (let i = 0; i < count; i++) yield [`p${i}`, { dtype: 'int8', shape: [], data: Int8Array.of(value(i)) }];
    }
    const ours = join(dir, 'many.npz');
    const summary = await saveNpz(ours, pairs());
    expect(summary.entries).toBe(count);
    const theirs = join(dir, 'many-numpy.npz');
    const checked = runPython(
      String.raw`
import sys, numpy as np
n = int(sys.argv[2])
np.savez(sys.argv[1], **{f'p{i}': np.array((i * 7) % 101, dtype=np.int8) for i in range(n)})
with np.load(sys.argv[3]) as z:
    assert len(z.files) == n, len(z.files)
    assert z.files[0] == 'p0' and z.files[-1] == f'p{n - 1}'
    total = sum(int(z[k]) for k in z.files[::97]) + int(z[f'p{n - 1}'])
print(total)
`,
      [theirs, String(count), ours],
    );
    let total = 0;
    for (let i = 0; i < count; i += 97) total += value(i);
    total += value(count - 1);
    expect(Number(checked.trim())).toBe(total);
    const bytes = readFileSync(ours);
    expect(bytes.equals(readFileSync(theirs))).toBe(true);
    const { eocd, zip64 } = endRecords(bytes);
    expect(eocd.entries).toBe(0xffff);
    expect(zip64.entries).toBe(count);

    // The same in-memory members through a WriteStream give the same bytes.
    const streamed = join(dir, 'many-stream.npz');
    await saveNpzStream(pairs(), createWriteStream(streamed));
    expect(readFileSync(streamed).equals(bytes)).toBe(true);
  });
});
