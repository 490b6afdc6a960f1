import { NpzError } from '../errors.js';

/**
 * A strict JSON parser for safetensors headers. `JSON.parse` would do, except that it keeps the last of two
 * equal keys silently and turns 2^64 into 18446744073709552000: a header from a stranger must be refused for
 * either. Objects keep every key in order (duplicates included) and numbers keep their text, so the validator
 * decides. Nesting is capped, so a header of nothing but '[' cannot exhaust the stack.
 */

export type JsonValue = string | boolean | null | JsonNumber | JsonValue[] | JsonObject;

export interface JsonNumber {
  readonly kind: 'number';
  readonly text: string;
}

export interface JsonObject {
  readonly kind: 'object';
  readonly entries: [string, JsonValue][];
}

const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

export function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && value.kind === 'object';
}

export function isJsonNumber(value: JsonValue): value is JsonNumber {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && value.kind === 'number';
}

class Parser {
  at = 0;
  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new NpzError('ERR_SAFETENSORS_HEADER', `the header is not valid JSON: ${what} at character ${this.at}`, { offset: this.at });
  }

  skipSpace(): void {
    const { text } = this;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.at += 1;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    this.skipSpace();
    const c = this.text[this.at];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    for (const [word, value] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (match === null) this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
    // Integers keep their text whatever their size; a fraction or exponent must fit a double, as serde_json says.
    if (/[.eE]/.test(match[0]) && !Number.isFinite(Number(match[0]))) this.fail('number out of range');
    this.at += match[0].length;
    return { kind: 'number', text: match[0] };
  }

  object(depth: number): JsonObject {
    this.at += 1;
    const entries: [string, JsonValue][] = [];
    this.skipSpace();
    if (this.text[this.at] === '}') {
      this.at += 1;
      return { kind: 'object', entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.at] !== '"') this.fail('expected a key');
      const key = this.string();
      this.skipSpace();
      if (this.text[this.at] !== ':') this.fail("expected ':'");
      this.at += 1;
      entries.push([key, this.value(depth + 1)]);
      this.skipSpace();
      const next = this.text[this.at];
      this.at += 1;
      if (next === '}') return { kind: 'object', entries };
      if (next !== ',') this.fail("expected ',' or '}'");
    }
  }

  array(depth: number): JsonValue[] {
    this.at += 1;
    const items: JsonValue[] = [];
    this.skipSpace();
    if (this.text[this.at] === ']') {
      this.at += 1;
      return items;
    }
    for (;;) {
      items.push(this.value(depth + 1));
      this.skipSpace();
      const next = this.text[this.at];
      this.at += 1;
      if (next === ']') return items;
      if (next !== ',') this.fail("expected ',' or ']'");
    }
  }

  string(): string {
    const { text } = this;
    this.at += 1;
    let out = '';
    let start = this.at;
    for (;;) {
      if (this.at >= text.length) this.fail('unterminated string');
      const c = text.charCodeAt(this.at);
      if (c === 0x22) {
        out += text.slice(start, this.at);
        this.at += 1;
        return out;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c !== 0x5c) {
        this.at += 1;
        continue;
      }
      out += text.slice(start, this.at);
      const escape = text[this.at + 1] ?? '';
      if (escape === 'u') {
        const unit = this.hex4(this.at + 2);
        this.at += 6;
        if (unit >= 0xd800 && unit <= 0xdbff && text.startsWith('\\u', this.at)) {
          const low = this.hex4(this.at + 2);
          if (low < 0xdc00 || low > 0xdfff) this.fail('unpaired surrogate escape');
          out += String.fromCharCode(unit, low);
          this.at += 6;
        } else if (unit >= 0xd800 && unit <= 0xdfff) {
          // Rust strings cannot hold a lone surrogate, so the reference reader refuses it too.
          this.fail('unpaired surrogate escape');
        } else {
          out += String.fromCharCode(unit);
        }
      } else {
        const decoded = ESCAPES[escape];
        if (decoded === undefined) this.fail('invalid escape');
        out += decoded;
        this.at += 2;
      }
      start = this.at;
    }
  }

  hex4(at: number): number {
    const digits = this.text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.fail('invalid \\u escape');
    return Number.parseInt(digits, 16);
  }
}

/** Parses one JSON value that may be followed only by whitespace (the header's space padding). */
export function parseJson(text: string): JsonValue {
  const parser = new Parser(text);
  const value = parser.value(0);
  parser.skipSpace();
  if (parser.at !== text.length) parser.fail('trailing characters');
  return value;
}
