import { DTYPES, NpzError, bfloat16BitsToNumber, float16BitsToNumber, type ArrayDType, type DType } from '../index.js';

/**
 * Array data as elements while it streams: chunks re-cut on item boundaries (a reader chunk may end mid-item),
 * two streams paired up piece by piece, and bytes decoded to float64 numbers for statistics and differences.
 */

export function itemsizeOf(dtype: ArrayDType, fallback: number): number {
  return dtype === 'raw' ? fallback : DTYPES[dtype].itemsize;
}

/** A copy in memory of its own: `slice()` would not do, a Node Buffer's slice() is a view. */
export function copyOf(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * Re-slices a byte stream into chunks of whole items, each starting at an offset aligned for a typed-array view
 * (a misaligned piece is copied). Throws ERR_NPY_SIZE_MISMATCH when the stream ends mid-item.
 */
export async function* itemChunks(chunks: AsyncIterable<Uint8Array>, itemsize: number, name: string): AsyncGenerator<Uint8Array> {
  if (itemsize <= 1) {
    yield* chunks;
    return;
  }
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    let rest = chunk;
    if (carry.length > 0) {
      const take = Math.min(itemsize - carry.length, rest.length);
      const joined = new Uint8Array(carry.length + take);
      joined.set(carry);
      joined.set(rest.subarray(0, take), carry.length);
      carry = joined;
      rest = rest.subarray(take);
      if (carry.length < itemsize) continue;
      yield carry;
      carry = new Uint8Array(0);
    }
    const whole = rest.length - (rest.length % itemsize);
    if (whole > 0) {
      const piece = rest.subarray(0, whole);
      yield piece.byteOffset % itemsize === 0 ? piece : copyOf(piece);
    }
    if (whole < rest.length) carry = copyOf(rest.subarray(whole));
  }
  if (carry.length > 0) {
    throw new NpzError('ERR_NPY_SIZE_MISMATCH', `data of ${JSON.stringify(name)} ends in the middle of an item`, { entry: name });
  }
}

/**
 * Walks two item streams in step, yielding equal-length pieces of each. Throws ERR_NPY_SIZE_MISMATCH when one
 * stream ends before the other.
 */
export async function* pairedChunks(
  first: AsyncIterable<Uint8Array>,
  second: AsyncIterable<Uint8Array>,
  name: string,
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  const left = first[Symbol.asyncIterator]();
  const right = second[Symbol.asyncIterator]();
  let a: Uint8Array = new Uint8Array(0);
  let b: Uint8Array = new Uint8Array(0);
  try {
    for (;;) {
      if (a.length === 0) {
        const next = await left.next();
        a = next.done ? new Uint8Array(0) : next.value;
        if (next.done && b.length === 0 && (await right.next()).done) return;
        if (next.done) throw new NpzError('ERR_NPY_SIZE_MISMATCH', `the data of ${JSON.stringify(name)} differ in length`, { entry: name });
        continue;
      }
      if (b.length === 0) {
        const next = await right.next();
        if (next.done) throw new NpzError('ERR_NPY_SIZE_MISMATCH', `the data of ${JSON.stringify(name)} differ in length`, { entry: name });
        b = next.value;
        continue;
      }
      const size = Math.min(a.length, b.length);
      yield [a.subarray(0, size), b.subarray(0, size)];
      a = a.subarray(size);
      b = b.subarray(size);
    }
  } finally {
    await left.return?.();
    await right.return?.();
  }
}

let float16Table: Float32Array | undefined;
let bfloat16Table: Float32Array | undefined;

function halfTable(dtype: 'float16' | 'bfloat16'): Float32Array {
  if (dtype === 'float16') {
    float16Table ??= Float32Array.from({ length: 65536 }, (_, bits) => float16BitsToNumber(bits));
    return float16Table;
  }
  bfloat16Table ??= Float32Array.from({ length: 65536 }, (_, bits) => bfloat16BitsToNumber(bits));
  return bfloat16Table;
}

/**
 * The elements of an aligned chunk as numbers (complex types give real and imaginary parts interleaved).
 * int64/uint64 beyond 2^53 lose precision, which statistics and differences tolerate.
 */
export function numbersOf(dtype: DType, bytes: Uint8Array): ArrayLike<number> {
  const { buffer, byteOffset, byteLength } = bytes;
  switch (dtype) {
    case 'bool':
    case 'uint8':
      return bytes;
    case 'int8':
      return new Int8Array(buffer, byteOffset, byteLength);
    case 'int16':
      return new Int16Array(buffer, byteOffset, byteLength / 2);
    case 'uint16':
      return new Uint16Array(buffer, byteOffset, byteLength / 2);
    case 'int32':
      return new Int32Array(buffer, byteOffset, byteLength / 4);
    case 'uint32':
      return new Uint32Array(buffer, byteOffset, byteLength / 4);
    case 'int64':
      return Float64Array.from(new BigInt64Array(buffer, byteOffset, byteLength / 8), Number);
    case 'uint64':
      return Float64Array.from(new BigUint64Array(buffer, byteOffset, byteLength / 8), Number);
    case 'float16':
    case 'bfloat16': {
      const table = halfTable(dtype);
      const bits = new Uint16Array(buffer, byteOffset, byteLength / 2);
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
      return out;
    }
    case 'float32':
    case 'complex64':
      return new Float32Array(buffer, byteOffset, byteLength / 4);
    case 'float64':
    case 'complex128':
      return new Float64Array(buffer, byteOffset, byteLength / 8);
  }
}

/** Numbers per item: 2 for complex types (real, imaginary), else 1. */
export function partsPerItem(dtype: DType): number {
  return dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
}
