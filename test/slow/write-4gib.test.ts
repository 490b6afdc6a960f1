import { createWriteStream, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveNpz, saveNpzStream } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';
import {
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  decodeZip64Locator,
} from '../../src/zip/format/end-records.js';
import { decodeCentralDirectoryEntry, decodeLocalHeader } from '../../src/zip/format/records.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

const scratch = makeTempDir('4gib');
const dir = scratch.path;
afterAll(() => scratch.remove());

/** 4 GiB + 4 MiB + 12 bytes of float32: past every 32-bit size and offset. */
const ELEMENTS = 2 ** 30 + 2 ** 20 + 3;
const CHUNK = 4 << 20;

/** Element i is i as float32 (exact up to 2^24, then rounded, which numpy reproduces the same way). */
function lazyRamp(): LazyArray {
  return {
    dtype: 'float32',
    shape: [ELEMENTS],
    async *chunks() {
      for (let start = 0; start < ELEMENTS; start += CHUNK / 4) {
        const n = Math.min(CHUNK / 4, ELEMENTS - start);
        const chunk = new Float32Array(n);
        for (let i = 0; i < n; i++) chunk[i] = start + i;
        yield new Uint8Array(chunk.buffer);
      }
    },
  };
}

/** numpy checks: zipfile's testzip (every CRC), the big member's npy header, values at both ends, the small member. */
const VERIFY = String.raw`
import sys, zipfile, numpy as np
from numpy.lib import format as fmt
path, n = sys.argv[1], int(sys.argv[2])
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None
    with z.open('big.npy') as f:
        assert fmt.read_magic(f) == (1, 0)
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
        assert shape == (n,) and not fortran and dtype == np.float32, (shape, fortran, dtype)
        head = np.frombuffer(f.read(4096), dtype=np.float32)
        assert (head == np.arange(1024, dtype=np.float32)).all()
        f.seek(z.getinfo('big.npy').file_size - 8)
        tail = np.frombuffer(f.read(8), dtype=np.float32)
        assert (tail == np.array([n - 2, n - 1], dtype=np.float32)).all(), tail
with np.load(path) as d:
    assert d['small'].tolist() == [1.5, 2.5]
print('ok')
`;

async function readRange(path: string, position: number, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const out = new Uint8Array(length);
    await handle.read(out, 0, length, position);
    return out;
  } finally {
    await handle.close();
  }
}

/** The end records and CD of a multi-GiB file, read without loading it. */
async function centralDirectory(path: string) {
  const size = statSync(path).size;
  const tail = await readRange(path, size - 98, 98);
  const eocd = decodeEndOfCentralDirectory(tail, 76);
  const locator = decodeZip64Locator(tail, 56);
  const zip64 = decodeZip64EndOfCentralDirectory(tail, 0);
  expect(locator.zip64EndOffset).toBe(size - 98);
  const cd = await readRange(path, zip64.centralDirectoryOffset, zip64.centralDirectorySize);
  const first = decodeCentralDirectoryEntry(cd, 0);
  const second = decodeCentralDirectoryEntry(cd, first.length);
  return { eocd, zip64, entries: [first, second] };
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'a real member over 4 GiB'), () => {
  it('saveNpz streams a lazy 4 GiB member in bounded memory; numpy and zipfile verify it', async () => {
    const path = join(dir, 'big.npz');
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      await saveNpz(path, { big: lazyRamp(), small: Float32Array.of(1.5, 2.5) });
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBeLessThan(256 * 2 ** 20);

    const { eocd, zip64, entries } = await centralDirectory(path);
    const [big, small] = entries as [ReturnType<typeof decodeCentralDirectoryEntry>, ReturnType<typeof decodeCentralDirectoryEntry>];
    expect(zip64.entries).toBe(2);
    expect(eocd.centralDirectoryOffset).toBe(0xffffffff);
    expect(big.uncompressedSize).toBe(128 + ELEMENTS * 4);
    expect(big.extra.byteLength).toBe(20);
    expect(small.localHeaderOffset).toBe(30 + 7 + 20 + 128 + ELEMENTS * 4);
    // The local header was patched in place: real sizes in its zip64 extra, no data descriptor.
    const local = decodeLocalHeader(await readRange(path, 0, 57));
    expect(local).toMatchObject({ flags: 0, crc32: big.crc32, uncompressedSize: big.uncompressedSize, compressedSize: big.uncompressedSize });

    expect(runPython(VERIFY, [path, String(ELEMENTS)]).trim()).toBe('ok');
    rmSync(path);
  });

  it('an in-memory Float32Array over 4 GiB into a WriteStream: CRC computed (in slices) before the header', async () => {
    const path = join(dir, 'big-memory.npz');
    const data = new Float32Array(ELEMENTS);
    for (let i = 0; i < ELEMENTS; i++) data[i] = i;
    await saveNpzStream({ big: data, small: Float32Array.of(1.5, 2.5) }, createWriteStream(path));
    const { entries } = await centralDirectory(path);
    // Final header written first (no descriptor); zipfile's testzip below checks the CRC independently.
    const local = decodeLocalHeader(await readRange(path, 0, 57));
    expect(local).toMatchObject({ flags: 0, crc32: entries[0]!.crc32, uncompressedSize: 128 + ELEMENTS * 4 });
    expect(runPython(VERIFY, [path, String(ELEMENTS)]).trim()).toBe('ok');
    rmSync(path);
  });
});
