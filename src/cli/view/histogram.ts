/**
 * Histogram bins that agree with numpy to the count: `np.histogram(a.astype(np.float64), bins, range=(lo, hi))`.
 * The edges are np.linspace's, and an element's bin is found the way numpy's fast path does it (scale, truncate,
 * then nudge by one against the actual edges), so a value sitting on an edge lands where numpy puts it.
 */

export interface Histogram {
  /** bins + 1 edges, the last one exactly `hi`. */
  edges: number[];
  counts: number[];
}

/** np.linspace(lo, hi, count) in float64: i * step + lo, with the end point pinned to `hi`. */
export function linspace(lo: number, hi: number, count: number): number[] {
  const divisions = count - 1;
  const step = (hi - lo) / divisions;
  const edges = Array.from({ length: count }, (_, i) => (step === 0 ? ((i / divisions) * (hi - lo)) : i * step) + lo);
  if (count > 1) edges[count - 1] = hi;
  return edges;
}

/** numpy widens an empty range by half a unit on each side. */
export function histogramRange(min: number, max: number): [number, number] {
  if (!(min <= max)) return [0, 1];
  return min === max ? [min - 0.5, max + 0.5] : [min, max];
}

export function emptyHistogram(lo: number, hi: number, bins: number): Histogram {
  return { edges: linspace(lo, hi, bins + 1), counts: new Array<number>(bins).fill(0) };
}

/** The bin `x` falls in, or -1 outside [lo, hi] (NaN and the infinities always are). */
export function binOf(histogram: Histogram, x: number): number {
  const { edges, counts } = histogram;
  const bins = counts.length;
  const lo = edges[0]!;
  const hi = edges[bins]!;
  if (!(x >= lo && x <= hi)) return -1;
  let index = Math.trunc(((x - lo) / (hi - lo)) * bins);
  if (index === bins) index--;
  if (x < edges[index]!) index--;
  else if (index !== bins - 1 && x >= edges[index + 1]!) index++;
  return index;
}

/** Counts the values inside [lo, hi]. */
export function addToHistogram(histogram: Histogram, values: ArrayLike<number>): void {
  const { counts } = histogram;
  for (let i = 0; i < values.length; i++) {
    const index = binOf(histogram, values[i]!);
    if (index >= 0) counts[index]!++;
  }
}
