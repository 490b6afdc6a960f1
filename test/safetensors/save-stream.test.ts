import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { saveNpzStream, saveSafetensors, saveSafetensorsStream } from '../../src/index.js';
import { makeTempDir } from '../helpers/tmp.js';
import { codeOf } from '../helpers/errors.js';

// saveSafetensorsStream on Node, and both stream writers into a WHATWG WritableStream (the browser's destination,
// which Node has too): the bytes of the file writers, backpressure honoured, failures as NpzErrors.

const temp = makeTempDir('st-stream');
afterAll(() => temp.remove());

const tree = (): Record<string, unknown> => ({
  a: Float32Array.of(1, 2, 3),
  b: { c: Int16Array.of(-1, 7) },
  lazy: { dtype: 'uint8' as const, shape: [3, 100_000], *chunks() { for (let i = 0; i < 3; i++) yield new Uint8Array(100_000).fill(i + 1); } },
});

/** A WritableStream that keeps every chunk (copied) and takes one at a time (highWaterMark 1). */
function collectingStream(): { stream: WritableStream<Uint8Array>; bytes: () => Buffer; writes: () => number } {
  const chunks: Buffer[] = [];
  const stream = new WritableStream<Uint8Array>(
    {
      async write(chunk) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        chunks.push(Buffer.from(chunk));
      },
    },
    { highWaterMark: 1 },
  );
  return { stream, bytes: () => Buffer.concat(chunks), writes: () => chunks.length };
}

describe('saveSafetensorsStream (Node)', () => {
  it('into a Node Writable and into a WritableStream: the bytes of saveSafetensors', async () => {
    const path = join(temp.path, 'file.safetensors');
    await saveSafetensors(path, tree() as never, { metadata: { format: 'pt' } });
    const expected = readFileSync(path);

    const streamed = join(temp.path, 'streamed.safetensors');
    const summary = await saveSafetensorsStream(tree() as never, createWriteStream(streamed), { metadata: { format: 'pt' } });
    expect(readFileSync(streamed).equals(expected)).toBe(true);
    expect(summary).toMatchObject({ tensors: 3, bytesWritten: expected.length });

    const web = collectingStream();
    await saveSafetensorsStream(tree() as never, web.stream, { metadata: { format: 'pt' } });
    expect(web.bytes().equals(expected)).toBe(true);
    expect(web.writes()).toBeGreaterThan(1);
  });

  it('end: false leaves the WritableStream open and unlocked for more', async () => {
    const web = collectingStream();
    await saveSafetensorsStream({ a: Int8Array.of(1) }, web.stream, { end: false });
    expect(web.stream.locked).toBe(false);
    const writer = web.stream.getWriter();
    await writer.write(Uint8Array.of(9));
    await writer.close();
    expect(web.bytes().at(-1)).toBe(9);
  });

  it('a failing destination, a bad leaf, a wrong destination and an abort: NpzErrors', async () => {
    const failing = new WritableStream<Uint8Array>({ write: () => Promise.reject(new Error('disk full')) });
    expect(await codeOf(() => saveSafetensorsStream(tree() as never, failing))).toBe('ERR_IO');
    const failingNode = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error('disk full')) });
    expect(await codeOf(() => saveSafetensorsStream(tree() as never, failingNode))).toBe('ERR_IO');
    expect(await codeOf(() => saveSafetensorsStream({ a: { dtype: 'uint8', shape: [4], chunks: () => [new Uint8Array(5)] } }, collectingStream().stream))).toBe('ERR_SOURCE_LENGTH');
    expect(await codeOf(() => saveSafetensorsStream(tree() as never, {} as never))).toBe('ERR_INVALID_ARGUMENT');
    const locked = new WritableStream<Uint8Array>();
    locked.getWriter();
    expect(await codeOf(() => saveSafetensorsStream(tree() as never, locked))).toBe('ERR_INVALID_ARGUMENT');
    const controller = new AbortController();
    controller.abort();
    expect(await codeOf(() => saveSafetensorsStream(tree() as never, collectingStream().stream, { signal: controller.signal }))).toBe('ERR_ABORTED');
  });
});

describe('saveNpzStream into a WritableStream (Node)', () => {
  it('gives the bytes of saveNpzStream into a Node Writable (lazy leaves with data descriptors)', async () => {
    const path = join(temp.path, 'stream.npz');
    await saveNpzStream(tree() as never, createWriteStream(path));
    const web = collectingStream();
    await saveNpzStream(tree() as never, web.stream);
    expect(web.bytes().equals(readFileSync(path))).toBe(true);
  });
});
