/**
 * Merging wanted byte runs into reads: one rule for the header windows of a zip scan, small reads issued together
 * on a round-trip source, and (next) the runs of a tensor slice. Pure, so the rule is testable without I/O.
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
  /** Bytes between one run's end and the next run's start worth reading through instead of a second read. */
  gapBytes: number;
  /** A merged read never spans more than this many bytes (a single run longer than it stays one read). */
  maxSpan: number;
  /** Where the source ends: reads are clipped to it. */
  size?: number;
}

/**
 * Groups runs (sorted by offset) into reads: a read grows over the next run while the bytes skipped to reach it are
 * at most `gapBytes` and the whole stays within `maxSpan`. Overlapping runs share a read.
 */
export function mergeRuns(runs: readonly ByteRun[], limits: MergeLimits): MergedRead[] {
  const reads: MergedRead[] = [];
  const size = limits.size ?? Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs.length; ) {
    const run = runs[i] as ByteRun;
    const start = run.offset;
    let end = start + run.length;
    let j = i + 1;
    for (; j < runs.length; j++) {
      const next = runs[j] as ByteRun;
      const nextEnd = Math.max(end, next.offset + next.length);
      if (next.offset - end > limits.gapBytes || nextEnd - start > limits.maxSpan) break;
      end = nextEnd;
    }
    reads.push({ first: i, last: j, start, end: Math.max(start, Math.min(end, size)) });
    i = j;
  }
  return reads;
}

/** True when `runs` are sorted by offset, as `mergeRuns` needs. */
export function isSorted(runs: readonly ByteRun[]): boolean {
  for (let i = 1; i < runs.length; i++) if ((runs[i] as ByteRun).offset < (runs[i - 1] as ByteRun).offset) return false;
  return true;
}
