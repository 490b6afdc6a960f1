import { NpzError, isNpzError } from '../errors.js';
import type { StreamSink } from '../io/platform.js';
import { ioError } from '../io/sink.js';

/**
 * A WHATWG WritableStream as a writer's destination: a file from the File System Access API or OPFS
 * (`createWritable()`), a `TransformStream`'s writable side, any sink a page builds. Each batch resolves once the
 * stream has processed its last chunk (so every chunk of it), which is what lets the writers hand buffers back.
 */
export class WebWritableSink implements StreamSink {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #failure: NpzError | undefined;

  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
    this.#writer.closed.catch(() => undefined);
  }

  async write(chunks: readonly Uint8Array[]): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    let last: Promise<void> | undefined;
    for (const chunk of chunks) {
      if (chunk.byteLength === 0) continue;
      last = this.#writer.write(chunk);
      last.catch(() => undefined);
    }
    if (last === undefined) return;
    try {
      await last;
    } catch (cause) {
      throw (this.#failure ??= ioError('the destination stream failed', cause));
    }
  }

  async end(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      await this.#writer.close();
    } catch (cause) {
      throw (this.#failure ??= ioError('the destination stream failed', cause));
    }
  }

  async release(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      await this.#writer.ready;
    } catch (cause) {
      throw (this.#failure ??= ioError('the destination stream failed', cause));
    }
    this.#writer.releaseLock();
  }

  destroy(reason: Error): void {
    this.#failure ??= isNpzError(reason) ? reason : ioError('the archive was not completed', reason);
    this.#writer.abort(reason).catch(() => undefined);
  }
}

export function isWritableStream(value: unknown): value is WritableStream<Uint8Array> {
  const candidate = value as { getWriter?: unknown; locked?: unknown } | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.getWriter === 'function' && typeof candidate.locked === 'boolean';
}

export function webStreamSink(destination: unknown, caller: string): StreamSink {
  if (!isWritableStream(destination)) throw new NpzError('ERR_INVALID_ARGUMENT', `${caller} needs a WritableStream destination`);
  if (destination.locked) throw new NpzError('ERR_INVALID_ARGUMENT', `${caller}: the WritableStream is locked to another writer`);
  return new WebWritableSink(destination);
}
