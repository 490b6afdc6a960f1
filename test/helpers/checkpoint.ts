import { runPython } from './python.js';
import { makeTempDir } from './tmp.js';
import type { CdRecord, ZipLayout } from './zip-layout.js';

/**
 * A PaliGemma-shaped checkpoint written by numpy itself (np.savez): big_vision names, large kernels next to small
 * biases and scales, f32/f16 mixed, about 12 MB in 50 members, so tensor data separates most local headers.
 */
const WRITE_CHECKPOINT = `
import sys, numpy as np
rng = np.random.default_rng(7)
arrays = {}
def put(name, shape, dtype=np.float32):
    arrays[name] = rng.standard_normal(shape).astype(dtype)
put('img/embedding/kernel', (14, 14, 3, 256))
put('img/embedding/bias', (256,))
put('img/pos_embedding', (1, 256, 256))
for i in range(3):
    p = f'img/Transformer/encoderblock_{i}/'
    put(p + 'LayerNorm_0/bias', (256,)); put(p + 'LayerNorm_0/scale', (256,))
    put(p + 'MlpBlock_0/Dense_0/kernel', (256, 1024)); put(p + 'MlpBlock_0/Dense_0/bias', (1024,))
    put(p + 'MlpBlock_0/Dense_1/kernel', (1024, 256)); put(p + 'MlpBlock_0/Dense_1/bias', (256,))
    for part in ('query', 'key', 'value'):
        put(p + f'MultiHeadDotProductAttention_0/{part}/kernel', (256, 4, 64))
put('img/head/kernel', (256, 512)); put('img/head/bias', (512,))
put('llm/embedder/input_embedding', (2048, 512), np.float16)
for i in range(2):
    p = f'llm/layers_{i}/'
    put(p + 'attn/q_einsum/w', (4, 512, 64), np.float16)
    put(p + 'attn/kv_einsum/w', (2, 1, 512, 64), np.float16)
    put(p + 'mlp/gating_einsum', (2, 512, 2048), np.float16)
    put(p + 'pre_attention_norm/scale', (512,)); put(p + 'pre_ffw_norm/scale', (512,))
put('llm/final_norm/scale', (512,))
np.savez(sys.argv[1], **arrays)
print(len(arrays))
`;

export interface Checkpoint {
  dir: string;
  path: string;
  members: number;
  remove(): void;
}

export function writeCheckpoint(name = 'paligemma-shaped.npz'): Checkpoint {
  const dir = makeTempDir('remote');
  const path = dir.file(name);
  const members = Number(runPython(WRITE_CHECKPOINT, [path]).trim());
  return { dir: dir.path, path, members, remove: () => dir.remove() };
}

/**
 * Bytes the header scan needs from each member's local header on: the fixed 30 bytes, the name, numpy's 20-byte
 * zip64 extra, and room for the npy header (openNpz peeks 256 bytes of a stored member).
 */
export function headerRegion(member: CdRecord): { start: number; end: number } {
  const start = member.localHeaderOffset;
  return { start, end: start + 30 + member.nameLength + 20 + Math.min(256, member.compressedSize) };
}

export interface HeaderWindow {
  start: number;
  end: number;
  members: number;
}

/**
 * The reads a scan should make, planned from the central directory alone (`zipLayout` of the checkpoint): members
 * in offset order share a read while the bytes skipped between their header regions are at most `gap` and the
 * read stays within `windowBytes`.
 */
export function headerWindows(layout: ZipLayout, gap: number, windowBytes = 4 * 1024 * 1024): HeaderWindow[] {
  const regions = layout.records.map(headerRegion).sort((a, b) => a.start - b.start);
  const windows: HeaderWindow[] = [];
  for (const region of regions) {
    const last = windows[windows.length - 1];
    if (last !== undefined && region.start - last.end <= gap && region.end - last.start <= windowBytes) {
      last.end = Math.max(last.end, region.end);
      last.members++;
    } else windows.push({ start: region.start, end: region.end, members: 1 });
  }
  for (const window of windows) window.end = Math.min(window.end, layout.size);
  return windows;
}
