import { crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/browser/crc32.js';
import { seededRandom } from '../helpers/bytes.js';
import { ENDED, NEEDS_INPUT, RawInflater } from '../../src/browser/inflate.js';
import { inflateHead } from '../../src/browser/codecs.js';
import { agreeWithZlib, sample } from '../helpers/inflate-agreement.js';
import { browserCodecs, nativeInflateRefusesTrailingBytes, scriptCodecs } from '../../src/browser/codecs.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import type { Codecs, InflateInput } from '../../src/io/codecs.js';

/**
 * The browser codecs against zlib, in Node (the same code runs in the page): the TypeScript inflater accepts and
 * refuses what zlib does, with zlib's messages, and consumes exactly the bytes zlib consumes, whatever the input
 * and output piece sizes; the CRC-32 equals zlib's for any view and starting value.
 */

/** Streams per seed here; test/slow/inflate-long.test.ts runs thousands. */
const STREAMS = 40;

describe('the TypeScript raw inflater', () => {
  it.each([1, 2])(`agrees with zlib on ${STREAMS} streams, whole, damaged and cut, with trailing bytes (seed %i)`, (seed) => {
    const errors = agreeWithZlib(seed, STREAMS);
    expect(errors).toBeGreaterThan(STREAMS / 12);
  });

  it('hands out what it has before asking for more input, and stops exactly where the deflate stream ends', () => {
    const data = sample(seededRandom(9), 100_000);
    const deflated = deflateRawSync(data);
    const inflater = new RawInflater(1 << 20);
    inflater.push(deflated.subarray(0, 1000));
    const first = inflater.inflate();
    expect(first).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(first as Uint8Array).equals(data.subarray(0, (first as Uint8Array).length))).toBe(true);
    expect(inflater.inflate()).toBe(NEEDS_INPUT);
    inflater.push(Buffer.concat([deflated.subarray(1000), Buffer.from('PK\x07\x08after')]));
    let total = (first as Uint8Array).length;
    for (let step = inflater.inflate(); step !== ENDED; step = inflater.inflate()) {
      expect(step).not.toBe(NEEDS_INPUT);
      total += (step as Uint8Array).length;
    }
    expect(total).toBe(data.length);
    expect(inflater.consumed).toBe(deflated.length);
    expect(Buffer.from(inflater.unused()).toString('latin1')).toBe('PK\x07\x08after');
  });

  it('inflateHead gives what the head holds, undefined past maxOutput or for damage, as Node\'s does', () => {
    const data = sample(seededRandom(5), 50_000);
    const deflated = deflateRawSync(data);
    const asBytes = (head: Uint8Array | undefined): Uint8Array | undefined => (head === undefined ? undefined : new Uint8Array(head));
    for (const cut of [10, 300, 2000, deflated.length]) {
      const expected = asBytes(nodeCodecs.inflateHead(deflated.subarray(0, cut), 1 << 20));
      expect(asBytes(inflateHead(deflated.subarray(0, cut), 1 << 20))).toEqual(expected);
    }
    expect(inflateHead(deflated, 1000)).toBeUndefined();
    expect(nodeCodecs.inflateHead(deflated, 1000)).toBeUndefined();
    expect(inflateHead(Uint8Array.of(0xff, 0xff, 0xff), 1000)).toBeUndefined();
  });
});

describe('CRC-32 (slicing-by-16)', () => {
  it('equals zlib.crc32 for any view, offset and starting value', () => {
    const random = seededRandom(3);
    const bytes = sample(seededRandom(4), 1 << 20);
    for (let i = 0; i < 2000; i++) {
      const start = Math.floor(random() * 1000);
      const view = bytes.subarray(start, start + Math.floor(random() * (i < 1000 ? 200 : 200_000)));
      const previous = Math.floor(random() * 2 ** 32);
      expect(crc32(view, previous)).toBe(zlibCrc32(view, previous));
    }
    expect(crc32(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
  });
});

/** An input of `chunks`, restartable like a random-access member's. */
function input(chunks: Uint8Array[], onRestart?: () => void): InflateInput {
  let at = 0;
  return {
    next: async () => chunks[at++],
    restart: () => {
      onRestart?.();
      return input(chunks);
    },
  };
}

async function drain(codecs: Codecs, source: InflateInput): Promise<{ output: Buffer; consumed: number } | { error: string }> {
  const inflation = codecs.inflateRaw(source, { chunkSize: 64 * 1024 });
  const pieces: Uint8Array[] = [];
  try {
    for (let piece = await inflation.next(); piece !== undefined; piece = await inflation.next()) pieces.push(piece);
  } catch (error) {
    return { error: (error as Error).message };
  } finally {
    inflation.destroy();
  }
  return { output: Buffer.concat(pieces), consumed: inflation.consumed };
}

describe('inflation through the browser codecs (DecompressionStream in Node here)', () => {
  const data = sample(seededRandom(7), 300_000);
  const deflated = deflateRawSync(data);

  it('a whole member: the data, and every compressed byte consumed', async () => {
    expect(await drain(browserCodecs, input([deflated.subarray(0, 16_384), deflated.subarray(16_384)]))).toEqual({ output: Buffer.from(data), consumed: deflated.length });
  });

  it('bytes after the end of the deflate stream: the TypeScript inflater reports where it ended, as zlib does (a rerun where DecompressionStream refuses them, from the start where it drops them)', async () => {
    let restarts = 0;
    const withJunk = Buffer.concat([deflated, Buffer.alloc(100, 7)]);
    const expected = await drain(nodeCodecs, input([withJunk]));
    expect(expected).toEqual({ output: Buffer.from(data), consumed: deflated.length });
    expect(await drain(browserCodecs, input([withJunk], () => restarts++))).toEqual(expected);
    // Node 20's DecompressionStream drops trailing bytes silently (Chromium's refuses them): the probe tells which.
    expect(restarts).toBe((await nativeInflateRefusesTrailingBytes()) ? 1 : 0);
  });

  it('damaged or cut data: zlib\'s verdict, through the rerun', async () => {
    const damaged = Buffer.from(deflated);
    damaged[5000]! ^= 0x55;
    const verdict = (await drain(nodeCodecs, input([damaged]))) as { error: string };
    expect(await drain(browserCodecs, input([damaged]))).toEqual(verdict);
    const cut = deflated.subarray(0, deflated.length - 10);
    expect(await drain(browserCodecs, input([cut]))).toEqual(await drain(nodeCodecs, input([cut])));
    expect(await drain(scriptCodecs, input([cut]))).toEqual(await drain(nodeCodecs, input([cut])));
  });
});
