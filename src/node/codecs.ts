/**
 * The core's codecs (src/io/codecs.ts) on Node's zlib: CRC-32, raw deflate as np.savez_compressed writes it, and
 * raw inflate that stops where the deflate stream ends.
 */
import { pipeline } from 'node:stream';
import { constants, crc32 as zlibCrc32, createDeflateRaw, createInflateRaw, inflateRawSync, type InflateRaw } from 'node:zlib';
import type { Codecs, InflateInput, Inflation } from '../io/codecs.js';
import { MAX_VIEW_BYTES } from '../io/chunks.js';

// zlib's crc32 takes a 32-bit length: a 4 GiB view silently hashes as if empty, so large views go in slices.
function crc32(data: Uint8Array, previous: number): number {
  let crc = previous;
  const length = data.byteLength;
  // Node 20 returns 0 for a zero-length view over a zero-byte ArrayBuffer, whatever `previous` is.
  if (length === 0) return crc;
  if (length <= MAX_VIEW_BYTES) return zlibCrc32(data, crc);
  for (let start = 0; start < length; start += MAX_VIEW_BYTES) {
    crc = zlibCrc32(data.subarray(start, Math.min(length, start + MAX_VIEW_BYTES)), crc);
  }
  return crc;
}

/** Inflated pieces queued before the inflater is paused (and so stops taking input). */
const QUEUE_HIGH = 4;

/**
 * One deflate stream inflated by zlib. Input is written one piece at a time, and only when the consumer wants
 * output and zlib has taken the previous piece, so neither side runs ahead and whatever zlib did not consume lies
 * in the last piece written: that tail is `unused()`.
 */
class ZlibInflation implements Inflation {
  readonly #input: InflateInput;
  readonly #inflater: InflateRaw;
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #error: unknown;
  #writing = false;
  #inputDone = false;
  #fed = 0;
  #last: Uint8Array = new Uint8Array(0);
  #wake: (() => void) | undefined;

  constructor(input: InflateInput, chunkSize: number) {
    this.#input = input;
    this.#inflater = createInflateRaw({ chunkSize });
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

  get consumed(): number {
    return this.#inflater.bytesWritten;
  }

  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const piece = this.#queue.shift();
      if (piece !== undefined) {
        if (this.#queue.length < QUEUE_HIGH) this.#inflater.resume();
        return piece;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return undefined;
      if (!this.#writing && !this.#inputDone) await this.#feed();
      else await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  unused(): Uint8Array {
    const unused = this.#fed - this.#inflater.bytesWritten;
    return unused > 0 ? this.#last.subarray(this.#last.length - unused) : new Uint8Array(0);
  }

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
    const chunk = await this.#input.next();
    if (chunk === undefined) {
      // No more input: zlib either finishes the stream from what it has or reports "unexpected end of file".
      this.#inputDone = true;
      this.#inflater.end();
      return;
    }
    if (chunk.length === 0) return;
    this.#fed += chunk.length;
    this.#last = chunk;
    this.#writing = true;
    this.#inflater.write(chunk, () => {
      this.#writing = false;
      this.#signal();
    });
  }
}

export const nodeCodecs: Codecs = {
  crc32,

  deflateRaw(input, { level, chunkSize }) {
    const deflate = createDeflateRaw({ level, chunkSize });
    // An error of `input` destroys the deflate stream with it, so iterating the output rejects with that error.
    pipeline(input, deflate, () => undefined);
    return deflate;
  },

  inflateRaw(input, { chunkSize }) {
    return new ZlibInflation(input, chunkSize);
  },

  inflateHead(head, maxOutput) {
    try {
      return inflateRawSync(head, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: maxOutput });
    } catch {
      return undefined;
    }
  },
};
