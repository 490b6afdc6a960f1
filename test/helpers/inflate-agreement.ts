import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { expect } from 'vitest';
import { ENDED, InflateDataError, InflateTruncatedError, NEEDS_INPUT, RawInflater } from '../../src/browser/inflate.js';
import { seededRandom } from './bytes.js';

/**
 * The browser's TypeScript raw inflater against zlib on seeded random deflate streams: whole, damaged (flipped bits)
 * and cut, followed by junk, fed in random input pieces and taken in random output pieces. Shared by the quick test
 * (test/browser/inflate.test.ts) and the long one (test/slow/inflate-long.test.ts).
 */

export function sample(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const kind = Math.floor(random() * 4);
  for (let i = 0; i < length; i++) {
    if (kind === 0) out[i] = Math.floor(random() * 256);
    else if (kind === 1) out[i] = Math.floor(random() * 4);
    else if (kind === 2) out[i] = i > 100 && random() < 0.9 ? (out[i - 1 - Math.floor(random() * 100)] as number) : Math.floor(random() * 256);
    else out[i] = (i * 7) & 0xff;
  }
  return out;
}

/** Inflates `input` fed `inputPiece` bytes at a time, taking pieces of at most `piece` bytes. */
export function inflateAll(input: Uint8Array, inputPiece: number, piece: number): { output: Buffer; consumed: number } | { error: string } {
  const inflater = new RawInflater(piece);
  const pieces: Uint8Array[] = [];
  let at = 0;
  try {
    for (;;) {
      const step = inflater.inflate();
      if (step === ENDED) break;
      if (step === NEEDS_INPUT) {
        if (at >= input.length) inflater.finish();
        else inflater.push(input.subarray(at, (at += inputPiece)));
        continue;
      }
      if (step.length > piece) throw new Error(`a piece of ${step.length} bytes, more than ${piece}`);
      pieces.push(step);
    }
  } catch (error) {
    if (error instanceof InflateDataError || error instanceof InflateTruncatedError) return { error: error.message };
    throw error;
  }
  return { output: Buffer.concat(pieces), consumed: inflater.consumed };
}

export function zlibInflate(input: Uint8Array): { output: Buffer; consumed: number } | { error: string } {
  try {
    const result = inflateRawSync(input, { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    return { output: result.buffer, consumed: result.engine.bytesWritten };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const STRATEGIES = [constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED];

/** `streams` random streams from `seed`, each inflated by both; returns how many zlib refused. */
export function agreeWithZlib(seed: number, streams: number): number {
  const random = seededRandom(seed);
  let errors = 0;
  for (let i = 0; i < streams; i++) {
    const data = sample(random, Math.floor(random() * (random() < 0.05 ? 300_000 : 3000)));
    const deflated = deflateRawSync(data, {
      level: Math.floor(random() * 10),
      strategy: STRATEGIES[Math.floor(random() * STRATEGIES.length)],
      windowBits: 9 + Math.floor(random() * 7),
      memLevel: 1 + Math.floor(random() * 9),
    });
    let input = Buffer.concat([deflated, sample(random, Math.floor(random() * 50))]);
    const damage = random();
    if (damage < 0.3) {
      // Flipped bits, half the time in the first 200 bytes where the block headers and code tables are.
      input = Buffer.from(input);
      const span = random() < 0.5 ? Math.min(input.length, 200) : input.length;
      for (let k = 0; k < 1 + random() * 3; k++) input[Math.floor(random() * span)]! ^= 1 << Math.floor(random() * 8);
    } else if (damage < 0.45) {
      input = input.subarray(0, Math.floor(random() * deflated.length));
    }
    const inputPiece = 1 + Math.floor(random() * (random() < 0.3 ? 16 : 70_000));
    const piece = 1 + Math.floor(random() * (random() < 0.3 ? 300 : 300_000));
    const expected = zlibInflate(input);
    if ('error' in expected) errors++;
    expect(inflateAll(input, inputPiece, piece)).toEqual(expected);
  }
  return errors;
}
