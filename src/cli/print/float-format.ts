import { FLOAT_TYPES, generateDigits, type Digits, type FloatType } from './dragon4.js';

/**
 * numpy's float printing rules (numpy 2.x, default print options): `format_float_positional` /
 * `format_float_scientific`, the per-array `FloatingFormat` that makes every element share one layout, the
 * str() of a 0-d array, and the `%g`-style text ml_dtypes gives bfloat16 scalars.
 */

/** numpy's trim modes: keep zeros, drop them but keep the point, keep one zero, drop zeros and point. */
export type Trim = 'k' | '.' | '0' | '-';

export interface FloatTextOptions {
  /** Most digits after the decimal point. */
  precision?: number;
  /** Fewest digits after the decimal point (real digits, not padding). */
  minDigits?: number;
  /** Shortest digits that identify the value (default); false prints exactly `precision` digits. */
  unique?: boolean;
  trim: Trim;
  /** Print '+' before non-negative numbers. */
  sign?: boolean;
  /** Width of the part before the decimal point, sign included, padded with spaces. */
  padLeft?: number;
}

function digitsOf(x: number, type: FloatType, options: FloatTextOptions, mode: 'fraction' | 'total'): Digits {
  if (x === 0) return { digits: '0', exponent: 0 };
  const unique = options.unique !== false;
  const extra = mode === 'total' ? 1 : 0; // scientific precision counts digits after the point
  return generateDigits(x, type, {
    unique,
    ...(options.precision === undefined ? {} : { cutoff: { mode, digits: options.precision + extra } }),
    ...(options.minDigits === undefined ? {} : { minDigits: options.minDigits + extra }),
  });
}

function signOf(x: number, plus: boolean | undefined): string {
  if (x < 0 || Object.is(x, -0)) return '-';
  return plus === true ? '+' : '';
}

function trimFraction(fraction: string, trim: Trim, minDigits: number): { fraction: string; point: boolean } {
  let out = fraction.padEnd(minDigits, '0');
  if (trim === 'k') return { fraction: out, point: true };
  while (out.length > minDigits && out.endsWith('0')) out = out.slice(0, -1);
  if (trim === '0' && out === '') return { fraction: '0', point: true };
  if (trim === '-' && out === '') return { fraction: '', point: false };
  return { fraction: out, point: true };
}

/** `np.format_float_positional(x, ..., fractional=True)` for a finite x of the given type. */
export function formatPositional(x: number, type: FloatType, options: FloatTextOptions & { padRight?: number }): string {
  const { digits, exponent } = digitsOf(x, type, options, 'fraction');
  let integer: string;
  let fraction: string;
  if (exponent >= 0) {
    integer = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    fraction = digits.slice(exponent + 1);
  } else {
    integer = '0';
    fraction = '0'.repeat(-exponent - 1) + digits;
  }
  const trimmed = trimFraction(fraction, options.trim, options.minDigits ?? 0);
  const head = (signOf(x, options.sign) + integer).padStart(options.padLeft ?? 0);
  if (!trimmed.point) return head;
  return `${head}.${trimmed.fraction.padEnd(options.padRight ?? 0)}`;
}

/** `np.format_float_scientific(x, ...)` for a finite x of the given type. */
export function formatScientific(x: number, type: FloatType, options: FloatTextOptions & { expDigits?: number }): string {
  const { digits, exponent } = digitsOf(x, type, options, 'total');
  const trimmed = trimFraction(digits.slice(1), options.trim, options.minDigits ?? 0);
  const head = (signOf(x, options.sign) + digits[0]).padStart(options.padLeft ?? 0);
  const mantissa = trimmed.point ? `${head}.${trimmed.fraction}` : head;
  const exponentText = String(Math.abs(exponent)).padStart(options.expDigits ?? 2, '0');
  return `${mantissa}e${exponent < 0 ? '-' : '+'}${exponentText}`;
}

export interface FloatDType {
  type: FloatType;
  /** `np.finfo(dtype).precision`: decimal digits the type resolves. */
  decimalPrecision: number;
  /** Where str() of a scalar switches to scientific notation. */
  scalarPositionalLimit: number;
}

export const FLOAT_DTYPES = {
  float16: { type: FLOAT_TYPES.float16, decimalPrecision: 3, scalarPositionalLimit: 1e3 },
  float32: { type: FLOAT_TYPES.float32, decimalPrecision: 6, scalarPositionalLimit: 1e6 },
  float64: { type: FLOAT_TYPES.float64, decimalPrecision: 15, scalarPositionalLimit: 1e16 },
} as const satisfies Record<string, FloatDType>;

const PRINT_PRECISION = 8;

function nonFiniteText(x: number, plus: boolean): string {
  if (Number.isNaN(x)) return plus ? '+nan' : 'nan';
  return x < 0 ? '-inf' : plus ? '+inf' : 'inf';
}

/**
 * numpy's `FloatingFormat` with default options (precision 8, floatmode 'maxprec', no suppression): one layout
 * chosen from all the values shown, so columns line up. `values` are the elements that will be printed.
 */
export function floatFormatter(values: readonly number[], dtype: FloatDType, plus = false): (x: number) => string {
  const finite = values.filter(Number.isFinite);
  const nonZero = finite.filter((x) => x !== 0).map(Math.abs);
  let scientific = false;
  if (nonZero.length > 0) {
    const max = Math.max(...nonZero);
    const min = Math.min(...nonZero);
    const cutoff = 10 ** Math.min(8, dtype.decimalPrecision);
    scientific = max >= cutoff || min < 0.0001 || max / min > 1000;
  }
  const { type } = dtype;
  let padLeft = 0;
  let padRight = 0;
  let precision = PRINT_PRECISION;
  let expDigits = -1;
  const split = (text: string): [string, string] => {
    const point = text.indexOf('.');
    return [text.slice(0, point), text.slice(point + 1)];
  };
  if (finite.length > 0 && scientific) {
    const texts = finite.map((x) => formatScientific(x, type, { precision, trim: '.', sign: plus }));
    const parts = texts.map((text) => {
      const [mantissa = '', exponent = ''] = text.split('e');
      return { mantissa: split(mantissa), exponent };
    });
    expDigits = Math.max(...parts.map((p) => p.exponent.length)) - 1;
    precision = Math.max(...parts.map((p) => p.mantissa[1].length));
    padLeft = Math.max(...parts.map((p) => p.mantissa[0].length));
    padRight = expDigits + 2 + precision;
  } else if (finite.length > 0) {
    const parts = finite.map((x) => split(formatPositional(x, type, { precision, trim: '.', sign: plus })));
    padLeft = Math.max(...parts.map((p) => p[0].length));
    padRight = Math.max(...parts.map((p) => p[1].length));
  }
  if (finite.length !== values.length) {
    const negativeInfinity = plus || values.some((x) => x === -Infinity);
    const offset = padRight + 1;
    padLeft = Math.max(padLeft, 'nan'.length - offset, 'inf'.length + (negativeInfinity ? 1 : 0) - offset);
  }
  return (x: number): string => {
    if (!Number.isFinite(x)) return nonFiniteText(x, plus).padStart(padLeft + padRight + 1);
    if (scientific) return formatScientific(x, type, { precision, minDigits: precision, trim: 'k', sign: plus, padLeft, expDigits });
    return formatPositional(x, type, { precision, minDigits: 0, trim: '.', sign: plus, padLeft, padRight });
  };
}

/** str() of a numpy float scalar (what printing a 0-d array shows). */
export function floatScalarText(x: number, dtype: FloatDType): string {
  if (!Number.isFinite(x)) return nonFiniteText(x, false);
  const magnitude = Math.abs(x);
  if (magnitude === 0 || (magnitude >= 1e-4 && magnitude < dtype.scalarPositionalLimit)) {
    return formatPositional(x, dtype.type, { trim: '0' });
  }
  return formatScientific(x, dtype.type, { trim: '-' });
}

/**
 * How ml_dtypes shows a bfloat16 scalar (C++ stream output of the float value, i.e. printf `%g`, 6 significant
 * digits, ties to even); numpy prints bfloat16 arrays element by element with it, unpadded.
 */
export function generalText(x: number, significant = 6): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  const sign = signOf(x, false);
  if (x === 0) return `${sign}0`;
  const { digits, exponent } = generateDigits(x, FLOAT_DTYPES.float64.type, {
    unique: false,
    cutoff: { mode: 'total', digits: significant },
  });
  const significantDigits = digits.replace(/0+$/, '') || '0';
  if (exponent < -4 || exponent >= significant) {
    const rest = significantDigits.slice(1);
    const mantissa = rest === '' ? significantDigits : `${significantDigits[0]}.${rest}`;
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${significantDigits}`;
  const integer = significantDigits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = significantDigits.slice(exponent + 1);
  return fraction === '' ? `${sign}${integer}` : `${sign}${integer}.${fraction}`;
}
