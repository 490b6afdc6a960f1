import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Descr } from '../../src/npy/header.js';
import { saveNpz, saveNpzStream } from '../../src/index.js';
import type { Leaf } from '../../src/npy/write.js';
import { differencesButDeflate } from '../helpers/zip-compare.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { GOOD_DIR } from '../helpers/fixtures.js';

// Offline byte-identity oracles: the committed fixtures were written by numpy itself (test/fixtures/gen), so the
// writer must reproduce them byte for byte from the same arrays, with no Python on the machine. Each fixture's
// arrays come from its manifest (descr, shape, order: numpy's own report) and from yauzl (member bytes), never
// from this project's reader, so a reader bug cannot hide a writer bug; those bytes are checked against the sha256
// numpy's generator recorded.

interface ManifestMember {
  key: string;
  member: string;
  zip: { method: number; flags: number };
  dtype: string;
  descr: Descr;
  shape: number[];
  fortran_order: boolean;
  data_offset: number;
  byte_length: number;
  sha256: string;
}

interface Fixture {
  bytes: Uint8Array;
  members: ManifestMember[];
  /** Each member's uncompressed .npy data (header stripped), by member name. */
  data: Map<string, Uint8Array>;
}

function memberBytes(zip: Uint8Array): Promise<Map<string, Uint8Array>> {
  return new Promise((resolveAll, reject) => {
    yauzl.fromBuffer(Buffer.from(zip), { lazyEntries: true, decodeStrings: true }, (openError, archive) => {
      if (openError) return reject(openError);
      const out = new Map<string, Uint8Array>();
      archive.on('error', reject);
      archive.on('end', () => resolveAll(out));
      archive.on('entry', (entry: yauzl.Entry) => {
        archive.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const parts: Buffer[] = [];
          stream.on('data', (part: Buffer) => parts.push(part));
          stream.on('error', reject);
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(parts));
            archive.readEntry();
          });
        });
      });
      archive.readEntry();
    });
  });
}

async function loadFixture(name: string): Promise<Fixture> {
  const bytes = new Uint8Array(await readFile(join(GOOD_DIR, `${name}.npz`)));
  const manifest = JSON.parse(await readFile(join(GOOD_DIR, `${name}.expected.json`), 'utf8')) as { members: ManifestMember[] };
  const npy = await memberBytes(bytes);
  const data = new Map<string, Uint8Array>();
  for (const m of manifest.members) {
    const whole = npy.get(m.member);
    if (whole === undefined) throw new Error(`${name}: yauzl found no member ${m.member}`);
    expect(whole.byteLength, `${name}/${m.member}`).toBe(m.data_offset + m.byte_length);
    data.set(m.member, whole.subarray(m.data_offset));
    expect(createHash('sha256').update(whole.subarray(m.data_offset)).digest('hex'), `${name}/${m.member} as numpy stored it`).toBe(m.sha256);
  }
  expect(manifest.members.length, `${name} has members`).toBeGreaterThan(0);
  return { bytes, members: manifest.members, data };
}

/** The fixture's arrays as leaves in member order (an iterator: a flat tree);  lazy ones yield their bytes in uneven chunks (one empty). */
function leavesOf(fixture: Fixture, lazy: boolean): [string, Leaf][] {
  return fixture.members.map((m) => {
    const data = fixture.data.get(m.member)!;
    const meta = { dtype: m.dtype as 'raw', descr: m.descr, shape: m.shape, fortranOrder: m.fortran_order };
    if (!lazy) return [m.key, { ...meta, data: data.slice() }];
    const cut = Math.floor(data.byteLength / 3);
    return [m.key, { ...meta, chunks: () => [data.slice(0, cut), new Uint8Array(0), data.slice(cut)] }];
  });
}

/** A destination that cannot seek, like the pipe the fixture was written through. */
class Collector extends Writable {
  readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.parts.push(Buffer.from(chunk));
    done();
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts));
  }
}

/** Byte equality with the first differing offset in the message, so a failure says where the layout went wrong. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  let first = -1;
  const common = Math.min(actual.byteLength, expected.byteLength);
  for (let i = 0; i < common && first < 0; i++) if (actual[i] !== expected[i]) first = i;
  if (first < 0 && actual.byteLength !== expected.byteLength) first = common;
  expect(first, `${what}: first differing byte (sizes ${actual.byteLength} vs numpy's ${expected.byteLength})`).toBe(-1);
}

let work: string;
let scratch: TempDir;
beforeAll(() => {
  scratch = makeTempDir('save-fixtures');
  work = scratch.path;
});
afterAll(() => scratch?.remove());

// np.savez into an open (seekable) file: stored members, CRC and sizes in the local header, forced zip64 extra.
const SEEKABLE = ['all-dtypes', 'unicode-names', 'npy-v3', 'paligemma-tiny', 'paligemma-tiny.params-prefix', 'empty'];

describe('saveNpz and saveNpzStream reproduce numpy-written fixtures byte for byte (no Python needed)', () => {
  for (const name of SEEKABLE) {
    for (const lazy of [false, true]) {
      it(`${name}.npz: saveNpz from ${lazy ? 'lazy' : 'in-memory'} leaves`, async () => {
        const fixture = name === 'empty' ? await loadEmpty() : await loadFixture(name);
        const out = join(work, `${name}-${lazy ? 'lazy' : 'memory'}.npz`);
        await saveNpz(out, leavesOf(fixture, lazy).values(), { fsync: false });
        expectSameBytes(new Uint8Array(await readFile(out)), fixture.bytes, `${name}.npz`);
      });
    }
    // In-memory leaves know every size up front, so even a destination that cannot seek gets the file layout.
    it(`${name}.npz: saveNpzStream from in-memory leaves`, async () => {
      const fixture = name === 'empty' ? await loadEmpty() : await loadFixture(name);
      const sink = new Collector();
      await saveNpzStream(leavesOf(fixture, false).values(), sink);
      expectSameBytes(sink.bytes(), fixture.bytes, `${name}.npz`);
    });
  }

  it('pipe.npz: lazy leaves streamed to a non-seekable destination use numpy pipe layout (bit 3, zip64 descriptors)', async () => {
    const fixture = await loadFixture('pipe');
    expect(fixture.members.every((m) => m.zip.flags & 0x08)).toBe(true);
    const sink = new Collector();
    await saveNpzStream(leavesOf(fixture, true).values(), sink);
    expectSameBytes(sink.bytes(), fixture.bytes, 'pipe.npz');
  });

  // Deflate output depends on the zlib build (Node's and CPython's differ), so the compressed fixtures pin every
  // byte but the deflate streams: records, descriptors and end records whole, compressed sizes and the offsets
  // they shift checked for where things really are, and the data for inflating to numpy's bytes.
  it('pipe-compressed.npz: streamed compressed members, from in-memory and lazy leaves', async () => {
    const fixture = await loadFixture('pipe-compressed');
    expect(fixture.members.every((m) => m.zip.method === 8 && m.zip.flags & 0x08)).toBe(true);
    for (const lazy of [false, true]) {
      const sink = new Collector();
      await saveNpzStream(leavesOf(fixture, lazy).values(), sink, { compress: true });
      expect(differencesButDeflate(sink.bytes(), fixture.bytes), lazy ? 'lazy' : 'in-memory').toEqual([]);
    }
  });

  it('compressed.npz: np.savez_compressed to a file, from in-memory and lazy leaves', async () => {
    const fixture = await loadFixture('compressed');
    expect(fixture.members.every((m) => m.zip.method === 8 && (m.zip.flags & 0x08) === 0)).toBe(true);
    for (const lazy of [false, true]) {
      const out = join(work, `compressed-${lazy ? 'lazy' : 'memory'}.npz`);
      await saveNpz(out, leavesOf(fixture, lazy).values(), { compress: true, fsync: false });
      expect(differencesButDeflate(new Uint8Array(await readFile(out)), fixture.bytes), lazy ? 'lazy' : 'in-memory').toEqual([]);
    }
  });
});

async function loadEmpty(): Promise<Fixture> {
  const bytes = new Uint8Array(await readFile(join(GOOD_DIR, 'empty.npz')));
  expect(bytes.byteLength).toBe(22);
  return { bytes, members: [], data: new Map() };
}
