/**
 * The byte codecs the core needs from its host: CRC-32 and raw deflate. The core (npy, zip, npz, safetensors)
 * never imports `node:zlib`; Node's implementation lives in `src/node/codecs.ts`, and a browser build supplies
 * its own. Objects that need them are handed them explicitly (`ZipArchive.open(source, codecs)`, `new
 * ZipWriter(sink, { codecs })`, `new SequentialZipReader(stream, codecs)`); there is no registry.
 */

export interface Codecs {
  /** CRC-32 (ZIP polynomial) of `data`, continuing from `previous`; any length, empty views and views over 4 GiB included. */
  crc32(data: Uint8Array, previous: number): number;
  /**
   * Raw deflate (no zlib header) of `input` at `level` (0–9), byte-identical to zlib's output at that level, which
   * is what np.savez_compressed writes. An input chunk may be held until the output is pulled past it, so a caller
   * that reuses its buffers passes copies. An error thrown by `input` rejects the output's iteration as is.
   */
  deflateRaw(input: AsyncIterable<Uint8Array>, options: { level: number; chunkSize: number }): AsyncIterable<Uint8Array>;
  /**
   * Inflates one raw deflate stream pulled from `input`, stopping where the deflate stream ends by itself (which
   * a front-to-back zip reader needs to find what follows a member of unknown compressed size). Input is pulled
   * only when output is wanted, one piece at a time; `chunkSize` bounds each inflated piece.
   */
  inflateRaw(input: InflateInput, options: { chunkSize: number }): Inflation;
  /**
   * Inflates as much of the start of a raw deflate stream as `head` holds, synchronously, up to `maxOutput` bytes;
   * undefined when that is not conclusive (damaged data, more output than `maxOutput`) or the host has no
   * synchronous inflate.
   */
  inflateHead(head: Uint8Array, maxOutput: number): Uint8Array | undefined;
}

/** Where an inflater pulls compressed bytes from; the input chooses how many per piece. */
export interface InflateInput {
  /** The next compressed bytes; undefined once the input has ended. A rejection rejects the inflation as is. */
  next(): Promise<Uint8Array | undefined>;
  /**
   * Present when the input is exactly the member's compressed bytes and can be read again (random access): a fresh
   * input from the first compressed byte. A host whose fast inflater cannot tell where a deflate stream ended (a
   * browser's DecompressionStream refuses bytes after it) reruns a member it refused through one that can, so the
   * damage is reported as every host reports it.
   */
  restart?(): InflateInput;
}

/** One deflate stream being inflated. */
export interface Inflation {
  /**
   * The next inflated piece; undefined once the deflate stream has ended. Rejects with the input's own error, or
   * with the host's error for damaged data or input that ended inside the deflate stream.
   */
  next(): Promise<Uint8Array | undefined>;
  /** Input pulled but not part of the deflate stream (a view of the last piece); valid once `next()` resolved undefined. */
  unused(): Uint8Array;
  /** Compressed bytes the deflate stream occupied; final once `next()` resolved undefined. */
  readonly consumed: number;
  /** Stops inflating. Idempotent. */
  destroy(): void;
}
