/**
 * The core's codecs (src/io/codecs.ts) on what a browser has: CRC-32 in TypeScript (slicing-by-16), inflate with
 * the browser's own `DecompressionStream('deflate-raw')` where a member's compressed bytes are known and can be
 * read again, and with a TypeScript inflater (./inflate.ts) where the end of the deflate stream must be found (the
 * front-to-back reader), and deflate with `CompressionStream('deflate-raw')`.
 */
import type { Codecs, InflateInput, Inflation } from '../io/codecs.js';
import { crc32 } from './crc32.js';
import { ENDED, NEEDS_INPUT, RawInflater } from './inflate.js';

const EMPTY = new Uint8Array(0);

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

/** One deflate stream through the TypeScript inflater: exact about where the stream ended. */
class ScriptInflation implements Inflation {
  readonly #input: InflateInput;
  readonly #inflater: RawInflater;
  /** Output bytes to drop first: what another inflater already handed out (a rerun after a refusal). */
  #skip: number;
  #destroyed = false;

  constructor(input: InflateInput, chunkSize: number, skip = 0) {
    this.#input = input;
    this.#inflater = new RawInflater(chunkSize);
    this.#skip = skip;
  }

  get consumed(): number {
    return this.#inflater.consumed;
  }

  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#destroyed) return undefined;
      const piece = this.#inflater.inflate();
      if (piece === ENDED) return undefined;
      if (piece === NEEDS_INPUT) {
        const chunk = await this.#input.next();
        if (chunk === undefined) this.#inflater.finish();
        else this.#inflater.push(chunk);
        continue;
      }
      if (this.#skip >= piece.length) {
        this.#skip -= piece.length;
        continue;
      }
      if (this.#skip > 0) {
        const rest = piece.subarray(this.#skip);
        this.#skip = 0;
        return rest;
      }
      return piece;
    }
  }

  unused(): Uint8Array {
    return this.#inflater.streamEnded ? this.#inflater.unused() : EMPTY;
  }

  destroy(): void {
    this.#destroyed = true;
  }
}

/**
 * Whether this host's DecompressionStream refuses bytes after the end of a deflate stream, as the Compression
 * Streams standard asks and Chromium does. Some implementations (Node 20's) drop them silently, which would hide
 * where the stream ended; there every member goes through the TypeScript inflater. Probed once, on a 2-byte empty
 * deflate stream followed by one byte.
 */
let strictness: Promise<boolean> | undefined;
export function nativeInflateRefusesTrailingBytes(): Promise<boolean> {
  strictness ??= (async () => {
    try {
      const stream = new DecompressionStream('deflate-raw');
      const writer = stream.writable.getWriter();
      writer.write(Uint8Array.of(0x03, 0x00, 0x00)).catch(() => undefined);
      writer.close().catch(() => undefined);
      const reader = stream.readable.getReader();
      while (!(await reader.read()).done);
      return false;
    } catch {
      return true;
    }
  })();
  return strictness;
}

/** Compressed bytes handed to DecompressionStream per write: bounds what one write can inflate to (about 1032×). */
const NATIVE_INPUT_PIECE = 32 * 1024;

/**
 * One deflate stream through DecompressionStream. It refuses bytes after the end of the deflate stream (rather than
 * reporting them), so it is used only for an input that can be read again: when it refuses the data, the member is
 * rerun through the TypeScript inflater past the bytes already handed out, which ends or fails exactly where zlib
 * does (a deflate stream ending before the member's recorded size is then a size error, as on Node).
 */
class NativeInflation implements Inflation {
  readonly #input: InflateInput;
  readonly #chunkSize: number;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #reading: Promise<ReadResult> | undefined;
  #writing: Promise<void> | undefined;
  /** Input taken from `#input` and not yet written, as a view. */
  #pending: Uint8Array = EMPTY;
  #inputDone = false;
  #inputError: { error: unknown } | undefined;
  #fed = 0;
  #delivered = 0;
  #output: Uint8Array = EMPTY;
  #ended = false;
  #destroyed = false;
  #rerun: ScriptInflation | undefined;

  constructor(input: InflateInput, chunkSize: number) {
    this.#input = input;
    this.#chunkSize = chunkSize;
    const stream = new DecompressionStream('deflate-raw');
    this.#writer = stream.writable.getWriter();
    this.#reader = stream.readable.getReader();
    // Failures surface through the reads; these only keep them from being reported as unhandled.
    this.#writer.closed.catch(() => undefined);
  }

  get consumed(): number {
    return this.#rerun?.consumed ?? this.#fed;
  }

  async next(): Promise<Uint8Array | undefined> {
    if (this.#rerun !== undefined) return this.#rerun.next();
    if (this.#fed === 0 && this.#reading === undefined && !(await nativeInflateRefusesTrailingBytes())) {
      // Nothing was read yet: the whole member goes through the TypeScript inflater.
      this.#stop();
      this.#rerun = new ScriptInflation(this.#input, this.#chunkSize);
      return this.#rerun.next();
    }
    try {
      const piece = await this.#next();
      if (piece !== undefined) this.#delivered += piece.length;
      return piece;
    } catch (error) {
      if (this.#inputError !== undefined) throw this.#inputError.error;
      if (this.#destroyed) return undefined;
      const restart = this.#input.restart;
      if (restart === undefined) throw error;
      this.#stop();
      this.#rerun = new ScriptInflation(restart.call(this.#input), this.#chunkSize, this.#delivered);
      return this.#rerun.next();
    }
  }

  async #next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#destroyed) return undefined;
      if (this.#output.length > 0) {
        const piece = this.#output.subarray(0, this.#chunkSize);
        this.#output = this.#output.subarray(piece.length);
        return piece;
      }
      if (this.#ended) return undefined;
      this.#reading ??= this.#reader.read();
      if (this.#writing === undefined && !this.#inputDone) this.#writing = this.#feed();
      const reading = this.#reading;
      const outcome = await (this.#writing === undefined
        ? reading.then((result) => ({ result }))
        : Promise.race([reading.then((result) => ({ result })), this.#writing.then(() => undefined)]));
      if (outcome === undefined) continue;
      this.#reading = undefined;
      if (outcome.result.done) {
        this.#ended = true;
        return undefined;
      }
      this.#output = outcome.result.value;
    }
  }

  /** Writes the next piece of input (or closes the stream once the input has ended). */
  async #feed(): Promise<void> {
    try {
      if (this.#pending.length === 0) {
        let chunk: Uint8Array | undefined;
        try {
          chunk = await this.#input.next();
        } catch (error) {
          this.#inputError = { error };
          throw error;
        }
        if (chunk === undefined) {
          this.#inputDone = true;
          await this.#writer.close();
          return;
        }
        this.#pending = chunk;
      }
      const piece = this.#pending.subarray(0, NATIVE_INPUT_PIECE);
      this.#pending = this.#pending.subarray(piece.length);
      this.#fed += piece.length;
      await this.#writer.write(piece);
    } catch (error) {
      this.#writer.abort(error).catch(() => undefined);
      throw error;
    } finally {
      this.#writing = undefined;
    }
  }

  unused(): Uint8Array {
    return this.#rerun?.unused() ?? EMPTY;
  }

  destroy(): void {
    this.#destroyed = true;
    this.#rerun?.destroy();
    this.#stop();
  }

  #stop(): void {
    this.#reader.cancel().catch(() => undefined);
    this.#writer.abort().catch(() => undefined);
    this.#reading?.catch(() => undefined);
    this.#writing?.catch(() => undefined);
  }
}

/** Raw deflate through CompressionStream; its output is valid deflate but not zlib's bytes at `level`. */
async function* deflateRaw(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const stream = new CompressionStream('deflate-raw');
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  writer.closed.catch(() => undefined);
  let stopped = false;
  const pump = (async () => {
    try {
      for await (const chunk of input) {
        if (stopped) return;
        await writer.write(chunk);
      }
      await writer.close();
    } catch (error) {
      // The readable side fails with the same error, so the consumer's read rejects with it as is.
      await writer.abort(error).catch(() => undefined);
    }
  })();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield value;
    }
    await pump;
  } finally {
    stopped = true;
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Inflates the start of a raw deflate stream from `head` alone, up to `maxOutput` bytes: what the head holds when
 * the stream goes on past it, all of it when the stream ends in it. Undefined when the data is damaged or gives
 * more than `maxOutput` bytes.
 */
export function inflateHead(head: Uint8Array, maxOutput: number): Uint8Array | undefined {
  const inflater = new RawInflater(Math.max(1, Math.min(maxOutput + 1, 1 << 20)));
  const pieces: Uint8Array[] = [];
  let total = 0;
  try {
    inflater.push(head);
    for (;;) {
      const piece = inflater.inflate();
      if (piece === ENDED || piece === NEEDS_INPUT) break;
      pieces.push(piece);
      total += piece.length;
      if (total > maxOutput) return undefined;
    }
  } catch {
    return undefined;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

export const browserCodecs: Codecs = {
  crc32,
  deflateRaw: (input) => deflateRaw(input),
  inflateRaw(input, { chunkSize }) {
    if (input.restart !== undefined && typeof DecompressionStream === 'function') return new NativeInflation(input, chunkSize);
    return new ScriptInflation(input, chunkSize);
  },
  inflateHead,
};

/** The codecs with inflation always through the TypeScript inflater (for tests and measurements). */
export const scriptCodecs: Codecs = { ...browserCodecs, inflateRaw: (input, { chunkSize }) => new ScriptInflation(input, chunkSize) };
