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
 * @module
 */

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

export { saveNpz, saveNpzStream } from './npz/save.js';
export type { SaveOptions, SaveProgress, SaveSummary } from './npz/save.js';
export { openNpz } from './npz/open.js';
export type { OpenNpzOptions, NpzFile, NpzEntry, NpzArrayEntry, NpzOtherEntry, NpzChunksOptions } from './npz/open.js';
export type { Compression, DuplicateNamePolicy } from './npz/keys.js';
export { readNpz, loadNpz } from './npz/read.js';
export type { ReadNpzOptions, LoadNpzOptions, NpzTree } from './npz/read.js';
export { streamNpz } from './npz/stream.js';
export type { StreamNpzOptions, StreamChunksOptions, StreamNpzEntry, StreamNpzArrayEntry, StreamNpzOtherEntry } from './npz/stream.js';
export type { ByteStream } from './source/byte-stream.js';

export { fileSource, bufferSource } from './source/index.js';
export type { RandomAccessSource, NpzSource } from './source/index.js';
export { httpSource } from './source/http.js';
export type { HttpSource, HttpSourceOptions, HttpSourceStats } from './source/http.js';

export { saveSafetensors } from './safetensors/save.js';
export type { SaveSafetensorsOptions, SaveSafetensorsSummary } from './safetensors/save.js';
export { openSafetensors, readSafetensors } from './safetensors/open.js';
export type { OpenSafetensorsOptions, SafetensorsFile, SafetensorsEntry, SafetensorsChunksOptions } from './safetensors/open.js';
export { saveSafetensorsShards, openSafetensorsIndex, parseShardSize } from './safetensors/shards.js';
export type { SaveShardsOptions, SaveShardsSummary, ShardedEntry } from './safetensors/shards.js';
