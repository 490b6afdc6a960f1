import { describe, expect, it } from 'vitest';
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16, numberToBfloat16Bits, numberToFloat16Bits } from '../../src/npy/half.js';
import { hasNumpy, runPython } from '../helpers/python.js';

const allBits = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** Python writes raw little-endian arrays to stdout as hex so the comparison is bit-exact (NaN payloads too). */
function pythonHex(script: string): Buffer {
  return Buffer.from(runPython(script).trim(), 'hex');
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('half-precision helpers', () => {
  it('round to nearest even at the halfway points', () => {
    // 1 + 2^-8 lies halfway between two bf16 values; the even one (1.0) wins. 1 + 3·2^-8 rounds up.
    expect(numberToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(numberToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToFloat16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(numberToFloat16Bits(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even zero
    expect(numberToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
  });
});

describe.skipIf(!hasNumpy())('half-precision helpers against numpy and ml_dtypes', () => {
  it('widen every float16 and bfloat16 bit pattern exactly', () => {
    const f16 = pythonHex(`import numpy as np; print(np.arange(65536, dtype='<u2').view('<f2').astype('<f4').tobytes().hex())`);
    const bf16 = pythonHex(
      `import numpy as np, ml_dtypes; print(np.arange(65536, dtype='<u2').view(ml_dtypes.bfloat16).astype('<f4').tobytes().hex())`,
    );
    const expectF16 = new Float32Array(f16.buffer, f16.byteOffset, 65536);
    const expectBf16 = new Float32Array(bf16.buffer, bf16.byteOffset, 65536);
    const ours16 = float16ToFloat32(allBits);
    const oursBf = bfloat16ToFloat32(allBits);
    for (let i = 0; i < 65536; i++) {
      // NaN payloads may differ in the quiet bit; everything else must be identical.
      if (Number.isNaN(expectF16[i])) expect(Number.isNaN(ours16[i])).toBe(true);
      else expect(ours16[i], `f16 0x${i.toString(16)}`).toBe(expectF16[i]);
    }
    expect(sameBits(oursBf, expectBf16)).toBe(true);
  });

  it('narrow float32 like numpy astype (round to nearest even)', () => {
    const script = String.raw`
import numpy as np, ml_dtypes
rng = np.random.default_rng(7)
bits = rng.integers(0, 2**32, size=200000, dtype=np.uint64).astype('<u4')
x = bits.view('<f4')
x = x[~np.isnan(x)]
edge = np.array([0, -0.0, 1, 65504, 65520, 2**-24, 2**-25, 3*2**-25, 1e-8, 3.4e38, np.inf, -np.inf, 1+2**-8, 1+2**-11], dtype='<f4')
x = np.concatenate([edge, x, (rng.standard_normal(100000) * 10).astype('<f4')])
print(x.tobytes().hex(), x.astype('<f2').tobytes().hex(), x.astype(ml_dtypes.bfloat16).tobytes().hex())
`;
    const [values, f16, bf16] = runPython(script).trim().split(' ').map((hex) => Buffer.from(hex, 'hex'));
    const input = new Float32Array(values!.buffer, values!.byteOffset, values!.byteLength / 4);
    expect(Buffer.from(float32ToFloat16(input).buffer).equals(f16!)).toBe(true);
    expect(Buffer.from(float32ToBfloat16(input).buffer).equals(bf16!)).toBe(true);
    // The generic path (plain number arrays) must agree with the Float32Array fast path.
    expect(Buffer.from(float32ToBfloat16(Array.from(input.subarray(0, 5000))).buffer).equals(bf16!.subarray(0, 10000))).toBe(true);
  });
});
