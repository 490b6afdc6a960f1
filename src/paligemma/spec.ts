/**
 * The parameter names and shapes of released PaliGemma checkpoints (big_vision scan layout), in the order
 * big_vision writes them. Used to validate a checkpoint's layout and to make realistic fixtures.
 */

export type PaliGemmaModel = 'paligemma-3b' | 'paligemma2-3b' | 'paligemma2-10b' | 'paligemma2-28b';

interface LlmConfig {
  width: number;
  depth: number;
  mlp: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  postNorms: boolean;
}

// gemma_2b for PaliGemma 1; gemma2_{2b,9b,27b} for PaliGemma 2 (big_vision models/ppp/gemma.py get_config).
const LLMS: Record<PaliGemmaModel, LlmConfig> = {
  'paligemma-3b': { width: 2048, depth: 18, mlp: 16384, heads: 8, kvHeads: 1, headDim: 256, postNorms: false },
  'paligemma2-3b': { width: 2304, depth: 26, mlp: 9216, heads: 8, kvHeads: 4, headDim: 256, postNorms: true },
  'paligemma2-10b': { width: 3584, depth: 42, mlp: 14336, heads: 16, kvHeads: 8, headDim: 256, postNorms: true },
  'paligemma2-28b': { width: 4608, depth: 46, mlp: 36864, heads: 32, kvHeads: 16, headDim: 128, postNorms: true },
};

/** SigLIP So400m/14, the image encoder of every PaliGemma. */
const VIT = { width: 1152, depth: 27, mlp: 4304, heads: 16, headDim: 72, patch: 14 };
/** 256000 Gemma tokens + 1024 location tokens + 128 segmentation tokens. */
const VOCAB = 257_152;

export interface PaliGemmaSpecOptions {
  /** Image resolution: 224, 448 or 896 (changes only img/pos_embedding). Default 224. */
  resolution?: number;
  /**
   * Shrinks the checkpoint for quick runs: layer counts and the vocabulary are multiplied by `scale` (at least
   * one layer and 8 tokens are kept), every name and every other axis stays real. Default 1 (the real model).
   */
  scale?: number;
}

/** `[name, shape]` for every parameter, in big_vision's flatten order. */
export function paligemmaSpec(model: PaliGemmaModel, options: PaliGemmaSpecOptions = {}): [string, number[]][] {
  const llm = LLMS[model];
  if (llm === undefined) throw new RangeError(`unknown PaliGemma model ${JSON.stringify(model)}`);
  const resolution = options.resolution ?? 224;
  const scale = options.scale ?? 1;
  if (!(scale > 0 && scale <= 1)) throw new RangeError(`scale must be in (0, 1], got ${scale}`);
  const L = Math.max(1, Math.round(llm.depth * scale));
  const D = Math.max(1, Math.round(VIT.depth * scale));
  const vocab = Math.max(8, Math.round(VOCAB * scale));
  const { width: W, mlp: M, heads: H, kvHeads: KV, headDim: hd } = llm;
  const V = VIT.width;
  const tokens = (resolution / VIT.patch) ** 2;
  const block = 'img/Transformer/encoderblock';
  const attn = `${block}/MultiHeadDotProductAttention_0`;
  const spec: [string, number[]][] = [
    ['img/Transformer/encoder_norm/bias', [V]],
    ['img/Transformer/encoder_norm/scale', [V]],
    [`${block}/LayerNorm_0/bias`, [D, V]],
    [`${block}/LayerNorm_0/scale`, [D, V]],
    [`${block}/LayerNorm_1/bias`, [D, V]],
    [`${block}/LayerNorm_1/scale`, [D, V]],
    [`${block}/MlpBlock_0/Dense_0/bias`, [D, VIT.mlp]],
    [`${block}/MlpBlock_0/Dense_0/kernel`, [D, V, VIT.mlp]],
    [`${block}/MlpBlock_0/Dense_1/bias`, [D, V]],
    [`${block}/MlpBlock_0/Dense_1/kernel`, [D, VIT.mlp, V]],
    [`${attn}/key/bias`, [D, VIT.heads, VIT.headDim]],
    [`${attn}/key/kernel`, [D, V, VIT.heads, VIT.headDim]],
    [`${attn}/out/bias`, [D, V]],
    [`${attn}/out/kernel`, [D, VIT.heads, VIT.headDim, V]],
    [`${attn}/query/bias`, [D, VIT.heads, VIT.headDim]],
    [`${attn}/query/kernel`, [D, V, VIT.heads, VIT.headDim]],
    [`${attn}/value/bias`, [D, VIT.heads, VIT.headDim]],
    [`${attn}/value/kernel`, [D, V, VIT.heads, VIT.headDim]],
    ['img/embedding/bias', [V]],
    ['img/embedding/kernel', [VIT.patch, VIT.patch, 3, V]],
    ['img/head/bias', [W]],
    ['img/head/kernel', [V, W]],
    ['img/pos_embedding', [1, tokens, V]],
    ['llm/embedder/input_embedding', [vocab, W]],
    ['llm/final_norm/scale', [W]],
    ['llm/layers/attn/attn_vec_einsum/w', [L, H, hd, W]],
    ['llm/layers/attn/kv_einsum/w', [L, 2, KV, W, hd]],
    ['llm/layers/attn/q_einsum/w', [L, H, W, hd]],
    ['llm/layers/mlp/gating_einsum', [L, 2, W, M]],
    ['llm/layers/mlp/linear', [L, M, W]],
  ];
  // Sorted order puts post_* before pre_*.
  if (llm.postNorms) spec.push(['llm/layers/post_attention_norm/scale', [L, W]], ['llm/layers/post_ffw_norm/scale', [L, W]]);
  spec.push(['llm/layers/pre_attention_norm/scale', [L, W]], ['llm/layers/pre_ffw_norm/scale', [L, W]]);
  return spec;
}

/** The fine-tuning notebooks keep the trainable attention weights in float32 and cast the rest to float16. */
export function isPaliGemmaTrainable(name: string): boolean {
  return name.startsWith('llm/layers/attn/');
}
