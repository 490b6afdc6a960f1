/**
 * npz-stream in a browser (or a worker): read `.npz` and `.safetensors` files of any size from a `File`, a `Blob`,
 * a URL (by HTTP ranges), bytes or a `ReadableStream`, and write them into a `WritableStream`, in bounded memory.
 *
 * ```js
 * import { openNpz } from 'npz-stream/browser';
 *
 * const file = await openNpz(input.files[0]);       // a File from <input type="file">: nothing read but headers
 * for (const entry of file.entries) console.log(entry.name, entry.isArray && entry.shape);
 * const kernel = await file.get('img/embedding/kernel');
 * ```
 *
 * Every function here is a thin wrapper that hands the format core (the same one Node uses) the browser platform:
 * Blob reads, fetch with Range, DecompressionStream, WHATWG streams. The modules import nothing but each other,
 * so a `<script type="module">` loads them with no bundler, and bundlers take them as they are.
 *
 * @module
 */
import { NpzError } from '../errors.js';
import type { ByteStream } from '../io/byte-stream.js';
import type { PlatformFiles, Platform } from '../io/platform.js';
import type { NpzSource } from '../io/random-access.js';
import type { NpyArray } from '../npy/array.js';
import * as npzOpen from '../npz/open.js';
import * as npzRead from '../npz/read.js';
import * as npzSave from '../npz/save.js';
import * as npzStream from '../npz/stream.js';
import * as stOpen from '../safetensors/open.js';
import * as stSave from '../safetensors/save.js';
import * as stShards from '../safetensors/shards.js';
import type { FlatTree, Tree } from '../tree/flatten.js';
import { blobSource, isBlob } from './blob-source.js';
import { browserPlatform, browserUrl, httpSource, openBrowserSource, urlFiles, type BrowserHttpOptions, type BrowserSource } from './platform.js';

export { NpzError, isNpzError, NPZ_ERROR_CODES } from '../errors.js';
export type { NpzErrorCode, NpzErrorContext } from '../errors.js';
export { DTYPES, isDType } from '../npy/dtype.js';
export type { DType, ArrayDType, NpyTypedArray, ByteOrder, DTypeInfo } from '../npy/dtype.js';
export type { NpyArray } from '../npy/array.js';
export type { Leaf, LazyArray } from '../npy/write.js';
export { encodeNpyHeader, decodeNpyHeader, npyHeaderLength, DEFAULT_MAX_HEADER_SIZE } from '../npy/header.js';
export type { Descr, DescrField, FieldName, SubarrayDescr, NpyHeader, NpyHeaderFields, DecodeNpyHeaderOptions } from '../npy/header.js';
export {
  bfloat16ToFloat32,
  float32ToBfloat16,
  float16ToFloat32,
  float32ToFloat16,
  bfloat16BitsToNumber,
  numberToBfloat16Bits,
  float16BitsToNumber,
  numberToFloat16Bits,
} from '../npy/half.js';
export { flattenWithNames, unflattenWithNames } from '../tree/flatten.js';
export type { Tree, FlatTree } from '../tree/flatten.js';
export type { ArrayInfo, ArrayFormat, ArrayGetOptions, ArrayChunksOptions } from '../io/array-file.js';
export type { ArrayFile, ArrayEntry, DamagedEntry } from '../array-entry.js';
export { isDamagedEntry } from '../array-entry.js';
export type { SaveOptions, SaveProgress, SaveSummary } from '../npz/save.js';
export type { NpzFile, NpzEntry, NpzArrayEntry, NpzOtherEntry, NpzChunksOptions } from '../npz/open.js';
export type { Compression, DuplicateNamePolicy } from '../npz/keys.js';
export type { NpzTree } from '../npz/read.js';
export type { StreamNpzOptions, StreamChunksOptions, StreamNpzEntry, StreamNpzArrayEntry, StreamNpzOtherEntry } from '../npz/stream.js';
export type { ByteStream } from '../io/byte-stream.js';
export type { RandomAccessSource, ReadCost } from '../io/random-access.js';
export type { HttpSource, HttpSourceStats } from '../http/source.js';
export type { SaveSafetensorsStreamOptions, SaveSafetensorsSummary } from '../safetensors/save.js';
export type { SafetensorsFile, SafetensorsEntry, SafetensorsChunksOptions } from '../safetensors/open.js';
export type { ShardedEntry } from '../safetensors/shards.js';
export type { BrowserHttpOptions, BrowserSource } from './platform.js';
export { bufferSource } from '../io/buffer-source.js';
export { blobSource, httpSource };

/** The options of `openNpz`, with a URL fetched through the browser's fetch. */
export interface OpenNpzOptions extends Omit<npzOpen.OpenNpzOptions, 'http'> {
  http?: BrowserHttpOptions;
}
export interface ReadNpzOptions extends Omit<npzRead.ReadNpzOptions, 'http'> {
  http?: BrowserHttpOptions;
}
export interface LoadNpzOptions extends Omit<npzRead.LoadNpzOptions, 'http'> {
  http?: BrowserHttpOptions;
}
export interface OpenSafetensorsOptions extends Omit<stOpen.OpenSafetensorsOptions, 'http'> {
  http?: BrowserHttpOptions;
}

function core<T>(options: T): T & { http?: never } {
  return options as T & { http?: never };
}

/**
 * Opens an npz for random access from a File or Blob, a URL (by ranges), bytes or a RandomAccessSource: the central
 * directory and each array's npy header are read, no array data. A File of any size opens: only the ranges asked
 * for are read.
 */
export function openNpz(input: BrowserSource, options: OpenNpzOptions = {}): Promise<npzOpen.NpzFile> {
  return npzOpen.openNpz(browserPlatform, input as NpzSource, core(options));
}

/**
 * Every array of an npz, one at a time: `[key, array]`. A File, Blob, URL or bytes is read by random access in
 * central directory order; a `ReadableStream` (e.g. `response.body`) is read front to back, in stream order.
 */
export function readNpz(input: BrowserSource | ByteStream, options: ReadNpzOptions = {}): AsyncGenerator<[string, NpyArray], void, undefined> {
  return npzRead.readNpz(browserPlatform, input as NpzSource | ByteStream, core(options));
}

/** The whole npz as a nested tree of arrays in memory (names split on '/'). */
export function loadNpz(input: BrowserSource | ByteStream, options: LoadNpzOptions = {}): Promise<npzRead.NpzTree> {
  return npzRead.loadNpz(browserPlatform, input as NpzSource | ByteStream, core(options));
}

/**
 * The entries of an npz read front to back from a `ReadableStream` (or a Blob's stream), lazily: each array entry
 * carries its npy header, its data is read by `chunks()` or `read()` before the next entry is requested, or skipped
 * (still verified). Memory stays at a few chunks whatever the member sizes.
 */
export function streamNpz(input: ByteStream | Blob, options: npzStream.StreamNpzOptions = {}): AsyncGenerator<npzStream.StreamNpzEntry, void, undefined> {
  return npzStream.streamNpz(browserPlatform, isBlob(input) ? (input.stream() as ReadableStream<Uint8Array>) : input, options);
}

/** Opens a safetensors file for random access: the header is read and validated, no tensor data is read. */
export function openSafetensors(input: BrowserSource, options: OpenSafetensorsOptions = {}): Promise<stOpen.SafetensorsFile> {
  return stOpen.openSafetensors(browserPlatform, input as NpzSource, core(options));
}

/** Every tensor of a safetensors file as `[name, array]`, in data order. */
export function readSafetensors(input: BrowserSource, options: OpenSafetensorsOptions = {}): AsyncGenerator<[string, NpyArray], void, undefined> {
  return stOpen.readSafetensors(browserPlatform, input as NpzSource, core(options));
}

/** Largest shard index read from a URL. */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** The text of a shard index at `url`, read by ranges with the same rules as any file. */
async function indexText(url: string, options: OpenSafetensorsOptions): Promise<string> {
  const signal = options.http?.signal ?? options.signal;
  const source = await httpSource(url, { ...options.http, ...(signal === undefined ? {} : { signal }) });
  try {
    if (source.size > MAX_INDEX_BYTES) throw new NpzError('ERR_SAFETENSORS_INDEX', `the shard index is ${source.size} bytes, more than ${MAX_INDEX_BYTES} accepted`);
    const bytes = await source.read(0, source.size);
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } finally {
    await source.close().catch(() => undefined);
  }
}

/** The path a chosen file has in its folder (`webkitRelativePath` when a folder was chosen), else its name. */
function pathInFolder(file: File): string {
  const relative = (file as { webkitRelativePath?: unknown }).webkitRelativePath;
  return typeof relative === 'string' && relative !== '' ? relative : file.name;
}

/** A platform whose names are the paths of chosen files: the index and shards beside it. */
function folderPlatform(files: readonly File[]): { platform: Platform; indexPath: string } {
  const byPath = new Map<string, File>();
  for (const file of files) byPath.set(pathInFolder(file), file);
  const indexes = [...byPath.keys()].filter((path) => path.endsWith('.index.json'));
  if (indexes.length !== 1) {
    throw new NpzError(
      'ERR_INVALID_ARGUMENT',
      indexes.length === 0
        ? 'none of the chosen files is a shard index (*.index.json)'
        : `the chosen files hold ${indexes.length} shard indexes (${indexes.slice(0, 4).join(', ')}); choose one with its shards`,
    );
  }
  const dirname = (path: string): string => {
    const slash = path.lastIndexOf('/');
    return slash < 0 ? '.' : path.slice(0, slash);
  };
  const files_: PlatformFiles = {
    ...urlFiles,
    readText: async (path) => {
      const file = byPath.get(path);
      if (file === undefined) throw new Error(`${path} is not among the chosen files`);
      return file.text();
    },
    resolve: (path) => path,
    join: (directory, name) => (directory === '.' || directory === '' ? name : `${directory}/${name}`),
    dirname,
    basename: (path) => path.slice(path.lastIndexOf('/') + 1),
  };
  const platform: Platform = {
    ...browserPlatform,
    files: files_,
    openSource: async (input, options) => {
      if (typeof input !== 'string') return openBrowserSource(input, options);
      const file = byPath.get(input);
      if (file === undefined) throw new NpzError('ERR_IO', `cannot open ${input}: it is not among the chosen files`);
      return { source: blobSource(file), owned: true };
    },
  };
  return { platform, indexPath: indexes[0] as string };
}

function isFileCollection(value: unknown): value is Iterable<File> {
  return typeof value === 'object' && value !== null && !(value instanceof URL) && typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

/**
 * Opens a sharded safetensors checkpoint as one file: from the URL of its `*.safetensors.index.json` (the shards are
 * fetched beside it, by ranges), or from the Files of a chosen folder (`<input type="file" webkitdirectory>`, or
 * several files chosen together) holding the index and its shards. Each tensor must be in exactly the shard the
 * index maps it to.
 */
export async function openSafetensorsIndex(
  index: string | URL | Iterable<File> | ArrayLike<File>,
  options: OpenSafetensorsOptions = {},
): Promise<stOpen.SafetensorsFile<stShards.ShardedEntry>> {
  if (typeof index === 'string' || index instanceof URL) {
    const url = browserUrl(index).href;
    const platform: Platform = { ...browserPlatform, files: { ...urlFiles, readText: (path) => indexText(path, options) } };
    return stShards.openSafetensorsIndex(platform, url, core(options));
  }
  const files = isFileCollection(index) ? [...index] : Array.from(index as ArrayLike<File>);
  if (files.length === 0 || !files.every((file) => isBlob(file) && typeof (file as File).name === 'string')) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'openSafetensorsIndex takes the URL of a shard index, or the Files of the index and its shards');
  }
  const { platform, indexPath } = folderPlatform(files);
  return stShards.openSafetensorsIndex(platform, indexPath, core(options));
}

/**
 * Writes `tree` as an `.npz` into a `WritableStream` (a file from `showSaveFilePicker()`, OPFS, a TransformStream),
 * honouring backpressure, and resolves once the stream has closed. In-memory leaves give exactly `np.savez`'s bytes;
 * lazy leaves are streamed with data descriptors. With `compress`, members are deflated by the browser's
 * CompressionStream: valid deflate that numpy reads, but not zlib's bytes at `compressionLevel`. On failure the
 * stream is aborted and the promise rejects with an NpzError.
 */
export function saveNpzStream(tree: Tree | FlatTree, destination: WritableStream<Uint8Array>, options?: npzSave.SaveOptions): Promise<npzSave.SaveSummary> {
  return npzSave.saveNpzStream(browserPlatform, tree, destination, options);
}

/**
 * Writes `tree` as safetensors into a `WritableStream`. The header names every tensor's shape and offsets, so
 * every leaf is checked first; lazy leaves declare their dtype and shape and are read when their turn comes.
 */
export function saveSafetensorsStream(
  tree: Tree | FlatTree,
  destination: WritableStream<Uint8Array>,
  options?: stSave.SaveSafetensorsStreamOptions,
): Promise<stSave.SaveSafetensorsSummary> {
  return stSave.saveSafetensorsStream(browserPlatform, tree, destination, options);
}

/** A float16 array's data as a `Float16Array` view (no copy) where the browser has one; undefined otherwise. */
export function asFloat16Array(array: NpyArray): ArrayLike<number> | undefined {
  const Float16 = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayLike<number> }).Float16Array;
  if (array.dtype !== 'float16' || Float16 === undefined) return undefined;
  const { data } = array;
  return new Float16(data.buffer, data.byteOffset, data.byteLength / 2);
}
