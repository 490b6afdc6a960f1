import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InflateInput } from '../../src/io/codecs.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { Crc32 } from '../../src/zip/write/crc32.js';
import { hasPython, runPython, withSkipReason, NO_PYTHON } from '../helpers/python.js';

const { crc32 } = nodeCodecs;

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((i * 2654435761) >>> 24) & (i % 7 === 0 ? 0xff : 0x0f);
  return out;
}

/** An InflateInput over `pieces`, counting pulls. */
function inputOf(pieces: Uint8Array[]): InflateInput & { pulls: number } {
  let at = 0;
  return {
    pulls: 0,
    async next() {
      this.pulls++;
      return pieces[at++];
    },
  };
}

async function drain(inflation: { next(): Promise<Uint8Array | undefined> }): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (let piece = await inflation.next(); piece !== undefined; piece = await inflation.next()) parts.push(piece);
  return Buffer.concat(parts);
}

describe('node codecs: crc32', () => {
  it('gives the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'), 0)).toBe(0xcbf43926);
  });

  it('continues across chunks, including views over zero-byte buffers', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const running = new Crc32(crc32);
        for (const chunk of chunks) {
          running.update(chunk);
          // Node's zlib.crc32 returns 0 for these, whatever the running value; they must be no-ops.
          running.update(new Uint8Array(new ArrayBuffer(0)));
          running.update(chunk.subarray(0, 0));
        }
        const whole = Buffer.concat(chunks);
        expect(running.value).toBe(crc32(whole, 0));
        expect(running.length).toBe(whole.byteLength);
      }),
    );
  });

  it.skipIf(!hasPython())(withSkipReason(!hasPython(), NO_PYTHON, 'agrees with python zlib.crc32'), () => {
    const data = pattern(100_003);
    const expected = Number(runPython('import sys, zlib; print(zlib.crc32(sys.stdin.buffer.read()))', [], data).trim());
    expect(crc32(data, 0)).toBe(expected);
    expect(crc32(data.subarray(50_000), crc32(data.subarray(0, 50_000), 0))).toBe(expected);
  });
});

describe('node codecs: deflate and inflate', () => {
  it('deflateRaw is byte-identical to zlib at the same level, however the input is cut', async () => {
    const data = pattern(300_000);
    async function* pieces(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < data.length; at += 7_001) yield data.subarray(at, at + 7_001);
    }
    for (const level of [1, 6, 9]) {
      const out: Uint8Array[] = [];
      for await (const chunk of nodeCodecs.deflateRaw(pieces(), { level, chunkSize: 16 * 1024 })) out.push(chunk);
      expect(Buffer.concat(out).equals(deflateRawSync(data, { level }))).toBe(true);
    }
  });

  it("deflateRaw rejects with the input's own error", async () => {
    const failure = new Error('source broke');
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield pattern(1000);
      throw failure;
    }
    const run = async (): Promise<void> => {
      for await (const _ of nodeCodecs.deflateRaw(failing(), { level: 6, chunkSize: 1024 })) void _;
    };
    await expect(run()).rejects.toBe(failure);
  });

  it('inflateRaw stops at the end of the deflate stream: consumed and unused split the input exactly', async () => {
    const data = pattern(200_000);
    const compressed = deflateRawSync(data);
    const after = new TextEncoder().encode('PK\u0007\u0008 what follows');
    const joined = Buffer.concat([compressed, after]);
    for (const cut of [1, 1000, compressed.length - 1, compressed.length, joined.length]) {
      const pieces = [joined.subarray(0, cut), joined.subarray(cut)].filter((piece) => piece.length > 0);
      const inflation = nodeCodecs.inflateRaw(inputOf(pieces), { chunkSize: 16 * 1024 });
      expect((await drain(inflation)).equals(data), `cut ${cut}`).toBe(true);
      expect(inflation.consumed).toBe(compressed.length);
      const unused = inflation.unused();
      // Whatever was pulled past the deflate stream is its tail: the bytes that follow, from the start.
      expect(Buffer.from(unused).equals(Buffer.from(after.subarray(0, unused.length))), `cut ${cut}`).toBe(true);
      // All of the piece that held the stream's end is pulled; a piece after it only when the end fell on its edge.
      if (cut > compressed.length) expect(unused.length).toBe(cut - compressed.length);
      else if (cut < compressed.length) expect(unused.length).toBe(after.length);
      inflation.destroy();
    }
  });

  it('inflateRaw pulls input only as output is wanted', async () => {
    const data = pattern(4 << 20);
    const compressed = deflateRawSync(data, { level: 1 });
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < compressed.length; at += 4096) pieces.push(compressed.subarray(at, at + 4096));
    const input = inputOf(pieces);
    const inflation = nodeCodecs.inflateRaw(input, { chunkSize: 16 * 1024 });
    await inflation.next();
    expect(input.pulls).toBeLessThan(pieces.length / 2);
    inflation.destroy();
  });

  it('inflateRaw rejects on damaged data and on input that ends inside the stream, and passes input errors as is', async () => {
    const compressed = deflateRawSync(pattern(100_000));
    await expect(drain(nodeCodecs.inflateRaw(inputOf([Uint8Array.of(0xff, 0xff, 0xff)]), { chunkSize: 1024 }))).rejects.toThrow();
    await expect(drain(nodeCodecs.inflateRaw(inputOf([compressed.subarray(0, 100)]), { chunkSize: 1024 }))).rejects.toThrow(/unexpected end/);
    const failure = new Error('read failed');
    const failing: InflateInput = { next: () => Promise.reject(failure) };
    await expect(drain(nodeCodecs.inflateRaw(failing, { chunkSize: 1024 }))).rejects.toBe(failure);
  });

  it('inflateHead inflates what a cut head holds, up to the limit; undefined when not conclusive', () => {
    const data = pattern(100_000);
    const compressed = deflateRawSync(data);
    const head = nodeCodecs.inflateHead(compressed.subarray(0, 2000), 1 << 20);
    expect(head).toBeDefined();
    expect(head!.length).toBeGreaterThan(0);
    expect(Buffer.from(head!).equals(Buffer.from(data.subarray(0, head!.length)))).toBe(true);
    expect(nodeCodecs.inflateHead(compressed, 1000)).toBeUndefined();
    expect(nodeCodecs.inflateHead(Uint8Array.of(0xff, 0xff, 0xff), 1000)).toBeUndefined();
  });
});
