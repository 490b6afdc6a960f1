import { NpzError } from '../errors.js';

/** Element types with a typed-array representation in JavaScript. */
export type DType =
  | 'bool'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float16'
  | 'bfloat16'
  | 'float32'
  | 'float64'
  | 'complex64'
  | 'complex128';

/** `'raw'` stands for any descr without a typed array (strings, datetimes, structs, other voids): bytes kept. */
export type ArrayDType = DType | 'raw';

export type NpyTypedArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

export type ByteOrder = '<' | '>' | '|';

type TypedArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

export interface DTypeInfo {
  readonly dtype: DType;
  /** The descr numpy writes for this dtype on a little-endian machine. */
  readonly descr: string;
  readonly itemsize: number;
  /** Byte-swap unit: complex numbers swap each component, not the whole item. 1 means never swapped. */
  readonly swapUnit: number;
  readonly TypedArray: TypedArrayConstructor;
}

function info(dtype: DType, descr: string, itemsize: number, TypedArray: TypedArrayConstructor): DTypeInfo {
  const swapUnit = itemsize === 1 ? 1 : dtype.startsWith('complex') ? itemsize / 2 : itemsize;
  return Object.freeze({ dtype, descr, itemsize, swapUnit, TypedArray });
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = Object.freeze({
  bool: info('bool', '|b1', 1, Uint8Array),
  int8: info('int8', '|i1', 1, Int8Array),
  uint8: info('uint8', '|u1', 1, Uint8Array),
  int16: info('int16', '<i2', 2, Int16Array),
  uint16: info('uint16', '<u2', 2, Uint16Array),
  int32: info('int32', '<i4', 4, Int32Array),
  uint32: info('uint32', '<u4', 4, Uint32Array),
  int64: info('int64', '<i8', 8, BigInt64Array),
  uint64: info('uint64', '<u8', 8, BigUint64Array),
  float16: info('float16', '<f2', 2, Uint16Array),
  // numpy has no bfloat16; ml_dtypes' bfloat16 is saved as the 2-byte void '<V2', which is what JAX users get.
  bfloat16: info('bfloat16', '<V2', 2, Uint16Array),
  float32: info('float32', '<f4', 4, Float32Array),
  float64: info('float64', '<f8', 8, Float64Array),
  complex64: info('complex64', '<c8', 8, Float32Array),
  complex128: info('complex128', '<c16', 16, Float64Array),
});

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** What a simple (non-structured) descr string means. */
export interface SimpleDescrInfo {
  dtype: ArrayDType;
  byteOrder: ByteOrder;
  itemsize: number;
  /** Size of the unit to byte-swap when the data is big-endian; 1 when nothing is swapped. */
  swapUnit: number;
}

const NUMERIC_BY_KIND_AND_SIZE: Readonly<Record<string, DType>> = {
  b1: 'bool',
  i1: 'int8',
  u1: 'uint8',
  i2: 'int16',
  u2: 'uint16',
  i4: 'int32',
  u4: 'uint32',
  i8: 'int64',
  u8: 'uint64',
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  c8: 'complex64',
  c16: 'complex128',
};

// Type string grammar numpy writes: byte order, kind, size, optional datetime unit ("<M8[ns]").
const TYPESTR = /^([<>|=]?)([biufcSUVaMm])(\d+)(\[[0-9]*[A-Za-z]+\])?$/;
const DATETIME_UNIT = /^\[[0-9]*(Y|M|W|D|h|m|s|ms|us|ns|ps|fs|as|generic)\]$/;

export interface DescrOptions {
  /** Keep '<V2' / '|V2' as dtype 'raw' instead of reading it as bfloat16. */
  keepV2Raw?: boolean;
}

/** Interprets a descr string such as `'<f4'`, `'|V2'`, `'<U5'` or `'<M8[ns]'`. Throws ERR_NPY_DTYPE / ERR_NPY_PICKLE. */
export function parseDescrString(descr: string, options: DescrOptions = {}): SimpleDescrInfo {
  if (/^[<>|=]?O\d*$/.test(descr)) {
    throw new NpzError('ERR_NPY_PICKLE', `descr ${JSON.stringify(descr)} holds pickled python objects, which are refused`, {
      actual: descr,
    });
  }
  const match = TYPESTR.exec(descr);
  if (match === null) {
    throw new NpzError('ERR_NPY_DTYPE', `descr is not a valid dtype descriptor: ${JSON.stringify(descr)}`, { actual: descr });
  }
  const [, orderChar = '', kind = '', sizeText = '', unit] = match;
  const size = Number(sizeText);
  const isDatetime = kind === 'M' || kind === 'm';
  // A datetime without a unit is numpy's generic one ('<M8', what np.zeros(2, 'M8') is saved with).
  if ((unit !== undefined && !isDatetime) || (isDatetime && (size !== 8 || (unit !== undefined && !DATETIME_UNIT.test(unit))))) {
    throw new NpzError('ERR_NPY_DTYPE', `descr is not a valid dtype descriptor: ${JSON.stringify(descr)}`, { actual: descr });
  }
  const itemsize = kind === 'U' ? size * 4 : size;
  // (A size of 0 passes only for S, U, V and a: numeric kinds of size 0 fail the checks below, datetimes are 8.)
  if (!Number.isSafeInteger(itemsize)) {
    throw new NpzError('ERR_NPY_DTYPE', `descr has an invalid item size: ${JSON.stringify(descr)}`, { actual: descr });
  }
  const byteOrder: ByteOrder = itemsize <= 1 || orderChar === '|' ? '|' : orderChar === '>' ? '>' : '<';
  const numeric = NUMERIC_BY_KIND_AND_SIZE[`${kind}${size}`];
  if (numeric !== undefined) {
    return { dtype: numeric, byteOrder, itemsize, swapUnit: DTYPES[numeric].swapUnit };
  }
  if (kind === 'V' && size === 2 && options.keepV2Raw !== true) {
    return { dtype: 'bfloat16', byteOrder, itemsize: 2, swapUnit: 2 };
  }
  // 'f1' is no numpy type, but ml_dtypes registers float8_e5m2 under it, and numpy then saves '<f1': its bytes
  // are kept raw, like the '<V1' of the other float8 kinds.
  if (kind === 'b' || ((kind === 'i' || kind === 'u' || kind === 'f' || kind === 'c') && !/^(f(1|10|12|16)|c(20|24|32))$/.test(`${kind}${size}`))) {
    throw new NpzError('ERR_NPY_DTYPE', `descr is not a valid dtype descriptor: ${JSON.stringify(descr)}`, { actual: descr });
  }
  // Bytes of raw descrs (strings, voids, datetimes, long doubles) are handed back exactly as stored.
  return { dtype: 'raw', byteOrder, itemsize, swapUnit: 1 };
}

/** A typed-array view for `dtype` over `byteLength` bytes. The offset must be aligned to the element size. */
export function typedArrayFor(
  dtype: ArrayDType,
  buffer: ArrayBufferLike,
  byteOffset: number,
  byteLength: number,
): NpyTypedArray {
  if (dtype === 'raw') return new Uint8Array(buffer, byteOffset, byteLength);
  const { TypedArray } = DTYPES[dtype];
  const bytesPerElement = TypedArray.BYTES_PER_ELEMENT;
  if (byteOffset % bytesPerElement !== 0 || byteLength % bytesPerElement !== 0) {
    throw new NpzError(
      'ERR_INVALID_ARGUMENT',
      `a ${dtype} view needs offset and length that are multiples of ${bytesPerElement}, got ${byteOffset} and ${byteLength}`,
    );
  }
  return new TypedArray(buffer as ArrayBuffer, byteOffset, byteLength / bytesPerElement);
}

/** The dtype a bare typed array stands for when used as a leaf. Uint16Array is uint16, never a float16 guess. */
export function dtypeOfTypedArray(array: ArrayBufferView): DType | undefined {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int8Array) return 'int8';
  if (array instanceof Uint8Array || array instanceof Uint8ClampedArray) return 'uint8';
  if (array instanceof Int16Array) return 'int16';
  if (array instanceof Uint16Array) return 'uint16';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof Uint32Array) return 'uint32';
  if (array instanceof BigInt64Array) return 'int64';
  if (array instanceof BigUint64Array) return 'uint64';
  return undefined;
}

/** Swaps each `unit`-byte group in place (big-endian to little-endian or back). */
export function byteSwapInPlace(bytes: Uint8Array, unit: number): void {
  if (unit <= 1) return;
  if (bytes.length % unit !== 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `cannot byte-swap ${bytes.length} bytes in units of ${unit}`);
  }
  let done = 0;
  // Whole 32-bit words where the view is aligned for them: each word holds two 2-byte units, one 4-byte unit or
  // half of an 8-byte unit, swapped with shifts; the rest byte by byte (test/npy/swap.test.ts covers both).
  if (bytes.byteOffset % 4 === 0 && (unit === 2 || unit === 4 || unit === 8)) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, (bytes.length - (bytes.length % Math.max(unit, 4))) / 4);
    if (unit === 2) {
      for (let i = 0; i < words.length; i++) {
        const w = words[i] as number;
        words[i] = ((w & 0x00ff00ff) << 8) | ((w >>> 8) & 0x00ff00ff);
      }
    } else {
      for (let i = 0; i < words.length; i++) {
        const w = words[i] as number;
        words[i] = (w << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24);
      }
      if (unit === 8) {
        for (let i = 0; i < words.length; i += 2) {
          const first = words[i] as number;
          words[i] = words[i + 1] as number;
          words[i + 1] = first;
        }
      }
    }
    done = words.length * 4;
  }
  for (let start = done; start < bytes.length; start += unit) {
    for (let low = start, high = start + unit - 1; low < high; low++, high--) {
      const byte = bytes[low] as number;
      bytes[low] = bytes[high] as number;
      bytes[high] = byte;
    }
  }
}
