import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSafetensors, readSafetensors, saveSafetensors } from '../../src/index.js';
import type { SaveProgress } from '../../src/npz/save.js';
import { bufferSource } from '../../src/index.js';
import { makeTempDir } from '../helpers/tmp.js';
import { codeOf } from '../helpers/errors.js';

// The library surface without the Python oracle: atomic writes under failure, lazy leaves, progress, and the
// reader's API contract (sources, close, lookups, limits).

const temp = makeTempDir('st-api');
afterAll(() => temp.remove());

const leftovers = (): string[] => readdirSync(temp.path).filter((name) => name.endsWith('.tmp'));

describe('saveSafetensors', () => {
  it('keeps the previous file and leaves no temp file when a lazy leaf fails, lies about its length, or is aborted', async () => {
    const path = join(temp.path, 'kept.safetensors');
    writeFileSync(path, 'previous');
    const failing = { dtype: 'uint8' as const, shape: [4], async *chunks() { yield new Uint8Array(2); throw new Error('upstream failed'); } };
    expect(await codeOf(() => saveSafetensors(path, { a: Int8Array.of(1), b: failing }))).toBe('ERR_SOURCE');
    expect(await codeOf(() => saveSafetensors(path, { b: { dtype: 'uint8', shape: [4], chunks: () => [new Uint8Array(5)] } }))).toBe('ERR_SOURCE_LENGTH');
    const controller = new AbortController();
    const hanging = { dtype: 'uint8' as const, shape: [4], async *chunks() { controller.abort(); await new Promise(() => undefined); yield new Uint8Array(4); } };
    expect(await codeOf(() => saveSafetensors(path, { h: hanging }, { signal: controller.signal }))).toBe('ERR_ABORTED');
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(leftovers()).toEqual([]);
  });

  it('writes lazy and in-memory leaves with a prefix, reports progress, and reads back through every source kind', async () => {
    const path = join(temp.path, 'tree.safetensors');
    const events: SaveProgress[] = [];
    const big = new Float32Array(300_000).map((_, i) => i);
    const summary = await saveSafetensors(
      path,
      { w: big, s: 7, flag: true, n: 5n, lazy: { dtype: 'bfloat16', shape: [3], chunks: () => [Uint8Array.of(1), Uint8Array.of(2, 3, 4, 5), Uint8Array.of(6)] } },
      { prefix: 'params/', onProgress: (progress) => events.push(progress) },
    );
    expect(summary.names).toEqual(['params/n', 'params/s', 'params/w', 'params/lazy', 'params/flag']);
    expect(summary.bytesWritten).toBe(readFileSync(path).length);
    expect(events.at(-1)).toMatchObject({ entriesDone: 5, entriesTotal: 5, bytesDone: summary.bytesWritten, bytesTotal: summary.bytesWritten });

    const bytes = new Uint8Array(readFileSync(path));
    for (const input of [path, new URL(`file://${path}`), bytes, bufferSource(bytes)]) {
      const file = await openSafetensors(input);
      expect(file.entries.map((e) => [e.name, e.dtype, e.shape])).toEqual([
        ['params/n', 'int64', []],
        ['params/s', 'float64', []],
        ['params/w', 'float32', [300_000]],
        ['params/lazy', 'bfloat16', [3]],
        ['params/flag', 'bool', []],
      ]);
      const w = (await file.get('params/w')).data;
      expect(w).toBeInstanceOf(Float32Array);
      expect(Buffer.compare(Buffer.from(w.buffer, w.byteOffset, w.byteLength), Buffer.from(big.buffer))).toBe(0);
      expect([...(await file.get('params/lazy')).data]).toEqual([0x0201, 0x0403, 0x0605]);
      expect((await file.get('params/n')).data).toEqual(BigInt64Array.of(5n));
      expect(file.has('params/w') && !file.has('w')).toBe(true);
      expect(await codeOf(() => file.get('w'))).toBe('ERR_NPZ_NOT_FOUND');
      await file.close();
      await file.close();
      expect(await codeOf(() => file.get('params/w'))).toBe('ERR_NPZ_CLOSED');
    }
    const names: string[] = [];
    for await (const [name] of readSafetensors(bytes)) names.push(name);
    expect(names).toEqual(summary.names);
  });

  it('chunks() stays within chunkSize; maxArrayBytes refuses get() before allocating', async () => {
    const path = join(temp.path, 'tree.safetensors');
    const file = await openSafetensors(path, { maxArrayBytes: 1000 });
    try {
      let total = 0;
      for await (const chunk of file.chunks('params/w', { chunkSize: 65536 })) {
        expect(chunk.byteLength).toBeLessThanOrEqual(65536);
        total += chunk.byteLength;
      }
      expect(total).toBe(1_200_000);
      expect(await codeOf(() => file.get('params/w'))).toBe('ERR_NPY_TOO_LARGE');
      expect((await file.get('params/s')).data).toEqual(Float64Array.of(7));
    } finally {
      await file.close();
    }
    expect(await codeOf(() => openSafetensors(path, { maxHeaderLength: 16 }))).toBe('ERR_SAFETENSORS_HEADER_LENGTH');
  });

  it('maxArrayBytes is inclusive: a tensor of exactly that size is read, one byte less refuses it', async () => {
    const path = join(temp.path, 'limit.safetensors');
    await saveSafetensors(path, { w: new Float32Array(250).fill(1.5) });
    const exact = await openSafetensors(path, { maxArrayBytes: 1000 });
    expect((await exact.get('w')).data).toEqual(new Float32Array(250).fill(1.5));
    await exact.close();
    const under = await openSafetensors(path, { maxArrayBytes: 999 });
    expect(await codeOf(() => under.get('w'))).toBe('ERR_NPY_TOO_LARGE');
    await under.close();
  });

  it('a source that comes up short of a tensor after the header was checked: ERR_SAFETENSORS_BUFFER_LENGTH, never short data', async () => {
    const path = join(temp.path, 'shrinks.safetensors');
    await saveSafetensors(path, { a: new Uint8Array(100).fill(7), b: new Uint8Array(100).fill(9) });
    const bytes = new Uint8Array(readFileSync(path));
    const inner = bufferSource(bytes);
    // Claims the full size, but the last 50 bytes are gone (a file truncated under the reader).
    const shrunk = {
      size: inner.size,
      read: async (offset: number, length: number, into?: Uint8Array) => inner.read(offset, Math.max(0, Math.min(length, bytes.length - 50 - offset)), into),
      close: () => inner.close(),
    };
    const file = await openSafetensors(shrunk);
    const last = file.entries[file.entries.length - 1]!.name;
    expect(await codeOf(() => file.get(last))).toBe('ERR_SAFETENSORS_BUFFER_LENGTH');
    expect(await codeOf(async () => {
      for await (const _ of file.chunks(last, { chunkSize: 30 }));
    })).toBe('ERR_SAFETENSORS_BUFFER_LENGTH');
    await file.close();
  });

  it('refuses bad metadata and paths before writing anything', async () => {
    const path = join(temp.path, 'never.safetensors');
    expect(await codeOf(() => saveSafetensors(path, { a: Int8Array.of(1) }, { metadata: { a: 1 } as unknown as Record<string, string> }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(() => saveSafetensors('', { a: Int8Array.of(1) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await codeOf(() => saveSafetensors(path, { __metadata__: Int8Array.of(1) }))).toBe('ERR_SAFETENSORS_UNSUPPORTED');
    expect(existsSync(path)).toBe(false);
  });
});
