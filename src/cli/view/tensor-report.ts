import type { NpzArrayEntry, NpzFile } from '../../index.js';
import { addValues, emptySummary, type Summary } from '../commands/stats.js';
import { shownElements } from '../commands/cat.js';
import { itemChunks, numbersOf, partsPerItem } from '../elements.js';
import { entryItemsize } from '../npz-input.js';
import { arrayText, isSummarised } from '../print/array-print.js';
import { addToHistogram, emptyHistogram, histogramRange, type Histogram } from './histogram.js';
import type { WorkProgress } from './progress-report.js';

/**
 * What the page shows for one tensor: the `stats` command's summary, then a histogram over [min, max], each a
 * streamed pass over the data (the bin range is only known after the first), and the `cat` command's text.
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

/** Bytes the report streams: two passes for numeric tensors, none otherwise. */
export function reportBytes(entry: NpzArrayEntry): number {
  return notSummarisable(entry) === undefined ? 2 * entry.byteLength : 0;
}

function notSummarisable(entry: NpzArrayEntry): string | undefined {
  if (entry.dtype === 'raw') return `descr ${JSON.stringify(entry.descr)} is not numeric`;
  if (partsPerItem(entry.dtype) > 1) return 'complex values have no order; not summarised';
  return undefined;
}

async function* numberChunks(file: NpzFile, entry: NpzArrayEntry, signal: AbortSignal): AsyncGenerator<[ArrayLike<number>, number]> {
  if (entry.dtype === 'raw') return;
  const dtype = entry.dtype;
  for await (const chunk of itemChunks(file.chunks(entry.name, { signal, reuseBuffers: true }), entryItemsize(entry), entry.name)) {
    yield [numbersOf(dtype, chunk), chunk.length];
  }
}

export async function tensorReport(
  file: NpzFile,
  entry: NpzArrayEntry,
  options: { bins?: number; signal: AbortSignal; progress: WorkProgress },
): Promise<TensorReport> {
  const note = notSummarisable(entry);
  if (note !== undefined) return { name: entry.name, note };
  const { signal, progress } = options;
  const summary = emptySummary();
  for await (const [values, bytes] of numberChunks(file, entry, signal)) {
    addValues(summary, values);
    progress.add(bytes, 'statistics');
  }
  const stats = statisticsOf(summary);
  const [lo, hi] = histogramRange(summary.min, summary.max);
  const histogram = emptyHistogram(lo, hi, options.bins ?? DEFAULT_BINS);
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

/** The first and last values as numpy prints the array (the `cat` command's text). */
export async function tensorPreview(file: NpzFile, entry: NpzArrayEntry, signal: AbortSignal): Promise<{ text: string; summarised: boolean }> {
  if (entry.dtype === 'raw') return { text: `(descr ${JSON.stringify(entry.descr)} is not printed as numbers)`, summarised: false };
  const values = await shownElements(file, entry, entry.dtype, signal);
  return { text: arrayText({ dtype: entry.dtype, shape: entry.shape, values }), summarised: isSummarised(entry.shape) };
}
