/**
 * `npz-stream/paligemma`: the parameter layout of released PaliGemma checkpoints, and lazy checkpoints of that
 * layout filled with deterministic pseudo-random weights (for demos, benchmarks and tests of code that consumes
 * such files). Kept out of the main entry: it describes one model family, not the file format.
 *
 * ```ts
 * import { saveNpz } from 'npz-stream';
 * import { paligemmaSpec, syntheticPaliGemma } from 'npz-stream/paligemma';
 *
 * console.log(paligemmaSpec('paligemma-3b').length);                     // tensors in the 3B checkpoint
 * await saveNpz('tiny.npz', syntheticPaliGemma({ scale: 0.01 }).values());  // a shrunken, lazily generated one
 * ```
 *
 * @module
 */
export { paligemmaSpec, isPaliGemmaTrainable } from './spec.js';
export type { PaliGemmaModel, PaliGemmaSpecOptions } from './spec.js';
export { syntheticPaliGemma, syntheticLeaf, syntheticDataBytes, syntheticDTypeOf } from './synthetic.js';
export type { SyntheticDType, SyntheticPrecision, SyntheticPaliGemmaOptions } from './synthetic.js';
