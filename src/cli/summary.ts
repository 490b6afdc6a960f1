/**
 * A running summary of float64 values (count, mean, spread, extremes, non-finite counts), merged chunk by chunk
 * (Chan's parallel update), as the `stats` command and the viewer compute it. Imports nothing: the static viewer
 * bundles it for the browser.
 */

export interface Summary {
  /** Finite values seen. */
  count: number;
  mean: number;
  /** Sum of squared deviations from the mean. */
  m2: number;
  min: number;
  max: number;
  nan: number;
  posInf: number;
  negInf: number;
}

export function emptySummary(): Summary {
  return { count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity, nan: 0, posInf: 0, negInf: 0 };
}

export function addValues(summary: Summary, values: ArrayLike<number>): void {
  let count = 0;
  let sum = 0;
  let { min, max } = summary;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x - x !== 0) {
      // Only NaN and ±Infinity fail x - x === 0.
      if (x === Infinity) summary.posInf++;
      else if (x === -Infinity) summary.negInf++;
      else summary.nan++;
      continue;
    }
    count++;
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  summary.min = min;
  summary.max = max;
  if (count === 0) return;
  const chunkMean = sum / count;
  let chunkM2 = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x - x === 0) chunkM2 += (x - chunkMean) * (x - chunkMean);
  }
  const total = summary.count + count;
  const delta = chunkMean - summary.mean;
  summary.mean += (delta * count) / total;
  summary.m2 += chunkM2 + (delta * delta * summary.count * count) / total;
  summary.count = total;
}
