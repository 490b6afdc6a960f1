import { NpzError } from '../errors.js';
import { abortError } from '../io/abort.js';
import {
  damageError,
  isMemberDamage,
  shardGetOptions,
  type ArrayChunksOptions,
  type ArrayGetOptions,
  type ArrayInfo,
  type DamagedPolicy,
  type EntryError,
  type FileOfEntries,
  type ShardOptions,
} from '../io/array-file.js';
import type { ReadStats } from '../io/planner/index.js';
import type { Codecs } from '../io/codecs.js';
import type { Platform } from '../io/platform.js';
import type { NpyArray } from '../npy/array.js';
import type { NpyHeader } from '../npy/header.js';
import { npyHeaderFromHead } from '../npy/read.js';
import type { HttpReadOptions } from '../http/options.js';
import type { RemoteOptions } from '../objectstore/options.js';
import { isByteStream } from '../io/byte-stream.js';
import type { NpzSource, RandomAccessSource } from '../io/random-access.js';
import { ZipArchive, checkDecodable, type LocatedMember, type ZipEntry } from '../zip/random/archive.js';
import { DEFAULT_CHUNK_SIZE } from '../zip/random/member-reader.js';
import { arrayChunks, inMember, peekArrayHeader, readArray, type NpzReadOptions } from './arrays.js';
import { npyArrayFields, type NpyArrayFields, type NpzMemberFields } from './entry-fields.js';
import { memberSliceChunks, readMemberSlice, type MemberArray } from './slice.js';
import { compressionOf, indexByKey, isArrayMember, keyOfMember, nameAsNumpySees, type DuplicateNamePolicy } from './keys.js';

export type { DuplicateNamePolicy } from './keys.js';

export interface OpenNpzOptions extends NpzReadOptions {
  /** Two members with the same key: `'error'` (default) or `'last'` (the last one wins, as in np.load). */
  duplicates?: DuplicateNamePolicy;
  /** How an `http(s):` URL input (or an object store URL) is fetched: headers, concurrency, retries, timeouts. */
  http?: HttpReadOptions;
  /** Credentials and endpoints for `s3://`, `gs://` and `hf://` inputs (default: from the environment). */
  remote?: RemoteOptions;
  /**
   * A member that cannot be read as an array while the central directory is intact (a bad npy header, a local
   * header that disagrees with the directory, an unsupported compression): `'list'` (default) lists it as an
   * entry with `damaged: true` and its `error`, which `get` and `chunks` of it throw; `'error'` makes opening
   * throw that error instead. A damaged or unreadable central directory always fails the open.
   */
  damaged?: DamagedPolicy;
}

interface EntryBase extends NpzMemberFields {
  format: 'npz';
  /** Bytes the member occupies in the file. */
  compressedSize: number;
  /** Uncompressed member size (npy header plus data for arrays). */
  memberSize: number;
  /** CRC-32 of the uncompressed member, from the central directory. */
  crc32: number;
}

/** An `.npy` member: the npz fields, and what its npy header says. */
export interface NpzArrayEntry extends EntryBase, NpyArrayFields, ArrayInfo {
  isArray: true;
  damaged?: false;
  /**
   * File offset of the first data byte, for stored members: the array is the `byteLength` bytes from here, so
   * ranges of it can be read directly. Absent for compressed members.
   */
  dataOffset?: number;
}

/** A member whose name does not end in `.npy`: listed, never read as an array. */
export interface NpzOtherEntry extends EntryBase {
  isArray: false;
  damaged?: false;
}

/**
 * A member that could not be described (option `damaged: 'list'`): its npy header, local header or compression
 * failed the checks. Listed with what went wrong; `get` and `chunks` of it throw that error.
 */
export interface NpzDamagedEntry extends EntryBase {
  isArray: false;
  damaged: true;
  error: EntryError;
}

export type NpzEntry = NpzArrayEntry | NpzOtherEntry | NpzDamagedEntry;

/**
 * Recycled chunks default smaller: a 1 MiB chunk is still in cache when the CRC pass reads it right after the
 * copy, which measured ~3.0 GB/s against ~2.6 GB/s with 4 MiB chunks (1.58 GB file, page cache warm).
 */
const RECYCLED_CHUNK_SIZE = 1 << 20;

/**
 * `chunks` options for an npz: with `reuseBuffers`, stored members are read into a small ring of reused buffers
 * (default chunk size then 1 MiB), and no garbage is made per chunk.
 */
export interface NpzChunksOptions extends ArrayChunksOptions {}

/** An npz opened for random access: the `ArrayFile` of the npz format. */
export interface NpzFile extends FileOfEntries<NpzEntry> {
  readonly format: 'npz';
  /** Every member, in central directory order; members that are not `.npy` are listed with `isArray: false`. */
  readonly entries: readonly NpzEntry[];
  /** True for an entry key (or full member name). */
  has(name: string): boolean;
  /**
   * Reads one array (its CRC-32 verified), leaving the others untouched; with `slice`, only the part it selects,
   * in C order (a partial read cannot check the CRC-32: see docs/slices.md).
   */
  get(name: string, options?: ArrayGetOptions): Promise<NpyArray>;
  /**
   * The array's little-endian data bytes after the header, with bounded memory; completing the loop verifies its
   * CRC-32. With `slice`, the slice's bytes in C order (no CRC check).
   */
  chunks(name: string, options?: NpzChunksOptions): AsyncIterable<Uint8Array>;
  /** Closes the source if it was opened from a path, URL or bytes. Idempotent. */
  close(): Promise<void>;
}

class OpenedNpz implements NpzFile {
  readonly format = 'npz';
  readonly entries: readonly NpzEntry[];
  readonly #archive: ZipArchive;
  readonly #source: RandomAccessSource;
  readonly #owned: boolean;
  readonly #options: OpenNpzOptions;
  readonly #byKey: Map<string, ZipEntry>;
  readonly #byMemberName: Map<string, ZipEntry>;
  /** The error of each damaged member, thrown again by every read of it. */
  readonly #damage: Map<ZipEntry, NpzError>;
  /** Array entries by member name, for what a slice needs to know of a member. */
  readonly #arrays = new Map<string, NpzArrayEntry>();
  #closed = false;

  constructor(
    archive: ZipArchive,
    owned: boolean,
    entries: NpzEntry[],
    byKey: Map<string, ZipEntry>,
    damage: Map<ZipEntry, NpzError>,
    options: OpenNpzOptions,
  ) {
    this.#archive = archive;
    this.#source = archive.source;
    this.#owned = owned;
    this.#options = options;
    this.entries = Object.freeze(entries);
    this.#byKey = byKey;
    this.#damage = damage;
    this.#byMemberName = new Map();
    for (const entry of byKey.values()) this.#byMemberName.set(nameAsNumpySees(entry.name), entry);
    for (const entry of entries) if (entry.isArray) this.#arrays.set(entry.memberName, entry);
  }

  get readStats(): Readonly<ReadStats> {
    return this.#archive.source.readStats;
  }

  has(name: string): boolean {
    return this.#lookup(name) !== undefined;
  }

  async get(name: string, options: ArrayGetOptions = {}): Promise<NpyArray> {
    const entry = this.#arrayEntry(name);
    const readOptions = options.signal === undefined ? this.#options : { ...this.#options, signal: options.signal };
    if (options.slice !== undefined) return readMemberSlice(this.#archive, this.#member(entry), options.slice, readOptions);
    return readArray(this.#archive, entry, readOptions);
  }

  chunks(name: string, options: NpzChunksOptions = {}): AsyncIterable<Uint8Array> {
    const entry = this.#arrayEntry(name);
    const reuse = options.reuseBuffers === true;
    const chunkSize = options.chunkSize ?? this.#options.chunkSize ?? (reuse ? RECYCLED_CHUNK_SIZE : DEFAULT_CHUNK_SIZE);
    const signal = options.signal ?? this.#options.signal;
    const readOptions: NpzReadOptions = { ...this.#options, chunkSize, ...(signal === undefined ? {} : { signal }) };
    if (options.slice !== undefined) return memberSliceChunks(this.#archive, this.#member(entry), options.slice, readOptions, chunkSize, reuse);
    return arrayChunks(this.#archive, entry, readOptions, chunkSize, reuse);
  }

  async shard(name: string, options: ShardOptions): Promise<NpyArray> {
    return this.get(name, shardGetOptions(this.#member(this.#arrayEntry(name)).header.shape, options));
  }

  /** The member, its npy header and where its data starts, for a slice. */
  #member(entry: ZipEntry): MemberArray {
    const info = this.#arrays.get(entry.name) as NpzArrayEntry;
    return { entry, header: npyHeaderOf(info), dataOffset: info.dataOffset };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#source.close();
  }

  // np.load maps full member names after keys, so with members 'x.npy' and 'x.npy.npy', 'x.npy' is the former.
  #lookup(name: string): ZipEntry | undefined {
    return this.#byMemberName.get(name) ?? this.#byKey.get(name);
  }

  #arrayEntry(name: string): ZipEntry {
    if (this.#closed) throw new NpzError('ERR_NPZ_CLOSED', `cannot read ${JSON.stringify(name)}: the npz file is closed`, { entry: name });
    const entry = this.#lookup(name);
    if (entry === undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in the npz file`, { entry: name });
    // A damaged member says what is wrong with it first, whatever its name says it is.
    const damage = this.#damage.get(entry);
    if (damage !== undefined) throw damageError(damage);
    if (!isArrayMember(entry)) {
      throw new NpzError('ERR_NPZ_NOT_ARRAY', `member ${JSON.stringify(entry.name)} is not an .npy array`, { entry: name });
    }
    return entry;
  }
}

/**
 * Room for an npy header after each stored array member's local header, so one coalesced read serves both.
 * numpy pads headers to 64 bytes (128 for ordinary shapes); longer ones cost one read of their own.
 */
const NPY_HEADER_PEEK = 256;
/** Traditional and strong encryption: such members are left to the member reader, which refuses them. */
const ENCRYPTION_FLAGS = 0x0041;
/** Compressed bytes peeked for a deflated array: numpy's header deflates to well under this. */
const DEFLATED_HEADER_PEEK = 512;
/** Bound on what a peek may inflate to (deflate expands at most ~1032×); beyond it the member reader decides. */
const MAX_INFLATED_PEEK = 1 << 20;

function baseOf(entry: ZipEntry): EntryBase {
  return {
    format: 'npz',
    name: keyOfMember(entry.name),
    memberName: entry.name,
    compression: compressionOf(entry),
    compressedSize: entry.compressedSize,
    memberSize: entry.uncompressedSize,
    localHeaderOffset: entry.localHeaderOffset,
    crc32: entry.crc32,
  };
}

function damagedEntry(entry: ZipEntry, error: NpzError): NpzDamagedEntry {
  return { ...baseOf(entry), isArray: false, damaged: true, error: { code: error.code, message: error.message } };
}

/** The entry for one member; synchronous (no promise) when the scan's bytes already hold its npy header. */
function describe(archive: ZipArchive, codecs: Codecs, located: LocatedMember, options: OpenNpzOptions): NpzEntry | Promise<NpzEntry> {
  const { entry, dataStart, head } = located;
  const base = baseOf(entry);
  // A non-array member is listed only after its local header was checked (by the scan): a damaged central
  // directory name could otherwise turn an array member ('w.npy' -> 'w.npx') into one silently left out.
  if (!isArrayMember(entry)) return { ...base, isArray: false };
  if (base.compression === 'stored') {
    // Refused members are refused before their bytes are interpreted, as the member reader would.
    checkDecodable(entry);
    let header: NpyHeader | undefined;
    try {
      header = npyHeaderFromHead(head, entry.uncompressedSize, options);
    } catch (error) {
      throw inMember(entry, error);
    }
    if (header !== undefined) return arrayEntry(base, header, dataStart);
  } else if (base.compression === 'deflate' && (entry.flags & ENCRYPTION_FLAGS) === 0) {
    const header = headerFromDeflatedHead(codecs, head, entry.uncompressedSize, options);
    if (header !== undefined) return arrayEntry(base, header, dataStart);
  }
  return peekArrayHeader(archive, entry, options).then((header) => arrayEntry(base, header, dataStart));
}

/**
 * The npy header of a deflated member from the first compressed bytes the scan fetched, inflated as far as they
 * go; undefined whenever that is not conclusive (too few bytes, damaged data, any header error), so the member
 * reader decides, and reports errors exactly as it would for any read.
 */
function headerFromDeflatedHead(codecs: Codecs, head: Uint8Array, memberSize: number, options: OpenNpzOptions): NpyHeader | undefined {
  try {
    const inflated = codecs.inflateHead(head, MAX_INFLATED_PEEK);
    if (inflated === undefined) return undefined;
    return npyHeaderFromHead(inflated.subarray(0, Math.min(inflated.length, memberSize)), memberSize, options);
  } catch {
    return undefined;
  }
}

/** The npy header each array entry was described from (slices need its byte order and item size). */
const npyHeaders = new WeakMap<NpzArrayEntry, NpyHeader>();

function npyHeaderOf(entry: NpzArrayEntry): NpyHeader {
  return npyHeaders.get(entry) as NpyHeader;
}

function arrayEntry(base: EntryBase, header: NpyHeader, dataStart: number): NpzArrayEntry {
  // Spelled out rather than spread: tens of thousands of entries are built here, and spreads were the cost.
  const entry: NpzArrayEntry = {
    format: 'npz',
    name: base.name,
    memberName: base.memberName,
    compression: base.compression,
    compressedSize: base.compressedSize,
    memberSize: base.memberSize,
    localHeaderOffset: base.localHeaderOffset,
    crc32: base.crc32,
    isArray: true,
    ...npyArrayFields(header),
  };
  if (base.compression === 'stored') entry.dataOffset = dataStart + header.headerLength;
  npyHeaders.set(entry, header);
  return entry;
}

/** `openNpz` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function openNpz(platform: Platform, input: NpzSource, options: OpenNpzOptions = {}): Promise<NpzFile> {
  if (isByteStream(input)) {
    throw new NpzError(
      'ERR_INVALID_ARGUMENT',
      'openNpz needs random access (a path, URL, bytes or a RandomAccessSource); to read a stream front to back use readNpz(stream) or streamNpz(stream)',
    );
  }
  const { source, owned } = await platform.openSource(input, options);
  try {
    const policy = options.duplicates ?? 'error';
    const archive = await ZipArchive.open(source, platform.codecs);
    const { byKey, kept } = indexByKey(archive.entries, policy);
    // Local headers and npy headers are read in file order, neighbours together; entries keep directory order.
    const described = new Array<NpzEntry>(kept.length);
    const position = new Map(kept.map((entry, i) => [entry, i]));
    const peek = (entry: ZipEntry): number => {
      if (!isArrayMember(entry)) return 0;
      const compression = compressionOf(entry);
      return compression === 'stored' ? NPY_HEADER_PEEK : compression === 'deflate' ? DEFLATED_HEADER_PEEK : 0;
    };
    const { signal } = options;
    const listDamaged = options.damaged !== 'error';
    const damage = new Map<ZipEntry, NpzError>();
    /** A member that failed its checks: listed as damaged, or (strict) the end of the open. */
    const damaged = (entry: ZipEntry, error: unknown): void => {
      if (!listDamaged || !isMemberDamage(error)) throw error;
      damage.set(entry, error);
      described[position.get(entry) as number] = damagedEntry(entry, error);
    };
    await archive.scan(
      kept,
      (located) => {
        if (signal?.aborted === true) throw abortError(signal, 'reading');
        const slot = position.get(located.entry) as number;
        let entry: NpzEntry | Promise<NpzEntry>;
        try {
          entry = describe(archive, platform.codecs, located, options);
        } catch (error) {
          return damaged(located.entry, error);
        }
        if (!(entry instanceof Promise)) described[slot] = entry;
        else return entry.then((done) => void (described[slot] = done), (error: unknown) => damaged(located.entry, error));
      },
      { peek, ...(listDamaged ? { onMemberError: damaged } : {}) },
    );
    return new OpenedNpz(archive, owned, described, byKey, damage, options);
  } catch (error) {
    if (owned) await source.close().catch(() => undefined);
    throw error;
  }
}
