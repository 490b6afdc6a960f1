import { DTYPES, type ArrayFile, type DType } from '../../index.js';
import { addValues, emptySummary, type Summary } from '../summary.js';
import { itemChunks, numbersOf, partsPerItem } from '../elements.js';
import { entryItemsize, type TensorEntry } from '../entries.js';
import { isSmallType, patternValues, patternsOf } from './patterns.js';
import { addToHistogram, binOf, emptyHistogram, histogramRange, type Histogram } from './histogram.js';
import type { WorkProgress } from './progress-report.js';

/**
 * What the page shows for one tensor: the `stats` command's summary, then a histogram over [min, max], each a
 * streamed pass over the data (the bin range is only known after the first), and the `cat` command's text.
 * Types of one or two bytes (bf16, f16, int8...) take one pass instead: every bit pattern is counted, and the
 * statistics and bins follow exactly from those at most 65536 distinct values.
 */

export const DEFAULT_BINS = 64;

export interface TensorStatistics {
  /** Finite values counted. */
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  nan: number;
  posInf: number;
  negInf: number;
}

export interface TensorReport {
  name: string;
  /** Why there are no statistics (non-numeric or complex data). */
  note?: string;
  stats?: TensorStatistics;
  histogram?: Histogram;
}

function statisticsOf(summary: Summary): TensorStatistics {
  const known = summary.count > 0;
  return {
    count: summary.count,
    min: known ? summary.min : null,
    max: known ? summary.max : null,
    mean: known ? summary.mean : null,
    std: known ? Math.sqrt(summary.m2 / summary.count) : null,
    nan: summary.nan,
    posInf: summary.posInf,
    negInf: summary.negInf,
  };
}

/** Bytes the report streams: one pass for 1- and 2-byte types, two for the others, none for non-numeric data. */
export function reportBytes(entry: TensorEntry): number {
  if (notSummarisable(entry) !== undefined) return 0;
  return isSmallType(entry.dtype as DType) ? entry.byteLength : 2 * entry.byteLength;
}

async function patternReport(file: ArrayFile, entry: TensorEntry, dtype: DType, bins: number, signal: AbortSignal, progress: WorkProgress): Promise<TensorReport> {
  const itemsize = DTYPES[dtype].itemsize;
  const counts = new Float64Array(256 ** itemsize);
  for await (const chunk of itemChunks(file.chunks(entry.name, { signal, reuseBuffers: true }), itemsize, entry.name)) {
    const patterns = patternsOf(chunk, dtype);
    for (let i = 0; i < patterns.length; i++) counts[patterns[i]!]!++;
    progress.add(chunk.length, 'counting values');
  }
  const values = patternValues(dtype);
  const summary = emptySummary();
  let sum = 0;
  for (let pattern = 0; pattern < counts.length; pattern++) {
    const count = counts[pattern]!;
    if (count === 0) continue;
    const x = values[pattern]!;
    if (Number.isNaN(x)) summary.nan += count;
    else if (x === Infinity) summary.posInf += count;
    else if (x === -Infinity) summary.negInf += count;
    else {
      summary.count += count;
      sum += count * x;
      if (x < summary.min) summary.min = x;
      if (x > summary.max) summary.max = x;
    }
  }
  if (summary.count > 0) {
    summary.mean = sum / summary.count;
    for (let pattern = 0; pattern < counts.length; pattern++) {
      const x = values[pattern]!;
      if (counts[pattern]! > 0 && Number.isFinite(x)) summary.m2 += counts[pattern]! * (x - summary.mean) ** 2;
    }
  }
  const [lo, hi] = histogramRange(summary.min, summary.max);
  const histogram = emptyHistogram(lo, hi, bins);
  for (let pattern = 0; pattern < counts.length; pattern++) {
    if (counts[pattern] === 0) continue;
    const index = binOf(histogram, values[pattern]!);
    if (index >= 0) histogram.counts[index]! += counts[pattern]!;
  }
  return { name: entry.name, stats: statisticsOf(summary), histogram };
}

function notSummarisable(entry: TensorEntry): string | undefined {
  if (entry.dtype === 'raw') return `descr ${JSON.stringify(entry.descr)} is not numeric`;
  if (partsPerItem(entry.dtype) > 1) return 'complex values have no order; not summarised';
  return undefined;
}

async function* numberChunks(file: ArrayFile, entry: TensorEntry, signal: AbortSignal): AsyncGenerator<[ArrayLike<number>, number]> {
  if (entry.dtype === 'raw') return;
  const dtype = entry.dtype;
  for await (const chunk of itemChunks(file.chunks(entry.name, { signal, reuseBuffers: true }), entryItemsize(entry), entry.name)) {
    yield [numbersOf(dtype, chunk), chunk.length];
  }
}

export async function tensorReport(
  file: ArrayFile,
  entry: TensorEntry,
  options: { bins?: number; signal: AbortSignal; progress: WorkProgress },
): Promise<TensorReport> {
  const note = notSummarisable(entry);
  if (note !== undefined) return { name: entry.name, note };
  const { signal, progress } = options;
  const bins = options.bins ?? DEFAULT_BINS;
  if (isSmallType(entry.dtype as DType)) return patternReport(file, entry, entry.dtype as DType, bins, signal, progress);
  const summary = emptySummary();
  for await (const [values, bytes] of numberChunks(file, entry, signal)) {
    addValues(summary, values);
    progress.add(bytes, 'statistics');
  }
  const stats = statisticsOf(summary);
  const [lo, hi] = histogramRange(summary.min, summary.max);
  const histogram = emptyHistogram(lo, hi, bins);
  if (summary.count > 0) {
    for await (const [values, bytes] of numberChunks(file, entry, signal)) {
      addToHistogram(histogram, values);
      progress.add(bytes, 'histogram');
    }
  } else {
    progress.add(entry.byteLength);
  }
  return { name: entry.name, stats, histogram };
}
