import {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  type LazyArray,
  type NpyTypedArray,
} from '../index.js';
import { usageError } from './args.js';
import { itemChunks } from './elements.js';

/**
 * The record transforms of `convert`: a record is one array on its way from the input to the output, its data
 * still unread (`leaf.chunks()` streams it on demand), so a pipeline of records holds no tensor data.
 */

export interface ArrayRecord {
  name: string;
  leaf: LazyArray;
}

const CASTS = {
  'float32:bfloat16': (values: Uint8Array) => float32ToBfloat16(view(values, Float32Array)),
  'bfloat16:float32': (values: Uint8Array) => bfloat16ToFloat32(view(values, Uint16Array)),
  'float32:float16': (values: Uint8Array) => float32ToFloat16(view(values, Float32Array)),
  'float16:float32': (values: Uint8Array) => float16ToFloat32(view(values, Uint16Array)),
} as const;

type CastName = keyof typeof CASTS;

function view<T extends Float32ArrayConstructor | Uint16ArrayConstructor>(bytes: Uint8Array, type: T): InstanceType<T> {
  return new type(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / type.BYTES_PER_ELEMENT) as InstanceType<T>;
}

function asBytes(array: NpyTypedArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/** Parses `--cast FROM:TO` options into a map from source dtype to its cast. */
export function parseCasts(specs: readonly string[]): Map<string, { to: 'float32' | 'bfloat16' | 'float16'; name: CastName }> {
  const casts = new Map<string, { to: 'float32' | 'bfloat16' | 'float16'; name: CastName }>();
  for (const spec of specs) {
    if (!Object.hasOwn(CASTS, spec)) {
      throw usageError(`unsupported --cast ${JSON.stringify(spec)}; use one of ${Object.keys(CASTS).join(', ')}`);
    }
    const [from = '', to] = spec.split(':') as [string, 'float32' | 'bfloat16' | 'float16'];
    if (casts.has(from)) throw usageError(`--cast gives two targets for ${from}`);
    casts.set(from, { to, name: spec as CastName });
  }
  return casts;
}

/** A leaf whose chunks are the source chunks converted item by item (round to nearest even when narrowing). */
export function castLeaf(leaf: LazyArray, cast: { to: 'float32' | 'bfloat16' | 'float16'; name: CastName }, name: string): LazyArray {
  const convert = CASTS[cast.name];
  const sourceItemsize = leaf.dtype === 'float32' ? 4 : 2;
  return {
    dtype: cast.to,
    shape: leaf.shape,
    ...(leaf.fortranOrder === undefined ? {} : { fortranOrder: leaf.fortranOrder }),
    async *chunks() {
      for await (const piece of itemChunks(leaf.chunks() as AsyncIterable<Uint8Array>, sourceItemsize, name)) {
        // The converted array is a fresh buffer, so handing it to the writer is safe.
        yield asBytes(convert(piece));
      }
    },
  };
}

/** `--rename REGEX=REPLACEMENT`: split at the last '=', so the pattern may contain '=' (as in lookaheads). */
export function parseRename(spec: string): (name: string) => string {
  const split = spec.lastIndexOf('=');
  if (split <= 0) throw usageError(`--rename needs REGEX=REPLACEMENT, got ${JSON.stringify(spec)}`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(spec.slice(0, split), 'u');
  } catch (cause) {
    throw usageError(`--rename has an invalid regular expression: ${(cause as Error).message}`);
  }
  const replacement = spec.slice(split + 1);
  return (name) => name.replace(pattern, replacement);
}

export interface NameOptions {
  stripPrefix?: string;
  renames: readonly ((name: string) => string)[];
  addPrefix?: string;
}

/** Strip the prefix (names without it are kept as they are), apply the renames in order, then add the prefix. */
export function renameWith(options: NameOptions): (name: string) => string {
  return (name) => {
    let out = name;
    if (options.stripPrefix !== undefined && out.startsWith(options.stripPrefix)) out = out.slice(options.stripPrefix.length);
    for (const rename of options.renames) out = rename(out);
    return options.addPrefix === undefined ? out : options.addPrefix + out;
  };
}
