import { NpzError } from '../../errors.js';
import { abortError } from '../../io/abort.js';
import type { InflateInput, Inflation } from '../../io/codecs.js';
import { checkDecodable, type ZipArchive, type ZipEntry } from './archive.js';
import { MemberCheck } from '../format/member-check.js';
import { METHOD_STORED } from '../format/records.js';

/**
 * Sequential access to one member's uncompressed bytes, with the CRC-32 and sizes checked against the central
 * directory by the shared member check (../format/member-check.ts). Every byte handed out is hashed first; the member's last bytes are released only after the whole
 * member has verified, so a reader that reaches the end without an error has read exactly what was written.
 */

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
/** First compressed read of a deflated member: enough for an npy header, small enough to make peeking cheap. */
const FIRST_COMPRESSED_READ = 16 * 1024;

export interface MemberReadOptions {
  /** Verify the CRC-32 of every byte read against the central directory (default true). */
  verifyCrc?: boolean;
  /** Bytes per positional read and per inflated chunk (default 4 MiB). */
  chunkSize?: number;
  /** Checked between chunks: a long read stops with ERR_ABORTED. */
  signal?: AbortSignal;
}

function truncated(entry: ZipEntry, offset: number, expected: number): NpzError {
  return new NpzError('ERR_ZIP_TRUNCATED', `source ended at offset ${offset} inside member ${JSON.stringify(entry.name)}`, {
    entry: entry.name,
    offset,
    expected,
  });
}

function inflateError(entry: ZipEntry, cause: unknown): NpzError {
  if (cause instanceof NpzError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new NpzError('ERR_ZIP_INFLATE', `member ${JSON.stringify(entry.name)}: corrupt deflate data (${message})`, {
    entry: entry.name,
    cause,
  });
}

export class MemberReader {
  readonly entry: ZipEntry;
  readonly #archive: ZipArchive;
  readonly #dataStart: number;
  readonly #chunkSize: number;
  readonly #signal: AbortSignal | undefined;
  /** CRC-32 and count of the bytes handed out; the count is the reader's position. */
  readonly #check: MemberCheck;
  #verified = false;
  #closed = false;
  // Deflate state: inflated bytes not yet handed out, and the inflation.
  #inflation: Inflation | undefined;
  #inflatedTotal = 0;
  #pending: Uint8Array = new Uint8Array(0);
  /** Called once every byte of the member has been requested from the source (stored members read by readInto). */
  #onAllRequested: (() => void) | undefined;

  private constructor(archive: ZipArchive, entry: ZipEntry, dataStart: number, options: MemberReadOptions) {
    this.#archive = archive;
    this.entry = entry;
    this.#dataStart = dataStart;
    this.#check = new MemberCheck(entry.name, entry.method, options.verifyCrc === false ? undefined : archive.codecs.crc32);
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.#signal = options.signal;
  }

  /** Checks the member can be decoded and locates its data through the local header. */
  static async open(archive: ZipArchive, entry: ZipEntry, options: MemberReadOptions = {}): Promise<MemberReader> {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 64) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be an integer of at least 64 bytes, got ${chunkSize}`);
    }
    checkDecodable(entry);
    return new MemberReader(archive, entry, await archive.dataStart(entry), options);
  }

  /**
   * `callback` runs once the reads for the member's last bytes have been issued, before they complete: the moment
   * a reader of several members can start on the next without leaving the source idle. Only readInto of a stored
   * member calls it; other paths finish the member without notice.
   */
  whenAllRequested(callback: () => void): void {
    this.#onAllRequested = callback;
  }

  /** Uncompressed size of the whole member. */
  get size(): number {
    return this.entry.uncompressedSize;
  }

  get position(): number {
    return this.#check.length;
  }

  get remaining(): number {
    return this.entry.uncompressedSize - this.#check.length;
  }

  get #stored(): boolean {
    return this.entry.method === METHOD_STORED;
  }

  /** The next `min(length, remaining)` bytes. Small reads are cheap (served from a cached window). */
  async read(length: number): Promise<Uint8Array> {
    this.#checkOpen();
    const wanted = Math.min(length, this.remaining);
    if (this.#stored) {
      const at = this.#dataStart + this.#check.length;
      const bytes = await this.#archive.source.readAround(at, wanted);
      if (bytes.length < wanted) throw truncated(this.entry, at + bytes.length, at + wanted);
      await this.#accept(bytes);
      return bytes;
    }
    const out = new Uint8Array(wanted);
    await this.#fillFromInflater(out);
    return out;
  }

  /** Fills `dest` with the next `dest.length` bytes: stored members are read straight into it. */
  async readInto(dest: Uint8Array): Promise<void> {
    this.#checkOpen();
    if (dest.length > this.remaining) {
      throw new NpzError('ERR_ZIP_SIZE_MISMATCH', `member ${JSON.stringify(this.entry.name)} has ${this.remaining} bytes left, ${dest.length} requested`, {
        entry: this.entry.name,
        expected: dest.length,
        actual: this.remaining,
      });
    }
    if (!this.#stored) {
      await this.#fillFromInflater(dest);
      return;
    }
    const source = this.#archive.source;
    if (dest.length <= source.aroundLimit) {
      dest.set(await this.read(dest.length));
      return;
    }
    const start = this.#dataStart + this.#check.length;
    const last = this.#check.length + dest.length === this.entry.uncompressedSize ? this.#onAllRequested : undefined;
    const pieces = source.pieces(start, dest.length, { pieceBytes: this.#chunkSize, into: dest, onAllIssued: last, shortRead: this.#shortRead });
    for await (const slice of pieces) await this.#accept(slice);
  }

  /**
   * The remaining bytes in chunks of at most `chunkSize`. Each chunk is the consumer's to keep, unless `recycle`
   * is set: then stored members are read into a few reused buffers, and a chunk is valid only until the next one
   * is requested (no fresh memory per chunk, which is what page faults make slow). Completing the loop means
   * every byte was verified.
   */
  async *chunks(chunkSize: number = this.#chunkSize, recycle = false): AsyncGenerator<Uint8Array, void, undefined> {
    this.#checkOpen();
    try {
      if (this.#stored && this.remaining <= this.#archive.source.aroundLimit) {
        // A small member comes from the planner's cached window, as read() serves it, not from a read of its own:
        // tens of thousands of tiny members would otherwise cost a read (a request, a Blob slice) each.
        while (this.remaining > 0) yield (await this.read(Math.min(this.remaining, chunkSize))).slice();
      } else if (this.#stored) {
        const start = this.#dataStart + this.#check.length;
        const pieces = this.#archive.source.pieces(start, this.remaining, { pieceBytes: chunkSize, recycle, shortRead: this.#shortRead });
        for await (const chunk of pieces) {
          await this.#accept(chunk);
          yield chunk;
        }
      } else {
        while (this.remaining > 0) {
          const piece = this.#pending.length > 0 ? this.#pending : await this.#pull();
          if (piece === undefined) throw this.#sizeMismatch();
          const chunk = piece.subarray(0, Math.min(piece.length, chunkSize));
          this.#pending = piece.subarray(chunk.length);
          await this.#accept(chunk);
          yield chunk;
        }
      }
      await this.finish();
    } finally {
      this.close();
    }
  }

  /** Reads (and verifies) whatever is left; a no-op when the member was read to its end. */
  async finish(): Promise<void> {
    this.#checkOpen();
    while (this.remaining > 0) await this.read(Math.min(this.remaining, this.#chunkSize));
    if (!this.#verified) await this.#checkEnd();
  }

  /** Stops any inflation in progress. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const inflation = this.#inflation;
    this.#inflation = undefined;
    this.#pending = new Uint8Array(0);
    inflation?.destroy();
  }

  /** The error for a source that ends inside the member. */
  readonly #shortRead = (end: number, expectedEnd: number): NpzError => truncated(this.entry, end, expectedEnd);

  #checkOpen(): void {
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `member ${JSON.stringify(this.entry.name)} reader is closed`);
  }

  async #accept(bytes: Uint8Array): Promise<void> {
    if (this.#signal?.aborted === true) {
      this.close();
      throw abortError(this.#signal, `reading ${JSON.stringify(this.entry.name)}`);
    }
    this.#check.update(bytes);
    if (this.#check.length === this.entry.uncompressedSize && !this.#verified) await this.#checkEnd();
  }

  async #checkEnd(): Promise<void> {
    // A deflate stream must end exactly at the declared size: #pull throws on any output past it.
    let compressedSize = this.#check.length;
    if (!this.#stored) {
      while ((await this.#pull()) !== undefined);
      compressedSize = (this.#inflation as Inflation).consumed;
    }
    try {
      this.#check.verify(this.entry, compressedSize);
    } catch (error) {
      this.close();
      throw error;
    }
    this.#verified = true;
  }

  async #fillFromInflater(dest: Uint8Array): Promise<void> {
    let filled = 0;
    while (filled < dest.length) {
      const piece = this.#pending.length > 0 ? this.#pending : await this.#pull();
      if (piece === undefined) throw this.#sizeMismatch();
      const take = piece.subarray(0, Math.min(piece.length, dest.length - filled));
      this.#pending = piece.subarray(take.length);
      dest.set(take, filled);
      filled += take.length;
      // Hash while the freshly inflated piece is still in cache.
      await this.#accept(take);
    }
  }

  /** Next inflated piece, or undefined at the end of the deflate stream. */
  async #pull(): Promise<Uint8Array | undefined> {
    this.#inflation ??= this.#archive.codecs.inflateRaw(this.#compressed(), { chunkSize: Math.min(this.#chunkSize, 1024 * 1024) });
    let piece: Uint8Array | undefined;
    try {
      piece = await this.#inflation.next();
    } catch (error) {
      this.close();
      throw inflateError(this.entry, error);
    }
    if (piece === undefined) return undefined;
    this.#inflatedTotal += piece.length;
    try {
      this.#check.limitInflation(this.#inflatedTotal, this.entry.uncompressedSize);
    } catch (error) {
      this.close();
      throw error;
    }
    return piece;
  }

  /**
   * The member's compressed bytes, 16 KiB first (enough for an npy header) then `chunkSize` a read, with the next
   * read already issued while the inflater works on the current one.
   */
  #compressed(): InflateInput {
    const { entry } = this;
    const source = this.#archive.source;
    const start = this.#dataStart;
    const chunkSize = this.#chunkSize;
    const shortRead = this.#shortRead;
    // A small first read (enough for an npy header, so peeking is cheap), then the rest read ahead in chunks by the
    // planner; the inflater pulls them one at a time.
    async function* compressed(): AsyncGenerator<Uint8Array> {
      const first = Math.min(FIRST_COMPRESSED_READ, entry.compressedSize);
      yield* source.pieces(start, first, { pieceBytes: first, shortRead });
      if (first < entry.compressedSize) yield* source.pieces(start + first, entry.compressedSize - first, { pieceBytes: chunkSize, shortRead });
    }
    const input = (): InflateInput => {
      const pieces = compressed();
      return {
        async next(): Promise<Uint8Array | undefined> {
          const step = await pieces.next();
          return step.done === true ? undefined : step.value;
        },
        restart: input,
      };
    };
    return input();
  }

  /** The deflate stream ended before the recorded size: the shared check words the error. */
  #sizeMismatch(): NpzError {
    this.close();
    const consumed = this.#inflation?.consumed ?? 0;
    return this.#check.mismatch(this.entry, consumed) as NpzError;
  }
}
