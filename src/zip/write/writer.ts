/**
 * A streaming ZIP writer that lays members out exactly as CPython's zipfile does for `np.savez`:
 * - sizes and CRC known up front (in-memory data): final local header, then the data;
 * - seekable sink: placeholder header, data streamed with a running CRC, header patched in place;
 * - anything else: flag bit 3, zeroed header fields, and a zip64 data descriptor after the data.
 * How bytes reach the sink is `ByteOutput`'s business (src/io/output.ts): small chunks in vectored batches,
 * in-memory data as views of the caller's memory or copies, whichever the sink takes faster. A caller's streamed
 * chunk is the caller's again as soon as the next one is pulled (it may come from a reused buffer), so small
 * borrowed chunks are copied into the batch.
 */
import { NpzError, isNpzError } from '../../errors.js';
import { abortError, raceAbort } from '../../io/abort.js';
import { MAX_VIEW_BYTES, slices } from '../../io/chunks.js';
import { checkedSource } from '../../io/chunks.js';
import type { Codecs } from '../../io/codecs.js';
import { Crc32 } from './crc32.js';
import { encodeEndRecords, plannedArchiveLength } from '../format/end-records.js';
import {
  FLAG_DATA_DESCRIPTOR,
  METHOD_DEFLATED,
  METHOD_STORED,
  encodeCentralDirectoryEntry,
  encodeDataDescriptor,
  encodeEntryName,
  alignmentRecord,
  encodeLocalHeader,
  type AlignmentRecord,
  type LocalHeaderFields,
} from '../format/records.js';
import { BatchedOutput, type ByteOutput } from '../../io/output.js';
import { ioError, type ZipSink } from '../../io/sink.js';

/**
 * In-memory data reaches the output in pieces of at most MAX_VIEW_BYTES (no Uint8Array spans a larger view); the
 * output writes or copies them in smaller slices. Hashing before the header (non-seekable sinks) yields to the
 * event loop every YIELD_EVERY bytes.
 */
const HASH_SLICE = 16 << 20;
const YIELD_EVERY = 16 * HASH_SLICE;
/** Deflate input views and output chunk size. */
const DEFLATE_SLICE = 1 << 20;
const DEFLATE_CHUNK = 64 << 10;

export interface ZipWriterOptions {
  /** CRC-32 and deflate, from the host (`nodeCodecs` on Node). */
  codecs: Codecs;
  /** Write zip64 extras and end records even for a tiny archive (testing readers). */
  forceZip64?: boolean;
  signal?: AbortSignal;
  /** Deflate level for compressed members, 0-9; zipfile (and numpy) use 6. */
  compressionLevel?: number;
  /** Called after each batch the sink accepted, with the total bytes accepted so far. */
  onWrite?: (bytesWritten: number) => void;
  /** Start each member's data past its `head` at a file offset that is a multiple of this (a power of two). */
  align?: number;
}

export interface ZipEntryInput {
  /** Member name inside the archive. */
  name: string;
  compress?: boolean;
  /** Bytes that start the member before `data` (an npy header). */
  head?: Uint8Array;
  /**
   * The member's bytes: any view (even over 4 GiB, e.g. a large Float32Array) written as is, without a copy,
   * or chunks, each of which the writer is done with once it asks for the next (so a source may reuse buffers).
   */
  data: ArrayBufferView | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Exact byte count `data` must produce (excluding `head`); a mismatch is ERR_SOURCE_LENGTH. */
  size?: number;
  /** Name to report in errors (defaults to `name`). */
  label?: string;
}

/** What the central directory needs to know about a member once its data is written. */
export interface WrittenEntry extends LocalHeaderFields {
  localHeaderOffset: number;
}

/** A member as the archive length plan sees it: stored, with a known size. */
export interface PlannedMember {
  name: string;
  /** Uncompressed bytes, npy header included. */
  size: number;
  /** Data comes as chunks (sizes and CRC known only afterwards), not as one in-memory view. */
  streamed: boolean;
}

export interface ZipSummary {
  entries: number;
  bytes: number;
}

export class ZipWriter {
  private readonly entries: WrittenEntry[] = [];
  private readonly out: ByteOutput;
  /** Final local headers whose placeholders had already left for the sink: written once all data is out. */
  private readonly patches: Array<{ bytes: Uint8Array; position: number }> = [];
  private failure: unknown;
  private busy = false;
  private finished = false;

  constructor(
    private readonly sink: ZipSink,
    private readonly options: ZipWriterOptions,
  ) {
    this.out = new BatchedOutput(sink, { signal: options.signal, onWrite: options.onWrite });
  }

  /** Bytes emitted so far, written or not: the next local header offset. */
  private get offset(): number {
    return this.out.offset;
  }

  /**
   * Exact length of the archive this writer produces for these stored members, in order: the layout depends on
   * the sink (a non-seekable one gets data descriptors after streamed members) and on forceZip64.
   */
  plannedLength(members: Iterable<PlannedMember>): number {
    const seekable = this.sink.writeAt !== undefined;
    const planned = [...members].map((member) => ({
      nameLength: encodeEntryName(member.name).bytes.byteLength,
      compressedSize: member.size,
      uncompressedSize: member.size,
      dataDescriptor: member.streamed && !seekable,
    }));
    return plannedArchiveLength(planned, this.options.forceZip64 === true);
  }

  /** Writes one member. Calls must not overlap. */
  add(entry: ZipEntryInput): Promise<WrittenEntry> {
    return this.run(() => this.addEntry(entry));
  }

  /** Writes the central directory and end records, and hands every remaining byte to the sink. */
  finish(): Promise<ZipSummary> {
    return this.run(async () => {
      const centralDirectoryOffset = this.offset;
      const forceZip64 = this.options.forceZip64 === true;
      for (const entry of this.entries) {
        await this.emit(encodeCentralDirectoryEntry({ ...entry, forceZip64 }));
      }
      const centralDirectorySize = this.offset - centralDirectoryOffset;
      await this.emit(
        encodeEndRecords({ entries: this.entries.length, centralDirectoryOffset, centralDirectorySize, forceZip64 }),
      );
      await this.out.drain();
      // Every byte of the archive is out, so no pending write can land over a patched header any more.
      for (const { bytes, position } of this.patches) await this.guard(this.sink.writeAt!(bytes, position));
      this.patches.length = 0;
      this.finished = true;
      return { entries: this.entries.length, bytes: this.offset };
    });
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.failure !== undefined) throw this.failure;
    if (this.finished) throw new NpzError('ERR_INVALID_ARGUMENT', 'the archive is already finished');
    if (this.busy) throw new NpzError('ERR_INVALID_ARGUMENT', 'ZipWriter calls must not overlap');
    this.busy = true;
    try {
      this.checkAbort();
      return await work();
    } catch (err) {
      this.failure = this.options.signal?.aborted && !isNpzError(err) ? abortError(this.options.signal, 'the write') : err;
      throw this.failure;
    } finally {
      this.busy = false;
    }
  }

  private checkAbort(): void {
    const { signal } = this.options;
    if (signal?.aborted) throw abortError(signal, 'the write');
  }

  private async addEntry(input: ZipEntryInput): Promise<WrittenEntry> {
    const label = input.label ?? input.name;
    const { bytes: name, flags: nameFlags } = encodeEntryName(input.name);
    if (name.byteLength > 0xffff || input.name.includes('\0')) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `member name '${label}' is too long or contains NUL`, {
        entry: label,
      });
    }
    const head = input.head ?? new Uint8Array(0);
    const { data } = input;
    const inMemory = ArrayBuffer.isView(data);
    if (inMemory && input.size !== undefined && input.size !== data.byteLength) {
      throw new NpzError('ERR_SOURCE_LENGTH', `'${label}' has ${data.byteLength} bytes, expected ${input.size}`, {
        entry: label,
        expected: input.size,
        actual: data.byteLength,
      });
    }
    const method = input.compress === true ? METHOD_DEFLATED : METHOD_STORED;
    const localHeaderOffset = this.offset;
    // Compressed data has no addressable offset, so only stored members are aligned.
    const alignment =
      method === METHOD_STORED ? alignmentRecord(localHeaderOffset, name.byteLength, head.byteLength, this.options.align) : undefined;

    if (inMemory && method === METHOD_STORED && !this.sink.writeAt) {
      // Non-seekable sink, sizes known: hash first so the header is final, as on a real file.
      const { crc32 } = this.options.codecs;
      let crc = crc32(head, 0);
      let hashed = 0;
      for (const slice of slices(data, HASH_SLICE)) {
        crc = crc32(slice, crc);
        hashed += slice.byteLength;
        // Hashing gigabytes is synchronous; let timers and an abort in between.
        if (hashed % YIELD_EVERY === 0) {
          await new Promise<void>((resolve) => setTimeout(resolve, 0));
          this.checkAbort();
        }
      }
      const size = head.byteLength + data.byteLength;
      const entry = this.record(name, nameFlags, method, crc, size, size, localHeaderOffset, alignment);
      await this.emit(encodeLocalHeader(entry));
      await this.emit(head);
      for (const slice of slices(data, MAX_VIEW_BYTES)) {
        this.checkAbort();
        await this.out.putStable(slice);
      }
      return entry;
    }

    const patch = this.sink.writeAt !== undefined;
    const flags = nameFlags | (patch ? 0 : FLAG_DATA_DESCRIPTOR);
    const header = encodeLocalHeader({
      name,
      flags,
      method,
      crc32: 0,
      compressedSize: 0,
      uncompressedSize: 0,
      ...(alignment === undefined ? {} : { alignment }),
    });
    // An upload keeps the part holding this header until the patch below arrives.
    if (patch) this.sink.hold?.(localHeaderOffset, header.byteLength);
    await this.emit(header);
    const crc = new Crc32(this.options.codecs.crc32);
    let compressedSize: number;
    if (inMemory && method === METHOD_STORED) {
      compressedSize = await this.writeStable(head, data, crc);
    } else {
      const source = inMemory ? slices(data, DEFLATE_SLICE) : checkedSource(data, label, input.size, this.options.signal);
      compressedSize =
        method === METHOD_STORED
          ? await this.writeStored(head, source, crc, !inMemory)
          : await this.writeDeflated(head, source, crc, label, !inMemory);
    }
    const entry = this.record(name, flags, method, crc.value, compressedSize, crc.length, localHeaderOffset, alignment);
    if (patch && this.sink.hold !== undefined) await this.patchHeld(entry);
    else if (patch) this.patchLocalHeader(entry);
    else await this.emit(encodeDataDescriptor(entry.crc32, entry.compressedSize, entry.uncompressedSize));
    return entry;
  }

  private record(
    name: Uint8Array,
    flags: number,
    method: number,
    crc: number,
    compressedSize: number,
    uncompressedSize: number,
    localHeaderOffset: number,
    alignment: AlignmentRecord | undefined,
  ): WrittenEntry {
    const entry: WrittenEntry = { name, flags, method, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset };
    if (alignment !== undefined) entry.alignment = alignment;
    this.entries.push(entry);
    return entry;
  }

  /** In-memory data of a stored member, hashed on the way: views or copies, as the output finds faster. */
  private async writeStable(head: Uint8Array, data: ArrayBufferView, crc: Crc32): Promise<number> {
    const start = this.offset;
    await this.out.put(head, crc);
    for (const slice of slices(data, MAX_VIEW_BYTES)) {
      this.checkAbort();
      await this.out.putStable(slice, crc);
    }
    return this.offset - start;
  }

  private async writeStored(
    head: Uint8Array,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    crc: Crc32,
    borrowed: boolean,
  ): Promise<number> {
    const start = this.offset;
    await this.out.put(head, crc);
    const take = (chunk: Uint8Array): Promise<void> => this.out.put(chunk, crc, borrowed);
    if (Symbol.asyncIterator in source) {
      for await (const chunk of source as AsyncIterable<Uint8Array>) await take(chunk);
    } else {
      for (const chunk of source as Iterable<Uint8Array>) await take(chunk);
    }
    return this.offset - start;
  }

  private async writeDeflated(
    head: Uint8Array,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    crc: Crc32,
    label: string,
    borrowed: boolean,
  ): Promise<number> {
    const start = this.offset;
    const level = this.options.compressionLevel ?? 6;
    async function* uncompressed(): AsyncGenerator<Uint8Array> {
      if (head.byteLength > 0) {
        crc.update(head);
        yield head;
      }
      for await (const chunk of source) {
        crc.update(chunk);
        // The deflate stream queues small writes; a caller's buffer may be refilled before they are compressed.
        yield borrowed ? copyOf(chunk) : chunk;
      }
    }
    try {
      for await (const chunk of this.options.codecs.deflateRaw(uncompressed(), { level, chunkSize: DEFLATE_CHUNK })) {
        this.checkAbort();
        await this.emit(chunk);
      }
    } catch (err) {
      if (isNpzError(err)) throw err;
      this.checkAbort();
      throw new NpzError('ERR_IO', `compressing '${label}' failed`, { entry: label, cause: err });
    }
    return this.offset - start;
  }

  private emit(chunk: Uint8Array): Promise<void> {
    return this.out.put(chunk);
  }

  private async guard(work: Promise<void>): Promise<void> {
    try {
      await raceAbort(work, this.options.signal);
    } catch (err) {
      throw isNpzError(err) ? err : ioError('writing the archive failed', err);
    }
  }

  /** A sink that holds the header (an upload) gets the patch now, after the bytes before it, so it can let them go. */
  private async patchHeld(entry: WrittenEntry): Promise<void> {
    await this.out.drain();
    await this.guard(this.sink.writeAt!(encodeLocalHeader(entry), entry.localHeaderOffset));
  }

  /**
   * Rewrites the header with the real CRC and sizes: in place if it has not left for the sink yet, else on the
   * sink once the whole archive is out (a write still in flight could otherwise land over the patch).
   */
  private patchLocalHeader(entry: WrittenEntry): void {
    const final = encodeLocalHeader(entry);
    if (!this.out.patchPending(entry.localHeaderOffset, final)) this.patches.push({ bytes: final, position: entry.localHeaderOffset });
  }
}

/** A copy in memory of its own (a Node Buffer's `slice` would return a view). */
function copyOf(chunk: Uint8Array): Uint8Array {
  return new Uint8Array(chunk);
}
