import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { NpzError } from '../errors.js';
import type { RandomAccessSource } from './source.js';
import { ReadWindow } from './window.js';

/** Large enough that per-read overhead vanishes; yauzl's own fd reader uses Node's 16 KiB default (~10× slower). */
export const DEFAULT_STREAM_CHUNK_SIZE = 4 * 1024 * 1024;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * A Readable over `[start, end)` of a source, one large positional read per chunk. It owns nothing: destroying it
 * (which yauzl does at the end of every range) only stops further reads, unlike `fs.createReadStream({ fd })`,
 * which would close a shared descriptor.
 */
export function sourceRangeStream(
  source: RandomAccessSource,
  start: number,
  end: number,
  chunkSize: number = DEFAULT_STREAM_CHUNK_SIZE,
): Readable {
  let position = start;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (position >= end) {
        this.push(null);
        return;
      }
      const at = position;
      const length = Math.min(chunkSize, end - at);
      position += length;
      source.read(at, length).then(
        (bytes) => {
          if (bytes.length < length) {
            this.destroy(
              new NpzError('ERR_ZIP_TRUNCATED', `source ended at offset ${at + bytes.length}, expected bytes up to ${at + length}`, {
                offset: at + bytes.length,
                expected: at + length,
              }),
            );
            return;
          }
          this.push(toBuffer(bytes));
        },
        (error: unknown) => this.destroy(error as Error),
      );
    },
  });
}

type ReadCallback = (error: Error | null, bytesRead?: number) => void;

/**
 * Lets yauzl parse the central directory from any RandomAccessSource. Small reads go through a shared window
 * (yauzl issues two per central directory record); ranges for yauzl's own entry streams use large reads. The
 * source's lifetime stays with whoever opened it, so yauzl closing the reader does not close the source.
 */
export class SourceRandomAccessReader extends yauzl.RandomAccessReader {
  readonly #window: ReadWindow;
  readonly #chunkSize: number;

  constructor(window: ReadWindow, chunkSize: number = DEFAULT_STREAM_CHUNK_SIZE) {
    super();
    this.#window = window;
    this.#chunkSize = chunkSize;
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return sourceRangeStream(this.#window.source, start, end, this.#chunkSize);
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    const done = callback as ReadCallback;
    const size = this.#window.source.size;
    if (position + length > size) {
      done(
        new NpzError('ERR_ZIP_BOUNDS', `zip structure at offset ${position} (+${length} bytes) lies past the end of the ${size}-byte file`, {
          offset: position,
          expected: size,
          actual: position + length,
        }),
      );
      return;
    }
    this.#window.read(position, length).then(
      (bytes) => {
        buffer.set(bytes, offset);
        done(null, bytes.length);
      },
      (error: unknown) => done(error as Error),
    );
  }

  override close(callback: (err: Error | null) => void): void {
    queueMicrotask(() => callback(null));
  }
}
