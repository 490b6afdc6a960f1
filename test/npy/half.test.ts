import { describe, expect, it } from 'vitest';
import {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  numberToBfloat16Bits,
  numberToFloat16Bits,
} from '../../src/npy/half.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';

const allBits = Uint16Array.from({ length: 65536 }, (_, i) => i);

function hexOf(bits: number, width: number): string {
  return `0x${bits.toString(16).padStart(width, '0')}`;
}

/** Python writes raw little-endian arrays to stdout as hex so the comparison is bit-exact (NaN payloads too). */
function pythonArrays(script: string): Buffer[] {
  return runPython(script)
    .trim()
    .split(' ')
    .map((hex) => Buffer.from(hex, 'hex'));
}

function words<T>(bytes: Buffer, Kind: { new (buffer: ArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number }): T {
  const copy = new Uint8Array(bytes); // a fresh, aligned buffer
  return new Kind(copy.buffer, 0, copy.byteLength / Kind.BYTES_PER_ELEMENT);
}

/** Reports the first mismatches with the input that produced them, instead of a bare `false`. */
function mismatches(ours: ArrayLike<number>, theirs: ArrayLike<number>, describeInput: (i: number) => string): string[] {
  expect(ours.length).toBe(theirs.length);
  const found: string[] = [];
  for (let i = 0; i < ours.length && found.length < 10; i++) {
    if (ours[i] !== theirs[i]) found.push(`${describeInput(i)}: ours ${hexOf(ours[i] as number, 4)}, oracle ${hexOf(theirs[i] as number, 4)}`);
  }
  return found;
}

describe('half-precision helpers (offline)', () => {
  it('round to nearest even at the halfway points', () => {
    // 1 + 2^-8 lies halfway between two bf16 values; the even one (1.0) wins. 1 + 3·2^-8 rounds up.
    expect(numberToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToFloat16Bits(65504)).toBe(0x7bff);
    expect(numberToFloat16Bits(65520 - 2 ** -20)).toBe(0x7bff); // just below the tie with infinity
    expect(numberToFloat16Bits(65520)).toBe(0x7c00); // the tie rounds up to infinity (even)
    expect(numberToFloat16Bits(-1e6)).toBe(0xfc00);
    expect(numberToFloat16Bits(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even zero
    expect(numberToFloat16Bits(3 * 2 ** -25)).toBe(2); // 1.5 subnormal steps: ties to even 2
    expect(numberToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // largest subnormal tie carries into the normals
    expect(numberToFloat16Bits(-0)).toBe(0x8000);
    expect(numberToFloat16Bits(0)).toBe(0);
    expect(numberToFloat16Bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
  });

  it('round a float64 once, straight to float16, as numpy does (no detour through float32)', () => {
    // Just above a float16 tie, but within float32 rounding of it: a float32 detour lands on the tie and rounds
    // down to even; rounding once from float64 goes up.
    expect(numberToFloat16Bits(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11 - 2 ** -40)).toBe(0x3c01);
    expect(numberToFloat16Bits(-(2 ** -25 + 2 ** -60))).toBe(0x8001); // subnormal range
    expect(numberToFloat16Bits(65520 - 2 ** -30)).toBe(0x7bff); // float32 would round this onto the infinity tie
    // bfloat16 follows ml_dtypes, whose float64 cast goes through float32: there the same shape of value rounds down.
    expect(numberToBfloat16Bits(1 + 2 ** -8 + 2 ** -40)).toBe(0x3f80);
  });

  it('turn NaN into exactly the NaN numpy and ml_dtypes write, and never into infinity', () => {
    expect(numberToFloat16Bits(Number.NaN)).toBe(0x7e00);
    expect(numberToFloat16Bits(-Number.NaN)).not.toBe(0x7c00);
    expect(numberToBfloat16Bits(Number.NaN)).toBe(0x7fc0);
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, 0x7ff00000); // a signalling NaN whose payload sits below the bits float16 keeps
    view.setUint32(4, 1);
    expect(numberToFloat16Bits(view.getFloat64(0))).toBe(0x7c01);
    const f32 = new Float32Array(new Uint32Array([0x7f800001, 0xffa00000, 0x7f800000]).buffer);
    expect(Array.from(float32ToFloat16(f32), (b) => hexOf(b, 4))).toEqual(['0x7c01', '0xfd00', '0x7c00']);
    expect(Array.from(float32ToBfloat16(f32), (b) => hexOf(b, 4))).toEqual(['0x7fc0', '0xffc0', '0x7f80']);
  });

  it('keep float16 NaN payloads when widening', () => {
    const widened = new Uint32Array(float16ToFloat32(new Uint16Array([0x7c01, 0xfd00, 0x7e00])).buffer);
    expect(Array.from(widened, (b) => hexOf(b, 8))).toEqual(['0x7f802000', '0xffa00000', '0x7fc00000']);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'half-precision helpers against numpy and ml_dtypes'), () => {
  it('widen every float16 and bfloat16 bit pattern bit for bit', () => {
    const [f16, bf16] = pythonArrays(`
import numpy as np, ml_dtypes
bits = np.arange(65536, dtype='<u2')
print(bits.view('<f2').astype('<f4').tobytes().hex(), bits.view(ml_dtypes.bfloat16).astype('<f4').tobytes().hex())
`);
    const expectF16 = words(f16!, Uint32Array);
    const expectBf16 = words(bf16!, Uint32Array);
    const ours16 = new Uint32Array(float16ToFloat32(allBits).buffer);
    const oursBf = new Uint32Array(bfloat16ToFloat32(allBits).buffer);
    expect(mismatches(ours16, expectF16, (i) => `f16 ${hexOf(i, 4)}`)).toEqual([]);
    expect(mismatches(oursBf, expectBf16, (i) => `bf16 ${hexOf(i, 4)}`)).toEqual([]);
  });

  it('narrow float64 near every tie, NaN payloads, ±0, subnormals and overflow like numpy / ml_dtypes', () => {
    // For every pair of neighbouring float16 (and bfloat16) values: the exact midpoint and float64 values a hair,
    // and a float32 step, to either side. Those are the inputs where rounding twice differs from rounding once.
    const script = String.raw`
import numpy as np, ml_dtypes
def midpoints(values):
    v = np.sort(np.unique(values[np.isfinite(values)]))
    mid = (v[:-1] + v[1:]) / 2
    out = [mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf), mid * (1 + 2.0**-40), mid * (1 - 2.0**-40)]
    m32 = mid.astype(np.float32)
    out += [np.nextafter(m32, np.float32(np.inf)).astype(np.float64), np.nextafter(m32, np.float32(-np.inf)).astype(np.float64)]
    return np.concatenate(out)
bits = np.arange(65536, dtype=np.uint16)
f16 = bits.view(np.float16).astype(np.float64)
bf16 = bits.view(ml_dtypes.bfloat16).astype(np.float64)
big = np.array([65504, 65519.999, 65520, 65520.0001, 65536, 1e300, 3.4028234663852886e38, 3.4028235677973366e38, np.inf])
tiny = np.array([0.0, 2.0**-24, 2.0**-25, 2.0**-26, 2.0**-25 * 3, 2.0**-149, 2.0**-150, 2.0**-150 * 3, 2.0**-126, 5e-324, 2.2250738585072014e-308])
nan_bits = np.array([0x7ff8000000000000, 0x7ff0000000000001, 0x7ff4000000000000, 0x7ff0040000000000, 0x7ffc000000000123,
                     0x7ff00000003fffff, 0x7fffffffffffffff, 0x7ff0000020000000, 0x7ff7ffffffffffff], dtype=np.uint64)
nans = nan_bits.view(np.float64)
rng = np.random.default_rng(10)
random = rng.integers(0, 2**64, size=100000, dtype=np.uint64).view(np.float64)  # NaNs included
x = np.concatenate([midpoints(f16), midpoints(bf16), big, tiny, nans, random, rng.standard_normal(50000) * 1000])
x = np.concatenate([x, -x]).astype('<f8')
with np.errstate(all='ignore'):
    print(x.tobytes().hex(), x.astype('<f2').tobytes().hex(), x.astype(ml_dtypes.bfloat16).tobytes().hex())
`;
    const [values, f16, bf16] = pythonArrays(script);
    const input = words(values!, Float64Array);
    const inputHex = (i: number): string => {
      const bytes = Buffer.from(input.buffer, i * 8, 8);
      return `${hexOf(Number(bytes.readBigUInt64LE(0) >> 32n), 8)}_${hexOf(bytes.readUInt32LE(0), 8)} (${input[i]})`;
    };
    const expectF16 = words(f16!, Uint16Array);
    const expectBf16 = words(bf16!, Uint16Array);
    const nanCount = input.filter((v) => Number.isNaN(v)).length;
    expect(nanCount).toBeGreaterThan(50); // the NaN cases were not filtered away
    // Per value, reading straight from the Float64Array, so NaN payloads reach the conversion intact.
    const ours16 = Uint16Array.from({ length: input.length }, (_, i) => numberToFloat16Bits(input[i] as number));
    const oursBf = Uint16Array.from({ length: input.length }, (_, i) => numberToBfloat16Bits(input[i] as number));
    expect(mismatches(ours16, expectF16, inputHex)).toEqual([]);
    expect(mismatches(oursBf, expectBf16, inputHex)).toEqual([]);
    // The array path over plain numbers: V8 may quiet or canonicalise a NaN held in an Array, so NaNs there are
    // held to "a NaN of the same sign"; every other value must match the oracle bit for bit.
    const plain: number[] = Array.from(input);
    const arrayF16 = float32ToFloat16(plain);
    const arrayBf16 = float32ToBfloat16(plain);
    for (let i = 0; i < input.length; i++) {
      if (!Number.isNaN(input[i])) continue;
      const sign = (expectF16[i] as number) & 0x8000;
      expect(arrayF16[i]! & 0x7c00, inputHex(i)).toBe(0x7c00);
      expect(arrayF16[i]! & 0x3ff, inputHex(i)).not.toBe(0);
      expect(arrayBf16[i], inputHex(i)).toBe(((expectBf16[i] as number) & 0x8000) | 0x7fc0);
      arrayF16[i] = expectF16[i] as number;
      arrayBf16[i] = expectBf16[i] as number;
      expect(sign).toBe((expectBf16[i] as number) & 0x8000);
    }
    expect(mismatches(arrayF16, expectF16, inputHex)).toEqual([]);
    expect(mismatches(arrayBf16, expectBf16, inputHex)).toEqual([]);
  });

  it('narrow float32 arrays (the bit-view fast paths) like numpy astype, NaNs and ties included', () => {
    const script = String.raw`
import numpy as np, ml_dtypes
def neighbours(values):
    v = np.sort(np.unique(values[np.isfinite(values)]))
    mid = ((v[:-1] + v[1:]) / 2).astype(np.float32)  # exact: each midpoint has at most 12 (f16) / 9 (bf16) bits
    return np.concatenate([mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(-np.inf))])
bits16 = np.arange(65536, dtype=np.uint16)
rng = np.random.default_rng(7)
random = rng.integers(0, 2**32, size=200000, dtype=np.uint64).astype('<u4').view('<f4')  # NaNs included
nan_bits = np.array([0x7f800001, 0x7fa00000, 0x7fc00000, 0x7f802000, 0x7f801fff, 0x7fffffff, 0x7fc00001], dtype='<u4').view('<f4')
edge = np.array([0, 1, 65504, 65519, 65520, 2**-24, 2**-25, 3*2**-25, 2**-14 - 2**-25, 1e-8, 3.4e38, np.inf, 2**-149, 1+2**-8, 1+2**-11], dtype='<f4')
x = np.concatenate([neighbours(bits16.view(np.float16).astype(np.float64)), neighbours(bits16.view(ml_dtypes.bfloat16).astype(np.float64)),
                    edge, nan_bits, random, (rng.standard_normal(100000) * 10).astype('<f4')])
x = np.concatenate([x, -x]).astype('<f4')
with np.errstate(all='ignore'):
    print(x.tobytes().hex(), x.astype('<f2').tobytes().hex(), x.astype(ml_dtypes.bfloat16).tobytes().hex())
`;
    const [values, f16, bf16] = pythonArrays(script);
    const input = words(values!, Float32Array);
    const inputBits = new Uint32Array(input.buffer);
    const inputHex = (i: number): string => `${hexOf(inputBits[i] as number, 8)} (${input[i]})`;
    expect(inputBits.filter((b) => (b & 0x7fffffff) > 0x7f800000).length).toBeGreaterThan(100);
    expect(mismatches(float32ToFloat16(input), words(f16!, Uint16Array), inputHex)).toEqual([]);
    expect(mismatches(float32ToBfloat16(input), words(bf16!, Uint16Array), inputHex)).toEqual([]);
    // A view that does not start at byte 0 of its buffer takes the same path.
    const offsetView = new Float32Array(input.buffer, 4 * 3, 1000);
    expect(mismatches(float32ToFloat16(offsetView), words(f16!, Uint16Array).subarray(3, 1003), (i) => inputHex(i + 3))).toEqual([]);
  });
});
