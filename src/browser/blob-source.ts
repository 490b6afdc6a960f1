import { NpzError } from '../errors.js';
import { checkInto, checkRange, type RandomAccessSource } from '../io/random-access.js';

/**
 * A `Blob` or `File` (a chosen or dropped file, a fetched blob, OPFS) as a RandomAccessSource: each read is one
 * `Blob.slice(...).arrayBuffer()`, so only the bytes asked for are ever in memory, whatever the file's size.
 */
class BlobSource implements RandomAccessSource {
  readonly size: number;
  readonly #blob: Blob;
  readonly #label: string;
  #closed = false;

  constructor(blob: Blob) {
    this.#blob = blob;
    this.size = blob.size;
    const name = (blob as { name?: unknown }).name;
    this.#label = typeof name === 'string' && name !== '' ? name : 'the blob';
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(offset, length);
    checkInto(into, length);
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `read from ${this.#label} after close`);
    const start = Math.min(offset, this.size);
    const end = Math.min(offset + length, this.size);
    if (end <= start) return new Uint8Array(0);
    let buffer: ArrayBuffer;
    try {
      buffer = await this.#blob.slice(start, end).arrayBuffer();
    } catch (cause) {
      // A File changed or removed on disk since it was chosen reads as NotReadableError.
      throw new NpzError('ERR_IO', `reading ${this.#label} at offset ${start} failed: ${(cause as Error)?.message ?? String(cause)}`, { offset: start, cause });
    }
    const bytes = new Uint8Array(buffer);
    if (into === undefined) return bytes;
    into.set(bytes);
    return into.subarray(0, bytes.length);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

export function isBlob(value: unknown): value is Blob {
  return typeof Blob === 'function' && value instanceof Blob;
}

/** Reads a Blob or File by ranges. Closing it only stops further reads (a Blob holds nothing open). */
export function blobSource(blob: Blob): RandomAccessSource {
  if (!isBlob(blob)) throw new NpzError('ERR_INVALID_ARGUMENT', 'blobSource takes a Blob or File');
  return new BlobSource(blob);
}
