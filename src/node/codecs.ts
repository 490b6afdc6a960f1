import zlib from 'node:zlib';
import { NpzError } from '../errors.js';
import type { StreamByteReader } from '../source/byte-stream.js';

/**
 * Inflates one deflate stream read from a StreamByteReader, stopping where the deflate stream ends by itself: the
 * compressed bytes zlib did not consume go back to the reader, so the data descriptor or next header after a
 * member written with unknown sizes is found without knowing the compressed size. Input is fed one chunk at a
 * time and only when the consumer wants output, so neither side runs ahead.
 */

const INPUT_CHUNK = 64 * 1024;
const OUTPUT_CHUNK = 256 * 1024;
/** Inflated pieces queued before the inflater is paused (and so stops taking input). */
const QUEUE_HIGH = 4;

export class StreamInflater {
  readonly #reader: StreamByteReader;
  readonly #inputLimit: number | undefined;
  readonly #entry: string;
  readonly #inflater: zlib.InflateRaw;
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #settled = false;
  #error: unknown;
  #writing = false;
  #inputDone = false;
  #inputTruncated = false;
  #fed = 0;
  #last: Uint8Array = new Uint8Array(0);
  #wake: (() => void) | undefined;

  /** With `inputLimit` (the compressed size from the local header) no byte past it is fed. */
  constructor(reader: StreamByteReader, entry: string, inputLimit?: number) {
    this.#reader = reader;
    this.#entry = entry;
    this.#inputLimit = inputLimit;
    this.#inflater = zlib.createInflateRaw({ chunkSize: OUTPUT_CHUNK });
    this.#inflater.on('data', (piece: Buffer) => {
      this.#queue.push(piece);
      if (this.#queue.length >= QUEUE_HIGH) this.#inflater.pause();
      this.#signal();
    });
    this.#inflater.on('end', () => {
      this.#ended = true;
      this.#signal();
    });
    this.#inflater.on('error', (error: unknown) => {
      this.#error ??= error;
      this.#signal();
    });
  }

  /** Compressed bytes the deflate stream occupied; final once `next` has returned undefined. */
  get consumed(): number {
    return this.#inflater.bytesWritten;
  }

  /** The next inflated piece, or undefined once the deflate stream has ended (unused input is put back first). */
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const piece = this.#queue.shift();
      if (piece !== undefined) {
        if (this.#queue.length < QUEUE_HIGH) this.#inflater.resume();
        return piece;
      }
      if (this.#error !== undefined) throw this.#mappedError();
      if (this.#ended) {
        this.#settle();
        return undefined;
      }
      if (!this.#writing && !this.#inputDone) await this.#feed();
      else await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Stops inflating; the reader is left wherever the inflater got to. Idempotent. */
  destroy(): void {
    this.#inflater.removeAllListeners('data');
    this.#inflater.on('error', () => undefined);
    this.#inflater.destroy();
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #feed(): Promise<void> {
    const room = this.#inputLimit === undefined ? INPUT_CHUNK : Math.min(INPUT_CHUNK, this.#inputLimit - this.#fed);
    const chunk = room > 0 ? await this.#reader.next(room) : undefined;
    if (chunk === undefined) {
      // No more input: zlib either finishes the stream from what it has or reports "unexpected end of file".
      this.#inputDone = true;
      this.#inputTruncated = room > 0;
      this.#inflater.end();
      return;
    }
    this.#fed += chunk.length;
    this.#last = chunk;
    this.#writing = true;
    this.#inflater.write(chunk, () => {
      this.#writing = false;
      this.#signal();
    });
  }

  /** Puts the bytes zlib did not consume (a tail of the last chunk fed) back into the reader. */
  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    const unused = this.#fed - this.#inflater.bytesWritten;
    if (unused > 0) this.#reader.unread(this.#last.subarray(this.#last.length - unused));
  }

  #mappedError(): NpzError {
    const cause = this.#error;
    if (cause instanceof NpzError) return cause;
    const message = cause instanceof Error ? cause.message : String(cause);
    if (this.#inputTruncated) {
      return new NpzError('ERR_ZIP_TRUNCATED', `the stream ended inside the deflate data of member ${JSON.stringify(this.#entry)}`, {
        entry: this.#entry,
        offset: this.#reader.position,
        cause,
      });
    }
    return new NpzError('ERR_ZIP_INFLATE', `member ${JSON.stringify(this.#entry)}: corrupt deflate data (${message})`, {
      entry: this.#entry,
      cause,
    });
  }
}
