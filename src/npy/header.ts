import { NpzError } from '../errors.js';
import { DTYPES, parseDescrString, type ArrayDType, type ByteOrder, type DescrOptions } from './dtype.js';
import { parsePythonLiteral, pythonStringRepr, pythonTupleRepr, PyTuple, type PyValue } from './pyliteral.js';

/**
 * The npy header codec: the bytes numpy's `np.save` writes before the array data, and a strict parser for
 * whatever numpy itself would accept. Pure: no I/O.
 */

/** A structured field: `(name, descr)` or `(name, descr, shape)`; a name may be a `(title, name)` pair. */
export type DescrField = readonly [FieldName, Descr] | readonly [FieldName, Descr, readonly number[]];
export type FieldName = string | readonly [string, string];
/**
 * A sub-array dtype `(base, shape)`, as numpy writes the base of a field whose dtype is a sub-array of a
 * sub-array: `('a', ('<f4', (2,)), (3,))` is `['a', ['<f4', [2]], [3]]`. Only ever inside a structured descr.
 */
export type SubarrayDescr = readonly [Descr, readonly number[]];
/** numpy's descr: a type string, a list of fields (structured), or inside a field a sub-array. */
export type Descr = string | readonly DescrField[] | SubarrayDescr;

/** True for the `(base, shape)` form; a list of fields never has a list of numbers as its second item. */
export function isSubarrayDescr(descr: Descr): descr is SubarrayDescr {
  if (typeof descr === 'string' || descr.length !== 2) return false;
  const [base, shape] = descr as readonly unknown[];
  return (typeof base === 'string' || Array.isArray(base)) && Array.isArray(shape) && shape.every((dim) => typeof dim === 'number');
}

export const NPY_MAGIC = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59); // "\x93NUMPY"
/** numpy's `ARRAY_ALIGN`: data starts at a multiple of 64 bytes from the start of the npy stream. */
const ARRAY_ALIGN = 64;
/** numpy's `GROWTH_AXIS_MAX_DIGITS`: spare spaces so the growth axis can be rewritten in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
/** numpy's default `max_header_size` (PR #22393): longer headers are refused before parsing. */
export const DEFAULT_MAX_HEADER_SIZE = 10_000;

export interface NpyHeaderFields {
  dtype?: ArrayDType;
  descr?: Descr;
  shape: readonly number[];
  fortranOrder?: boolean;
}

export interface NpyHeader {
  version: 1 | 2 | 3;
  descr: Descr;
  dtype: ArrayDType;
  byteOrder: ByteOrder;
  itemsize: number;
  /** Byte-swap unit for big-endian data; 1 when the data needs no swap (or cannot be swapped generically). */
  swapUnit: number;
  shape: number[];
  fortranOrder: boolean;
  /** Bytes from the start of the npy stream to the first data byte. */
  headerLength: number;
  /** prod(shape) × itemsize. */
  byteLength: number;
}

export interface DecodeNpyHeaderOptions extends DescrOptions {
  /** Longest header text accepted, in characters (numpy's `max_header_size`). Default 10000. */
  maxHeaderSize?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

function descrRepr(descr: Descr): string {
  if (typeof descr === 'string') return pythonStringRepr(descr);
  if (isSubarrayDescr(descr)) return pythonTupleRepr([descrRepr(descr[0]), pythonTupleRepr(descr[1].map(String))]);
  const fields = (descr as readonly DescrField[]).map((field) => {
    const [name, fieldDescr, shape] = field;
    const nameRepr = typeof name === 'string' ? pythonStringRepr(name) : pythonTupleRepr(name.map(pythonStringRepr));
    const parts = [nameRepr, descrRepr(fieldDescr)];
    if (shape !== undefined) parts.push(pythonTupleRepr(shape.map(String)));
    return pythonTupleRepr(parts);
  });
  return `[${fields.join(', ')}]`;
}

/** Resolves the descr to write: an explicit descr wins, else the dtype table's. */
function resolveDescr(fields: NpyHeaderFields): Descr {
  if (fields.descr !== undefined) return fields.descr;
  if (fields.dtype === undefined || fields.dtype === 'raw') {
    throw new NpzError('ERR_NPY_DTYPE', `a header needs a descr, or a dtype other than 'raw'`, { actual: fields.dtype });
  }
  const info = DTYPES[fields.dtype];
  if (info === undefined) throw new NpzError('ERR_NPY_DTYPE', `unknown dtype ${JSON.stringify(fields.dtype)}`);
  return info.descr;
}

export function validateShape(shape: unknown, entry?: string): number[] {
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && (dim as number) >= 0)) {
    throw new NpzError('ERR_NPY_SHAPE', `shape must be a list of non-negative safe integers, got ${String(shape)}`, {
      actual: shape,
      ...(entry === undefined ? {} : { entry }),
    });
  }
  return shape as number[];
}

/** The exact bytes `np.save` writes before the data: magic, version, length, dict literal, padding, `\n`. */
export function encodeNpyHeader(fields: NpyHeaderFields): Uint8Array {
  const descr = resolveDescr(fields);
  const shape = validateShape([...fields.shape]);
  const fortranOrder = fields.fortranOrder === true;
  // A sub-array dtype exists only inside a struct: numpy turns an array of sub-arrays into a larger array.
  if (isSubarrayDescr(descr)) throw new NpzError('ERR_NPY_DTYPE', `a (base, shape) sub-array descr is only valid inside a structured descr`);
  descrItemsize(descr, {}); // validates the descr before we commit to writing it

  let text = `{'descr': ${descrRepr(descr)}, 'fortran_order': ${fortranOrder ? 'True' : 'False'}, 'shape': ${pythonTupleRepr(shape.map(String))}, }`;
  if (shape.length > 0) {
    const growthAxis = shape[fortranOrder ? shape.length - 1 : 0] as number;
    // Dimensions are safe integers, at most 16 digits: the count never goes below 5.
    text += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(growthAxis).length);
  }
  const latin1 = !/[^\u0000-\u00ff]/.test(text);
  const body = latin1 ? latin1Bytes(text) : new TextEncoder().encode(text);
  // numpy tries 1.0 (u16 length), then 2.0 (u32, latin-1), then 3.0 (u32, UTF-8) — the oldest that can hold it.
  const lengthFieldSize = (prefixSize: number): number =>
    body.length + 1 + (ARRAY_ALIGN - ((prefixSize + body.length + 1) % ARRAY_ALIGN));
  let version: 1 | 2 | 3 = latin1 ? 1 : 3;
  if (version === 1 && lengthFieldSize(10) > 0xffff) version = 2;
  const prefixSize = version === 1 ? 10 : 12;
  const headerLength = lengthFieldSize(prefixSize); // includes padding and the final '\n'
  const out = new Uint8Array(prefixSize + headerLength);
  const view = new DataView(out.buffer);
  out.set(NPY_MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  out.set(body, prefixSize);
  out.fill(0x20, prefixSize + body.length, out.length - 1);
  out[out.length - 1] = 0x0a;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

/**
 * Total bytes before the data, read from the first 10 (v1) or 12 (v2/v3) bytes. Validates the magic, the version
 * and the size cap, so a caller can refuse a hostile header before reading (or allocating) any more of it.
 */
export function npyHeaderLength(prefix: Uint8Array, options: DecodeNpyHeaderOptions = {}): number {
  if (prefix.length < 8) {
    throw new NpzError('ERR_NPY_TRUNCATED', `npy stream ended after ${prefix.length} bytes, inside the magic string`, {
      expected: 8,
      actual: prefix.length,
    });
  }
  for (let i = 0; i < NPY_MAGIC.length; i++) {
    if (prefix[i] !== NPY_MAGIC[i]) {
      throw new NpzError('ERR_NPY_MAGIC', `not an npy stream: the magic string is not \\x93NUMPY`, { offset: i });
    }
  }
  const major = prefix[6] as number;
  const minor = prefix[7] as number;
  if (minor !== 0 || (major !== 1 && major !== 2 && major !== 3)) {
    throw new NpzError('ERR_NPY_VERSION', `unsupported npy format version ${major}.${minor}; only 1.0, 2.0 and 3.0 exist`, {
      offset: 6,
      actual: `${major}.${minor}`,
    });
  }
  const prefixSize = major === 1 ? 10 : 12;
  if (prefix.length < prefixSize) {
    throw new NpzError('ERR_NPY_TRUNCATED', `npy stream ended inside the header length field`, {
      expected: prefixSize,
      actual: prefix.length,
    });
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const textLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
  // The cap counts decoded characters; a UTF-8 (v3) header may use up to 4 bytes per character.
  const maxBytes = major === 3 ? maxHeaderSize * 4 : maxHeaderSize;
  if (textLength > maxBytes) {
    throw new NpzError(
      'ERR_NPY_HEADER_TOO_LARGE',
      `npy header of ${textLength} bytes exceeds the limit of ${maxHeaderSize} characters (option maxHeaderSize)`,
      { offset: 8, expected: maxHeaderSize, actual: textLength },
    );
  }
  return prefixSize + textLength;
}

function headerValueError(message: string, actual: unknown): NpzError {
  return new NpzError('ERR_NPY_HEADER_VALUE', message, { actual });
}

function dtypeError(message: string, actual?: unknown): NpzError {
  return new NpzError('ERR_NPY_DTYPE', message, actual === undefined ? {} : { actual });
}

/** A sub-array shape: a tuple or list of non-negative integers, or one integer (numpy takes `3` for `(3,)`). */
function toShape(value: PyValue | undefined): number[] {
  const dims = value instanceof PyTuple ? value.items : Array.isArray(value) ? value : typeof value === 'bigint' ? [value] : undefined;
  if (dims === undefined || !dims.every((d) => typeof d === 'bigint' && d >= 0n && d <= BigInt(Number.MAX_SAFE_INTEGER))) {
    throw dtypeError(`a sub-array shape must be a tuple of non-negative integers`, String(value));
  }
  return dims.map(Number);
}

/**
 * Converts a parsed Python descr to our Descr type, checking its structure: a str, a list of fields, or (inside
 * a struct, where numpy writes it for a sub-array of a sub-array) a `(base, shape)` tuple.
 */
function toDescr(value: PyValue, inField: boolean): Descr {
  if (typeof value === 'string') return value;
  if (value instanceof PyTuple && inField) {
    if (value.items.length !== 2) throw dtypeError(`a sub-array descr must be (base, shape)`);
    return [toDescr(value.items[0] as PyValue, true), toShape(value.items[1])];
  }
  if (!Array.isArray(value)) throw dtypeError(`descr is not a valid dtype descriptor`, String(value));
  return value.map((item): DescrField => {
    const parts = item instanceof PyTuple ? item.items : Array.isArray(item) ? item : undefined;
    if (parts === undefined || parts.length < 2 || parts.length > 3) {
      throw dtypeError(`a structured descr field must be (name, descr[, shape])`);
    }
    const [rawName, rawDescr, rawShape] = parts;
    let name: FieldName;
    if (typeof rawName === 'string') name = rawName;
    else if (rawName instanceof PyTuple && rawName.items.length === 2 && rawName.items.every((x) => typeof x === 'string')) {
      name = [rawName.items[0] as string, rawName.items[1] as string];
    } else throw dtypeError(`a structured field name must be a string or a (title, name) pair of strings`);
    const fieldDescr = toDescr(rawDescr as PyValue, true);
    return rawShape === undefined ? [name, fieldDescr] : [name, fieldDescr, toShape(rawShape)];
  });
}

/**
 * numpy's reader drops padding: a field named '' (not a (title, name) pair) whose dtype is a plain void, or any
 * sub-array (numpy's sub-array dtypes are voids). Padding takes room but no name.
 */
function isPadding(name: FieldName, descr: Descr, shape: readonly number[] | undefined): boolean {
  if (name !== '') return false;
  if ((shape !== undefined && shape.length > 0) || isSubarrayDescr(descr)) return true;
  return typeof descr === 'string' && /^[<>|=]?V\d+$/.test(descr);
}

const SIMPLE_RAW = { dtype: 'raw', byteOrder: '|', swapUnit: 1 } as const;

/** Item size in bytes of any descr, and what it maps to. Throws ERR_NPY_DTYPE / ERR_NPY_PICKLE. */
export function descrItemsize(descr: Descr, options: DescrOptions): { dtype: ArrayDType; byteOrder: ByteOrder; itemsize: number; swapUnit: number } {
  if (typeof descr === 'string') return parseDescrString(descr, options);
  const checked = (bytes: number): number => {
    if (!Number.isSafeInteger(bytes)) throw new NpzError('ERR_NPY_TOO_LARGE', `structured descr item size overflows`);
    return bytes;
  };
  const count = (shape: readonly number[]) => shape.reduce((product, dim) => product * dim, 1);
  if (isSubarrayDescr(descr)) return { ...SIMPLE_RAW, itemsize: checked(descrItemsize(descr[0], { keepV2Raw: true }).itemsize * count(descr[1])) };
  // Names and titles share one namespace in numpy ("name already used as a name or title"); padding has neither.
  const keys = new Set<string>();
  const claim = (key: string) => {
    if (keys.has(key)) throw dtypeError(`${JSON.stringify(key)} is used twice as a field name or title in descr`, key);
    keys.add(key);
  };
  let itemsize = 0;
  for (const [name, fieldDescr, shape] of descr as readonly DescrField[]) {
    if (!isPadding(name, fieldDescr, shape)) {
      if (typeof name === 'string') claim(name);
      else {
        claim(name[1]);
        claim(name[0]);
      }
    }
    itemsize = checked(itemsize + checked(descrItemsize(fieldDescr, { keepV2Raw: true }).itemsize * count(shape ?? [])));
  }
  return { ...SIMPLE_RAW, itemsize };
}

/**
 * The dictionary exactly as numpy's `np.save` writes it (`{'descr': '<f4', 'fortran_order': False, 'shape':
 * (2, 3), }`, space padding, newline). Files with tens of thousands of members repeat it once per member, so it
 * is matched directly; anything else, however slightly different, goes through the full literal parser, which
 * accepts the same canonical text with the same result.
 */
const CANONICAL_HEADER = /^\{'descr': '([^'\\\n]*)', 'fortran_order': (True|False), 'shape': \(((?:0|[1-9]\d*),|(?:(?:0|[1-9]\d*)(?:, (?:0|[1-9]\d*))+)|)\), \} *\n$/;

interface HeaderFields {
  descr: Descr;
  fortranOrder: boolean;
  dims: bigint[];
}

export function canonicalHeader(text: string): HeaderFields | undefined {
  const match = CANONICAL_HEADER.exec(text);
  if (match === null) return undefined;
  const shape = match[3] as string;
  const dims = shape === '' ? [] : shape.split(',').filter((dim) => dim !== '').map((dim) => BigInt(dim.trim()));
  return { descr: match[1] as string, fortranOrder: match[2] === 'True', dims };
}

function headerFromLiteral(text: string, version: number): HeaderFields {
  const literal = parsePythonLiteral(text, { allowLongSuffix: version !== 3, retokenized: version !== 3 });
  if (!(literal instanceof Map)) throw new NpzError('ERR_NPY_HEADER_KEYS', `npy header is not a dictionary`);
  // Keys of other types (Python refuses lists as keys; numpy wants these three strings) are shown as text.
  const keys = [...literal.keys()].map((key) => (typeof key === 'string' ? key : `<${typeof key === 'object' ? 'container' : typeof key} key>`)).sort();
  if (keys.length !== 3 || keys[0] !== 'descr' || keys[1] !== 'fortran_order' || keys[2] !== 'shape') {
    throw new NpzError('ERR_NPY_HEADER_KEYS', `npy header does not contain exactly descr, fortran_order and shape: ${keys.join(', ')}`, {
      actual: keys,
    });
  }
  const rawShape = literal.get('shape');
  if (!(rawShape instanceof PyTuple) || !rawShape.items.every((dim) => typeof dim === 'bigint')) {
    throw headerValueError(`npy header shape is not a tuple of integers`, String(rawShape));
  }
  const fortranOrder = literal.get('fortran_order');
  if (typeof fortranOrder !== 'boolean') throw headerValueError(`npy header fortran_order is not a bool`, String(fortranOrder));
  return { descr: toDescr(literal.get('descr') as PyValue, false), fortranOrder, dims: rawShape.items as bigint[] };
}

/** Parses a complete npy header (magic through `\n`; extra trailing bytes are ignored). */
export function decodeNpyHeader(bytes: Uint8Array, options: DecodeNpyHeaderOptions = {}): NpyHeader {
  const headerLength = npyHeaderLength(bytes, options);
  if (bytes.length < headerLength) {
    throw new NpzError('ERR_NPY_TRUNCATED', `npy header needs ${headerLength} bytes but only ${bytes.length} are present`, {
      expected: headerLength,
      actual: bytes.length,
    });
  }
  const version = bytes[6] as 1 | 2 | 3;
  const prefixSize = version === 1 ? 10 : 12;
  const raw = bytes.subarray(prefixSize, headerLength);
  let text: string;
  if (version === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch (cause) {
      throw new NpzError('ERR_NPY_HEADER_SYNTAX', `npy v3.0 header is not valid UTF-8`, { cause });
    }
  } else {
    text = latin1Text(raw);
  }
  const maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
  if (text.length > maxHeaderSize) {
    throw new NpzError('ERR_NPY_HEADER_TOO_LARGE', `npy header of ${text.length} characters exceeds the limit of ${maxHeaderSize}`, {
      expected: maxHeaderSize,
      actual: text.length,
    });
  }

  const { descr, fortranOrder, dims } = canonicalHeader(text) ?? headerFromLiteral(text, version);
  const { dtype, byteOrder, itemsize, swapUnit } = descrItemsize(descr, options);

  if (dims.some((dim) => dim < 0n)) throw new NpzError('ERR_NPY_SHAPE', `negative dimensions are not allowed`, { actual: dims.map(String) });
  // Byte counts must stay exact in a JS number, so prod(shape) × itemsize is checked in BigInt first.
  const byteCount = dims.reduce((product, dim) => product * dim, BigInt(itemsize));
  if (dims.some((dim) => dim > BigInt(Number.MAX_SAFE_INTEGER)) || byteCount > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `array of shape (${dims.join(', ')}) holds more than 2^53 bytes`, {
      actual: dims.map(String),
    });
  }
  return {
    version,
    descr,
    dtype,
    byteOrder,
    itemsize,
    swapUnit: byteOrder === '>' ? swapUnit : 1,
    shape: dims.map(Number),
    fortranOrder,
    headerLength,
    byteLength: Number(byteCount),
  };
}

/** The bytes of a string whose code units are all below 256 (checked by the caller), one byte each. */
function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Latin-1 (ISO-8859-1) text: every byte is the code point of the same value. Not TextDecoder('latin1'), which the
 * Encoding standard maps to windows-1252 (0x80–0x9F become other characters).
 */
function latin1Text(bytes: Uint8Array): string {
  let text = '';
  for (let start = 0; start < bytes.length; start += 0x2000) {
    text += String.fromCharCode.apply(null, bytes.subarray(start, start + 0x2000) as unknown as number[]);
  }
  return text;
}
