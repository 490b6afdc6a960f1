import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Small byte utilities the tests share: views, digests, and reproducible pseudo-random data. */

/** The bytes behind any typed array or DataView, without copying. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** sha256 (hex) of the bytes behind `view`. */
export function sha256(view: ArrayBufferView): string {
  return createHash('sha256').update(bytesOf(view)).digest('hex');
}

export function hex(view: ArrayBufferView): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
}

/** True when two files hold the same bytes. */
export function sameFileBytes(a: string, b: string): boolean {
  return Buffer.compare(readFileSync(a), readFileSync(b)) === 0;
}

/** Incompressible bytes from a seed (xorshift32): the same bytes for the same seed on every platform. */
export function randomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** mulberry32: a seeded random() in [0, 1), small, fast, and the same sequence on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
