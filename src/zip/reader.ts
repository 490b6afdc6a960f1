import yauzl from 'yauzl';
import { NpzError, type NpzErrorCode } from '../errors.js';
import { viewOf } from './bytes.js';
import { SIG_END, SIG_ZIP64_END } from './end-records.js';
import { decodeZipName } from './names.js';
import { LOCAL_HEADER_FIXED, METHOD_DEFLATED, METHOD_STORED, SIG_CENTRAL_DIRECTORY, SIG_LOCAL_HEADER } from './records.js';
import type { RandomAccessSource } from './source.js';
import { ReadWindow } from './window.js';
import { SourceRandomAccessReader } from './yauzl-adapter.js';

/**
 * The zip container, read the way CPython's zipfile (np.load's reader) reads it: the central directory is the
 * truth (parsed by yauzl, including every ZIP64 case), each member's local header is checked against it, and every
 * offset is bounds-checked before anything is read. Member bytes are read by `member.ts`.
 */

const FLAG_ENCRYPTED = 0x0001;
const FLAG_STRONG_ENCRYPTION = 0x0040;
const SIG_DIGITAL_SIGNATURE = 0x05054b50;

export interface ZipEntry {
  /** Position in the central directory. */
  readonly index: number;
  readonly name: string;
  readonly rawName: Uint8Array;
  readonly flags: number;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** Where the next member's local header (or the central directory) starts: this member must end before it. */
  readonly regionEnd: number;
}

export type DuplicateNamePolicy = 'error' | 'last';

export interface OpenZipOptions {
  /** Duplicate member names: `'error'` (default) refuses the archive, `'last'` keeps the last one, as np.load does. */
  duplicates?: DuplicateNamePolicy;
}

function u32(bytes: Uint8Array, offset: number): number {
  return viewOf(bytes).getUint32(offset, true);
}

function u16(bytes: Uint8Array, offset: number): number {
  return viewOf(bytes).getUint16(offset, true);
}

// yauzl reports plain Errors; these are its messages (3.4.0), mapped to stable codes.
const YAUZL_MESSAGES: ReadonlyArray<readonly [RegExp, NpzErrorCode]> = [
  [/^Invalid comment length/, 'ERR_ZIP_EOCD'],
  [/zip64 end of central directory record signature/, 'ERR_ZIP_ZIP64'],
  [/zip64 extended information extra field/, 'ERR_ZIP_ZIP64'],
  [/^multi-disk zip files are not supported/, 'ERR_ZIP_MULTIDISK'],
  [/^invalid central directory file header signature/, 'ERR_ZIP_CENTRAL_DIRECTORY'],
  [/^extra field length exceeds/, 'ERR_ZIP_CENTRAL_DIRECTORY'],
  [/^strong encryption is not supported/, 'ERR_ZIP_ENCRYPTED'],
  [/^compressed\/uncompressed size mismatch for stored file/, 'ERR_ZIP_SIZE_MISMATCH'],
  [/^zip file too large/, 'ERR_ZIP_TOO_LARGE'],
  [/^unexpected EOF/, 'ERR_ZIP_TRUNCATED'],
];

function fromYauzlError(error: unknown): NpzError {
  if (error instanceof NpzError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = YAUZL_MESSAGES.find(([pattern]) => pattern.test(message))?.[1] ?? 'ERR_ZIP_CENTRAL_DIRECTORY';
  return new NpzError(code, `invalid zip: ${message}`, { cause: error });
}

/** Tells "not a zip at all" from "a zip whose end is missing" when no end of central directory record exists. */
async function missingEocdError(window: ReadWindow, cause: unknown): Promise<NpzError> {
  const size = window.source.size;
  if (size === 0) return new NpzError('ERR_ZIP_NOT_ZIP', 'input is empty, not a zip archive', { cause });
  const head = await window.read(0, Math.min(4, size));
  if (head.length === 4 && u32(head, 0) === SIG_LOCAL_HEADER) {
    return new NpzError(
      'ERR_ZIP_TRUNCATED',
      'the archive starts like a zip but has no end of central directory record: the file is truncated or still being written',
      { cause },
    );
  }
  return new NpzError('ERR_ZIP_NOT_ZIP', 'input is not a zip archive (no end of central directory record found)', { cause });
}

interface RawDirectory {
  entries: yauzl.Entry[];
  directoryStart: number;
  directoryEnd: number;
}

function walkCentralDirectory(reader: SourceRandomAccessReader, size: number): Promise<RawDirectory> {
  return new Promise((resolve, reject) => {
    const options = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true };
    try {
      yauzl.fromRandomAccessReader(reader, size, options, (openError, zipfile) => {
        if (openError !== null) {
          reject(openError);
          return;
        }
        // yauzl keeps its read position in `readEntryCursor`; it starts at the central directory offset.
        const cursor = (): number => (zipfile as unknown as { readEntryCursor: number }).readEntryCursor;
        const directoryStart = cursor();
        const entries: yauzl.Entry[] = [];
        zipfile.on('entry', (entry: yauzl.Entry) => {
          entries.push(entry);
          zipfile.readEntry();
        });
        zipfile.once('end', () => {
          const directoryEnd = cursor();
          zipfile.close();
          resolve({ entries, directoryStart, directoryEnd });
        });
        zipfile.once('error', (error: unknown) => {
          zipfile.close();
          reject(error);
        });
        zipfile.readEntry();
      });
    } catch (error) {
      reject(error);
    }
  });
}

export class ZipArchive {
  readonly #dataStarts: Array<number | undefined>;

  private constructor(
    readonly window: ReadWindow,
    /** Members after the duplicate-name policy, in central directory order. */
    readonly entries: readonly ZipEntry[],
    readonly centralDirectoryOffset: number,
  ) {
    this.#dataStarts = [];
  }

  get source(): RandomAccessSource {
    return this.window.source;
  }

  get size(): number {
    return this.window.source.size;
  }

  /** Reads the central directory. Does not take ownership of `source`. */
  static async open(source: RandomAccessSource, options: OpenZipOptions = {}): Promise<ZipArchive> {
    const window = new ReadWindow(source);
    let raw: RawDirectory;
    try {
      raw = await walkCentralDirectory(new SourceRandomAccessReader(window), source.size);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('End of central directory record signature not found')) {
        throw await missingEocdError(window, error);
      }
      throw fromYauzlError(error);
    }
    await checkDirectoryEnd(window, raw.directoryEnd);
    const all = raw.entries.map((entry, index) => toZipEntry(entry, index));
    const withRegions = assignRegions(all, raw.directoryStart, source.size);
    const kept = applyDuplicatePolicy(withRegions, options.duplicates ?? 'error');
    return new ZipArchive(window, kept, raw.directoryStart);
  }

  /**
   * Offset of the member's first data byte, from its local header: checks the signature, that the name matches
   * the central directory (decoded with the local flags, as CPython does), and that the data fits.
   */
  async dataStart(entry: ZipEntry): Promise<number> {
    const cached = this.#dataStarts[entry.index];
    if (cached !== undefined) return cached;
    const at = entry.localHeaderOffset;
    const fixed = await this.#readStructure(at, LOCAL_HEADER_FIXED + entry.rawName.length, entry);
    if (u32(fixed, 0) !== SIG_LOCAL_HEADER) {
      throw new NpzError('ERR_ZIP_LOCAL_HEADER', `member ${JSON.stringify(entry.name)}: no local file header at offset ${at}`, {
        entry: entry.name,
        offset: at,
      });
    }
    const localFlags = u16(fixed, 6);
    const nameLength = u16(fixed, 26);
    const extraLength = u16(fixed, 28);
    const localRaw =
      nameLength === entry.rawName.length
        ? fixed.subarray(LOCAL_HEADER_FIXED, LOCAL_HEADER_FIXED + nameLength)
        : (await this.#readStructure(at, LOCAL_HEADER_FIXED + nameLength, entry)).subarray(LOCAL_HEADER_FIXED);
    let localName: string;
    try {
      localName = decodeZipName(localRaw, localFlags);
    } catch {
      localName = '\u0000<invalid UTF-8>';
    }
    if (localName !== entry.name) {
      throw new NpzError(
        'ERR_ZIP_NAME_MISMATCH',
        `member name in the central directory ${JSON.stringify(entry.name)} differs from its local header ${JSON.stringify(localName)}`,
        { entry: entry.name, offset: at, expected: entry.name, actual: localName },
      );
    }
    const start = at + LOCAL_HEADER_FIXED + nameLength + extraLength;
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

  async #readStructure(offset: number, length: number, entry: ZipEntry): Promise<Uint8Array> {
    if (offset + length > this.size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${JSON.stringify(entry.name)}: local header at ${offset} runs past the end of the file`, {
        entry: entry.name,
        offset,
        expected: this.size,
        actual: offset + length,
      });
    }
    const bytes = await this.window.read(offset, length);
    if (bytes.length < length) {
      throw new NpzError('ERR_ZIP_TRUNCATED', `source ended inside the local header of ${JSON.stringify(entry.name)}`, {
        entry: entry.name,
        offset: offset + bytes.length,
      });
    }
    return bytes;
  }
}

/** The central directory must end where an end record starts; anything else means the entry count lied. */
async function checkDirectoryEnd(window: ReadWindow, directoryEnd: number): Promise<void> {
  const bytes = directoryEnd + 4 <= window.source.size ? await window.read(directoryEnd, 4) : new Uint8Array(0);
  const signature = bytes.length === 4 ? u32(bytes, 0) : -1;
  if (signature === SIG_ZIP64_END || signature === SIG_END || signature === SIG_DIGITAL_SIGNATURE) return;
  const detail = signature === SIG_CENTRAL_DIRECTORY ? 'more entries than the end record counts' : 'unexpected bytes after the last entry';
  throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `central directory has ${detail} (offset ${directoryEnd})`, {
    offset: directoryEnd,
  });
}

const ZIP64_SENTINEL = 0xffffffff;
const EXTRA_ZIP64 = 0x0001;

function toZipEntry(entry: yauzl.Entry, index: number): ZipEntry {
  const flags = entry.generalPurposeBitFlag;
  const rawName = new Uint8Array(entry.fileNameRaw);
  let name: string;
  try {
    name = decodeZipName(rawName, flags);
  } catch (error) {
    throw new NpzError('ERR_ZIP_CENTRAL_DIRECTORY', `central directory entry ${index}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // yauzl replaces sentinels only from a zip64 extra; without one a sentinel would be taken as a real 4 GiB size
  // or offset, and the damage reported as a bounds or overlap error far from its cause.
  const sentinels = [entry.compressedSize, entry.uncompressedSize, entry.relativeOffsetOfLocalHeader];
  if (sentinels.includes(ZIP64_SENTINEL) && !entry.extraFields.some((field) => field.id === EXTRA_ZIP64)) {
    throw new NpzError('ERR_ZIP_ZIP64', `member ${JSON.stringify(name)}: zip64 sentinel 0xFFFFFFFF in the central directory but no zip64 extra field`, {
      entry: name,
    });
  }
  return {
    index,
    name,
    rawName,
    flags,
    method: entry.compressionMethod,
    crc32: entry.crc32,
    compressedSize: entry.compressedSize,
    uncompressedSize: entry.uncompressedSize,
    localHeaderOffset: entry.relativeOffsetOfLocalHeader,
    regionEnd: 0,
  };
}

/** Each member may extend only up to the next local header in file order, or to the central directory. */
function assignRegions(entries: ZipEntry[], directoryStart: number, size: number): ZipEntry[] {
  const byOffset = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  const regionEnds = new Array<number>(entries.length);
  for (let i = 0; i < byOffset.length; i++) {
    const entry = byOffset[i] as ZipEntry;
    const next = byOffset[i + 1];
    const regionEnd = next === undefined ? directoryStart : next.localHeaderOffset;
    // Smallest possible extent: the local name equals the CD name, so only the local extra field is unknown.
    const minimalEnd = entry.localHeaderOffset + LOCAL_HEADER_FIXED + entry.rawName.length + entry.compressedSize;
    if (minimalEnd > size) {
      throw new NpzError('ERR_ZIP_BOUNDS', `member ${JSON.stringify(entry.name)} would end at ${minimalEnd}, past the ${size}-byte file`, {
        entry: entry.name,
        offset: entry.localHeaderOffset,
        expected: size,
        actual: minimalEnd,
      });
    }
    if (minimalEnd > regionEnd) {
      const what = next === undefined ? 'the central directory' : `member ${JSON.stringify(next.name)}`;
      throw new NpzError(
        'ERR_ZIP_OVERLAP',
        `member ${JSON.stringify(entry.name)} (offset ${entry.localHeaderOffset}) overlaps ${what} at ${regionEnd} (possible zip bomb)`,
        { entry: entry.name, offset: entry.localHeaderOffset, expected: regionEnd, actual: minimalEnd },
      );
    }
    regionEnds[entry.index] = regionEnd;
  }
  return entries.map((entry) => ({ ...entry, regionEnd: regionEnds[entry.index] as number }));
}

function applyDuplicatePolicy(entries: ZipEntry[], policy: DuplicateNamePolicy): ZipEntry[] {
  const lastIndex = new Map<string, number>();
  for (const entry of entries) {
    const previous = lastIndex.get(entry.name);
    if (previous !== undefined && policy === 'error') {
      throw new NpzError(
        'ERR_NPZ_DUPLICATE_NAME',
        `member name ${JSON.stringify(entry.name)} appears more than once (entries ${previous} and ${entry.index}); option duplicates: 'last' keeps the last`,
        { entry: entry.name },
      );
    }
    lastIndex.set(entry.name, entry.index);
  }
  return entries.filter((entry) => lastIndex.get(entry.name) === entry.index);
}

/** Refuses members this library cannot decode, naming the member. */
export function checkDecodable(entry: ZipEntry): void {
  if ((entry.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) !== 0) {
    throw new NpzError('ERR_ZIP_ENCRYPTED', `member ${JSON.stringify(entry.name)} is encrypted`, { entry: entry.name });
  }
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATED) {
    throw new NpzError(
      'ERR_ZIP_UNSUPPORTED_METHOD',
      `member ${JSON.stringify(entry.name)} uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`,
      { entry: entry.name, actual: entry.method },
    );
  }
}
