/**
 * Exact binary-to-decimal digit generation in the style of Dragon4 (Steele & White), the algorithm numpy uses to
 * print floats. JavaScript only offers shortest digits for float64; numpy prints float16/float32 with the digits
 * that are shortest *for that type*, and rounds ties to even, so the digits are generated here with BigInt.
 */

export interface FloatType {
  /** Significand bits including the implicit leading bit. */
  precisionBits: number;
  /** Exponent of the smallest normal number. */
  minExponent: number;
}

export const FLOAT_TYPES = {
  float16: { precisionBits: 11, minExponent: -14 },
  bfloat16: { precisionBits: 8, minExponent: -126 },
  float32: { precisionBits: 24, minExponent: -126 },
  float64: { precisionBits: 53, minExponent: -1022 },
} as const satisfies Record<string, FloatType>;

export interface Digits {
  /** Decimal digits, first one non-zero (or "0" for zero). */
  digits: string;
  /** Power of ten of the first digit: value = d.ddd × 10^exponent. */
  exponent: number;
}

export interface DigitOptions {
  /** Shortest digits that still identify the value in its type (numpy's `unique=True`), else exact digits. */
  unique: boolean;
  /** Last digit allowed: `fraction` counts digits after the decimal point, `total` counts significant digits. */
  cutoff?: { mode: 'fraction' | 'total'; digits: number };
  /** Keep generating real digits past the shortest ones until this many (same mode as the cutoff). */
  minDigits?: number;
}

const scratch = new DataView(new ArrayBuffer(8));

/** |x| = mantissa × 2^exponent with the mantissa in the target type's significand range. */
function decompose(x: number, type: FloatType): { mantissa: bigint; exponent: number; unequalMargins: boolean } {
  scratch.setFloat64(0, Math.abs(x));
  const high = scratch.getUint32(0);
  const low = scratch.getUint32(4);
  const biased = high >>> 20;
  const fraction = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  const doubleMantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const doubleExponent = biased === 0 ? -1074 : biased - 1075;
  const topBit = doubleMantissa.toString(2).length - 1 + doubleExponent;
  const exponent = Math.max(topBit, type.minExponent) - (type.precisionBits - 1);
  const shift = doubleExponent - exponent;
  const mantissa = shift >= 0 ? doubleMantissa << BigInt(shift) : doubleMantissa >> BigInt(-shift);
  const unequalMargins = mantissa === 1n << BigInt(type.precisionBits - 1) && topBit > type.minExponent;
  return { mantissa, exponent, unequalMargins };
}

const TEN = 10n;

function pow10(n: number): bigint {
  return TEN ** BigInt(n);
}

/** The decimal digits of a finite, non-zero `x` (which must be exactly representable in `type`). */
export function generateDigits(x: number, type: FloatType, options: DigitOptions): Digits {
  const { mantissa, exponent, unequalMargins } = decompose(x, type);
  const even = (mantissa & 1n) === 0n;
  // value = V/S; the rounding interval reaches L/S below and H/S above (half the gap to each neighbour).
  // Everything is counted in units of 2^(exponent-2) so the quarter-gap at a binade boundary stays integral.
  let value = mantissa << 2n;
  let marginHigh = 2n;
  let marginLow = unequalMargins ? 1n : 2n;
  let scale = 1n;
  const unit = exponent - 2;
  if (unit >= 0) {
    value <<= BigInt(unit);
    marginHigh <<= BigInt(unit);
    marginLow <<= BigInt(unit);
  } else {
    scale <<= BigInt(-unit);
  }

  // k such that 10^(k-1) <= value < 10^k: a float estimate, then corrected exactly.
  let k = Math.ceil(Math.log10(Math.abs(x)));
  const atLeast = (power: number): boolean => (power >= 0 ? value >= scale * pow10(power) : value * pow10(-power) >= scale);
  while (atLeast(k)) k++;
  while (!atLeast(k - 1)) k--;
  if (options.cutoff?.mode === 'fraction' && -options.cutoff.digits > k - 1) {
    // Every kept digit position lies above the first digit: the value rounds to 0 or to one unit of the cutoff.
    const unitExponent = -options.cutoff.digits;
    const twice = value * 2n;
    const above = unitExponent >= 0 ? twice > scale * pow10(unitExponent) : twice * pow10(-unitExponent) > scale;
    return above ? { digits: '1', exponent: unitExponent } : { digits: '0', exponent: 0 };
  }
  if (k >= 0) {
    scale *= pow10(k);
  } else {
    const factor = pow10(-k);
    value *= factor;
    marginHigh *= factor;
    marginLow *= factor;
  }

  const firstExponent = k - 1;
  const exponentAfter = (count: number, mode: 'fraction' | 'total'): number => (mode === 'fraction' ? -count : firstExponent - count + 1);
  const cutoffExponent = options.cutoff ? exponentAfter(options.cutoff.digits, options.cutoff.mode) : -Infinity;
  const minExponent =
    options.minDigits === undefined || options.cutoff === undefined ? Infinity : exponentAfter(options.minDigits, options.cutoff.mode);

  const digits: number[] = [];
  let digitExponent = k;
  let digit = 0;
  let low = false;
  let high = false;
  for (;;) {
    digitExponent--;
    value *= TEN;
    marginHigh *= TEN;
    marginLow *= TEN;
    digit = Number(value / scale);
    value %= scale;
    if (options.unique) {
      low = even ? value <= marginLow : value < marginLow;
      const upper = value + marginHigh;
      high = even ? upper >= scale : upper > scale;
    }
    if (((low || high) && digitExponent <= minExponent) || digitExponent <= cutoffExponent) break;
    digits.push(digit);
  }

  // Round the last digit: towards the side that still identifies the value, else to the nearest, ties to even.
  let roundDown = low;
  if (low === high) {
    const twice = value * 2n;
    roundDown = twice < scale || (twice === scale && digit % 2 === 0);
  }
  let leading = firstExponent;
  if (roundDown) {
    digits.push(digit);
  } else if (digit < 9) {
    digits.push(digit + 1);
  } else {
    while (digits.length > 0 && digits[digits.length - 1] === 9) digits.pop();
    if (digits.length === 0) {
      digits.push(1);
      leading += 1;
    } else {
      digits[digits.length - 1]! += 1;
    }
  }
  return { digits: digits.join(''), exponent: leading };
}
