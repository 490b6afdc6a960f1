import type { DType } from '../../index.js';
import { FLOAT_DTYPES, floatFormatter, floatScalarText, generalText } from './float-format.js';

/**
 * `print(array)` as numpy 2.x shows it with default print options (`np.array2string` with separator ' ',
 * linewidth 75, threshold 1000, edgeitems 3): nested brackets, a column layout shared by all shown elements, lines
 * wrapped at 75 characters, and long axes summarised with '...' once the array has more than 1000 elements.
 */

export const PRINT_THRESHOLD = 1000;
export const EDGE_ITEMS = 3;
const LINE_WIDTH = 75;

/** A shown element: a number, a complex pair, or a string array's text (a `str`) or bytes (`bytes`). */
export type Element = number | bigint | boolean | readonly [number, number] | string | Uint8Array;

/** What `cat` prints: the numeric dtypes, and numpy's fixed-width strings (`<U…` as `str`, `|S…` as `bytes`). */
export type PrintDType = DType | 'str' | 'bytes';

export interface PrintableArray {
  dtype: PrintDType;
  shape: readonly number[];
  /** The shown elements (see `shownIndices`) in C order over the shown grid. */
  values: readonly Element[];
}

export function isSummarised(shape: readonly number[]): boolean {
  return shape.reduce((product, dim) => product * dim, 1) > PRINT_THRESHOLD;
}

/** Per axis, the indices that get printed: all of them, or the first and last EDGE_ITEMS of a long axis. */
export function shownIndices(shape: readonly number[]): number[][] {
  const summarised = isSummarised(shape);
  return shape.map((dim) => {
    if (summarised && dim > 2 * EDGE_ITEMS) {
      return [...Array.from({ length: EDGE_ITEMS }, (_, i) => i), ...Array.from({ length: EDGE_ITEMS }, (_, i) => dim - EDGE_ITEMS + i)];
    }
    return Array.from({ length: dim }, (_, i) => i);
  });
}

function integerFormatter(values: readonly Element[]): (value: Element) => string {
  const width = Math.max(0, ...values.map((value) => String(value).length));
  return (value) => String(value).padStart(width);
}

function complexFormatter(values: readonly Element[], dtype: 'complex64' | 'complex128'): (value: Element) => string {
  const floatDType = dtype === 'complex64' ? FLOAT_DTYPES.float32 : FLOAT_DTYPES.float64;
  const pairs = values as readonly (readonly [number, number])[];
  const real = floatFormatter(
    pairs.map((pair) => pair[0]),
    floatDType,
  );
  const imaginary = floatFormatter(
    pairs.map((pair) => pair[1]),
    floatDType,
    true,
  );
  return (value) => {
    const [re, im] = value as readonly [number, number];
    const imText = imaginary(im);
    const end = imText.trimEnd().length;
    // numpy puts the 'j' before the padding of the imaginary part.
    return `${real(re)}${imText.slice(0, end)}j${imText.slice(end)}`;
  };
}

function hex(code: number, digits: number): string {
  return code.toString(16).padStart(digits, '0');
}

/** Characters Python's str.isprintable() refuses (other than the space): repr escapes them. */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's repr() of a str: single quotes unless the text holds a ' and no ", the usual escapes. */
export function pythonStrRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === quote || char === '\\') out += `\\${char}`;
    else if (char === '\t') out += '\\t';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char !== ' ' && NOT_PRINTABLE.test(char)) out += code < 0x100 ? `\\x${hex(code, 2)}` : code < 0x10000 ? `\\u${hex(code, 4)}` : `\\U${hex(code, 8)}`;
    else out += char;
  }
  return out + quote;
}

/** Python's repr() of bytes: b'…', printable ASCII as is, the rest escaped. */
export function pythonBytesRepr(bytes: Uint8Array): string {
  const has = (byte: number): boolean => bytes.includes(byte);
  const quote = has(0x27) && !has(0x22) ? '"' : "'";
  let out = `b${quote}`;
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (char === quote || char === '\\') out += `\\${char}`;
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${hex(byte, 2)}`;
    else out += char;
  }
  return out + quote;
}

function elementFormatter(dtype: PrintDType, values: readonly Element[]): (value: Element) => string {
  switch (dtype) {
    case 'str':
      // numpy shows each element's repr, unpadded.
      return (value) => pythonStrRepr(value as string);
    case 'bytes':
      return (value) => pythonBytesRepr(value as Uint8Array);
    case 'bool':
      return (value) => (value === true || value === 1 ? ' True' : 'False');
    case 'float16':
    case 'float32':
    case 'float64': {
      const format = floatFormatter(values as readonly number[], FLOAT_DTYPES[dtype]);
      return (value) => format(value as number);
    }
    case 'bfloat16':
      // ml_dtypes types are not numpy floats: numpy falls back to each scalar's repr, unpadded.
      return (value) => generalText(value as number);
    case 'complex64':
    case 'complex128':
      return complexFormatter(values, dtype);
    default:
      return integerFormatter(values);
  }
}

function complexScalarText(re: number, im: number, dtype: 'complex64' | 'complex128'): string {
  const floatDType = dtype === 'complex64' ? FLOAT_DTYPES.float32 : FLOAT_DTYPES.float64;
  const part = (x: number): string => floatScalarText(x, floatDType).replace(/\.0$/, '');
  const imText = part(im);
  if (re === 0 && !Object.is(re, -0)) return `${imText}j`;
  const sign = imText.startsWith('-') ? '' : '+';
  return `(${part(re)}${sign}${imText}j)`;
}

/** str() of a 0-d array: the scalar's own text. */
function scalarText(dtype: PrintDType, value: Element): string {
  switch (dtype) {
    case 'str':
      return value as string;
    case 'bytes':
      // numpy 2 prints a 0-d bytes array as its scalar's repr.
      return `np.bytes_(${pythonBytesRepr(value as Uint8Array)})`;
    case 'bool':
      return value === true || value === 1 ? 'True' : 'False';
    case 'float16':
    case 'float32':
    case 'float64':
      return floatScalarText(value as number, FLOAT_DTYPES[dtype]);
    case 'bfloat16':
      return generalText(value as number);
    case 'complex64':
    case 'complex128': {
      const [re, im] = value as readonly [number, number];
      return complexScalarText(re, im, dtype);
    }
    default:
      return String(value);
  }
}

/** Appends `word` to the current line, first breaking the line when it would pass `width`. */
function extendLine(text: string, line: string, word: string, width: number, nextPrefix: string): [string, string] {
  // Breaking a line that holds nothing but its indent would not make anything fit.
  if (line.length + word.length > width && line.length > nextPrefix.length) {
    return [`${text}${line.trimEnd()}\n`, nextPrefix + word];
  }
  return [text, line + word];
}

export function arrayText(array: PrintableArray): string {
  const { shape, dtype, values } = array;
  if (shape.length === 0) return scalarText(dtype, values[0] ?? 0);
  if (shape.some((dim) => dim === 0)) return '[]';
  const format = elementFormatter(dtype, values);
  const summarised = isSummarised(shape);
  const grid = shownIndices(shape).map((indices) => indices.length);
  const strides = grid.map((_, axis) => grid.slice(axis + 1).reduce((product, dim) => product * dim, 1));

  const render = (axis: number, offset: number, indent: string, width: number): string => {
    if (axis === shape.length) return format(values[offset] as Element);
    const summary = summarised && shape[axis]! > 2 * EDGE_ITEMS;
    const count = grid[axis]!;
    const stride = strides[axis]!;
    const nextIndent = `${indent} `;
    const nextWidth = width - 1;
    const children = Array.from({ length: count }, (_, i) => i);
    const axesLeft = shape.length - axis;
    let text = '';
    if (axesLeft === 1) {
      const elementWidth = width - 1; // room for the closing ']'
      let line = indent;
      children.forEach((child, position) => {
        if (summary && position === EDGE_ITEMS) {
          [text, line] = extendLine(text, line, '...', elementWidth, indent);
          line += ' ';
        }
        const word = render(axis + 1, offset + child * stride, nextIndent, nextWidth);
        [text, line] = extendLine(text, line, word, elementWidth, indent);
        if (position < count - 1) line += ' ';
      });
      text += line;
    } else {
      const separator = '\n'.repeat(axesLeft - 1);
      children.forEach((child, position) => {
        if (summary && position === EDGE_ITEMS) text += `${indent}...${separator}`;
        text += indent + render(axis + 1, offset + child * stride, nextIndent, nextWidth);
        if (position < count - 1) text += separator;
      });
    }
    return `[${text.slice(indent.length)}]`;
  };
  return render(0, 0, ' ', LINE_WIDTH);
}
