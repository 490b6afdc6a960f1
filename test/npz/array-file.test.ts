/**
 * The one file interface: openNpz, openSafetensors and openSafetensorsIndex all return an `ArrayFile` whose entries
 * declare their format's fields, so code written against `ArrayFile` reads every format the same way, and narrows
 * on `format` (never on an undeclared property) for what only one format has.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  openNpz,
  openSafetensors,
  openSafetensorsIndex,
  saveNpz,
  saveSafetensors,
  saveSafetensorsShards,
  type ArrayEntry,
  type ArrayFile,
  type ArrayInfo,
  type NpzFile,
  type SafetensorsFile,
  type ShardedEntry,
  type StreamNpzArrayEntry,
} from '../../src/index.js';
import { isNpzError } from '../../src/errors.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('array-file');
afterAll(() => dir.remove());

const tree = { layer: { w: new Float32Array([1, 2, 3, 4, 5, 6]), b: new Uint16Array([7, 8]) } };
const shapes = { 'layer/w': [6], 'layer/b': [2] };

/** What any ArrayFile gives for the tree above, read through the interface only. */
async function readThrough(file: ArrayFile): Promise<Record<string, { dtype: string; shape: number[]; bytes: number[] }>> {
  const out: Record<string, { dtype: string; shape: number[]; bytes: number[] }> = {};
  for (const entry of file.entries) {
    if (!entry.isArray) continue;
    const array = await file.get(entry.name);
    const streamed: number[] = [];
    for await (const chunk of file.chunks(entry.name, { chunkSize: 64 })) streamed.push(...chunk);
    expect(streamed).toEqual([...new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength)]);
    expect(streamed.length).toBe(entry.byteLength);
    out[entry.name] = { dtype: entry.dtype, shape: entry.shape, bytes: streamed };
  }
  return out;
}

describe('every open function returns an ArrayFile', () => {
  const npzPath = dir.file('a.npz');
  const stPath = dir.file('a.safetensors');
  const shardsPath = dir.file('sharded/model.safetensors');

  it('npz, safetensors and a shard index read the same through the interface', async () => {
    await saveNpz(npzPath, tree);
    await saveSafetensors(stPath, tree);
    await saveSafetensorsShards(shardsPath, tree, { maxShardSize: 8 });
    const files: ArrayFile[] = [await openNpz(npzPath), await openSafetensors(stPath), await openSafetensorsIndex(`${shardsPath}.index.json`)];
    try {
      expect(files.map((file) => file.format)).toEqual(['npz', 'safetensors', 'safetensors']);
      const [npz, ...others] = await Promise.all(files.map(readThrough));
      expect(Object.fromEntries(Object.entries(npz!).map(([name, value]) => [name, value.shape]))).toEqual(shapes);
      for (const other of others) expect(other).toEqual(npz);
    } finally {
      await Promise.all(files.map((file) => file.close()));
    }
  });

  it("each format's fields are declared on its entries, with format and isArray to narrow on", async () => {
    const npz = await openNpz(npzPath);
    const st = await openSafetensors(stPath);
    const index = await openSafetensorsIndex(`${shardsPath}.index.json`);
    try {
      const npzEntry = npz.entries.find((entry) => entry.name === 'layer/w')!;
      expect(npzEntry).toMatchObject({ format: 'npz', isArray: true, memberName: 'layer/w.npy', compression: 'stored', npyVersion: 1, dtype: 'float32', shape: [6] });
      expect(typeof npzEntry.crc32).toBe('number');
      expect(npzEntry.compressedSize).toBe(npzEntry.memberSize);
      const stEntry = st.entries.find((entry) => entry.name === 'layer/w')!;
      expect(stEntry).toMatchObject({ format: 'safetensors', isArray: true, safetensorsDType: 'F32', fortranOrder: false, byteLength: 24 });
      expect(stEntry).not.toHaveProperty('crc32');
      expect(stEntry).not.toHaveProperty('shard');
      // The shard index says which shard holds each tensor.
      expect(Object.fromEntries(index.entries.map((entry) => [entry.name, entry.shard]))).toEqual({
        // w (24 bytes) is over the 8-byte limit, so it gets a shard of its own, before the one being filled.
        'layer/w': 'model-00001-of-00002.safetensors',
        'layer/b': 'model-00002-of-00002.safetensors',
      });
    } finally {
      await Promise.all([npz.close(), st.close(), index.close()]);
    }
  });

  it('get takes a signal of its own', async () => {
    for (const file of [await openNpz(npzPath), await openSafetensors(stPath), await openSafetensorsIndex(`${shardsPath}.index.json`)] as ArrayFile[]) {
      try {
        const controller = new AbortController();
        controller.abort();
        const error = await file.get('layer/w', { signal: controller.signal }).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(isNpzError(error, 'ERR_ABORTED'), `${file.format}: ${String(error)}`).toBe(true);
        expect((await file.get('layer/w', { signal: new AbortController().signal })).shape).toEqual([6]);
      } finally {
        await file.close();
      }
    }
  });

  it('a non-array npz member is an entry with isArray false and its npz fields', async () => {
    // A zip whose only member is not .npy: listed, never read as an array.
    const { default: yazl } = await import('yazl');
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from('hello'), 'notes.txt', { compress: false });
    zip.end();
    const chunks: Buffer[] = [];
    for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
    const path = dir.file('other.npz');
    writeFileSync(path, Buffer.concat(chunks));
    const file = await openNpz(path);
    try {
      const [entry] = file.entries;
      expect(entry).toMatchObject({ format: 'npz', isArray: false, name: 'notes.txt', memberName: 'notes.txt', memberSize: 5 });
      expect(entry).not.toHaveProperty('dtype');
    } finally {
      await file.close();
    }
  });
});

describe('the interface as types', () => {
  it('the specialised files are ArrayFiles, and narrowing on format gives each format its fields', () => {
    expectTypeOf<NpzFile>().toMatchTypeOf<ArrayFile>();
    expectTypeOf<SafetensorsFile>().toMatchTypeOf<ArrayFile>();
    expectTypeOf<SafetensorsFile<ShardedEntry>>().toMatchTypeOf<ArrayFile>();
    expectTypeOf<NpzFile['format']>().toEqualTypeOf<'npz'>();
    expectTypeOf<SafetensorsFile['format']>().toEqualTypeOf<'safetensors'>();
    // What a stream hands out describes an array the same way, so code written for ArrayInfo takes both.
    expectTypeOf<StreamNpzArrayEntry>().toMatchTypeOf<ArrayInfo>();
    expectTypeOf<Extract<ArrayEntry, { isArray: true }>>().toMatchTypeOf<ArrayInfo>();
    const described = (entry: ArrayEntry): string => {
      if (entry.format === 'safetensors') return entry.safetensorsDType;
      if (entry.format === 'npy') return entry.isArray ? `${entry.name} v${entry.npyVersion}` : `${entry.name}: ${entry.error.code}`;
      if (entry.isArray) return `${entry.memberName} v${entry.npyVersion} crc ${entry.crc32}`;
      // Damaged members are on the non-array side, and say what is wrong with them.
      if (entry.damaged === true) return `${entry.memberName}: ${entry.error.code} ${entry.error.message}`;
      return entry.memberName;
    };
    expect(typeof described).toBe('function');
  });
});
