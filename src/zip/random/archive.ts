import { NpzError } from '../../errors.js';
import type { Codecs } from '../../io/codecs.js';
import type { RandomAccessSource } from '../../source/random-access.js';
import { inFileOrder, readCentralDirectory, type ZipEntry } from './central-directory.js';
import { LOCAL_HEADER_FIXED, LOCAL_ZIP64_EXTRA, decodeLocalHeader, localHeaderSpan } from '../format/records.js';
import { checkDecodable as checkMemberDecodable, checkLocalName, localName } from '../format/rules.js';
import { ReadWindow } from './window.js';

export type { ZipEntry } from './central-directory.js';

/**
 * The zip container, read the way CPython's zipfile (np.load's reader) reads it: the central directory is the
 * truth, each member's local header is checked against it, and every offset is bounds-checked before anything is
 * read. Member bytes are read by `member-reader.ts`.
 */

/**
 * Span of one coalesced read while scanning local headers: large enough that a file of tiny members costs a
 * handful of reads, small enough to stay a modest allocation (a remote source keeps `parallelReads` of them).
 */
export const DEFAULT_SCAN_WINDOW = 4 * 1024 * 1024;
/** Windows in flight at most, whatever a source's `readCost` asks: bounds the scan's memory to 16 windows. */
const MAX_SCAN_READS_IN_FLIGHT = 16;
/** Guess for a local extra field: numpy writes a 20-byte zip64 extra; a longer one costs one extra read. */
const EXPECTED_LOCAL_EXTRA = LOCAL_ZIP64_EXTRA;

/** A member whose local header was checked: where its data starts, and its first raw data bytes if asked for. */
export interface LocatedMember {
  entry: ZipEntry;
  dataStart: number;
  /** The first `peek` bytes of the member's stored (possibly compressed) data, fewer if the member is shorter. */
  head: Uint8Array;
}

export interface ScanOptions {
  /** Raw data bytes wanted after each local header (e.g. room for an npy header); 0 for none. */
  peek?: (entry: ZipEntry) => number;
  /** Largest coalesced read in bytes (default 4 MiB). Gaps and parallelism come from the source's `readCost`. */
  windowBytes?: number;
}

export class ZipArchive {
  readonly #dataStarts: Array<number | undefined> = [];

  private constructor(
    readonly window: ReadWindow,
    /** CRC-32 and inflate, from the host: the member readers take them from here. */
    readonly codecs: Codecs,
    /** Every member, in central directory order (duplicate names included: naming policy is the caller's). */
    readonly entries: readonly ZipEntry[],
    readonly centralDirectoryOffset: number,
  ) {}

  get source(): RandomAccessSource {
    return this.window.source;
  }

  get size(): number {
    return this.window.source.size;
  }

  /** Reads the central directory in a few large reads. Does not take ownership of `source`. */
  static async open(source: RandomAccessSource, codecs: Codecs): Promise<ZipArchive> {
    const directory = await readCentralDirectory(source);
    return new ZipArchive(new ReadWindow(source), codecs, directory.entries, directory.offset);
  }

  /** Offset of the member's first data byte, from its (checked) local header. */
  async dataStart(entry: ZipEntry): Promise<number> {
    const cached = this.#dataStarts[entry.index];
    if (cached !== undefined) return cached;
    const at = entry.localHeaderOffset;
    const guess = LOCAL_HEADER_FIXED + entry.rawName.length + EXPECTED_LOCAL_EXTRA;
    let bytes = await this.#readHeaderBytes(entry, at, guess);
    const needed = localHeaderLength(bytes, entry);
    if (needed > bytes.length) bytes = await this.#readHeaderBytes(entry, at, needed);
    return this.#accept(entry, bytes, 0);
  }

  /**
   * Checks the local headers of `entries` in file order and hands each member, with its first `peek` data bytes,
   * to `visit`. Neighbouring headers are fetched together, in reads of up to `windowBytes`, so the number of reads
   * grows with the file's metadata, not with its member count or data size. How far a read stretches over member
   * data to reach the next header depends on the source: a local file or buffer reads through any data that fits
   * the window (bytes are nearly free, a read is not), while a source with a `readCost` (a round trip per read)
   * reads through gaps up to its `gapBytes` only, and keeps up to `parallelReads` windows in flight so opening
   * waits for about windows / parallelReads round trips. Members are visited in file order either way. A visit
   * that needs no I/O returns nothing and costs no promise; `head` is valid only during the visit.
   */
  async scan(entries: readonly ZipEntry[], visit: (member: LocatedMember) => void | Promise<void>, options: ScanOptions = {}): Promise<void> {
    const cost = this.source.readCost;
    const ordered = inFileOrder(entries);
    // Per member, in file order: raw data bytes wanted after the header, and bytes the header plus those span.
    const peeks = ordered.map((entry) => Math.min(options.peek?.(entry) ?? 0, entry.compressedSize));
    const spans = ordered.map((entry, i) => LOCAL_HEADER_FIXED + entry.rawName.length + EXPECTED_LOCAL_EXTRA + (peeks[i] as number));
    // A custom source's hint is taken with care: a nonsense gap reads no data, a huge parallelism is capped.
    const gapBytes = cost === undefined ? Number.POSITIVE_INFINITY : cost.gapBytes >= 0 ? cost.gapBytes : 0;
    const parallel = cost === undefined ? 1 : Math.min(MAX_SCAN_READS_IN_FLIGHT, Math.max(1, Math.floor(cost.parallelReads) || 1));
    const windows = planScanWindows(ordered, spans, { windowBytes: options.windowBytes ?? DEFAULT_SCAN_WINDOW, gapBytes, size: this.size });
    // Remote windows go straight to the source at their exact span: ReadWindow would round each up to 64 KiB.
    const direct = cost !== undefined;
    const inFlight: Array<Promise<Uint8Array> | undefined> = [];
    let issued = 0;
    for (let w = 0; w < windows.length; w++) {
      for (; issued < windows.length && issued < w + parallel; issued++) {
        const window = windows[issued] as ScanWindow;
        const read = this.#readHeaderBytes(ordered[window.first] as ZipEntry, window.start, window.end - window.start, direct);
        // Handled here so that a failure of a window read ahead is not reported as unhandled while an earlier
        // window's error is the one thrown; awaiting `read` later still sees it.
        read.catch(() => undefined);
        inFlight[issued] = read;
      }
      const window = windows[w] as ScanWindow;
      const bytes = await (inFlight[w] as Promise<Uint8Array>);
      inFlight[w] = undefined;
      for (let i = window.first; i < window.last; i++) {
        const entry = ordered[i] as ZipEntry;
        const at = entry.localHeaderOffset;
        const peek = peeks[i] as number;
        let relative = at - window.start;
        let local = bytes;
        if (relative + LOCAL_HEADER_FIXED > local.length) {
          // The source came up short of this header: its own read reports why (bounds or truncation).
          local = await this.#readHeaderBytes(entry, at, spans[i] as number, direct);
          relative = 0;
        }
        const headerLength = localHeaderLength(local.subarray(relative), entry);
        if (relative + headerLength + peek > local.length) {
          // A longer extra field than expected: this member alone needs a read of its own.
          local = await this.#readHeaderBytes(entry, at, headerLength + peek, direct);
          relative = 0;
        }
        const dataStart = this.#accept(entry, local, relative);
        const headFrom = relative + headerLength;
        const pending = visit({ entry, dataStart, head: local.subarray(headFrom, headFrom + peek) });
        if (pending !== undefined) await pending;
      }
    }
  }

  /** Decodes and checks the local header at `bytes[relative]`, then remembers where the member's data starts. */
  #accept(entry: ZipEntry, bytes: Uint8Array, relative: number): number {
    const at = entry.localHeaderOffset;
    let header;
    try {
      header = decodeLocalHeader(bytes, relative);
    } catch (error) {
      if (!(error instanceof NpzError)) throw error;
      // Bytes stop short of the header either because the source came up short or because the header's own
      // lengths point past the end of the file; only the first is a truncation.
      const pastEnd = error.code === 'ERR_ZIP_TRUNCATED' && at + localHeaderLength(bytes.subarray(relative), entry) > this.size;
      throw new NpzError(pastEnd ? 'ERR_ZIP_BOUNDS' : error.code, `member ${JSON.stringify(entry.name)}: ${error.message} at offset ${at}`, {
        entry: entry.name,
        offset: at,
        cause: error,
      });
    }
    checkLocalName(entry, localName(header, at));
    const start = at + header.length;
    const end = start + entry.compressedSize;
    if (end > this.size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${JSON.stringify(entry.name)} data ends at ${end}, past the ${this.size}-byte file`, {
        entry: entry.name,
        offset: start,
        expected: this.size,
        actual: end,
      });
    }
    if (end > entry.regionEnd) {
      throw new NpzError(
        'ERR_ZIP_OVERLAP',
        `member ${JSON.stringify(entry.name)} data (${start}..${end}) overlaps the next record at ${entry.regionEnd} (possible zip bomb)`,
        { entry: entry.name, offset: start, expected: entry.regionEnd, actual: end },
      );
    }
    this.#dataStarts[entry.index] = start;
    return start;
  }

  /** Up to `length` bytes at `offset`, at least a whole fixed local header, inside the file. */
  async #readHeaderBytes(entry: ZipEntry, offset: number, length: number, direct = false): Promise<Uint8Array> {
    if (offset + LOCAL_HEADER_FIXED > this.size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${JSON.stringify(entry.name)}: local header at ${offset} runs past the end of the file`, {
        entry: entry.name,
        offset,
        expected: this.size,
        actual: offset + LOCAL_HEADER_FIXED,
      });
    }
    const wanted = Math.min(length, this.size - offset);
    const bytes = await (direct ? this.source.read(offset, wanted) : this.window.read(offset, wanted));
    if (bytes.length < Math.min(wanted, LOCAL_HEADER_FIXED)) {
      throw new NpzError('ERR_ZIP_TRUNCATED', `source ended inside the local header of ${JSON.stringify(entry.name)}`, {
        entry: entry.name,
        offset: offset + bytes.length,
      });
    }
    return bytes;
  }
}

/** One coalesced read of the scan: members `[first, last)` in file order, whose headers lie in `[start, end)`. */
export interface ScanWindow {
  first: number;
  last: number;
  start: number;
  end: number;
}

/**
 * Groups members (in file order, with the bytes `spans[i]` each needs from its local header on) into reads: a
 * window grows over the next member while the whole stays within `windowBytes` and the bytes skipped to reach
 * that member's header are at most `gapBytes`. Pure, so the policy is testable without I/O.
 */
export function planScanWindows(
  ordered: readonly ZipEntry[],
  spans: readonly number[],
  limits: { windowBytes: number; gapBytes: number; size: number },
): ScanWindow[] {
  const windows: ScanWindow[] = [];
  for (let i = 0; i < ordered.length; ) {
    const start = (ordered[i] as ZipEntry).localHeaderOffset;
    let end = start + (spans[i] as number);
    let j = i + 1;
    for (; j < ordered.length; j++) {
      const at = (ordered[j] as ZipEntry).localHeaderOffset;
      const nextEnd = at + (spans[j] as number);
      if (nextEnd - start > limits.windowBytes || at - end > limits.gapBytes) break;
      end = Math.max(end, nextEnd);
    }
    windows.push({ first: i, last: j, start, end: Math.max(start, Math.min(end, limits.size)) });
    i = j;
  }
  return windows;
}

/** Length of the local header at the start of `bytes`, from its fixed part, which must be there. */
function localHeaderLength(bytes: Uint8Array, entry: ZipEntry): number {
  if (bytes.length < LOCAL_HEADER_FIXED) {
    throw new NpzError('ERR_ZIP_TRUNCATED', `source ended inside the local header of ${JSON.stringify(entry.name)}`, {
      entry: entry.name,
      offset: entry.localHeaderOffset + bytes.length,
    });
  }
  return localHeaderSpan(bytes);
}

/** Refuses members this library cannot decode, naming the member (the shared rule, for a directory entry). */
export function checkDecodable(entry: ZipEntry): void {
  checkMemberDecodable(entry.name, entry.flags, entry.method);
}
