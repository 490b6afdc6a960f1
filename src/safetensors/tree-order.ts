import { compareCodePoints } from '../tree/flatten.js';

/**
 * big_vision's flatten order for '/'-joined names: segment by segment, each compared by code point (a dict's
 * sorted keys at every level), so 'b/a/z' precedes 'b/a-c' although a sort of whole strings puts it after.
 * safetensors files keep no order of their own (the writer sorts by dtype), so converting one to an npz
 * uses this to write members where big_vision would have.
 */
export function compareTreeNames(a: string, b: string): number {
  const left = a.split('/');
  const right = b.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = compareCodePoints(left[i]!, right[i]!);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}
