/**
 * The npy read side on its own (src/npy/read.ts), over an in-memory byte reader: the header must account for
 * the stream exactly, limits apply before allocating, the reader is verified before an array is handed out,
 * aborts are honoured, and chunked reads swap whole items whatever sizes the source hands out.
 */
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { decodeNpyHeader, encodeNpyHeader } from '../../src/npy/header.js';
import { npyDataChunks, npyHeaderFromHead, readNpyArray, readNpyHeader, readNpyHeaderFrom } from '../../src/npy/read.js';
import { memoryReader, reversedGroups } from '../helpers/npy-reader.js';

async function codeOf(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
    return 'resolved';
  } catch (error) {
    return isNpzError(error) ? error.code : `non-NpzError: ${String(error)}`;
  }
}

/** An npy stream: header for `descr` and `shape`, then `extra` more data bytes than the shape needs. */
function npy(descr: string, shape: number[], extra = 0): { bytes: Uint8Array; headerLength: number; byteLength: number } {
  const head = encodeNpyHeader({ descr, shape });
  const byteLength = decodeNpyHeader(head).byteLength;
  const bytes = new Uint8Array(head.length + byteLength + extra);
  bytes.set(head);
  for (let i = head.length; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return { bytes, headerLength: head.length, byteLength };
}

describe('the header accounts for the stream', () => {
  it('refuses a stream longer or shorter than header + prod(shape) x itemsize', async () => {
    expect((await readNpyHeader(memoryReader(npy('<f4', [3]).bytes))).byteLength).toBe(12);
    expect(await codeOf(() => readNpyHeader(memoryReader(npy('<f4', [3], 1).bytes)))).toBe('ERR_NPY_SIZE_MISMATCH');
    expect(await codeOf(() => readNpyHeader(memoryReader(npy('<f4', [3], -1).bytes)))).toBe('ERR_NPY_SIZE_MISMATCH');
  });

  it('refuses a header longer than the stream before reading it', async () => {
    const { bytes, headerLength } = npy('<f4', [3]);
    let asked = 0;
    const read = async (length: number) => {
      asked += length;
      return bytes.slice(0, length);
    };
    expect(await codeOf(() => readNpyHeaderFrom(read, headerLength - 1))).toBe('ERR_NPY_TRUNCATED');
    expect(asked).toBe(12);
  });

  it('refuses a v1 header too short to hold the 12 bytes already read, asking for nothing more', async () => {
    for (const length of [0, 1]) {
      const bytes = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, length, 0, 0x7b, 0x7d);
      const asked: number[] = [];
      const read = async (n: number) => (asked.push(n), bytes.slice(0, Math.max(0, n)));
      expect(await codeOf(() => readNpyHeaderFrom(read, undefined)), `length ${length}`).toBe('ERR_NPY_HEADER_SYNTAX');
      expect(asked).toEqual([12]);
    }
  });

  it('judges a head that holds the whole stream, and defers one too short to tell', () => {
    const { bytes, headerLength } = npy('<f4', [3]);
    expect(npyHeaderFromHead(bytes, bytes.length)?.shape).toEqual([3]);
    expect(npyHeaderFromHead(bytes.subarray(0, headerLength - 1), bytes.length)).toBeUndefined();
    expect(npyHeaderFromHead(bytes.subarray(0, 11), bytes.length)).toBeUndefined();
    // A stream of 9 bytes, all of it in hand: truncated, not "read more".
    expect(() => npyHeaderFromHead(bytes.subarray(0, 9), 9)).toThrow(expect.objectContaining({ code: 'ERR_NPY_TRUNCATED' }));
    expect(() => npyHeaderFromHead(bytes.subarray(0, headerLength - 1), headerLength - 1)).toThrow(expect.objectContaining({ code: 'ERR_NPY_TRUNCATED' }));
  });
});

describe('readNpyArray', () => {
  it('refuses more than maxArrayBytes before allocating, and takes exactly that many', async () => {
    const { bytes, byteLength } = npy('<f4', [5]);
    const header = await readNpyHeader(memoryReader(bytes));
    const fresh = () => {
      const reader = memoryReader(bytes);
      return reader.read(header.headerLength).then(() => reader);
    };
    expect(await codeOf(async () => readNpyArray(await fresh(), header, { maxArrayBytes: byteLength - 1 }))).toBe('ERR_NPY_TOO_LARGE');
    expect((await readNpyArray(await fresh(), header, { maxArrayBytes: byteLength })).data.byteLength).toBe(byteLength);
    const failing = () => {
      throw new RangeError('Array buffer allocation failed');
    };
    expect(await codeOf(async () => readNpyArray(await fresh(), header, {}, failing))).toBe('ERR_NPY_TOO_LARGE');
  });

  it('verifies the reader (finish) before it returns, and honours an abort that came during the read', async () => {
    const { bytes } = npy('<i2', [4]);
    const header = decodeNpyHeader(bytes);
    const corrupt = memoryReader(bytes, {
      onFinish: () => {
        throw new Error('CRC mismatch');
      },
    });
    await corrupt.read(header.headerLength);
    await expect(readNpyArray(corrupt, header)).rejects.toThrow('CRC mismatch');
    const controller = new AbortController();
    const aborting = memoryReader(bytes, { onFinish: () => controller.abort() });
    await aborting.read(header.headerLength);
    expect(await codeOf(() => readNpyArray(aborting, header, { signal: controller.signal }))).toBe('ERR_ABORTED');
  });
});

describe('npyDataChunks', () => {
  const collect = async (chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for await (const chunk of chunks) out.push(chunk.slice());
    return out;
  };

  it('swaps whole items whatever sizes are asked for or handed out, never yielding an empty chunk', async () => {
    for (const [descr, unit] of [['>i4', 4], ['>f8', 8], ['>c8', 4], ['>u2', 2]] as const) {
      const { bytes, headerLength } = npy(descr, [7]);
      const header = decodeNpyHeader(bytes);
      const stored = bytes.subarray(headerLength);
      for (const chunkSize of [1, unit - 1, unit + 1, 3 * unit + 2, 1000]) {
        for (const piece of [undefined, 1, 3, 5]) {
          const reader = memoryReader(bytes, piece === undefined ? {} : { piece });
          await reader.read(headerLength);
          const asked: number[] = [];
          const spy = { ...reader, size: reader.size, remaining: reader.remaining, chunks: (size: number, recycle: boolean) => (asked.push(size), reader.chunks(size, recycle)) };
          const chunks = await collect(npyDataChunks(spy, header, chunkSize));
          const label = `${descr}, chunks of ${chunkSize}, pieces of ${piece ?? 'that size'}`;
          expect(Buffer.concat(chunks).equals(Buffer.from(reversedGroups(stored, unit))), label).toBe(true);
          for (const chunk of chunks) {
            expect(chunk.length % unit, label).toBe(0);
            expect(chunk.length, label).toBeGreaterThan(0);
          }
          // Asked in whole items, never fewer than one.
          expect(asked[0]! % unit, label).toBe(0);
          expect(asked[0], label).toBeGreaterThanOrEqual(unit);
          expect(reader.finished, label).toBe(true);
        }
      }
    }
  });

  it('hands stored bytes through unchanged when nothing is swapped', async () => {
    const { bytes, headerLength } = npy('<i4', [9]);
    const reader = memoryReader(bytes, { piece: 5 });
    await reader.read(headerLength);
    const chunks = await collect(npyDataChunks(reader, decodeNpyHeader(bytes), 8));
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes.subarray(headerLength)))).toBe(true);
  });

  it('stops between chunks when aborted', async () => {
    const { bytes, headerLength } = npy('>i4', [64]);
    const reader = memoryReader(bytes, { piece: 16 });
    await reader.read(headerLength);
    const controller = new AbortController();
    let seen = 0;
    const work = async () => {
      for await (const _ of npyDataChunks(reader, decodeNpyHeader(bytes), 16, { signal: controller.signal })) {
        seen += 1;
        controller.abort();
      }
    };
    expect(await codeOf(work)).toBe('ERR_ABORTED');
    expect(seen).toBe(1);
  });
});
