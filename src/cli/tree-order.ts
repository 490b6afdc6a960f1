/**
 * big_vision's flatten order for '/'-joined names: segment by segment, each compared by code point (a dict's
 * sorted keys at every level, as Python compares strings), so 'b/a/z' precedes 'b/a-c' although a sort of whole
 * strings puts it after. safetensors files keep no order of their own (the writer sorts by dtype), so `convert`
 * uses this to write a safetensors input's tensors to an npz where big_vision would have.
 */
export function compareTreeNames(a: string, b: string): number {
  const left = a.split('/');
  const right = b.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = compareByCodePoint(left[i]!, right[i]!);
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

/** Python's string order: by code point, so a character past U+FFFF sorts after every BMP one (UTF-16 would not). */
function compareByCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const difference = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (difference !== 0) return difference < 0 ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}
