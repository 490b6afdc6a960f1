/**
 * Node destinations for ZipWriter and the safetensors writer: an open file (seekable) and any Writable.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { NpzError, isNpzError } from '../errors.js';
import { ioError, type ByteSink } from '../io/sink.js';

function totalLength(chunks: readonly Uint8Array[]): number {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  return total;
}

/** The chunks left after the first `skip` bytes, as views (a short writev leaves a tail to retry). */
function dropPrefix(chunks: readonly Uint8Array[], skip: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let remaining = skip;
  for (const chunk of chunks) {
    if (remaining >= chunk.byteLength) {
      remaining -= chunk.byteLength;
      continue;
    }
    rest.push(remaining > 0 ? chunk.subarray(remaining) : chunk);
    remaining = 0;
  }
  return rest;
}

/**
 * Positional writes on an open file: appends go through `writev` at a tracked position, so a header patch
 * never moves the append position. Each call resolves once the bytes are in the kernel. An append takes its
 * position when it is called, so several may be in flight at once and still land in call order.
 */
export class FileHandleSink implements ByteSink {
  /** writev has copied the bytes into the page cache by the time it returns. */
  readonly releasesChunks = true;
  /** Each append takes its place when it is called (above). */
  readonly overlappingWrites = true;
  private position: number;

  constructor(
    private readonly handle: FileHandle,
    start = 0,
  ) {
    this.position = start;
  }

  async write(chunks: readonly Uint8Array[]): Promise<void> {
    const total = totalLength(chunks);
    const start = this.position;
    this.position += total;
    let pending: readonly Uint8Array[] = chunks;
    let done = 0;
    while (done < total) {
      let written: number;
      try {
        ({ bytesWritten: written } = await this.handle.writev(pending as Uint8Array[], start + done));
      } catch (err) {
        throw ioError('writing the archive failed', err, start + done);
      }
      if (written <= 0) {
        throw new NpzError('ERR_IO', 'the file accepted no bytes', { offset: start + done });
      }
      done += written;
      if (done < total) pending = dropPrefix(pending, written);
    }
  }

  async writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.byteLength) {
      let written: number;
      try {
        ({ bytesWritten: written } = await this.handle.write(data, done, data.byteLength - done, position + done));
      } catch (err) {
        throw ioError('patching a local header failed', err, position + done);
      }
      if (written <= 0) throw new NpzError('ERR_IO', 'the file accepted no bytes', { offset: position + done });
      done += written;
    }
  }
}

/**
 * Any Node Writable (file stream, socket, HTTP body). Not seekable. A batch is written corked so streams with
 * `_writev` (fs.WriteStream, sockets) get one vectored write; Uint8Arrays become Buffer views, not copies.
 * The sink keeps an 'error' listener for the stream's lifetime so a failure never becomes an uncaught event.
 */
export class WritableSink implements ByteSink {
  private failure: NpzError | undefined;
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly onError = (err: unknown): void => {
    this.failure ??= ioError('the destination stream failed', err);
  };

  constructor(private readonly stream: Writable) {
    stream.on('error', this.onError);
  }

  private check(): void {
    if (this.failure) throw this.failure;
    const { stream } = this;
    if (stream.errored) throw (this.failure = ioError('the destination stream failed', stream.errored));
    if (stream.destroyed || stream.writableEnded) {
      throw (this.failure = new NpzError('ERR_IO', 'the destination stream was closed before the archive was complete'));
    }
  }

  async write(chunks: readonly Uint8Array[]): Promise<void> {
    this.check();
    const { stream } = this;
    const last = chunks.length - 1;
    let ok = true;
    if (last > 0) stream.cork();
    for (let i = 0; i < last; i++) ok = stream.write(chunks[i]);
    if (last >= 0) {
      this.lastWrite = new Promise<void>((resolve, reject) => {
        ok = stream.write(chunks[last], (err) => (err ? reject(ioError('the destination stream failed', err)) : resolve()));
      });
      this.lastWrite.catch(() => undefined);
    }
    if (last > 0) stream.uncork();
    if (!ok) await this.drained();
    // A Writable keeps references to buffered chunks until it has written them; the writer hands a caller's
    // buffer back once this resolves, so wait for the stream to be done with every chunk of the batch.
    await this.lastWrite;
    this.check();
  }

  private drained(): Promise<void> {
    const { stream } = this;
    return new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        stream.off('drain', settle);
        stream.off('close', settle);
        stream.off('error', settle);
        try {
          this.check();
          resolve();
        } catch (err) {
          reject(err);
        }
      };
      stream.on('drain', settle);
      stream.on('close', settle);
      stream.on('error', settle);
    });
  }

  /** Ends the stream and waits until it has finished (and closed, for streams that close). */
  async end(): Promise<void> {
    this.check();
    this.stream.end();
    try {
      await finished(this.stream);
    } catch (err) {
      throw this.failure ?? ioError('the destination stream failed', err);
    }
    if (this.failure) throw this.failure;
    this.stream.off('error', this.onError);
  }

  /** Leaves the stream open; waits until every byte written so far has been accepted. */
  async release(): Promise<void> {
    this.check();
    await this.lastWrite;
    this.check();
    this.stream.off('error', this.onError);
  }

  /** Destroys the stream with `reason`; the sink's listener absorbs the resulting 'error' event. */
  destroy(reason: Error): void {
    this.failure ??= isNpzError(reason) ? reason : ioError('the archive was not completed', reason);
    if (!this.stream.destroyed) this.stream.destroy(reason);
  }
}
