/**
 * Member names holding a NUL byte. CPython's zipfile (so np.load) cuts a name at its first NUL: 'w.npy\0exe' is
 * the array 'w'. Both readers take the same reading (src/npz/keys.ts), and numpy is asked for its own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { openNpz, readNpz, saveNpz, streamNpz } from '../../src/index.js';
import { codeOf } from '../helpers/errors.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

const temp = makeTempDir('nul-names');
afterAll(() => temp.remove());

/** An npz whose member names are patched in place (local headers and central directory: no CRC covers names). */
async function withNames(arrays: Record<string, Float32Array>, renames: Record<string, string>): Promise<Uint8Array> {
  const path = temp.file(`base-${Object.keys(renames).join('-').replace(/\W/g, '_')}.npz`);
  await saveNpz(path, (function* () {
    for (const [name, data] of Object.entries(arrays)) yield [name, data] as const;
  })());
  let bytes = Buffer.from(readFileSync(path));
  for (const [from, to] of Object.entries(renames)) {
    expect(Buffer.byteLength(from, 'latin1')).toBe(Buffer.byteLength(to, 'latin1'));
    const needle = Buffer.from(from, 'latin1');
    let at = bytes.indexOf(needle);
    let count = 0;
    while (at !== -1) {
      Buffer.from(to, 'latin1').copy(bytes, at);
      at = bytes.indexOf(needle, at + 1);
      count += 1;
    }
    expect(count).toBe(2); // the local header and the central directory entry
  }
  return new Uint8Array(bytes);
}

async function fromStream(bytes: Uint8Array, options = {}): Promise<[string, string, boolean][]> {
  const out: [string, string, boolean][] = [];
  for await (const entry of streamNpz(Readable.from([bytes]), options)) {
    out.push([entry.name, entry.memberName, entry.isArray]);
    if (entry.isArray) await entry.read();
    else for await (const _ of entry.chunks());
  }
  return out;
}

const W = Float32Array.of(1, 2, 3);
const A = Float32Array.of(4);
const C1 = Float32Array.of(5);
const C2 = Float32Array.of(6, 7);

describe('member names with a NUL byte: cut at the NUL, as CPython zipfile and np.load read them', () => {
  it("'w.npy\\0exe' is the array 'w', through openNpz, readNpz and streamNpz", async () => {
    const bytes = await withNames({ wxxxx: W, axb: A }, { 'wxxxx.npy': 'w.npy\0exe', 'axb.npy': 'a\0b.npy' });
    const file = await openNpz(bytes);
    expect(file.entries.map((e) => [e.name, e.memberName, e.isArray])).toEqual([
      ['w', 'w.npy\0exe', true],
      ['a', 'a\0b.npy', false],
    ]);
    expect(Array.from((await file.get('w')).data as Float32Array)).toEqual([1, 2, 3]);
    // np.load also takes the member's name as a key: the name as zipfile reports it, cut at the NUL.
    expect(Array.from((await file.get('w.npy')).data as Float32Array)).toEqual([1, 2, 3]);
    expect(file.has('w.npy\0exe')).toBe(false);
    // 'a\0b.npy' is 'a' to numpy: no '.npy' suffix, so not an array here (np.load still parses its npy bytes).
    expect(await codeOf(() => file.get('a'))).toBe('ERR_NPZ_NOT_ARRAY');
    await file.close();
    const read: [string, number[]][] = [];
    for await (const [key, array] of readNpz(bytes)) read.push([key, Array.from(array.data as Float32Array)]);
    expect(read).toEqual([['w', [1, 2, 3]]]);
    expect(await fromStream(bytes)).toEqual([
      ['w', 'w.npy\0exe', true],
      ['a', 'a\0b.npy', false],
    ]);
  });

  it('a name that only differs after its NUL is a duplicate key in both readers', async () => {
    const bytes = await withNames({ c: C1, cxxxx: C2 }, { 'cxxxx.npy': 'c.npy\0old' });
    expect(await codeOf(() => openNpz(bytes))).toBe('ERR_NPZ_DUPLICATE_NAME');
    expect(await codeOf(() => fromStream(bytes))).toBe('ERR_NPZ_DUPLICATE_NAME');
    const file = await openNpz(bytes, { duplicates: 'last' });
    expect(Array.from((await file.get('c')).data as Float32Array)).toEqual([6, 7]);
    await file.close();
    expect((await fromStream(bytes, { duplicates: 'last' })).map(([name]) => name)).toEqual(['c', 'c']);
  });

  describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'against numpy'), () => {
    it('np.load and zipfile read the same names and arrays', async () => {
      const path = temp.file('nul.npz');
      writeFileSync(path, await withNames({ wxxxx: W, axb: A }, { 'wxxxx.npy': 'w.npy\0exe', 'axb.npy': 'a\0b.npy' }));
      const numpy = JSON.parse(
        runPython(
          String.raw`
import json, sys, zipfile, numpy as np
d = np.load(sys.argv[1])
print(json.dumps({'names': zipfile.ZipFile(sys.argv[1]).namelist(), 'files': d.files,
                  'w': d['w'].tolist(), 'w.npy': d['w.npy'].tolist(), 'a': d['a'].tolist()}))`,
          [path],
        ),
      ) as Record<string, unknown>;
      expect(numpy).toEqual({ names: ['w.npy', 'a'], files: ['w', 'a'], w: [1, 2, 3], 'w.npy': [1, 2, 3], a: [4] });
      const file = await openNpz(path);
      expect(file.entries.map((e) => e.name)).toEqual(numpy['files']);
      expect(Array.from((await file.get('w')).data as Float32Array)).toEqual(numpy['w']);
      await file.close();
    });
  });
});
