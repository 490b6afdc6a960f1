/**
 * float16 and bfloat16 arrive as raw uint16 bit patterns (JavaScript has no such types on Node 20). These helpers
 * widen them to float32 exactly and narrow float32 back with round-to-nearest-even, the rounding numpy and
 * ml_dtypes use, so values survive a round trip through either library unchanged.
 */

const scratch = new DataView(new ArrayBuffer(4));

function float32Bits(value: number): number {
  scratch.setFloat32(0, value);
  return scratch.getUint32(0);
}

function bitsToFloat32(bits: number): number {
  scratch.setUint32(0, bits >>> 0);
  return scratch.getFloat32(0);
}

export function bfloat16BitsToNumber(bits: number): number {
  return bitsToFloat32((bits & 0xffff) << 16);
}

export function numberToBfloat16Bits(value: number): number {
  const bits = float32Bits(value);
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff; // NaN stays a quiet NaN
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

export function numberToFloat16Bits(value: number): number {
  const bits = float32Bits(value); // narrowing to float32 first matches numpy's float32 -> float16 cast
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200 | (mantissa >>> 13));
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign; // underflows to zero even after rounding
    mantissa |= 0x800000; // make the implicit leading bit explicit for the subnormal shift
    const shift = 14 - halfExponent;
    const halfway = 1 << (shift - 1);
    const remainder = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (remainder > halfway || (remainder === halfway && (result & 1) === 1)) result++;
    return sign | result;
  }
  let result = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches infinity at the top).
  if (remainder > 0x1000 || (remainder === 0x1000 && (result & 1) === 1)) result++;
  return sign | result;
}

export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = (bits[i] as number) << 16;
  return new Float32Array(out.buffer);
}

export function float32ToBfloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    // Integer arithmetic on a bit view avoids a DataView round trip per element on multi-GB tensors.
    const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < words.length; i++) {
      const bits = words[i] as number;
      out[i] = (bits & 0x7fffffff) > 0x7f800000 ? (bits >>> 16) | 0x0040 : (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }
    return out;
  }
  for (let i = 0; i < values.length; i++) out[i] = numberToBfloat16Bits(values[i] as number);
  return out;
}

export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToNumber(bits[i] as number);
  return out;
}

export function float32ToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToFloat16Bits(values[i] as number);
  return out;
}
