import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, saveNpz, saveNpzStream } from '../../src/index.js';
import type { Tree } from '../../src/tree/flatten.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { hasNumpy, runPython } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

// Aligned npz members: every array's data starts at a multiple of `align`, so it can be memory-mapped in
// place. numpy.memmap at the reported offset must equal np.load's array for every member, and zipfile,
// unzip -t, yauzl and our reader must all read the file, whose central directory carries no padding.

const temp = makeTempDir('st-aligned');
beforeAll(() => ensureBuilt());
afterAll(() => temp.remove());

function tree(): Tree {
  const lazyBytes = new Uint8Array(2 * 3 * 2).map((_, i) => i * 7);
  return {
    a: Int8Array.of(1, -2, 3),
    b: { c: new Float32Array(17).map((_, i) => i / 3), d: { dtype: 'bfloat16', shape: [2, 3], chunks: () => [lazyBytes.slice(0, 5), lazyBytes.slice(5)] } },
    ü: { x: Uint16Array.of(9, 8) },
    s: 3.5,
    e: { dtype: 'int64', shape: [0, 2], data: new BigInt64Array(0) },
    long_name_of_a_member_that_shifts_the_header: new Float64Array(3).fill(-1),
  } as Tree;
}

// For each member: the memmap at the data offset (dtype and shape from np.load) equals np.load's array.
const CHECK = String.raw`
import json, sys, zipfile
import numpy as np
path, offsets = sys.argv[1], json.loads(sys.argv[2])
z = np.load(path)
bad = []
for key, offset in offsets.items():
    a = z[key]
    m = np.memmap(path, dtype=a.dtype, mode='r', offset=offset, shape=a.shape) if a.size else np.zeros(a.shape, a.dtype)
    if not (a.dtype == m.dtype and a.shape == m.shape and a.tobytes() == m.tobytes()):
        bad.append(key)
with zipfile.ZipFile(path) as archive:
    tested = archive.testzip()
    extras = [info.extra for info in archive.infolist()]
print(json.dumps({'files': sorted(z.files), 'bad': bad, 'testzip': tested, 'central_extras_without_d935': all(b'\x35\xd9' not in e for e in extras)}))`;

function readWithYauzl(path: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(error);
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError);
          const parts: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => parts.push(chunk));
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(parts));
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

async function checkAligned(path: string, align: number): Promise<void> {
  const file = await openNpz(path);
  const offsets: Record<string, number> = {};
  try {
    for (const entry of file.entries) {
      if (!entry.isArray || entry.dataOffset === undefined) throw new Error(`${entry.name} has no data offset`);
      expect(entry.dataOffset % align, `${entry.name} at ${entry.dataOffset}`).toBe(0);
      offsets[entry.name] = entry.dataOffset;
      // The data really is there: the bytes at the offset are the array our reader returns.
      const array = await file.get(entry.name);
      const raw = readFileSync(path).subarray(entry.dataOffset, entry.dataOffset + entry.byteLength);
      expect(Buffer.compare(raw, Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength))).toBe(0);
    }
  } finally {
    await file.close();
  }
  const unzip = spawnSync('unzip', ['-tq', path], { encoding: 'utf8' });
  expect(unzip.status, unzip.stdout + unzip.stderr).toBe(0);
  const viaYauzl = await readWithYauzl(path);
  expect([...viaYauzl.keys()].sort()).toEqual(Object.keys(offsets).map((name) => `${name}.npy`).sort());
  if (hasNumpy()) {
    const verdict = JSON.parse(runPython(CHECK, [path, JSON.stringify(offsets)])) as Record<string, unknown>;
    expect(verdict).toEqual({ files: Object.keys(offsets).sort(), bad: [], testzip: null, central_extras_without_d935: true });
  }
}

describe('aligned npz members (align option, convert --align)', () => {
  for (const align of [64, 4096]) {
    it(`saveNpz with align ${align}: memmap at each data offset equals np.load`, async () => {
      const path = join(temp.path, `tree-${align}.npz`);
      await saveNpz(path, tree(), { align });
      await checkAligned(path, align);
    });
  }

  it('saveNpzStream into a non-seekable stream (data descriptors) aligns too', async () => {
    const path = join(temp.path, 'stream-64.npz');
    await saveNpzStream(tree(), createWriteStream(path), { align: 64 });
    await checkAligned(path, 64);
  });

  it('aligning changes only local headers: the same members, and the default stays np.savez-identical', async () => {
    const plain = join(temp.path, 'plain.npz');
    const aligned = join(temp.path, 'aligned-256.npz');
    await saveNpz(plain, tree());
    await saveNpz(aligned, tree(), { align: 256 });
    const [a, b] = [await readWithYauzl(plain), await readWithYauzl(aligned)];
    expect([...b.entries()].map(([name, bytes]) => [name, bytes.toString('hex')])).toEqual([...a.entries()].map(([name, bytes]) => [name, bytes.toString('hex')]));
    expect(readFileSync(aligned).length).toBeGreaterThan(readFileSync(plain).length);
    await expect(saveNpz(join(temp.path, 'bad.npz'), tree(), { align: 48 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(saveNpz(join(temp.path, 'bad.npz'), tree(), { align: 8192 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('convert --align 64 of the numpy-written PaliGemma fixture', async () => {
    const out = join(temp.path, 'pg-aligned.npz');
    const result = runCli(['convert', PALIGEMMA, out, '--align', '64']);
    expect(result.status, result.stderr).toBe(0);
    await checkAligned(out, 64);
    // Dropping the alignment again gives numpy's bytes back.
    const back = join(temp.path, 'pg-unaligned.npz');
    expect(runCli(['convert', out, back]).status).toBe(0);
    expect(Buffer.compare(readFileSync(back), readFileSync(PALIGEMMA))).toBe(0);
  });
});
