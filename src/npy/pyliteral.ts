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
}

/** Parses one literal that must span the whole text (surrounding whitespace allowed). */
export function parsePythonLiteral(text: string, options: ParseOptions): PyValue {
  let pos = 0;

  const skipSpace = (): void => {
    while (pos < text.length && ' \t\n\r\f\v'.includes(text[pos] as string)) pos++;
  };

  const expect = (char: string): void => {
    skipSpace();
    if (text[pos] !== char) throw syntaxError(`expected '${char}'`, pos);
    pos++;
  };

  const parseString = (): string => {
    const quote = text[pos] as string;
    const start = pos;
    pos++;
    let out = '';
    for (;;) {
      if (pos >= text.length) throw syntaxError('unterminated string', start);
      const char = text[pos] as string;
      if (char === quote) {
        pos++;
        return out;
      }
      if (char === '\n') throw syntaxError('newline in string', pos);
      if (char !== '\\') {
        out += char;
        pos++;
        continue;
      }
      const escape = text[pos + 1];
      pos += 2;
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0', '\n': '' };
      if (escape !== undefined && escape in simple && !(escape === '0' && /[0-7]/.test(text[pos] ?? ''))) {
        out += simple[escape];
      } else if (escape === 'x' || escape === 'u' || escape === 'U') {
        const width = escape === 'x' ? 2 : escape === 'u' ? 4 : 8;
        const hex = text.slice(pos, pos + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) throw syntaxError('bad escape', pos);
        const codePoint = Number.parseInt(hex, 16);
        if (codePoint > 0x10ffff) throw syntaxError('bad escape', pos);
        out += String.fromCodePoint(codePoint);
        pos += width;
      } else if (escape !== undefined && /[0-7]/.test(escape)) {
        let digits = escape;
        while (digits.length < 3 && /[0-7]/.test(text[pos] ?? '')) digits += text[pos++];
        out += String.fromCodePoint(Number.parseInt(digits, 8));
      } else {
        // Python keeps unknown escapes literally (with a warning); so do we.
        out += `\\${escape ?? ''}`;
      }
    }
  };

  const parseSequence = (close: string, depth: number): { items: PyValue[]; trailingComma: boolean } => {
    const items: PyValue[] = [];
    let trailingComma = false;
    for (;;) {
      skipSpace();
      if (text[pos] === close) {
        pos++;
        return { items, trailingComma };
      }
      items.push(parseValue(depth + 1));
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

  const parseValue = (depth: number): PyValue => {
    if (depth > MAX_NESTING) throw syntaxError('nesting too deep', pos);
    skipSpace();
    const char = text[pos];
    if (char === undefined) throw syntaxError('unexpected end of header', pos);
    if (char === "'" || char === '"') {
      let value = parseString();
      // Adjacent string literals concatenate in Python.
      for (skipSpace(); text[pos] === "'" || text[pos] === '"'; skipSpace()) value += parseString();
      return value;
    }
    if (char === '{') {
      pos++;
      const dict = new Map<PyValue, PyValue>();
      for (;;) {
        skipSpace();
        if (text[pos] === '}') {
          pos++;
          return dict;
        }
        const key = parseValue(depth + 1);
        if (typeof key !== 'string') throw syntaxError('only string keys are supported', pos);
        expect(':');
        dict.set(key, parseValue(depth + 1));
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== '}') throw syntaxError("expected ',' or '}'", pos);
      }
    }
    if (char === '[') {
      pos++;
      return parseSequence(']', depth).items;
    }
    if (char === '(') {
      pos++;
      const { items, trailingComma } = parseSequence(')', depth);
      // "(x)" is just a parenthesised value; only "(x,)" is a 1-tuple.
      if (items.length === 1 && !trailingComma) return items[0] as PyValue;
      return new PyTuple(items);
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos, pos + 16));
    if (word !== null) {
      pos += word[0].length;
      if (word[0] === 'True') return true;
      if (word[0] === 'False') return false;
      if (word[0] === 'None') return null;
      throw syntaxError(`unexpected name '${word[0]}'`, pos - word[0].length);
    }
    const number = /^[+-]?\s*\d+(?:_\d+)*/.exec(text.slice(pos, pos + 64));
    if (number !== null) {
      const digits = number[0].replace(/[\s_]/g, '');
      if (/^[+-]?0\d/.test(digits)) throw syntaxError('leading zeros in integer', pos);
      pos += number[0].length;
      if (options.allowLongSuffix && (text[pos] === 'L' || text[pos] === 'l')) pos++;
      if (/^[.eEjJxXoObB]/.test(text[pos] ?? '')) throw syntaxError('only integers are supported', pos);
      return BigInt(digits);
    }
    throw syntaxError(`unexpected character ${JSON.stringify(char)}`, pos);
  };

  const value = parseValue(0);
  skipSpace();
  if (pos !== text.length) throw syntaxError('unexpected text after the literal', pos);
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
