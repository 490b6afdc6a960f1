/**
 * float16 and bfloat16 arrive as raw uint16 bit patterns (JavaScript has no such types on Node 20). These helpers
 * widen them to float32 exactly and narrow with round-to-nearest-even, bit for bit as the Python side does it:
 * float16 as numpy casts (a float64 is rounded once, straight to float16; rounding to float32 first would turn
 * values just above a float16 tie into the tie itself), bfloat16 as ml_dtypes casts (a float64 goes through
 * float32 first, and every NaN becomes the canonical quiet NaN with its sign kept).
 */

const scratch = new DataView(new ArrayBuffer(8));

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

function float32BitsToBfloat16Bits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function numberToBfloat16Bits(value: number): number {
  if (Number.isNaN(value)) {
    scratch.setFloat64(0, value); // the sign of a NaN is only visible in its bits
    return (scratch.getUint8(0) & 0x80 ? 0x8000 : 0) | 0x7fc0;
  }
  return float32BitsToBfloat16Bits(float32Bits(value));
}

export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** numpy keeps the top ten payload bits of a NaN (without forcing the quiet bit) and never lets it become Inf. */
function float16NaN(sign: number, topPayloadBits: number): number {
  return sign | 0x7c00 | (topPayloadBits === 0 ? 1 : topPayloadBits);
}

export function numberToFloat16Bits(value: number): number {
  scratch.setFloat64(0, value);
  const high = scratch.getUint32(0);
  const sign = (high >>> 16) & 0x8000;
  const exponent = ((high >>> 20) & 0x7ff) - 1023;
  if (exponent === 1024) {
    if (Number.isNaN(value)) return float16NaN(sign, (high >>> 10) & 0x3ff);
    return sign | 0x7c00;
  }
  if (exponent >= 16) return sign | 0x7c00; // at least 65536: past the largest finite float16 even before rounding
  if (exponent < -25) return sign; // below 2^-25, half the smallest subnormal: rounds to zero
  // Below 2^-14 the float16 spacing stays at the subnormal step 2^-24.
  const unitExponent = Math.max(exponent, -14) - 10;
  // Scaling by a power of two and splitting off the integer part are exact in float64, so this rounds only once.
  const scaled = Math.abs(value) * 2 ** -unitExponent;
  const whole = Math.floor(scaled);
  const rest = scaled - whole;
  const units = rest > 0.5 || (rest === 0.5 && whole % 2 === 1) ? whole + 1 : whole;
  // units counts steps from the start of the binade (1024..2048, or 0..1024 for subnormals); 2048 carries into
  // the next exponent, and a carry out of the top binade lands exactly on infinity (0x7c00).
  return sign | (((unitExponent + 24) << 10) + units);
}

function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return mantissa === 0 ? sign | 0x7c00 : float16NaN(sign, mantissa >>> 13);
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

/**
 * A Float32Array is read through a bit view: integer arithmetic avoids a DataView round trip per element on
 * multi-GB tensors, and reading an element as a number would quiet a signalling NaN before it could be narrowed.
 * Plain numbers are float64 and take the per-value path.
 */
function float32Words(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

export function float32ToBfloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    const words = float32Words(values);
    for (let i = 0; i < words.length; i++) out[i] = float32BitsToBfloat16Bits(words[i] as number);
    return out;
  }
  for (let i = 0; i < values.length; i++) out[i] = numberToBfloat16Bits(values[i] as number);
  return out;
}

/** NaN payloads are written as bits (numpy keeps them); a NaN stored through a Float32Array would lose them. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const words = float32Words(out);
  for (let i = 0; i < bits.length; i++) {
    const half = bits[i] as number;
    if ((half & 0x7c00) === 0x7c00 && (half & 0x3ff) !== 0) words[i] = ((half & 0x8000) << 16) | 0x7f800000 | ((half & 0x3ff) << 13);
    else out[i] = float16BitsToNumber(half);
  }
  return out;
}

export function float32ToFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    const words = float32Words(values);
    for (let i = 0; i < words.length; i++) out[i] = float32BitsToFloat16Bits(words[i] as number);
    return out;
  }
  for (let i = 0; i < values.length; i++) out[i] = numberToFloat16Bits(values[i] as number);
  return out;
}
