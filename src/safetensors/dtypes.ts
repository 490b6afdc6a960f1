import { NpzError } from '../errors.js';
import { DTYPES, type ArrayDType, type DType } from '../npy/dtype.js';
import type { Descr } from '../npy/header.js';

/**
 * safetensors dtype names and how they map to the project's dtypes. The rank is the position in the Rust
 * crate's `Dtype` enum: the Python writer (a thin layer over that crate) sorts tensors by rank, highest first,
 * then by name, so the rank is needed to reproduce its bytes.
 *
 * Kinds numpy has no type for are raw bytes with a void descr, as numpy + ml_dtypes saves them: the float8 kinds
 * are one '|V1' per element. The sub-byte kinds pack several elements into whole bytes, and one npy item holds
 * one such group: F4 is two elements per byte ('|V1', torch's float4_e2m1fn_x2), F6_* four elements per three
 * bytes ('|V3'). Their arrays have the file's shape with the last dimension divided by the group size (see
 * `npyShape`); the reference reader only requires that a tensor's bits make whole bytes.
 */

export interface SafetensorsDTypeInfo {
  /** The name in the header, e.g. 'BF16'. */
  readonly name: string;
  readonly dtype: ArrayDType;
  /** The descr an `.npy` of this data carries: float8 kinds are what numpy + ml_dtypes writes ('|V1'). */
  readonly descr: string;
  /** Bytes of one npy item (a group of `perItem` elements for the sub-byte kinds). */
  readonly itemsize: number;
  readonly rank: number;
  /** Bits of one element in the file: the reference reader's `bitsize`. */
  readonly bits: number;
  /** Elements of the file's shape in one npy item: 2 for F4, 4 for F6_*, else 1. */
  readonly perItem: number;
}

function entry(name: string, rank: number, dtype: DType | 'raw', itemsize: number, descr?: string, perItem = 1): SafetensorsDTypeInfo {
  const bits = (itemsize * 8) / perItem;
  return Object.freeze({ name, rank, dtype, itemsize, descr: descr ?? DTYPES[dtype as DType].descr, bits, perItem });
}

// Declaration order of safetensors' `Dtype` in 0.8 (safetensors/src/tensor.rs): the rank is the position.
const TABLE: readonly SafetensorsDTypeInfo[] = [
  entry('BOOL', 0, 'bool', 1),
  entry('F4', 1, 'raw', 1, '|V1', 2),
  entry('F6_E2M3', 2, 'raw', 3, '|V3', 4),
  entry('F6_E3M2', 3, 'raw', 3, '|V3', 4),
  entry('U8', 4, 'uint8', 1),
  entry('I8', 5, 'int8', 1),
  entry('F8_E5M2', 6, 'raw', 1, '|V1'),
  entry('F8_E4M3', 7, 'raw', 1, '|V1'),
  entry('F8_E8M0', 8, 'raw', 1, '|V1'),
  entry('F8_E4M3FNUZ', 9, 'raw', 1, '|V1'),
  entry('F8_E5M2FNUZ', 10, 'raw', 1, '|V1'),
  entry('I16', 11, 'int16', 2),
  entry('U16', 12, 'uint16', 2),
  entry('F16', 13, 'float16', 2),
  entry('BF16', 14, 'bfloat16', 2),
  entry('I32', 15, 'int32', 4),
  entry('U32', 16, 'uint32', 4),
  entry('F32', 17, 'float32', 4),
  entry('C64', 18, 'complex64', 8),
  entry('F64', 19, 'float64', 8),
  entry('I64', 20, 'int64', 8),
  entry('U64', 21, 'uint64', 8),
];

/** Every safetensors dtype, in the reference crate's declaration order. */
export const SAFETENSORS_DTYPES: readonly SafetensorsDTypeInfo[] = TABLE;

const BY_NAME: ReadonlyMap<string, SafetensorsDTypeInfo> = new Map(TABLE.map((info) => [info.name, info]));
const BY_DTYPE: ReadonlyMap<ArrayDType, SafetensorsDTypeInfo> = new Map(
  TABLE.filter((info) => info.dtype !== 'raw').map((info) => [info.dtype, info]),
);

/** The dtype named in a header. Throws ERR_SAFETENSORS_DTYPE for names the reference reader does not know. */
export function safetensorsDType(name: string, tensor: string): SafetensorsDTypeInfo {
  const info = BY_NAME.get(name);
  if (info !== undefined) return info;
  throw new NpzError('ERR_SAFETENSORS_DTYPE', `tensor ${JSON.stringify(tensor)}: dtype ${JSON.stringify(name)} is not a safetensors dtype`, {
    entry: tensor,
    actual: name,
  });
}

/** The safetensors name a float8 kind is given explicitly with (a raw '|V1' leaf cannot say which one it is). */
export function isFloat8Name(name: unknown): name is 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ' {
  return typeof name === 'string' && name.startsWith('F8_') && BY_NAME.has(name);
}

/**
 * The raw kind a leaf names with `safetensorsDType` (float8, F4, F6_*), when its descr is that kind's void of
 * the same size in any byte order; undefined otherwise.
 */
export function rawSafetensorsDType(name: unknown, descr: Descr): SafetensorsDTypeInfo | undefined {
  const info = typeof name === 'string' ? BY_NAME.get(name) : undefined;
  if (info === undefined || info.dtype !== 'raw' || typeof descr !== 'string') return undefined;
  return descr.replace(/^[|<>=]/, '') === info.descr.slice(1) ? info : undefined;
}

/** The safetensors dtype for a project dtype, or undefined when safetensors has none (complex128, raw). */
export function safetensorsDTypeFor(dtype: ArrayDType): SafetensorsDTypeInfo | undefined {
  return BY_DTYPE.get(dtype);
}

/**
 * The npy shape of a tensor whose header says `shape`: the same, except for the sub-byte kinds, whose last
 * dimension is divided by the group size (F4 [4, 6] is [4, 3] of '|V1'); when it does not divide, the groups
 * cross rows and the array is flat (F4 [3, 2, 3] is [9]). `shape` must hold whole bytes (`tensorBits`).
 */
export function npyShape(info: SafetensorsDTypeInfo, shape: readonly number[]): number[] {
  if (info.perItem === 1) return [...shape];
  const last = shape.at(-1);
  if (last !== undefined && last % info.perItem === 0) return [...shape.slice(0, -1), last / info.perItem];
  return [shape.reduce((product, dim) => product * dim, 1) / info.perItem];
}

/** The header shape for an npy shape: the inverse of `npyShape` (a flat sub-byte array comes back flat). */
export function safetensorsShape(info: SafetensorsDTypeInfo, shape: readonly number[]): number[] {
  if (info.perItem === 1) return [...shape];
  if (shape.length === 0) return [info.perItem];
  return [...shape.slice(0, -1), (shape.at(-1) as number) * info.perItem];
}
