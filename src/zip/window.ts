import type { RandomAccessSource } from '../source/random-access.js';

export const DEFAULT_WINDOW_SIZE = 64 * 1024;

/**
 * Serves small reads (central directory records, local headers, npy headers, tiny members) from one cached
 * window of the source. Archives with tens of thousands of members would otherwise cost several positional
 * reads per member; laid out back to back they mostly fall inside the same window.
 */
export class ReadWindow {
  #start = 0;
  #bytes: Uint8Array = new Uint8Array(0);

  constructor(
    readonly source: RandomAccessSource,
    readonly windowSize: number = DEFAULT_WINDOW_SIZE,
  ) {}

  /** Like `source.read`: exactly `length` bytes unless the source ends first. Treat the result as read-only. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length > this.windowSize / 2) return this.source.read(offset, length);
    const relative = offset - this.#start;
    if (relative >= 0 && relative + length <= this.#bytes.length) return this.#bytes.subarray(relative, relative + length);
    const span = Math.max(length, Math.min(this.windowSize, this.source.size - offset));
    // A fresh buffer per refill keeps earlier results valid for callers still holding them.
    const fetched = await this.source.read(offset, span);
    this.#start = offset;
    this.#bytes = fetched;
    return fetched.subarray(0, Math.min(length, fetched.length));
  }
}
