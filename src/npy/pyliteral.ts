import { NpzError } from '../errors.js';

/**
 * A parser and printer for the small subset of Python literals that npy headers use: dicts, lists, tuples,
 * strings, integers, True/False/None. numpy reads the header with `ast.literal_eval`; we never evaluate code,
 * and we bound nesting so hostile headers cannot exhaust the stack.
 */

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export type PyValue = string | bigint | boolean | null | PyValue[] | PyTuple | Map<PyValue, PyValue>;

const MAX_NESTING = 64;

function syntaxError(message: string, offset: number): NpzError {
  return new NpzError('ERR_NPY_HEADER_SYNTAX', `cannot parse npy header: ${message} at character ${offset}`, { offset });
}

interface ParseOptions {
  /** Python 2 headers wrote long integers as `123L`; numpy still accepts them in v1.0/v2.0 headers. */
  allowLongSuffix: boolean;
  /**
   * v3.0 headers go to `ast.literal_eval` as they are; v1.0/v2.0 ones are first re-tokenized by numpy, which
   * forgives a last line of spaces. Default false (the v3 rules).
   */
  retokenized?: boolean;
}

/** Python's tokenizer: blanks are space, tab and form feed; '\v' is not one. */
const BLANK = ' \t\f';
const NEWLINE = '\n\r';
const INTEGER = /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|[1-9](?:_?\d)*|0(?:_?0)*)/;
const PREFIXED_STRING = /^([uUrR]?)(['"])/;

/** Parses one literal that must span the whole text (surrounding whitespace allowed), as `ast.literal_eval` would. */
export function parsePythonLiteral(input: string, options: ParseOptions): PyValue {
  // literal_eval strips leading spaces and tabs before parsing.
  const text = input.replace(/^[ \t]+/, '');
  let pos = 0;
  let depth = 0;

  /**
   * Skips blanks, newlines, comments and backslash continuations. Outside brackets a line must not start with
   * blanks before a token (Python's "unexpected indent"); inside brackets lines join freely.
   */
  const skipSpace = (): void => {
    let lineStart = pos === 0;
    for (;;) {
      const char = text[pos];
      if (char === undefined) return;
      if (BLANK.includes(char)) {
        pos++;
        continue;
      }
      if (NEWLINE.includes(char)) {
        pos++;
        lineStart = true;
        continue;
      }
      if (char === '#') {
        while (pos < text.length && !NEWLINE.includes(text[pos] as string)) pos++;
        continue;
      }
      if (char === '\\' && NEWLINE.includes(text[pos + 1] ?? '')) {
        pos += text.startsWith('\r\n', pos + 1) ? 3 : 2;
        if (pos >= text.length) throw syntaxError('a line continuation at the end of the header', pos);
        continue;
      }
      if (depth === 0 && lineStart && pos > 0 && ' \t'.includes(text[pos - 1] as string)) {
        // Only blanks (after the last form feed) between the line start and this token.
        let at = pos - 1;
        while (at >= 0 && ' \t'.includes(text[at] as string)) at--;
        if (at < 0 || NEWLINE.includes(text[at] as string)) throw syntaxError('unexpected indent', pos);
      }
      return;
    }
  };

  const expect = (char: string): void => {
    skipSpace();
    if (text[pos] !== char) throw syntaxError(`expected '${char}'`, pos);
    pos++;
  };

  const parseString = (): string => {
    const [, prefix = ''] = PREFIXED_STRING.exec(text.slice(pos, pos + 2)) ?? [];
    const raw = prefix === 'r' || prefix === 'R';
    pos += prefix.length;
    const quote = text[pos] as string;
    const triple = text.startsWith(quote.repeat(3), pos);
    const close = triple ? quote.repeat(3) : quote;
    const start = pos;
    pos += close.length;
    let out = '';
    for (;;) {
      if (pos >= text.length) throw syntaxError('unterminated string', start);
      if (text.startsWith(close, pos)) {
        pos += close.length;
        return out;
      }
      const char = text[pos] as string;
      if (!triple && NEWLINE.includes(char)) throw syntaxError('newline in string', pos);
      if (char !== '\\') {
        out += char;
        pos++;
        continue;
      }
      const escape = text[pos + 1];
      if (escape === undefined) throw syntaxError('unterminated string', start);
      if (raw) {
        // A raw string keeps the backslash; it still stops the next character from closing the string.
        out += `\\${escape}`;
        pos += 2;
        continue;
      }
      pos += 2;
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };
      if (escape === '\r') {
        if (text[pos] === '\n') pos++;
      } else if (escape in simple) {
        out += simple[escape];
      } else if (escape === 'x' || escape === 'u' || escape === 'U') {
        const width = escape === 'x' ? 2 : escape === 'u' ? 4 : 8;
        const hex = text.slice(pos, pos + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) throw syntaxError('bad escape', pos);
        const codePoint = Number.parseInt(hex, 16);
        if (codePoint > 0x10ffff) throw syntaxError('bad escape', pos);
        out += String.fromCodePoint(codePoint);
        pos += width;
      } else if (escape === 'N') {
        // \N{UNICODE NAME} needs Python's table of character names, which we do not carry.
        throw syntaxError('\\N{...} escapes are not supported', pos);
      } else if (/[0-7]/.test(escape)) {
        let digits = escape;
        while (digits.length < 3 && /[0-7]/.test(text[pos] ?? '')) digits += text[pos++];
        out += String.fromCodePoint(Number.parseInt(digits, 8));
      } else {
        // Python keeps unknown escapes literally (with a warning); so do we.
        out += `\\${escape}`;
      }
    }
  };

  const parseSequence = (close: string): { items: PyValue[]; trailingComma: boolean } => {
    const items: PyValue[] = [];
    let trailingComma = false;
    for (;;) {
      skipSpace();
      if (text[pos] === close) {
        pos++;
        return { items, trailingComma };
      }
      items.push(parseValue());
      skipSpace();
      if (text[pos] === ',') {
        pos++;
        trailingComma = true;
      } else {
        trailingComma = false;
        if (text[pos] !== close) throw syntaxError(`expected ',' or '${close}'`, pos);
      }
    }
  };

  /** Parses a bracketed value, with line joining inside. */
  const bracketed = <T>(parse: () => T): T => {
    if (depth >= MAX_NESTING) throw syntaxError('nesting too deep', pos);
    depth++;
    pos++;
    const value = parse();
    depth--;
    return value;
  };

  const parseValue = (): PyValue => {
    skipSpace();
    const char = text[pos];
    if (char === undefined) throw syntaxError('unexpected end of header', pos);
    if (PREFIXED_STRING.test(text.slice(pos, pos + 2))) {
      let value = parseString();
      // Adjacent string literals concatenate in Python.
      for (skipSpace(); PREFIXED_STRING.test(text.slice(pos, pos + 2)); skipSpace()) value += parseString();
      return value;
    }
    if (char === '{') {
      return bracketed(() => {
        const dict = new Map<PyValue, PyValue>();
        for (;;) {
          skipSpace();
          if (text[pos] === '}') {
            pos++;
            return dict;
          }
          // Any key is parsed; the header check then wants exactly three string keys.
          const key = parseValue();
          expect(':');
          dict.set(key, parseValue());
          skipSpace();
          if (text[pos] === ',') pos++;
          else if (text[pos] !== '}') throw syntaxError("expected ',' or '}'", pos);
        }
      });
    }
    if (char === '[') return bracketed(() => parseSequence(']').items);
    if (char === '(') {
      return bracketed(() => {
        const { items, trailingComma } = parseSequence(')');
        // "(x)" is just a parenthesised value; only "(x,)" is a 1-tuple.
        return items.length === 1 && !trailingComma ? (items[0] as PyValue) : new PyTuple(items);
      });
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos, pos + 16));
    if (word !== null) {
      pos += word[0].length;
      if (word[0] === 'True') return true;
      if (word[0] === 'False') return false;
      if (word[0] === 'None') return null;
      throw syntaxError(`unexpected name '${word[0]}'`, pos - word[0].length);
    }
    // An integer, with at most one unary sign (literal_eval takes +x and -x of a number, not --x).
    let sign = 1n;
    if (char === '+' || char === '-') {
      sign = char === '-' ? -1n : 1n;
      pos++;
      skipSpace();
    }
    const number = INTEGER.exec(text.slice(pos, pos + 4096));
    if (number === null) throw syntaxError(`unexpected character ${JSON.stringify(text[pos] ?? char)}`, pos);
    pos += number[0].length;
    // Whatever follows (a '.', an exponent, a 'j', more digits) is left to the caller, which wants a separator.
    if (options.allowLongSuffix) {
      // numpy drops a NAME token 'L' that follows a number (Python 2's long suffix), blanks between included.
      let at = pos;
      while (BLANK.includes(text[at] ?? '\n')) at++;
      if (text[at] === 'L' && !/^[A-Za-z0-9_]/.test(text[at + 1] ?? '')) pos = at + 1;
    }
    const digits = number[0].replace(/_/g, '');
    return sign * BigInt(/^0[oObB]/.test(digits) ? `0${digits[1]!.toLowerCase()}${digits.slice(2)}` : digits);
  };

  const value = parseValue();
  skipSpace();
  if (pos !== text.length) throw syntaxError('unexpected text after the literal', pos);
  // ast.parse refuses a last line of blanks with no newline after it ("unexpected indent"); numpy's re-tokenizing
  // of v1.0/v2.0 headers hides that, except after a lone carriage return.
  const lastLine = options.retokenized === true ? /\r(?![\n])([^\r]*)$/.exec(text)?.[1] : /(?:\r\n|\r|\n)([^\r\n]*)$/.exec(text)?.[1];
  if (lastLine !== undefined && /[ \t]/.test(lastLine.slice(lastLine.lastIndexOf('\f') + 1)) && /^[ \t\f]+$/.test(lastLine)) {
    throw syntaxError('unexpected indent on the last line', text.length);
  }
  return value;
}

const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

/** Python 3's `repr(str)`: single quotes unless the text has a single quote and no double quote. */
export function pythonStringRepr(value: string): string {
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of value) {
    const codePoint = char.codePointAt(0) as number;
    if (char === quote || char === '\\') out += `\\${char}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char !== ' ' && NON_PRINTABLE.test(char)) {
      if (codePoint < 0x100) out += `\\x${codePoint.toString(16).padStart(2, '0')}`;
      else if (codePoint < 0x10000) out += `\\u${codePoint.toString(16).padStart(4, '0')}`;
      else out += `\\U${codePoint.toString(16).padStart(8, '0')}`;
    } else out += char;
  }
  return out + quote;
}

/** Python's `repr(tuple_of_ints)`: `()`, `(3,)`, `(2, 3)`. */
export function pythonTupleRepr(items: readonly string[]): string {
  if (items.length === 1) return `(${items[0]},)`;
  return `(${items.join(', ')})`;
}
