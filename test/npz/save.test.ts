import { createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { type SaveProgress } from '../../src/npz/save.js';
import { saveNpz, saveNpzStream } from '../../src/index.js';
import { hasNumpy, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { differencesButDeflate } from '../helpers/zip-compare.js';
import { expectedLoad, mixedTree, numpyLoad, numpySavez, orderedSpecs } from '../helpers/trees.js';
import { hex } from '../helpers/bytes.js';

const scratch = makeTempDir('save-test');
const dir = scratch.path;
afterAll(() => scratch.remove());
let fileNumber = 0;
const nextPath = (): string => join(dir, `out${fileNumber++}.npz`);

async function viaStream(tree: unknown, options = {}): Promise<{ path: string; bytes: Uint8Array }> {
  const path = nextPath();
  await saveNpzStream(tree as Record<string, never>, createWriteStream(path), options);
  return { path, bytes: readFileSync(path) };
}

async function viaPath(tree: unknown, options = {}): Promise<{ path: string; bytes: Uint8Array }> {
  const path = nextPath();
  await saveNpz(path, tree as Record<string, never>, options);
  return { path, bytes: readFileSync(path) };
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'saving against live numpy'), () => {
  it('in-memory tree: saveNpz and saveNpzStream(WriteStream) both equal np.savez byte for byte', async () => {
    const { tree, specs } = mixedTree();
    const ordered = await orderedSpecs(tree, specs);
    const expected = hex(numpySavez(ordered, 'file'));
    expect(hex((await viaPath(tree)).bytes)).toBe(expected);
    expect(hex((await viaStream(tree)).bytes)).toBe(expected);
  });

  it('lazy tree: saveNpz patches headers into np.savez layout; a stream gets np.savez-to-a-pipe layout', async () => {
    const { tree, specs } = mixedTree(true);
    const ordered = await orderedSpecs(tree, specs);
    expect(hex((await viaPath(tree)).bytes)).toBe(hex(numpySavez(ordered, 'file')));
    expect(hex((await viaStream(mixedTree(true).tree)).bytes)).toBe(hex(numpySavez(ordered, 'pipe')));
  });

  it('numpy loads every dtype, 0-d, empty, Fortran, bf16, raw descrs and unicode names with the right bytes', async () => {
    const { tree, specs } = mixedTree();
    const ordered = await orderedSpecs(tree, specs);
    expect(numpyLoad((await viaPath(tree)).path)).toEqual(expectedLoad(ordered));
    expect(numpyLoad((await viaStream(mixedTree(true).tree)).path)).toEqual(expectedLoad(ordered));
  });

  it('compressed archives (in-memory and lazy, file and stream) load in numpy', async () => {
    const { tree, specs } = mixedTree();
    const ordered = await orderedSpecs(tree, specs);
    const want = expectedLoad(ordered);
    for (const [save, lazy] of [[viaPath, false], [viaPath, true], [viaStream, false], [viaStream, true]] as const) {
      const { path, bytes } = await save(mixedTree(lazy).tree, { compress: true });
      expect(numpyLoad(path)).toEqual(want);
      // Really deflated: method 8 in the first local header.
      expect(bytes[8]).toBe(8);
    }
    // Same members, layout, headers, central directory and end record as np.savez_compressed, byte for byte; only
    // the deflate streams (and the sizes and offsets they shift) may differ, by zlib build.
    const numpyBytes = numpySavez(ordered, 'compressed');
    const ours = (await viaPath(tree, { compress: true })).bytes;
    expect(differencesButDeflate(ours, numpyBytes)).toEqual([]);
    expect(differencesButDeflate(numpyBytes, numpyBytes)).toEqual([]);
  });

  it('prefixes member names; np.load lists them in tree order', async () => {
    const { tree, specs } = mixedTree();
    const ordered = await orderedSpecs(tree, specs);
    const { path } = await viaPath(tree, { prefix: 'params/' });
    expect(numpyLoad(path)).toEqual(expectedLoad(ordered, 'params/'));
  });
});

describe('save options and summary', () => {
  it('reports progress up to the exact archive size and returns a summary', async () => {
    const { tree } = mixedTree();
    const events: SaveProgress[] = [];
    const path = nextPath();
    const summary = await saveNpz(path, tree as Record<string, never>, { onProgress: (p) => events.push(p) });
    const size = readFileSync(path).byteLength;
    expect(summary.bytesWritten).toBe(size);
    expect(summary.entries).toBe(summary.names.length);
    expect(summary.names).toContain('ünïcödé/名前');
    const last = events.at(-1)!;
    expect(last).toMatchObject({ entriesDone: summary.entries, entriesTotal: summary.entries, bytesDone: size, bytesTotal: size });
    for (let i = 1; i < events.length; i++) {
      expect(events[i]!.bytesDone).toBeGreaterThanOrEqual(events[i - 1]!.bytesDone);
      expect(events[i]!.entriesDone).toBeGreaterThanOrEqual(events[i - 1]!.entriesDone);
    }
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('streams a flat async iterable of pairs without knowing totals', async () => {
    async function* pairs(): AsyncGenerator<[string, Float32Array]> {
      for (let i = 0; i < 5; i++) yield [`w${i}`, new Float32Array(1000).fill(i)];
    }
    const events: SaveProgress[] = [];
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const summary = await saveNpzStream(pairs(), out, { onProgress: (p) => events.push(p) });
    expect(summary.names).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
    expect(Buffer.concat(chunks).byteLength).toBe(summary.bytesWritten);
    expect(events.every((e) => e.entriesTotal === undefined && e.bytesTotal === undefined)).toBe(true);
    expect(out.writableEnded).toBe(true);
  });

  it('leaves the destination open with end: false', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const summary = await saveNpzStream({ a: Int8Array.of(1, 2) }, out, { end: false });
    expect(out.writableEnded).toBe(false);
    expect(Buffer.concat(chunks).byteLength).toBe(summary.bytesWritten);
    out.end();
  });
});
