import type { RandomAccessSource } from '../../source/random-access.js';

export const DEFAULT_WINDOW_SIZE = 64 * 1024;

/**
 * Serves the member reader's small reads (a local header, an npy header, a tiny member) from one cached window of
 * the source, so reading neighbouring small members one by one does not cost a positional read each. Opening an
 * archive does not go through it: the directory and the header scan make their own large reads.
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
