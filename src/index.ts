/**
 * npz-stream: write and read NumPy `.npz` checkpoints as streams, in bounded memory.
 *
 * ```ts
 * import { createWriteStream } from 'node:fs';
 * import { saveNpzStream, readNpz } from 'npz-stream';
 *
 * await saveNpzStream({ img: { head: { bias: new Float32Array(2048) } } }, createWriteStream('ckpt.npz'));
 * for await (const [name, array] of readNpz('ckpt.npz')) console.log(name, array.dtype, array.shape);
 * ```
 *
 * The PaliGemma layout and synthetic checkpoints are in the `npz-stream/paligemma` subpath.
 *
 * Every reading and writing function here is a thin wrapper that hands the format core (which imports no Node
 * module) the Node platform: files, zlib, HTTP and Node streams.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import type { NpyArray } from './npy/array.js';
import type { Leaf } from './npy/write.js';
import { nodePlatform } from './node/platform.js';
import * as npzOpen from './npz/open.js';
import * as npyOpen from './npz/open-npy.js';
import * as npzRead from './npz/read.js';
import * as npySave from './npz/save-npy.js';
import * as npzSave from './npz/save.js';
import * as npzStream from './npz/stream.js';
import * as stOpen from './safetensors/open.js';
import * as stSave from './safetensors/save.js';
import * as stShards from './safetensors/shards.js';
import * as stStream from './safetensors/stream.js';
import type { ByteStream } from './io/byte-stream.js';
import type { NpzSource } from './io/random-access.js';
import type { FlatTree, Tree } from './tree/flatten.js';

export { NpzError, isNpzError, NPZ_ERROR_CODES } from './errors.js';
export type { NpzErrorCode, NpzErrorContext } from './errors.js';

export { DTYPES, isDType } from './npy/dtype.js';
export type { DType, ArrayDType, NpyTypedArray, ByteOrder, DTypeInfo } from './npy/dtype.js';
export type { NpyArray } from './npy/array.js';
export type { Leaf, LazyArray } from './npy/write.js';
export { encodeNpyHeader, decodeNpyHeader, npyHeaderLength, DEFAULT_MAX_HEADER_SIZE } from './npy/header.js';
export type { Descr, DescrField, FieldName, SubarrayDescr, NpyHeader, NpyHeaderFields, DecodeNpyHeaderOptions } from './npy/header.js';
export {
  bfloat16ToFloat32,
  float32ToBfloat16,
  float16ToFloat32,
  float32ToFloat16,
  bfloat16BitsToNumber,
  numberToBfloat16Bits,
  float16BitsToNumber,
  numberToFloat16Bits,
} from './npy/half.js';

export { flattenWithNames, unflattenWithNames } from './tree/flatten.js';
export type { Tree, FlatTree } from './tree/flatten.js';

export type { ArrayInfo, ArrayFormat, ArrayGetOptions, ArrayChunksOptions, ShardOptions, DamagedPolicy, EntryError } from './io/array-file.js';
export { isDamagedEntry } from './array-entry.js';
export type { ArrayFile, ArrayEntry, DamagedEntry } from './array-entry.js';
export type { OpenNpyOptions, NpyFile, NpyFileEntry, NpyFileArrayEntry, NpyFileDamagedEntry } from './npz/open-npy.js';
export { sliceShape, formatSlice } from './npy/slice.js';
export type { Slice, SliceItem, SliceBound } from './npy/slice.js';
export type { ReadStats } from './io/planner/index.js';

export type { SaveOptions, SaveProgress, SaveSummary } from './npz/save.js';
export type { SaveNpyOptions, SaveNpySummary } from './npz/save-npy.js';
export type { OpenNpzOptions, NpzFile, NpzEntry, NpzArrayEntry, NpzOtherEntry, NpzDamagedEntry, NpzChunksOptions } from './npz/open.js';
export type { Compression, DuplicateNamePolicy } from './npz/keys.js';
export type { ReadNpzOptions, LoadNpzOptions, NpzTree } from './npz/read.js';
export type { StreamNpzOptions, StreamChunksOptions, StreamNpzEntry, StreamNpzArrayEntry, StreamNpzOtherEntry } from './npz/stream.js';
export type { ByteStream } from './io/byte-stream.js';

export { fileSource } from './node/file-source.js';
export { bufferSource } from './io/buffer-source.js';
export type { RandomAccessSource, NpzSource } from './io/random-access.js';
export { httpSource } from './node/http-source.js';
export type { HttpSource, HttpSourceOptions, HttpSourceStats } from './node/http-source.js';
export type { HttpRetry } from './http/index.js';
export type { RemoteOptions, S3Options, GcsOptions, HubOptions, AwsCredentials, BearerToken } from './objectstore/options.js';

export type { SaveSafetensorsOptions, SaveSafetensorsStreamOptions, SaveSafetensorsSummary, SafetensorsFloat8DType } from './safetensors/save.js';
export type { OpenSafetensorsOptions, SafetensorsFile, SafetensorsEntry, SafetensorsChunksOptions } from './safetensors/open.js';
export type { SaveShardsOptions, SaveShardsSummary, ShardedEntry } from './safetensors/shards.js';
export type { StreamSafetensorsOptions, StreamSafetensorsEntry } from './safetensors/stream.js';

/**
 * Writes `tree` to `path` atomically: into a temp file beside it, fsync'd, then renamed over `path`. Lazy
 * leaves are streamed and their local headers patched in place, so the file equals `np.savez`'s byte for byte.
 * On any failure `path` is untouched and the temp file is removed. Unlike numpy, no '.npz' is appended.
 *
 * `path` may be an `s3://bucket/key` or `gs://bucket/object` URL: the archive is uploaded by parts (a multipart or
 * resumable upload) as it is written, in bounded memory, and appears only once complete; a failure or an abort
 * cancels the upload and leaves the key as it was. Credentials, part size and parts in flight: `options.remote`.
 */
export function saveNpz(path: string, tree: Tree | FlatTree, options?: npzSave.SaveOptions): Promise<npzSave.SaveSummary> {
  return npzSave.saveNpz(nodePlatform, path, tree, options);
}

/**
 * Writes `tree` as an `.npz` into `destination` (a file stream, socket, HTTP body...), honouring backpressure,
 * and resolves once the destination has finished. In-memory leaves give exactly `np.savez`'s bytes; lazy or
 * compressed leaves use data descriptors, as `np.savez` does when writing to a pipe. Chunks a lazy leaf yields
 * belong to the writer from then on. On failure the destination is destroyed and the promise rejects with an
 * NpzError.
 */
export function saveNpzStream(tree: Tree | FlatTree, destination: Writable | WritableStream<Uint8Array>, options?: npzSave.SaveOptions): Promise<npzSave.SaveSummary> {
  return npzSave.saveNpzStream(nodePlatform, tree, destination, options);
}

/**
 * Writes one array to `path` as a standalone `.npy` file, as `np.save` does (the same header; big-endian and raw
 * descrs as given), atomically like `saveNpz`: temp file beside it, fsync'd, renamed over `path`. Any leaf
 * `saveNpz` takes, lazy ones included (their chunks must add up to the array's size). Unlike numpy, no '.npy' is
 * appended.
 */
export function saveNpy(path: string, array: Leaf, options?: npySave.SaveNpyOptions): Promise<npySave.SaveNpySummary> {
  return npySave.saveNpy(nodePlatform, path, array, options);
}

/**
 * Opens an npz for random access: reads the central directory and each array's npy header, so `entries`
 * describes every array up front. `input` is a path, an `http(s)://`, `s3://`, `gs://` or `hf://` URL (read by
 * ranged requests, credentials from the environment or `options.remote`), bytes, or a RandomAccessSource. Headers are fetched in file order, many members per read, so opening costs a
 * few large reads whatever the member count.
 * A member whose headers fail their checks is listed as damaged (`damaged: true`, with its `error`) rather than
 * failing the open; `damaged: 'error'` restores the strict open.
 */
export function openNpz(input: NpzSource, options?: npzOpen.OpenNpzOptions): Promise<npzOpen.NpzFile> {
  return npzOpen.openNpz(nodePlatform, input, options);
}

/**
 * Opens a bare `.npy` file (what `np.save` writes) as an `ArrayFile` with one array, named after the file
 * (`weights.npy` → `weights`, or `options.name`). The header is read and checked against the file's size (header
 * plus exactly the data it declares); the data is read by `get` and `chunks`, little-endian like every reader's.
 */
export function openNpy(input: NpzSource, options?: npyOpen.OpenNpyOptions): Promise<npyOpen.NpyFile> {
  return npyOpen.openNpy(nodePlatform, input, options);
}

/**
 * Every array of an npz, one at a time, in central directory order: `[key, array]` with the key's `.npy`
 * removed. Members that are not `.npy` are skipped. Each array is read into its own buffer (a reused one with
 * `reuse`) and verified before it is yielded; errors surface in member order, when the array that failed is
 * requested. The file is closed when the loop ends, throws, or is left early; a read-ahead still running then
 * is stopped and waited for first.
 *
 * A stream (Node Readable, web ReadableStream, any AsyncIterable<Uint8Array>) is read front to back instead, in
 * stream order (see streamNpz): the central directory is checked at its end, after the arrays before it.
 * `readAhead` and `reuse` apply to random-access inputs only.
 */
export function readNpz(input: NpzSource | ByteStream, options?: npzRead.ReadNpzOptions): AsyncGenerator<[string, NpyArray], void, undefined> {
  return npzRead.readNpz(nodePlatform, input, options);
}

/**
 * The whole npz as a nested tree of arrays, rebuilt with big_vision's `recover_tree` semantics (names split on
 * '/'). Holds every array in memory; use `readNpz` or `openNpz` to stay within bounded memory.
 */
export function loadNpz(input: NpzSource | ByteStream, options?: npzRead.LoadNpzOptions): Promise<npzRead.NpzTree> {
  return npzRead.loadNpz(nodePlatform, input, options);
}

/**
 * The entries of an npz stream, lazily, in stream order (like tar-stream): each array entry carries its npy header;
 * its data is read by `chunks()` or `read()` before the next entry is requested, or skipped (still verified) when
 * the next entry is requested first. Memory stays at a few chunks whatever the member sizes. The central
 * directory is checked when the loop reaches the end; leaving the loop early stops reading the input.
 */
export function streamNpz(input: ByteStream, options?: npzStream.StreamNpzOptions): AsyncGenerator<npzStream.StreamNpzEntry, void, undefined> {
  return npzStream.streamNpz(nodePlatform, input, options);
}

/**
 * Writes `tree` to `path` as safetensors, atomically (temp file, fsync, rename). The same trees and leaves as
 * `saveNpz`, lazy ones included. For the same arrays the bytes equal `safetensors.numpy.save_file`'s (with at
 * most one metadata key: the Python writer orders several keys differently on every run). `path` may be an
 * `s3://` or `gs://` URL, uploaded as `saveNpz` uploads.
 */
export function saveSafetensors(path: string, tree: Tree | FlatTree, options?: stSave.SaveSafetensorsOptions): Promise<stSave.SaveSafetensorsSummary> {
  return stSave.saveSafetensors(nodePlatform, path, tree, options);
}

/**
 * Writes `tree` as safetensors into `destination` (a file stream, socket, HTTP body, or a WHATWG WritableStream),
 * honouring backpressure, and resolves once the destination has finished. The header names every tensor's shape
 * and offsets, so every leaf is checked first (lazy leaves declare their dtype and shape and are read only when
 * their turn comes). The bytes equal `saveSafetensors`'. On failure the destination is destroyed and the promise
 * rejects with an NpzError.
 */
export function saveSafetensorsStream(
  tree: Tree | FlatTree,
  destination: Writable | WritableStream<Uint8Array>,
  options?: stSave.SaveSafetensorsStreamOptions,
): Promise<stSave.SaveSafetensorsSummary> {
  return stSave.saveSafetensorsStream(nodePlatform, tree, destination, options);
}

/**
 * Opens a safetensors file for random access: the header is read and validated, no tensor data is read. Takes the
 * same inputs as `openNpz`, object store URLs included.
 */
export function openSafetensors(input: NpzSource, options?: stOpen.OpenSafetensorsOptions): Promise<stOpen.SafetensorsFile> {
  return stOpen.openSafetensors(nodePlatform, input, options);
}

/**
 * The tensors of a safetensors stream (stdin, a pipe, an HTTP body), lazily, in data order: the header is read
 * and checked first, then each entry's bytes are read by `chunks()` or `read()` before the next entry is
 * requested, or skipped when the next is requested first. The stream must end where the last tensor does.
 */
export function streamSafetensors(input: ByteStream, options?: stStream.StreamSafetensorsOptions): AsyncGenerator<stStream.StreamSafetensorsEntry, void, undefined> {
  return stStream.streamSafetensors(nodePlatform, input, options);
}

/** Every tensor of a safetensors file as `[name, array]`, in data order; the file is closed when the loop ends. */
export function readSafetensors(input: NpzSource, options?: stOpen.OpenSafetensorsOptions): AsyncGenerator<[string, NpyArray], void, undefined> {
  return stOpen.readSafetensors(nodePlatform, input, options);
}

/**
 * Writes `tree` as Hugging Face shards beside `path` (e.g. `out/model.safetensors`): one file named `path`
 * when everything fits in one shard, as `transformers` does, else numbered shards plus `path.index.json`.
 * Each file is written atomically; the index comes last, so it never names a shard that is not complete. `path`
 * may be an `s3://` or `gs://` URL: each shard, then the index, is a key beside it.
 */
export function saveSafetensorsShards(path: string, tree: Tree | FlatTree, options: stShards.SaveShardsOptions): Promise<stShards.SaveShardsSummary> {
  return stShards.saveSafetensorsShards(nodePlatform, path, tree, options);
}

/**
 * Opens a `*.safetensors.index.json` and every shard it names, as one file whose entries say which shard holds
 * each tensor. Each name must be in exactly the shard the index maps it to, and each shard must hold nothing the
 * index does not map to it. `index` may be a URL (`http(s)://`, `s3://`, `gs://`, `hf://`): the shards are resolved
 * against it and read with the same options (HTTP headers included).
 */
export function openSafetensorsIndex(index: string | URL, options?: stOpen.OpenSafetensorsOptions): Promise<stOpen.SafetensorsFile<stShards.ShardedEntry>> {
  return stShards.openSafetensorsIndex(nodePlatform, index, options);
}
