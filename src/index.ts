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
 * @module
 */

export { NpzError, isNpzError, NPZ_ERROR_CODES } from './errors.js';
export type { NpzErrorCode, NpzErrorContext } from './errors.js';

export { DTYPES, isDType, typedArrayFor, byteSwapInPlace } from './npy/dtype.js';
export type { DType, ArrayDType, NpyTypedArray, ByteOrder, DTypeInfo } from './npy/dtype.js';
export { encodeNpyHeader, decodeNpyHeader, npyHeaderLength, DEFAULT_MAX_HEADER_SIZE } from './npy/header.js';
export type { Descr, DescrField, FieldName, NpyHeader, NpyHeaderFields, DecodeNpyHeaderOptions } from './npy/header.js';
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

export { flattenWithNames, unflattenWithNames, compareCodePoints } from './tree/flatten.js';
export type { Tree, FlatTree } from './tree/flatten.js';
export { normalizeLeaf, isLeaf } from './tree/leaf.js';
export type { Leaf, NpyArray, LazyArray, NormalizedLeaf } from './tree/leaf.js';

export { saveNpz, saveNpzStream } from './npz/save.js';
export type { SaveOptions, SaveProgress, SaveSummary } from './npz/save.js';
export { openNpz } from './npz/open.js';
export type { OpenNpzOptions, NpzFile, NpzEntry, NpzArrayEntry, NpzOtherEntry, NpzChunksOptions } from './npz/open.js';
export { readNpz, loadNpz } from './npz/read.js';
export type { ReadNpzOptions, LoadNpzOptions, NpzTree } from './npz/read.js';
export { streamNpz } from './npz/stream.js';
export type { StreamNpzOptions, StreamChunksOptions, StreamNpzEntry, StreamNpzArrayEntry, StreamNpzOtherEntry } from './npz/stream.js';
export type { ByteStream } from './zip/byte-stream.js';
export type { NpzArray, Compression } from './npz/members.js';
export { fileSource, bufferSource } from './zip/source.js';
export type { RandomAccessSource, NpzSource } from './zip/source.js';

export { paligemmaSpec, isPaliGemmaTrainable } from './tree/paligemma.js';
export type { PaliGemmaModel, PaliGemmaSpecOptions } from './tree/paligemma.js';
