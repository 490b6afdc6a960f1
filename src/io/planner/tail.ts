import { MAX_TAIL_CACHE, SMALL_READ } from './policy.js';

/**
 * The cached end of a source: `[start, start + bytes.length)`, always one contiguous run to the end. A zip is read
 * from its end (end records, central directory) and a round-trip source's first read learns its size by fetching
 * its last bytes, so keeping them answers the directory reads without another request.
 */
export class TailCache {
  constructor(
    public bytes: Uint8Array,
    public start: number,
  ) {}

  /** Bytes `[start, end)` when the cache holds all of them. */
  lookup(start: number, end: number): Uint8Array | undefined {
    if (start < this.start) return undefined;
    return this.bytes.subarray(start - this.start, end - this.start);
  }

  /** Puts `[at, at + below.length)`, read from just below the cache, in front of it; keeps only what is still below. */
  prepend(at: number, below: Uint8Array): void {
    if (at >= this.start) return;
    const missing = below.subarray(0, this.start - at);
    const grown = new Uint8Array(missing.length + this.bytes.length);
    grown.set(missing, 0);
    grown.set(this.bytes, missing.length);
    this.bytes = grown;
    this.start = at;
  }
}

/**
 * Whether a read of `[start, end)` below the cache should grow it down to `start` (fetching only the missing
 * bytes) rather than be read on its own: a small read that ends within a gap of the cache (the start of a central
 * directory a little larger than the first read), while the cache is below its cap.
 */
export function growsTail(start: number, end: number, tail: { start: number; length: number }, gapBytes: number): boolean {
  return start < tail.start && end - start <= SMALL_READ && end + gapBytes >= tail.start && tail.length <= MAX_TAIL_CACHE;
}
