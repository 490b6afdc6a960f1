/**
 * The safetensors header, as a pure codec: 8 bytes little-endian N, N bytes of JSON, then the data buffer.
 * Encoding reproduces `safetensors.numpy.save_file` (0.8) byte for byte: tensors sorted by dtype rank (highest
 * first) then by name, compact JSON with `__metadata__` first, spaces up to a multiple of 8. Decoding checks
 * what the Rust reader checks, before any tensor is trusted.
 */
import { NpzError } from '../errors.js';
import { compareCodePoints } from '../tree/flatten.js';
import { npyShape, safetensorsDType, safetensorsShape, type SafetensorsDTypeInfo } from './dtypes.js';
import { isJsonNumber, isJsonObject, parseJson, type JsonValue } from './json.js';

/** The reference reader's limit on N. */
export const MAX_HEADER_LENGTH = 100_000_000;
export const LENGTH_PREFIX = 8;
const METADATA_KEY = '__metadata__';

export interface TensorDescriptor {
  name: string;
  dtype: SafetensorsDTypeInfo;
  /** The npy shape (for the sub-byte kinds, groups of elements: see `npyShape` in dtypes.ts). */
  shape: readonly number[];
  /** prod(shape) × itemsize. */
  byteLength: number;
}

/** A tensor's place in the data buffer: `[begin, end)`, relative to the end of the header. */
export interface PlacedTensor extends TensorDescriptor {
  begin: number;
  end: number;
}

export interface SafetensorsLayout {
  /** The length prefix, the JSON and its padding: everything before the data buffer. */
  header: Uint8Array;
  /** Tensors in the order their data follows the header. */
  tensors: PlacedTensor[];
  /** Size of the data buffer; the file is `header.byteLength + dataLength` bytes. */
  dataLength: number;
}

/** The order the Python writer puts tensors in: dtype rank descending, then name by code point (= UTF-8 bytes). */
export function compareForWriting(a: TensorDescriptor, b: TensorDescriptor): number {
  return b.dtype.rank - a.dtype.rank || compareCodePoints(a.name, b.name);
}

const utf8 = new TextEncoder();

/** Lays out a file: the order, every offset, and the exact header bytes. Names must be unique. */
export function layoutSafetensors(tensors: readonly TensorDescriptor[], metadata?: Readonly<Record<string, string>>): SafetensorsLayout {
  const ordered = [...tensors].sort(compareForWriting);
  const parts: string[] = [];
  if (metadata !== undefined) {
    const fields = Object.entries(metadata).map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
    parts.push(`"${METADATA_KEY}":{${fields.join(',')}}`);
  }
  let offset = 0;
  const placed: PlacedTensor[] = [];
  for (const tensor of ordered) {
    const begin = offset;
    offset += tensor.byteLength;
    placed.push({ ...tensor, begin, end: offset });
    // JSON.stringify escapes exactly what serde_json escapes (quote, backslash, control characters with the
    // same short forms and lowercase \u00xx), and both write other characters as raw UTF-8.
    const shape = safetensorsShape(tensor.dtype, tensor.shape);
    parts.push(`${JSON.stringify(tensor.name)}:{"dtype":"${tensor.dtype.name}","shape":[${shape.join(',')}],"data_offsets":[${begin},${offset}]}`);
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.byteLength / LENGTH_PREFIX) * LENGTH_PREFIX;
  const header = new Uint8Array(LENGTH_PREFIX + padded).fill(0x20, LENGTH_PREFIX + json.byteLength);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, LENGTH_PREFIX);
  return { header, tensors: placed, dataLength: offset };
}

/**
 * N from the first 8 bytes, checked against the limit and the file size before anything is allocated for it
 * (a length of 2^63 must cost nothing).
 */
export function decodeHeaderLength(prefix: Uint8Array, fileSize: number, maxHeaderLength = MAX_HEADER_LENGTH): number {
  if (prefix.byteLength < LENGTH_PREFIX || fileSize < LENGTH_PREFIX) {
    throw new NpzError('ERR_SAFETENSORS_HEADER_LENGTH', `a safetensors file starts with an 8-byte header length; this one has ${fileSize} bytes`, {
      expected: LENGTH_PREFIX,
      actual: fileSize,
    });
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX).getBigUint64(0, true);
  if (length > BigInt(maxHeaderLength)) {
    throw new NpzError('ERR_SAFETENSORS_HEADER_LENGTH', `the header claims ${length} bytes, more than the limit of ${maxHeaderLength}`, {
      expected: maxHeaderLength,
      actual: length.toString(),
    });
  }
  const n = Number(length);
  if (LENGTH_PREFIX + n > fileSize) {
    throw new NpzError('ERR_SAFETENSORS_HEADER_LENGTH', `the header claims ${n} bytes but the file has only ${fileSize - LENGTH_PREFIX} after the length`, {
      expected: n,
      actual: fileSize - LENGTH_PREFIX,
    });
  }
  return n;
}

export interface DecodedTensor {
  name: string;
  dtype: SafetensorsDTypeInfo;
  /** The npy shape: the header's, but for the sub-byte kinds (F4, F6_*), whose elements come in groups. */
  shape: number[];
  /** The shape as the header gives it, in elements. */
  safetensorsShape: number[];
  /** Offsets relative to the start of the data buffer. */
  begin: number;
  end: number;
}

export interface DecodedHeader {
  /** Tensors in data order (by offset). */
  tensors: DecodedTensor[];
  metadata?: Record<string, string>;
}

function headerError(message: string, entry?: string): NpzError {
  return new NpzError('ERR_SAFETENSORS_HEADER', message, entry === undefined ? {} : { entry });
}

const UNSIGNED = /^(?:0|[1-9][0-9]*)$/;

/** A non-negative integer field, as BigInt so 2^64 stays 2^64 until it is compared. */
function unsigned(value: JsonValue | undefined, what: string, name: string): bigint {
  if (value === undefined || !isJsonNumber(value) || !UNSIGNED.test(value.text)) {
    throw headerError(`tensor ${JSON.stringify(name)}: ${what} must be a non-negative integer`, name);
  }
  return BigInt(value.text);
}

/** The value of `key`; a key given twice is refused, as the reference reader refuses a duplicate field. */
function field(entries: [string, JsonValue][], key: string, tensor: string): JsonValue | undefined {
  const matches = entries.filter(([candidate]) => candidate === key);
  if (matches.length > 1) throw headerError(`tensor ${JSON.stringify(tensor)}: ${JSON.stringify(key)} is given ${matches.length} times`, tensor);
  return matches[0]?.[1];
}

function decodeMetadata(value: JsonValue): Record<string, string> | undefined {
  // The reference reader takes `null` for "no metadata" (an optional map).
  if (value === null) return undefined;
  if (!isJsonObject(value)) throw headerError(`"${METADATA_KEY}" must be an object of strings`);
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, text] of value.entries) {
    if (typeof text !== 'string') throw headerError(`"${METADATA_KEY}" value of ${JSON.stringify(key)} is not a string`);
    if (Object.hasOwn(metadata, key)) throw headerError(`"${METADATA_KEY}" has the key ${JSON.stringify(key)} twice`);
    metadata[key] = text;
  }
  return metadata;
}

interface RawTensor {
  name: string;
  dtype: SafetensorsDTypeInfo;
  shape: bigint[];
  begin: bigint;
  end: bigint;
}

function decodeTensor(name: string, value: JsonValue): RawTensor {
  if (!isJsonObject(value)) throw headerError(`tensor ${JSON.stringify(name)} is not an object`, name);
  const dtype = field(value.entries, 'dtype', name);
  const shape = field(value.entries, 'shape', name);
  const offsets = field(value.entries, 'data_offsets', name);
  if (typeof dtype !== 'string') throw headerError(`tensor ${JSON.stringify(name)}: "dtype" must be a string`, name);
  if (!Array.isArray(shape)) throw headerError(`tensor ${JSON.stringify(name)}: "shape" must be a list`, name);
  if (!Array.isArray(offsets) || offsets.length !== 2) throw headerError(`tensor ${JSON.stringify(name)}: "data_offsets" must be [begin, end]`, name);
  return {
    name,
    dtype: safetensorsDType(dtype, name),
    shape: shape.map((dim) => {
      const value = unsigned(dim, 'every dimension', name);
      // Only a zero-sized tensor could pass the size check with such a dimension; no reader can index it.
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw headerError(`tensor ${JSON.stringify(name)}: dimension ${value} is beyond 2^53`, name);
      return value;
    }),
    begin: unsigned(offsets[0], 'data_offsets', name),
    end: unsigned(offsets[1], 'data_offsets', name),
  };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes and validates the N header bytes for a data buffer of `bufferLength` bytes: UTF-8, one JSON object
 * starting with '{', no duplicate names, string metadata, known dtypes, offsets contiguous from 0 without hole
 * or overlap, each size = prod(shape) × bits / 8 (whole bytes), and the last offset exactly at the end of the file.
 * Without `bufferLength` (a stream, whose length is not known up front) the buffer is as long as the tensors
 * say; the reader then checks that the stream ends there.
 */
export function decodeSafetensorsHeader(bytes: Uint8Array, bufferLength?: number): DecodedHeader {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (cause) {
    throw new NpzError('ERR_SAFETENSORS_HEADER', 'the header is not valid UTF-8', { cause });
  }
  if (!text.startsWith('{')) throw headerError("the header does not start with '{'");
  const root = parseJson(text);
  if (!isJsonObject(root)) throw headerError('the header is not a JSON object');

  let metadata: Record<string, string> | undefined;
  const seen = new Set<string>();
  const raw: RawTensor[] = [];
  for (const [name, value] of root.entries) {
    if (seen.has(name)) {
      throw new NpzError('ERR_SAFETENSORS_DUPLICATE_NAME', `the header names ${JSON.stringify(name)} twice`, { entry: name });
    }
    seen.add(name);
    if (name === METADATA_KEY) metadata = decodeMetadata(value);
    else raw.push(decodeTensor(name, value));
  }

  raw.sort((a, b) => (a.begin < b.begin ? -1 : a.begin > b.begin ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  let expected = 0n;
  const tensors: DecodedTensor[] = [];
  for (const tensor of raw) {
    const { name } = tensor;
    if (tensor.begin !== expected || tensor.end < tensor.begin) {
      throw new NpzError(
        'ERR_SAFETENSORS_OFFSETS',
        tensor.end < tensor.begin
          ? `tensor ${JSON.stringify(name)}: data_offsets [${tensor.begin}, ${tensor.end}] end before they begin`
          : `tensor ${JSON.stringify(name)}: data_offsets [${tensor.begin}, ${tensor.end}] do not continue at ${expected} (hole or overlap)`,
        { entry: name, expected: expected.toString(), actual: tensor.begin.toString() },
      );
    }
    // The reference reader counts bits (F4 has 4, F6_* 6): a tensor must fill whole bytes.
    const bits = tensor.shape.reduce((product, dim) => product * dim, BigInt(tensor.dtype.bits));
    if (bits % 8n !== 0n) {
      throw new NpzError(
        'ERR_SAFETENSORS_SIZE_MISMATCH',
        `tensor ${JSON.stringify(name)}: shape [${tensor.shape.join(', ')}] of ${tensor.dtype.name} is ${bits} bits, not a whole number of bytes`,
        { entry: name, actual: bits.toString() },
      );
    }
    const size = bits / 8n;
    if (size !== tensor.end - tensor.begin) {
      throw new NpzError(
        'ERR_SAFETENSORS_SIZE_MISMATCH',
        `tensor ${JSON.stringify(name)}: shape [${tensor.shape.join(', ')}] of ${tensor.dtype.name} needs ${size} bytes but data_offsets span ${tensor.end - tensor.begin}`,
        { entry: name, expected: size.toString(), actual: (tensor.end - tensor.begin).toString() },
      );
    }
    expected = tensor.end;
    // Past the buffer end, the next check fails anyway; stopping here keeps every kept number a safe integer.
    if (expected > BigInt(bufferLength ?? Number.MAX_SAFE_INTEGER)) break;
    const shape = tensor.shape.map(Number);
    tensors.push({ name, dtype: tensor.dtype, shape: npyShape(tensor.dtype, shape), safetensorsShape: shape, begin: Number(tensor.begin), end: Number(tensor.end) });
  }
  if (bufferLength === undefined ? expected > BigInt(Number.MAX_SAFE_INTEGER) : expected !== BigInt(bufferLength)) {
    throw new NpzError(
      'ERR_SAFETENSORS_BUFFER_LENGTH',
      bufferLength === undefined
        ? `the tensors end at byte ${expected} of the data buffer, beyond 2^53`
        : `the tensors end at byte ${expected} of the data buffer but the file holds ${bufferLength} bytes after the header`,
      { expected: expected.toString(), actual: bufferLength },
    );
  }
  return metadata === undefined ? { tensors } : { tensors, metadata };
}
