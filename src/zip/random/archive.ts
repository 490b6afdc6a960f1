import { NpzError } from '../../errors.js';
import type { Codecs } from '../../io/codecs.js';
import { ReadPlanner } from '../../io/planner/index.js';
import type { RandomAccessSource } from '../../io/random-access.js';
import { inFileOrder, readCentralDirectory, type ZipEntry } from './central-directory.js';
import { LOCAL_HEADER_FIXED, LOCAL_ZIP64_EXTRA, decodeLocalHeader, localHeaderSpan } from '../format/records.js';
import { checkDecodable as checkMemberDecodable, checkLocalName, localName } from '../format/rules.js';

export type { ZipEntry } from './central-directory.js';

/**
 * The zip container, read the way CPython's zipfile (np.load's reader) reads it: the central directory is the
 * truth, each member's local header is checked against it, and every offset is bounds-checked before anything is
 * read. Member bytes are read by `member-reader.ts`.
 */

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
  /** Largest merged read in bytes (default 4 MiB). Gaps and parallelism are the read planner's, from the source's `readCost`. */
  windowBytes?: number;
  /**
   * A member whose local header fails its checks: with this, the scan hands its error here and goes on with the
   * next member (the member is not visited); without it, the scan throws the error. Only the checks of the member
   * itself are handed over: errors of the source (I/O, abort) end the scan either way.
   */
  onMemberError?: (entry: ZipEntry, error: NpzError) => void;
}

export class ZipArchive {
  readonly #dataStarts: Array<number | undefined> = [];

  private constructor(
    /** Every read of the archive goes through the read planner of its source (closing it closes the source). */
    readonly source: ReadPlanner,
    /** CRC-32 and inflate, from the host: the member readers take them from here. */
    readonly codecs: Codecs,
    /** Every member, in central directory order (duplicate names included: naming policy is the caller's). */
    readonly entries: readonly ZipEntry[],
    readonly centralDirectoryOffset: number,
  ) {}

  get size(): number {
    return this.source.size;
  }

  /** Reads the central directory in a few large reads. Does not take ownership of `source`. */
  static async open(source: RandomAccessSource, codecs: Codecs): Promise<ZipArchive> {
    const planner = ReadPlanner.over(source);
    const directory = await readCentralDirectory(planner);
    return new ZipArchive(planner, codecs, directory.entries, directory.offset);
  }

  /** Offset of the member's first data byte, from its (checked) local header. */
  async dataStart(entry: ZipEntry): Promise<number> {
    const cached = this.#dataStarts[entry.index];
    if (cached !== undefined) return cached;
    const at = entry.localHeaderOffset;
    const guess = LOCAL_HEADER_FIXED + entry.rawName.length + EXPECTED_LOCAL_EXTRA;
    let bytes = await this.#readHeaderBytes(entry, at, guess, true);
    const needed = localHeaderLength(bytes, entry);
    if (needed > bytes.length) bytes = await this.#readHeaderBytes(entry, at, needed, true);
    return this.#accept(entry, bytes, 0);
  }

  /**
   * Checks the local headers of `entries` in file order and hands each member, with its first `peek` data bytes,
   * to `visit`. The headers (with their peeks) are one batch of byte runs for the read planner, which merges
   * neighbours into reads of up to `windowBytes` by the source's cost (a local file reads through any member data
   * that fits, a round-trip source only through gaps up to its `gapBytes`, with several reads in flight), so the
   * number of reads grows with the file's metadata, not with its member count or data size. Members are visited in
   * file order either way. A visit that needs no I/O returns nothing and costs no promise; `head` is valid only
   * during the visit.
   */
  async scan(entries: readonly ZipEntry[], visit: (member: LocatedMember) => void | Promise<void>, options: ScanOptions = {}): Promise<void> {
    // Per member, in file order: the bytes its local header and its peek span.
    const runs = inFileOrder(entries).map((entry) => {
      const peek = Math.min(options.peek?.(entry) ?? 0, entry.compressedSize);
      return { entry, peek, offset: entry.localHeaderOffset, length: LOCAL_HEADER_FIXED + entry.rawName.length + EXPECTED_LOCAL_EXTRA + peek };
    });
    const groups = this.source.readRuns(runs, options.windowBytes === undefined ? {} : { maxSpan: options.windowBytes });
    for await (const { start, bytes, runs: members } of groups) {
      for (const { entry, peek, length } of members) {
        let located: LocatedMember;
        try {
          const found = this.#locate(entry, start, bytes, peek, length);
          located = found instanceof Promise ? await found : found;
        } catch (error) {
          if (options.onMemberError === undefined || !(error instanceof NpzError) || !isMemberCheck(error)) throw error;
          options.onMemberError(entry, error);
          continue;
        }
        const pending = visit(located);
        if (pending !== undefined) await pending;
      }
    }
  }

  /**
   * The member's checked local header within the scan's `bytes` (read at `start`); a promise only when those
   * bytes fall short and more must be read, so a scan of headers already in hand costs no promise per member.
   */
  #locate(entry: ZipEntry, start: number, bytes: Uint8Array, peek: number, length: number): LocatedMember | Promise<LocatedMember> {
    const at = entry.localHeaderOffset;
    const relative = at - start;
    // The source came up short of this header: its own read reports why (bounds or truncation).
    if (relative + LOCAL_HEADER_FIXED > bytes.length) return this.#readHeaderBytes(entry, at, length).then((local) => this.#located(entry, local, 0, peek));
    return this.#located(entry, bytes, relative, peek);
  }

  #located(entry: ZipEntry, local: Uint8Array, relative: number, peek: number, reread = false): LocatedMember | Promise<LocatedMember> {
    const headerLength = localHeaderLength(local.subarray(relative), entry);
    if (relative + headerLength + peek > local.length) {
      // A longer extra field than expected: this member alone needs a read of its own, once. Bytes still short
      // after it mean the header's lengths (or the member) run past the end of the file, which #accept reports.
      if (!reread) {
        return this.#readHeaderBytes(entry, entry.localHeaderOffset, headerLength + peek).then((more) => this.#located(entry, more, 0, peek, true));
      }
      this.#accept(entry, local, relative);
      throw new NpzError('ERR_ZIP_TRUNCATED', `source ended inside the local header of ${JSON.stringify(entry.name)}`, {
        entry: entry.name,
        offset: entry.localHeaderOffset + local.length - relative,
      });
    }
    const dataStart = this.#accept(entry, local, relative);
    const headFrom = relative + headerLength;
    return { entry, dataStart, head: local.subarray(headFrom, headFrom + peek) };
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

  /**
   * Up to `length` bytes at `offset`, at least a whole fixed local header, inside the file: through the planner's
   * cached window when the member's data will be read next (`around`), else as one run of a scan.
   */
  async #readHeaderBytes(entry: ZipEntry, offset: number, length: number, around = false): Promise<Uint8Array> {
    if (offset + LOCAL_HEADER_FIXED > this.size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${JSON.stringify(entry.name)}: local header at ${offset} runs past the end of the file`, {
        entry: entry.name,
        offset,
        expected: this.size,
        actual: offset + LOCAL_HEADER_FIXED,
      });
    }
    const wanted = Math.min(length, this.size - offset);
    const bytes = await (around ? this.source.readAround(offset, wanted) : this.source.readRun(offset, wanted));
    if (bytes.length < Math.min(wanted, LOCAL_HEADER_FIXED)) {
      throw new NpzError('ERR_ZIP_TRUNCATED', `source ended inside the local header of ${JSON.stringify(entry.name)}`, {
        entry: entry.name,
        offset: offset + bytes.length,
      });
    }
    return bytes;
  }
}

/** An error of the member's own checks (container codes), not of the source it was read from. */
function isMemberCheck(error: NpzError): boolean {
  return error.code.startsWith('ERR_ZIP_');
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
