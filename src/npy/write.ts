/**
 * The write side of npy: checks a leaf and encodes the header `np.save` would write for it, before any data.
 */
import { NpzError } from '../errors.js';
import { DTYPES, dtypeOfTypedArray, isDType, type ArrayDType, type NpyTypedArray } from './dtype.js';
import type { NpyArray } from './array.js';
import { descrItemsize, encodeNpyHeader, validateShape, type Descr } from './header.js';

/**
 * An in-memory array to write: an `NpyArray` (so anything a reader returned can be written back), whose `descr`
 * may be left out (taken from `dtype`) and `fortranOrder` too (C order); `data` may be any view of the bytes.
 */
type NpyArrayToWrite = Pick<NpyArray, 'dtype'> &
  Partial<Pick<NpyArray, 'descr' | 'fortranOrder'>> & { shape: readonly number[]; data: NpyTypedArray | ArrayBufferView; safetensorsDType?: string };

/**
 * An array whose bytes are produced on demand, chunk by chunk (little-endian, prod(shape)·itemsize in total).
 * The writer is done with a chunk once it asks for the next, so a producer may refill one buffer (for example
 * `chunks(name, { reuseBuffers: true })` of an open file).
 */
export interface LazyArray {
  dtype: ArrayDType;
  descr?: Descr;
  shape: readonly number[];
  fortranOrder?: boolean;
  /**
   * For safetensors output only: which float8 kind ('F8_E4M3', 'F8_E5M2', 'F8_E8M0') a raw one-byte leaf holds,
   * as `SafetensorsEntry.safetensorsDType` reports it. Also on in-memory leaves; npz ignores it.
   */
  safetensorsDType?: string;
  chunks(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

/** Anything that becomes one npy member: array objects, bare typed arrays (1-D), and JS scalars (0-d). */
export type Leaf = NpyArrayToWrite | LazyArray | NpyTypedArray | number | bigint | boolean;

/** A leaf checked and ready to write: its descr, header bytes and exact data length are known. */
export interface NormalizedLeaf {
  name: string;
  descr: Descr;
  dtype: ArrayDType;
  shape: number[];
  fortranOrder: boolean;
  byteLength: number;
  /** Exactly what `np.save` writes before the data. */
  header: Uint8Array;
  /**
   * In-memory data: the caller's own view, never copied. Kept as given because a Uint8Array cannot span more
   * than 4 GiB while, e.g., a Float32Array can.
   */
  bytes?: ArrayBufferView;
  /** Lazy data. */
  chunks?: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

function isArrayObject(value: object): value is NpyArrayToWrite | LazyArray {
  const candidate = value as Record<string, unknown>;
  return (
    Array.isArray(candidate['shape']) &&
    (typeof candidate['dtype'] === 'string' || candidate['descr'] !== undefined) &&
    (ArrayBuffer.isView(candidate['data']) || typeof candidate['chunks'] === 'function')
  );
}

/** True for values that flatten treats as leaves rather than containers. */
export function isLeaf(value: unknown): value is Leaf {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return true;
  if (typeof value !== 'object' || value === null) return false;
  if (ArrayBuffer.isView(value)) return !(value instanceof DataView);
  return !Array.isArray(value) && !(value instanceof Map) && isArrayObject(value);
}

function leafError(name: string, message: string, actual?: unknown): NpzError {
  return new NpzError('ERR_TREE_LEAF', `leaf ${JSON.stringify(name)}: ${message}`, { entry: name, actual });
}

function scalarLeaf(name: string, value: number | bigint | boolean): NormalizedLeaf {
  if (typeof value === 'number') return fromBytes(name, 'float64', undefined, [], false, Float64Array.of(value));
  if (typeof value === 'boolean') return fromBytes(name, 'bool', undefined, [], false, Uint8Array.of(value ? 1 : 0));
  if (value < -(2n ** 63n) || value >= 2n ** 63n) throw leafError(name, `bigint ${value} does not fit in int64`, String(value));
  return fromBytes(name, 'int64', undefined, [], false, BigInt64Array.of(value));
}

function describe(name: string, dtype: unknown, descr: Descr | undefined, shape: unknown, fortranOrder: boolean) {
  if (dtype !== undefined && dtype !== 'raw' && !isDType(dtype)) {
    throw new NpzError('ERR_NPY_DTYPE', `leaf ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`, { entry: name, actual: dtype });
  }
  if (descr === undefined && (dtype === undefined || dtype === 'raw')) {
    throw new NpzError('ERR_NPY_DTYPE', `leaf ${JSON.stringify(name)}: a 'raw' array needs a descr`, { entry: name });
  }
  const resolvedDescr: Descr = descr ?? DTYPES[dtype as keyof typeof DTYPES].descr;
  // A 2-byte void is bfloat16 unless the leaf says 'raw' (as a reader with keepV2Raw returns it).
  const described = descrItemsize(resolvedDescr, { keepV2Raw: dtype === 'raw' });
  if (dtype !== undefined && dtype !== described.dtype) {
    throw new NpzError('ERR_NPY_DTYPE', `leaf ${JSON.stringify(name)}: dtype ${dtype} does not match descr ${JSON.stringify(resolvedDescr)}`, {
      entry: name,
      expected: dtype,
      actual: resolvedDescr,
    });
  }
  const dims = validateShape(Array.isArray(shape) ? [...shape] : shape, name);
  const byteCount = dims.reduce((product, dim) => product * BigInt(dim), BigInt(described.itemsize));
  if (byteCount > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `leaf ${JSON.stringify(name)}: shape (${dims.join(', ')}) holds more than 2^53 bytes`, { entry: name });
  }
  // 1-D arrays are always C order in numpy's headers, whatever the caller says.
  const order = fortranOrder && dims.length > 1;
  return {
    descr: resolvedDescr,
    dtype: (dtype ?? described.dtype) as ArrayDType,
    shape: dims,
    fortranOrder: order,
    byteLength: Number(byteCount),
    header: encodeNpyHeader({ descr: resolvedDescr, shape: dims, fortranOrder: order }),
  };
}

function fromBytes(
  name: string,
  dtype: unknown,
  descr: Descr | undefined,
  shape: unknown,
  fortranOrder: boolean,
  data: ArrayBufferView,
): NormalizedLeaf {
  const described = describe(name, dtype, descr, shape, fortranOrder);
  if (data.byteLength !== described.byteLength) {
    throw new NpzError(
      'ERR_NPY_SIZE_MISMATCH',
      `leaf ${JSON.stringify(name)}: data has ${data.byteLength} bytes but shape (${described.shape.join(', ')}) needs ${described.byteLength}`,
      { entry: name, expected: described.byteLength, actual: data.byteLength },
    );
  }
  return { name, ...described, bytes: data };
}

/** Checks a leaf and computes everything the writer needs before a single byte of it is written. */
export function normalizeLeaf(name: string, leaf: Leaf): NormalizedLeaf {
  if (typeof leaf === 'number' || typeof leaf === 'bigint' || typeof leaf === 'boolean') return scalarLeaf(name, leaf);
  if (typeof leaf !== 'object' || leaf === null) throw leafError(name, `unsupported leaf of type ${typeof leaf}`);
  if (ArrayBuffer.isView(leaf) && !isArrayObject(leaf)) {
    const dtype = dtypeOfTypedArray(leaf);
    if (dtype === undefined) throw leafError(name, `a ${leaf.constructor.name} is not an array leaf`);
    const length = leaf.byteLength / DTYPES[dtype].itemsize;
    return fromBytes(name, dtype, undefined, [length], false, leaf);
  }
  if (!isArrayObject(leaf)) throw leafError(name, `expected an array object { dtype, shape, data | chunks }`);
  const fortranOrder = leaf.fortranOrder === true;
  if ('data' in leaf && ArrayBuffer.isView(leaf.data)) {
    return fromBytes(name, leaf.dtype, leaf.descr, leaf.shape, fortranOrder, leaf.data);
  }
  const lazy = leaf as LazyArray;
  return { name, ...describe(name, lazy.dtype, lazy.descr, lazy.shape, fortranOrder), chunks: () => lazy.chunks() };
}
