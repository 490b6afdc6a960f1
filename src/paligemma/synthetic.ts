import { DTYPES, type DType, type LazyArray } from '../index.js';
import { isPaliGemmaTrainable, paligemmaSpec, type PaliGemmaModel } from './spec.js';

/**
 * Deterministic pseudo-random checkpoints made chunk by chunk, so a 12 GB fixture costs one chunk of memory.
 * The same (name, shape, dtype, seed) always yields the same bytes, which lets the demo and the benchmarks
 * verify a round trip without keeping a copy.
 */

export type SyntheticDType = 'float32' | 'float16' | 'bfloat16';
export type SyntheticPrecision = SyntheticDType | 'mixed';

const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

function seedOf(text: string, seed: number): number {
  // FNV-1a: a stable per-name seed; quality does not matter, determinism does.
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0 || 1;
}

/**
 * Fills `words` with xorshift32 output shaped into small finite weights (|x| < 2^-4): the sign and mantissa bits
 * stay random, the exponent is forced into a narrow range. Integer-only, so generating a 12 GB fixture costs
 * far less than writing it. Returns the next generator state.
 */
function fillWeights(words: Uint32Array, dtype: SyntheticDType, state: number): number {
  // Two 16-bit values per word for the half types; exponent ranges are 116..123 (f32, bf16) and 3..10 (f16).
  const [keep, shift, bias] =
    dtype === 'bfloat16' ? [0x807f807f, 7, 0x00740074] : dtype === 'float16' ? [0x83ff83ff, 10, 0x00030003] : [0x807fffff, 23, 116];
  const pick = dtype === 'float32' ? 7 : 0x00070007;
  let s = state;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = (s & keep) | ((((s >>> shift) & pick) + bias) << shift);
  }
  return s >>> 0 || 1;
}

export function syntheticLeaf(name: string, shape: readonly number[], dtype: SyntheticDType, options: { seed?: number; chunkBytes?: number } = {}): LazyArray {
  const itemsize = DTYPES[dtype].itemsize;
  const totalBytes = shape.reduce((a, b) => a * b, 1) * itemsize;
  // Chunks hold whole 4-byte words so each word's two half values never straddle chunks.
  const chunkBytes = Math.max(4, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / 4) * 4);
  const seed = seedOf(name, options.seed ?? 0);
  return {
    dtype,
    shape,
    async *chunks() {
      let state = seed;
      for (let done = 0; done < totalBytes; done += chunkBytes) {
        const bytes = Math.min(chunkBytes, totalBytes - done);
        // Each chunk is a fresh buffer: it belongs to the writer once yielded.
        const words = new Uint32Array(Math.ceil(bytes / 4));
        state = fillWeights(words, dtype, state);
        yield new Uint8Array(words.buffer, 0, bytes);
      }
    },
  };
}

export interface SyntheticPaliGemmaOptions {
  model?: PaliGemmaModel;
  precision?: SyntheticPrecision;
  scale?: number;
  resolution?: number;
  seed?: number;
  chunkBytes?: number;
}

/** The dtype a leaf gets: 'mixed' mimics the fine-tuning notebooks (attention in float32, the rest float16). */
export function syntheticDTypeOf(name: string, precision: SyntheticPrecision): SyntheticDType {
  if (precision !== 'mixed') return precision;
  return isPaliGemmaTrainable(name) ? 'float32' : 'float16';
}

/** A flat, lazy PaliGemma-shaped checkpoint: `[name, LazyArray]` pairs in big_vision order. */
export function syntheticPaliGemma(options: SyntheticPaliGemmaOptions = {}): [string, LazyArray][] {
  const precision = options.precision ?? 'bfloat16';
  const spec = paligemmaSpec(options.model ?? 'paligemma-3b', {
    ...(options.scale === undefined ? {} : { scale: options.scale }),
    ...(options.resolution === undefined ? {} : { resolution: options.resolution }),
  });
  return spec.map(([name, shape]) => [
    name,
    syntheticLeaf(name, shape, syntheticDTypeOf(name, precision), {
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.chunkBytes === undefined ? {} : { chunkBytes: options.chunkBytes }),
    }),
  ]);
}

/** Total data bytes of a synthetic checkpoint (npy headers and zip records excluded). */
export function syntheticDataBytes(pairs: readonly [string, LazyArray][]): number {
  return pairs.reduce((sum, [, leaf]) => sum + leaf.shape.reduce((a, b) => a * b, 1) * DTYPES[leaf.dtype as DType].itemsize, 0);
}
