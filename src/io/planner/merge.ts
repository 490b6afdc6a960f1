import { NpzError } from '../../errors.js';

/**
 * Merging wanted byte runs into reads: one rule for the header windows of a zip scan, small reads issued together
 * on a round-trip source, and the runs of a tensor slice. Pure, so the rule is testable without I/O.
 */

/** A wanted byte run: `[offset, offset + length)`. */
export interface ByteRun {
  readonly offset: number;
  readonly length: number;
}

/** One merged read: runs `[first, last)` of the input, whose bytes lie in `[start, end)`. */
export interface MergedRead {
  first: number;
  last: number;
  start: number;
  end: number;
}

export interface MergeLimits {
  /**
   * Bytes between one run's end and the next run's start worth reading through instead of a second read; a
   * function is asked again for each read (a lazy merge follows a cost that changes as reads complete).
   */
  gapBytes: number | (() => number);
  /** A merged read never spans more than this many bytes (a single run longer than it stays one read). */
  maxSpan: number;
  /** Where the source ends: reads are clipped to it. */
  size?: number;
}

/** One merged read of a lazy merge: the runs it holds, whose bytes lie in `[start, end)`. */
export interface RunBatchRead<R extends ByteRun> {
  start: number;
  end: number;
  runs: R[];
}

/** The error for runs out of order. */
function unsorted(): NpzError {
  return new NpzError('ERR_INVALID_ARGUMENT', 'byte runs must be sorted by offset');
}

/**
 * The rule of `mergeRuns`, applied lazily: runs are taken from `runs` only as reads are asked for, so a batch of
 * millions of runs (a column of a large matrix) never sits in memory whole. Throws when a run starts before the one
 * it follows.
 */
export function* mergeRunsLazily<R extends ByteRun>(runs: Iterable<R>, limits: MergeLimits): Generator<RunBatchRead<R>> {
  const size = limits.size ?? Number.POSITIVE_INFINITY;
  const { gapBytes } = limits;
  const gapOf = typeof gapBytes === 'function' ? gapBytes : () => gapBytes;
  const iterator = runs[Symbol.iterator]();
  let step = iterator.next();
  while (step.done !== true) {
    const gap = gapOf();
    const first = step.value;
    const group = [first];
    const start = first.offset;
    let end = start + first.length;
    let previous = start;
    for (step = iterator.next(); step.done !== true; step = iterator.next()) {
      const next = step.value;
      if (next.offset < previous) throw unsorted();
      const nextEnd = Math.max(end, next.offset + next.length);
      if (next.offset - end > gap || nextEnd - start > limits.maxSpan) break;
      group.push(next);
      previous = next.offset;
      end = nextEnd;
    }
    if (step.done !== true && step.value.offset < previous) throw unsorted();
    yield { start, end: Math.max(start, Math.min(end, size)), runs: group };
  }
}

/**
 * Groups runs (sorted by offset) into reads: a read grows over the next run while the bytes skipped to reach it are
 * at most `gapBytes` and the whole stays within `maxSpan`. Overlapping runs share a read.
 */
export function mergeRuns(runs: readonly ByteRun[], limits: MergeLimits): MergedRead[] {
  const reads: MergedRead[] = [];
  let first = 0;
  for (const read of mergeRunsLazily(runs, limits)) {
    reads.push({ first, last: first + read.runs.length, start: read.start, end: read.end });
    first += read.runs.length;
  }
  return reads;
}
/** True when `runs` are sorted by offset, as `mergeRuns` needs. */
export function isSorted(runs: readonly ByteRun[]): boolean {
  for (let i = 1; i < runs.length; i++) if ((runs[i] as ByteRun).offset < (runs[i - 1] as ByteRun).offset) return false;
  return true;
}
