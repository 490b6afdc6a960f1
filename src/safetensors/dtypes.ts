import { NpzError } from '../errors.js';
import { DTYPES, type ArrayDType, type DType } from '../npy/dtype.js';

/**
 * safetensors dtype names and how they map to the project's dtypes. The rank is the position in the Rust
 * crate's `Dtype` enum: the Python writer (a thin layer over that crate) sorts tensors by rank, highest first,
 * then by name, so the rank is needed to reproduce its bytes.
 */

export interface SafetensorsDTypeInfo {
  /** The name in the header, e.g. 'BF16'. */
  readonly name: string;
  readonly dtype: ArrayDType;
  /** The descr an `.npy` of this data carries: float8 kinds are what numpy + ml_dtypes writes ('|V1'). */
  readonly descr: string;
  readonly itemsize: number;
  readonly rank: number;
}

function entry(name: string, rank: number, dtype: DType | 'raw', itemsize: number, descr?: string): SafetensorsDTypeInfo {
  return Object.freeze({ name, rank, dtype, itemsize, descr: descr ?? DTYPES[dtype as DType].descr });
}

// Declaration order of safetensors' `Dtype` (0.8): BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3,
// F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64. The sub-byte kinds (F4, F6_*) pack several
// elements per byte, which neither npy nor this reader represents, so they are refused by name.
const TABLE: readonly SafetensorsDTypeInfo[] = [
  entry('BOOL', 0, 'bool', 1),
  entry('U8', 4, 'uint8', 1),
  entry('I8', 5, 'int8', 1),
  entry('F8_E5M2', 6, 'raw', 1, '|V1'),
  entry('F8_E4M3', 7, 'raw', 1, '|V1'),
  entry('F8_E8M0', 8, 'raw', 1, '|V1'),
  entry('I16', 9, 'int16', 2),
  entry('U16', 10, 'uint16', 2),
  entry('F16', 11, 'float16', 2),
  entry('BF16', 12, 'bfloat16', 2),
  entry('I32', 13, 'int32', 4),
  entry('U32', 14, 'uint32', 4),
  entry('F32', 15, 'float32', 4),
  entry('C64', 16, 'complex64', 8),
  entry('F64', 17, 'float64', 8),
  entry('I64', 18, 'int64', 8),
  entry('U64', 19, 'uint64', 8),
];

const SUB_BYTE = new Set(['F4', 'F6_E2M3', 'F6_E3M2']);

const BY_NAME: ReadonlyMap<string, SafetensorsDTypeInfo> = new Map(TABLE.map((info) => [info.name, info]));
const BY_DTYPE: ReadonlyMap<ArrayDType, SafetensorsDTypeInfo> = new Map(
  TABLE.filter((info) => info.dtype !== 'raw').map((info) => [info.dtype, info]),
);

/** The dtype named in a header. Throws ERR_SAFETENSORS_DTYPE for unknown and sub-byte kinds. */
export function safetensorsDType(name: string, tensor: string): SafetensorsDTypeInfo {
  const info = BY_NAME.get(name);
  if (info !== undefined) return info;
  const why = SUB_BYTE.has(name) ? 'packs several elements per byte, which is not supported' : 'is not a safetensors dtype';
  throw new NpzError('ERR_SAFETENSORS_DTYPE', `tensor ${JSON.stringify(tensor)}: dtype ${JSON.stringify(name)} ${why}`, {
    entry: tensor,
    actual: name,
  });
}

/** The safetensors name a float8 kind is given explicitly with (a raw '|V1' leaf cannot say which one it is). */
export function isFloat8Name(name: unknown): name is 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0' {
  return name === 'F8_E5M2' || name === 'F8_E4M3' || name === 'F8_E8M0';
}

/** The safetensors dtype for a project dtype, or undefined when safetensors has none (complex128, raw). */
export function safetensorsDTypeFor(dtype: ArrayDType): SafetensorsDTypeInfo | undefined {
  return BY_DTYPE.get(dtype);
}
