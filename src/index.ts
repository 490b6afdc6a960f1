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
