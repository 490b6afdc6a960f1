/**
 * The byte codecs the core needs from its host: CRC-32 and raw deflate. The core (npy, zip, npz, safetensors)
 * never imports `node:zlib`; Node's implementation lives in `src/node/codecs.ts`, and a browser build supplies
 * its own. Streams are pull-based async iterables, which both zlib and WHATWG compression streams can serve.
 */

export interface Codecs {
  /** CRC-32 (ZIP polynomial) of `data`, continuing from `previous`; any length, empty views included. */
  crc32(data: Uint8Array, previous: number): number;
  /**
   * Raw deflate (no zlib header) of `input` at `level` (0–9), byte-identical to zlib's output at that level, which
   * is what np.savez_compressed writes. Input chunks may be held until the output is pulled past them.
   */
  deflateRaw(input: AsyncIterable<Uint8Array>, options: { level: number; chunkSize: number }): AsyncIterable<Uint8Array>;
  /**
   * Inflates one raw deflate stream pulled from `input`, stopping where the deflate stream ends by itself (which
   * a front-to-back zip reader needs to find what follows a member of unknown compressed size).
   */
  inflateRaw(input: InflateInput, options: { chunkSize: number }): Inflation;
  /**
   * Inflates as much of the start of a raw deflate stream as `head` holds, synchronously, up to `maxOutput` bytes;
   * undefined when that is not conclusive (damaged data) or the host has no synchronous inflate.
   */
  inflateHead(head: Uint8Array, maxOutput: number): Uint8Array | undefined;
}

/** Where an inflater pulls compressed bytes from. */
export interface InflateInput {
  /** The next compressed bytes, at most `max` of them; undefined once the input has ended. */
  next(max: number): Promise<Uint8Array | undefined>;
}

/** One deflate stream being inflated. */
export interface Inflation {
  /** The next inflated piece; undefined once the deflate stream has ended. Rejects on damaged or cut input. */
  next(): Promise<Uint8Array | undefined>;
  /** Input pulled but not part of the deflate stream; valid once `next()` resolved undefined. */
  unused(): Uint8Array;
  /** Compressed bytes the deflate stream occupied; final once `next()` resolved undefined. */
  readonly consumed: number;
  /** Stops inflating. Idempotent. */
  destroy(): void;
}
