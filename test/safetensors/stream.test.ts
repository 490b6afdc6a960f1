/**
 * streamSafetensors: a safetensors file read front to back from a stream, as openSafetensors reads it from a
 * file, with the stream's end checked against the header.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpzError, openSafetensors, saveSafetensors, streamSafetensors, type StreamSafetensorsEntry } from '../../src/index.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('safetensors-stream');
let bytes: Buffer;

beforeAll(async () => {
  await saveSafetensors(dir.file('m.safetensors'), {
    layer: { w: new Float32Array([1, 2, 3, 4, 5, 6]), b: new Uint16Array([7, 8]) },
    big: new Float64Array(10_000).map((_, i) => i / 3),
  }, { metadata: { format: 'pt' } });
  bytes = readFileSync(dir.file('m.safetensors'));
});
afterAll(() => dir.remove());

/** The bytes as a stream of small, uneven chunks. */
function chunked(data: Uint8Array, size = 777): Readable {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push(data.subarray(at, at + size));
  return Readable.from(pieces);
}

async function failure(work: () => Promise<unknown>): Promise<NpzError> {
  const caught = await work().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(NpzError);
  return caught as NpzError;
}

describe('streamSafetensors', () => {
  it('hands out every tensor in data order with the bytes openSafetensors reads, and the metadata', async () => {
    const file = await openSafetensors(dir.file('m.safetensors'));
    let metadata: unknown;
    try {
      const seen: string[] = [];
      for await (const entry of streamSafetensors(chunked(bytes), { onMetadata: (found) => (metadata = found) })) {
        const expected = file.entries.find((candidate) => candidate.name === entry.name)!;
        const { chunks: _c, read: _r, ...fields } = entry;
        expect(fields).toEqual({ ...expected });
        const got: number[] = [];
        for await (const chunk of entry.chunks({ chunkSize: 100 })) {
          expect(chunk.length).toBeLessThanOrEqual(100);
          got.push(...chunk);
        }
        const array = await file.get(entry.name);
        expect(got).toEqual([...new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength)]);
        seen.push(entry.name);
      }
      expect(seen).toEqual(file.entries.map((entry) => entry.name));
      expect(metadata).toEqual({ format: 'pt' });
    } finally {
      await file.close();
    }
  });

  it('read() gives the array; an entry left unread is skipped; one read after the stream moved on is refused', async () => {
    const entries: StreamSafetensorsEntry[] = [];
    const values: (number | bigint)[][] = [];
    for await (const entry of streamSafetensors(chunked(bytes))) {
      entries.push(entry);
      if (entry.name === 'layer/w') values.push([...(await entry.read()).data]);
    }
    expect(values).toEqual([[1, 2, 3, 4, 5, 6]]);
    const skipped = entries.find((entry) => entry.name === 'big')!;
    expect((await failure(() => skipped.read())).code).toBe('ERR_NPZ_CLOSED');
    const read = entries.find((entry) => entry.name === 'layer/w')!;
    expect((await failure(() => read.read())).code).toBe('ERR_NPZ_CLOSED');
  });

  it('a stream cut short, or one that goes on past the last tensor, fails with the offsets', async () => {
    const drain = async (data: Uint8Array): Promise<void> => {
      for await (const entry of streamSafetensors(chunked(data))) for await (const _ of entry.chunks()) void _;
    };
    const cut = await failure(() => drain(bytes.subarray(0, bytes.length - 10)));
    expect(cut.code).toBe('ERR_SAFETENSORS_BUFFER_LENGTH');
    expect(cut.message).toContain(`byte ${bytes.length - 10}`);
    const longer = await failure(() => drain(Buffer.concat([bytes, Buffer.from('extra')])));
    expect(longer.code).toBe('ERR_SAFETENSORS_BUFFER_LENGTH');
    const inHeader = await failure(() => drain(bytes.subarray(0, 20)));
    expect(inHeader.code).toBe('ERR_SAFETENSORS_HEADER_LENGTH');
    expect((await failure(() => drain(bytes.subarray(0, 5)))).code).toBe('ERR_SAFETENSORS_HEADER_LENGTH');
  });
});
