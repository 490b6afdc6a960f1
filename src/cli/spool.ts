import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NpzError, type LazyArray } from '../index.js';

/**
 * A temporary file for array data that arrives in an order the output cannot be written in: a safetensors header
 * names every tensor's shape and offsets before any data, so a stream on standard input is copied here while it
 * is read, and the output is written from here once the stream has ended (and verified). The file sits beside
 * the output (same file system, so no other disk fills up), is created exclusively with owner-only permissions,
 * and `remove` deletes it; callers remove it in a `finally`, so a failure, an abort or Ctrl-C leaves nothing.
 * Memory stays at one chunk: data goes to disk as it arrives and is read back chunk by chunk.
 */

const READ_CHUNK = 4 << 20;

export class Spool {
  #size = 0;
  #removed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** A new, empty spool file beside `output`. */
  static async besides(output: string): Promise<Spool> {
    const path = join(dirname(output), `.${basename(output)}.${randomBytes(6).toString('hex')}.spool`);
    try {
      return new Spool(path, await open(path, 'wx+', 0o600));
    } catch (cause) {
      throw new NpzError('ERR_IO', `cannot create the temporary file ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends every chunk; returns where they start in the spool and how many bytes they were. */
  async append(chunks: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<{ offset: number; length: number }> {
    const offset = this.#size;
    for await (const chunk of chunks) {
      if (signal.aborted) throw signal.reason;
      let written = 0;
      while (written < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, written, chunk.length - written, this.#size);
        written += bytesWritten;
        this.#size += bytesWritten;
      }
    }
    return { offset, length: this.#size - offset };
  }

  /** `leaf` with its data read back from `[offset, offset + length)` of the spool, in fresh chunks. */
  leafAt(leaf: LazyArray, offset: number, length: number, signal: AbortSignal): LazyArray {
    const { handle } = this;
    return {
      ...leaf,
      async *chunks() {
        for (let at = offset; at < offset + length; ) {
          if (signal.aborted) throw signal.reason;
          const size = Math.min(READ_CHUNK, offset + length - at);
          // A fresh buffer per chunk: once yielded it belongs to the writer.
          const chunk = new Uint8Array(size);
          const { bytesRead } = await handle.read(chunk, 0, size, at);
          if (bytesRead === 0) throw new NpzError('ERR_IO', 'the temporary file ended early: it changed while the output was written');
          at += bytesRead;
          yield bytesRead === size ? chunk : chunk.subarray(0, bytesRead);
        }
      },
    };
  }

  /** Closes and deletes the spool file. Idempotent; never throws. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}
