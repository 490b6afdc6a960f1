import { NpzError } from '../errors.js';
import { raceAbort, throwIfAborted } from './abort.js';

/**
 * A pull-based reader over a stream that cannot seek. Bytes are taken from the source only when a read needs
 * them, so a slow consumer slows the producer, and at most what the current read needs (plus one source chunk)
 * is buffered. Bytes a decoder took too many of can be put back with `unread`.
 */

/** Anything that yields bytes in order: a Node Readable, a web ReadableStream, any async iterable of chunks. */
export type ByteStream = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

function hasAsyncIterator(value: object): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function isWebStream(value: object): value is ReadableStream<Uint8Array> {
  return typeof (value as { getReader?: unknown }).getReader === 'function';
}

/** True for the inputs `ByteStream` covers (and not for a path, bytes, or a random-access source). */
export function isByteStream(value: unknown): value is ByteStream {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return false;
  return hasAsyncIterator(value) || isWebStream(value);
}

async function* webChunks(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<unknown> {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    // Cancelling tells the producer nobody will read on; it resolves at once for a finished stream.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function asBytes(value: unknown, position: number): Uint8Array {
  // A plain Uint8Array view even over a Buffer: Buffer's slice() does not copy, and consumers rely on it copying.
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new NpzError(
    'ERR_INVALID_ARGUMENT',
    `the input stream yielded a ${typeof value === 'string' ? 'string' : typeof value} at byte ${position}; it must yield bytes (Uint8Array or Buffer, no encoding set)`,
    { offset: position },
  );
}

export class StreamByteReader {
  readonly #iterator: AsyncIterator<unknown>;
  readonly #signal: AbortSignal | undefined;
  /**
   * Stops the producer even while a pull is waiting on it (a Node stream is destroyed, a web stream's reader
   * cancelled): an async iterator's return() would wait for that pull, which may never end.
   */
  readonly #stop: (() => void) | undefined;
  /** A next() of the producer has not settled (an abort stops waiting for it; it may never settle). */
  #producerBusy = false;
  /** Chunks taken from the source and not yet consumed, oldest first. */
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #closed = false;
  /** Stream offset of the next unread byte. */
  position = 0;

  /** With `signal`, an abort rejects the read waiting on the producer at once, however long the producer stalls. */
  constructor(stream: ByteStream, signal?: AbortSignal) {
    this.#signal = signal;
    if (isWebStream(stream)) {
      // Read through a reader of our own (not the stream's async iterator) so close() can cancel a pending read.
      const reader = stream.getReader();
      this.#iterator = webChunks(reader);
      this.#stop = () => void reader.cancel().catch(() => undefined);
    } else {
      this.#iterator = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      const destroy = (stream as { destroy?: unknown }).destroy;
      this.#stop = typeof destroy === 'function' ? () => void (destroy as () => void).call(stream) : undefined;
    }
  }

  /** Bytes taken from the source that no read has consumed yet. */
  get buffered(): number {
    return this.#buffered;
  }

  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', 'the input stream was closed');
    throwIfAborted(this.#signal, 'reading the input stream');
    let result: IteratorResult<unknown>;
    this.#producerBusy = true;
    const next = this.#iterator.next();
    void next.then(
      () => (this.#producerBusy = false),
      () => (this.#producerBusy = false),
    );
    try {
      result = await raceAbort(next, this.#signal, 'reading the input stream');
    } catch (cause) {
      if (cause instanceof NpzError) throw cause;
      throw new NpzError('ERR_IO', `the input stream failed at byte ${this.position + this.#buffered}: ${(cause as Error)?.message ?? String(cause)}`, {
        offset: this.position + this.#buffered,
        cause,
      });
    }
    if (result.done === true) {
      this.#ended = true;
      return false;
    }
    const chunk = asBytes(result.value, this.position + this.#buffered);
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    return true;
  }

  async #fill(length: number): Promise<void> {
    while (this.#buffered < length && (await this.#pull()));
  }

  /** Up to `max` bytes as a view of what the source produced (no copy); undefined at the end of the stream. */
  async next(max: number): Promise<Uint8Array | undefined> {
    while (this.#buffered === 0) if (!(await this.#pull())) return undefined;
    const first = this.#chunks[0] as Uint8Array;
    const taken = first.subarray(0, Math.min(max, first.length));
    this.#consume(taken.length);
    return taken;
  }

  /** The next `length` bytes without consuming them: fewer only when the stream ends first. */
  async peek(length: number): Promise<Uint8Array> {
    await this.#fill(length);
    const available = Math.min(length, this.#buffered);
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= available) return first.subarray(0, available);
    const out = new Uint8Array(available);
    let at = 0;
    for (const chunk of this.#chunks) {
      if (at === available) break;
      const part = chunk.subarray(0, available - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /** The next `length` bytes, consumed: fewer only when the stream ends first. */
  async read(length: number): Promise<Uint8Array> {
    const bytes = await this.peek(length);
    // A view into a chunk stays valid after consuming: chunks are dropped from the list, never overwritten.
    this.#consume(bytes.length);
    return bytes;
  }

  /** Puts bytes back in front of the stream (bytes a decoder read past the end of its record). */
  unread(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.unshift(bytes);
    this.#buffered += bytes.length;
    this.position -= bytes.length;
  }

  /** True when no byte is left (reads from the source if needed to find out). */
  async atEnd(): Promise<boolean> {
    await this.#fill(1);
    return this.#buffered === 0;
  }

  #consume(length: number): void {
    let left = length;
    while (left > 0) {
      const first = this.#chunks[0] as Uint8Array;
      if (first.length <= left) {
        this.#chunks.shift();
        left -= first.length;
      } else {
        this.#chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= length;
    this.position += length;
  }

  /** Stops reading the source (a Node stream is destroyed, a web stream cancelled). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    if (this.#ended) return;
    this.#stop?.();
    const returned = Promise.resolve(this.#iterator.return?.()).catch(() => undefined);
    // A plain async generator waiting inside its own body takes the return only when it resumes: do not wait.
    if (!this.#producerBusy || this.#stop !== undefined) await returned;
  }
}
