import { stat } from 'node:fs/promises';
import { saveNpz } from '../../dist/index.js';
import { syntheticDataBytes, syntheticPaliGemma, type PaliGemmaModel, type SyntheticPrecision } from '../../dist/paligemma/index.js';

export const FIXTURE_MODELS = ['paligemma-3b', 'paligemma2-3b'] as const satisfies readonly PaliGemmaModel[];
export type FixtureModel = (typeof FIXTURE_MODELS)[number];

const PRECISION_ALIASES: Record<string, SyntheticPrecision> = {
  bf16: 'bfloat16',
  bfloat16: 'bfloat16',
  f16: 'float16',
  float16: 'float16',
  f32: 'float32',
  float32: 'float32',
  mixed: 'mixed',
};

export function parsePrecision(text: string): SyntheticPrecision {
  const precision = PRECISION_ALIASES[text];
  if (precision === undefined) throw new Error(`--precision must be one of ${Object.keys(PRECISION_ALIASES).join(', ')}; got ${text}`);
  return precision;
}

export function parseModel(text: string): FixtureModel {
  if (!(FIXTURE_MODELS as readonly string[]).includes(text)) throw new Error(`--model must be one of ${FIXTURE_MODELS.join(', ')}; got ${text}`);
  return text as FixtureModel;
}

export function parseScale(text: string): number {
  const scale = Number(text);
  if (!(scale > 0 && scale <= 1)) throw new Error(`--scale must be a number in (0, 1]; got ${text}`);
  return scale;
}

export interface FixtureOptions {
  out: string;
  model: FixtureModel;
  precision: SyntheticPrecision;
  scale: number;
  seed: number;
  /** Called with (bytes written, expected total) as the file grows. */
  onProgress?: (bytesDone: number, dataBytes: number) => void;
}

export interface FixtureSummary {
  path: string;
  model: FixtureModel;
  precision: SyntheticPrecision;
  scale: number;
  seed: number;
  entries: number;
  /** Tensor bytes (npy headers and zip records excluded). */
  dataBytes: number;
  /** Size of the .npz file. */
  fileBytes: number;
  largestArrayBytes: number;
  seconds: number;
}

/**
 * Streams a PaliGemma-shaped checkpoint to `out` with lazy leaves: memory stays at a few chunks whatever the
 * size, and the same options always give the same bytes.
 */
export async function writeFixture(options: FixtureOptions): Promise<FixtureSummary> {
  const pairs = syntheticPaliGemma({ model: options.model, precision: options.precision, scale: options.scale, seed: options.seed });
  const dataBytes = syntheticDataBytes(pairs);
  const largestArrayBytes = Math.max(
    ...pairs.map(([, leaf]) => leaf.shape.reduce((a, b) => a * b, 1) * (leaf.dtype === 'float32' ? 4 : 2)),
  );
  const start = performance.now();
  const onProgress = options.onProgress;
  const summary = await saveNpz(options.out, pairs.values(), {
    ...(onProgress === undefined ? {} : { onProgress: (progress) => onProgress(progress.bytesDone, dataBytes) }),
  });
  const seconds = (performance.now() - start) / 1000;
  return {
    path: options.out,
    model: options.model,
    precision: options.precision,
    scale: options.scale,
    seed: options.seed,
    entries: summary.entries,
    dataBytes,
    fileBytes: (await stat(options.out)).size,
    largestArrayBytes,
    seconds,
  };
}
