import { describe, expect, it } from 'vitest';
import { flattenWithNames, unflattenWithNames, type Tree } from '../../src/tree/flatten.js';
import { paligemmaSpec } from '../../src/paligemma/spec.js';

const params = (spec: [string, number[]][]) => spec.reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);

describe('paligemmaSpec', () => {
  it('matches the published key counts and parameter totals', () => {
    // Totals from big_vision's shapes (docs/big-vision-paligemma.md §3).
    expect(paligemmaSpec('paligemma-3b')).toHaveLength(32);
    expect(params(paligemmaSpec('paligemma-3b'))).toBe(2_923_335_408);
    expect(params(paligemmaSpec('paligemma-3b', { resolution: 448 }))).toBe(2_924_220_144);
    expect(params(paligemmaSpec('paligemma-3b', { resolution: 896 }))).toBe(2_927_759_088);
    expect(paligemmaSpec('paligemma2-3b')).toHaveLength(34);
    expect(params(paligemmaSpec('paligemma2-3b'))).toBe(3_032_094_960);
    expect(params(paligemmaSpec('paligemma2-10b'))).toBe(9_662_409_456);
    expect(params(paligemmaSpec('paligemma2-28b'))).toBe(27_650_192_112);
  });

  it('lists names in the order flattenWithNames walks the nested tree', async () => {
    for (const model of ['paligemma-3b', 'paligemma2-3b'] as const) {
      const spec = paligemmaSpec(model);
      const tree = unflattenWithNames(spec.map(([name]) => [name, Float32Array.of(0)] as const));
      const walked: string[] = [];
      for await (const [name] of flattenWithNames(tree as Tree)) walked.push(name);
      expect(walked).toEqual(spec.map(([name]) => name));
    }
  });

  it('shrinks layer counts and vocabulary with scale, keeping names', () => {
    const small = paligemmaSpec('paligemma-3b', { scale: 0.1 });
    expect(small.map(([n]) => n)).toEqual(paligemmaSpec('paligemma-3b').map(([n]) => n));
    expect(small.find(([n]) => n === 'llm/layers/mlp/gating_einsum')?.[1]).toEqual([2, 2, 2048, 16384]);
    expect(params(small)).toBeLessThan(params(paligemmaSpec('paligemma-3b')) / 5);
  });
});
