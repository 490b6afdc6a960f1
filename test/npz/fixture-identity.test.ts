import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openNpz } from '../../src/npz/open.js';
import { saveNpz, saveNpzStream } from '../../src/npz/save.js';
import type { Leaf } from '../../src/npy/write.js';
import { withTempDir } from '../helpers/tmp.js';
import { GOOD_DIR, bytesOf, sha256 } from '../zip/reader-helpers.js';
import { differencesButDeflate } from '../zip/same-but-deflate.js';
import { manifestOf } from './read-helpers.js';

// Offline byte-identity oracles: the committed fixtures were written by numpy itself (test/fixtures/gen), so
// saving their arrays again, in numpy's order, must give back the very same bytes, with no Python present. The
// arrays come from the fixture and are checked against numpy's manifest (sha256 of the stored bytes) first.

type Pair = [string, Leaf];

/** The fixture's arrays in numpy's order as leaves, with the dtype our reader gives them. */
async function numpyPairs(fixture: string, lazy: boolean): Promise<Pair[]> {
  const bytes = readFileSync(join(GOOD_DIR, fixture));
  const file = await openNpz(new Uint8Array(bytes));
  try {
    const pairs: Pair[] = [];
    for (const member of manifestOf(fixture).members) {
      expect(member.npy, `${fixture}: ${member.key} is an array`).toBe(true);
      const entry = file.entries.find((candidate) => candidate.name === member.key);
      if (entry === undefined || !entry.isArray) throw new Error(`${fixture}: no array ${member.key}`);
      const bigEndian = typeof member.descr === 'string' && member.descr.startsWith('>');
      // Stored members give their bytes exactly as numpy wrote them; deflated ones (no big-endian among them) via get().
      const data =
        entry.dataOffset !== undefined
          ? bytes.subarray(entry.dataOffset, entry.dataOffset + entry.byteLength)
          : bigEndian
            ? undefined
            : bytesOf((await file.get(member.key)).data);
      if (data === undefined) throw new Error(`${fixture}: big-endian deflated member ${member.key} is not supported here`);
      expect(sha256(data), `${fixture}: ${member.key} as numpy stored it`).toBe(member.sha256);
      const copy = Uint8Array.from(data);
      // Raw dtypes and big-endian ones carry numpy's literal descr (the writer takes a descr's bytes as given).
      const meta =
        entry.dtype === 'raw' || bigEndian
          ? { dtype: entry.dtype, descr: member.descr as never, shape: member.shape!, fortranOrder: member.fortran_order! }
          : { dtype: entry.dtype, shape: member.shape!, fortranOrder: member.fortran_order! };
      const leaf: Leaf = lazy
        ? {
            ...meta,
            *chunks() {
              // Uneven pieces, so the writer's chunk handling is part of what is compared.
              for (let at = 0; at < copy.length; at += 1000) yield copy.slice(at, at + 1000);
            },
          }
        : { ...meta, data: copy };
      pairs.push([member.key, leaf]);
    }
    return pairs;
  } finally {
    await file.close();
  }
}

class Collector extends Writable {
  readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.parts.push(chunk);
    callback();
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

async function toStream(pairs: Pair[], options = {}): Promise<Buffer> {
  const out = new Collector();
  await saveNpzStream(pairs.values(), out, options); // an iterator: an array of pairs would be a list tree
  return out.bytes();
}

async function toFile(pairs: Pair[], options = {}): Promise<Buffer> {
  return withTempDir('fixture-identity', async (dir) => {
    await saveNpz(dir.file('out.npz'), pairs.values(), options);
    return readFileSync(dir.file('out.npz'));
  });
}

/** Compares with the first differing offset in the message, not a wall of hex. */
function expectSameBytes(ours: Buffer, numpy: Buffer, label: string): void {
  let at = 0;
  while (at < Math.min(ours.length, numpy.length) && ours[at] === numpy[at]) at++;
  const where = at === ours.length && at === numpy.length ? 'identical' : `first difference at byte ${at} (${ours.length} vs ${numpy.length} bytes)`;
  expect(where, label).toBe('identical');
}

describe('byte identity with the committed numpy fixtures (offline)', () => {
  it.each(['all-dtypes.npz', 'unicode-names.npz', 'npy-v3.npz'])('%s: np.savez to a file, from memory and lazily, to a path and a stream', async (fixture) => {
    const numpy = readFileSync(join(GOOD_DIR, fixture));
    expectSameBytes(await toFile(await numpyPairs(fixture, false)), numpy, `${fixture}: saveNpz, in-memory leaves`);
    expectSameBytes(await toFile(await numpyPairs(fixture, true)), numpy, `${fixture}: saveNpz, lazy leaves (headers patched)`);
    expectSameBytes(await toStream(await numpyPairs(fixture, false)), numpy, `${fixture}: saveNpzStream, in-memory leaves`);
  });

  it('pipe.npz: np.savez to a pipe is what saveNpzStream writes for lazy leaves', async () => {
    const numpy = readFileSync(join(GOOD_DIR, 'pipe.npz'));
    expectSameBytes(await toStream(await numpyPairs('pipe.npz', true)), numpy, 'pipe.npz: saveNpzStream, lazy leaves');
  });

  it('pipe-compressed.npz and compressed.npz: every byte but the deflate streams', async () => {
    const pipe = readFileSync(join(GOOD_DIR, 'pipe-compressed.npz'));
    expect(differencesButDeflate(await toStream(await numpyPairs('pipe-compressed.npz', true), { compress: true }), pipe)).toEqual([]);
    const file = readFileSync(join(GOOD_DIR, 'compressed.npz'));
    expect(differencesButDeflate(await toFile(await numpyPairs('compressed.npz', false), { compress: true }), file)).toEqual([]);
    expect(differencesButDeflate(await toFile(await numpyPairs('compressed.npz', true), { compress: true }), file)).toEqual([]);
  });
});
