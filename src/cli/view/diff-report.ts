import type { ArrayFile, DType } from '../../index.js';
import { itemChunks, numbersOf, pairedChunks, partsPerItem } from '../elements.js';
import { entryItemsize, isArrayEntry, type TensorEntry } from '../npz-input.js';
import { formatShape } from '../shape.js';
import { isSmallType, patternValues, patternsOf } from './patterns.js';
import type { WorkProgress } from './progress-report.js';

/**
 * What a fine-tune changed, tensor by tensor: the relative change ‖a − b‖₂ / ‖a‖₂ (A is the reference) with both
 * files streamed side by side, in float64. Structural changes (only in one file, another dtype or shape) are
 * listed without reading data.
 */

export type DiffKind = 'only-a' | 'only-b' | 'dtype' | 'shape' | 'changed' | 'equal';

export interface TensorDiff {
  name: string;
  kind: DiffKind;
  /** Structural changes: what A and B hold ("float32 (2, 3)"). */
  a?: string;
  b?: string;
  /** Value comparisons. */
  relative?: number;
  normA?: number;
  normDiff?: number;
  maxAbs?: number;
  differing?: number;
  items?: number;
}

function describe(entry: TensorEntry): string {
  return `${entry.dtype === 'raw' ? JSON.stringify(entry.descr) : entry.dtype} ${formatShape(entry.shape)}`;
}

function sameType(a: TensorEntry, b: TensorEntry): boolean {
  return a.dtype === b.dtype && (a.dtype !== 'raw' || JSON.stringify(a.descr) === JSON.stringify(b.descr));
}

/** One name's tensors in A and B: a structural difference found without reading data, or the entry to compare. */
export function pairDiff(a: TensorEntry | undefined, b: TensorEntry | undefined): TensorDiff | TensorEntry | undefined {
  if (a === undefined) return b === undefined ? undefined : { name: b.name, kind: 'only-b', b: describe(b) };
  if (b === undefined) return { name: a.name, kind: 'only-a', a: describe(a) };
  if (!sameType(a, b)) return { name: a.name, kind: 'dtype', a: describe(a), b: describe(b) };
  if (a.shape.join() !== b.shape.join() || a.fortranOrder !== b.fortranOrder) return { name: a.name, kind: 'shape', a: describe(a), b: describe(b) };
  return a;
}

function isEntry(value: TensorDiff | TensorEntry): value is TensorEntry {
  return 'isArray' in value;
}

/** Pairs the tensors of A and B; `pending` are those whose values must be compared. */
export function diffPlan(fileA: ArrayFile, fileB: ArrayFile): { structural: TensorDiff[]; pending: TensorEntry[] } {
  const arraysA = fileA.entries.filter(isArrayEntry);
  const arraysB = new Map(fileB.entries.filter(isArrayEntry).map((entry) => [entry.name, entry]));
  const structural: TensorDiff[] = [];
  const pending: TensorEntry[] = [];
  for (const a of arraysA) {
    const paired = pairDiff(a, arraysB.get(a.name))!;
    if (isEntry(paired)) pending.push(paired);
    else structural.push(paired);
  }
  const namesA = new Set(arraysA.map((entry) => entry.name));
  for (const b of arraysB.values()) if (!namesA.has(b.name)) structural.push(pairDiff(undefined, b) as TensorDiff);
  return { structural, pending };
}

/** The plan for one name: its structural difference, or the entry whose values must be compared. */
export function tensorDiffPlan(a: TensorEntry | undefined, b: TensorEntry | undefined): { structural?: TensorDiff; pending?: TensorEntry } {
  const paired = pairDiff(a, b);
  if (paired === undefined) return {};
  return isEntry(paired) ? { pending: paired } : { structural: paired };
}

/** True when two byte ranges hold the same bytes; four at a time where both are aligned for it. */
export function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  if (left.length !== right.length) return false;
  let start = 0;
  if (left.byteOffset % 4 === 0 && right.byteOffset % 4 === 0) {
    const words = left.length >>> 2;
    const a = new Uint32Array(left.buffer, left.byteOffset, words);
    const b = new Uint32Array(right.buffer, right.byteOffset, words);
    for (let i = 0; i < words; i++) if (a[i] !== b[i]) return false;
    start = words * 4;
  }
  for (let i = start; i < left.length; i++) if (left[i] !== right[i]) return false;
  return true;
}

export async function compareTensor(
  fileA: ArrayFile,
  fileB: ArrayFile,
  entry: TensorEntry,
  signal: AbortSignal,
  progress: WorkProgress,
): Promise<TensorDiff> {
  const itemsize = entryItemsize(entry);
  const items = entry.shape.reduce((product, dim) => product * dim, 1);
  // Recycled read buffers keep memory flat on multi-GB pairs; each side's piece is used up before that side reads on.
  const streamA = itemChunks(fileA.chunks(entry.name, { signal, reuseBuffers: true }), itemsize, entry.name);
  const streamB = itemChunks(fileB.chunks(entry.name, { signal, reuseBuffers: true }), itemsize, entry.name);
  let sumSquaresA = 0;
  let sumSquaresDiff = 0;
  let maxAbs = 0;
  let differing = 0;
  for await (const [left, right] of pairedChunks(streamA, streamB, entry.name)) {
    progress.add(left.length, entry.name);
    const identical = sameBytes(left, right);
    if (entry.dtype === 'raw') {
      if (!identical) differing += countDifferentItems(left, right, itemsize);
      continue;
    }
    const dtype = entry.dtype as DType;
    // Small types index a value table by bit pattern (no decoded copy per chunk); wider ones decode in place.
    const table = isSmallType(dtype) ? patternValues(dtype) : undefined;
    const xs = table === undefined ? numbersOf(dtype, left) : patternsOf(left, dtype);
    if (identical) {
      for (let i = 0; i < xs.length; i++) {
        const x = table === undefined ? xs[i]! : table[xs[i]!]!;
        sumSquaresA += x * x;
      }
      continue;
    }
    const ys = table === undefined ? numbersOf(dtype, right) : patternsOf(right, dtype);
    // Complex items are two numbers; an item counts once however many of its parts changed.
    const parts = partsPerItem(dtype);
    let lastItem = -1;
    for (let i = 0; i < xs.length; i++) {
      const x = table === undefined ? xs[i]! : table[xs[i]!]!;
      const y = table === undefined ? ys[i]! : table[ys[i]!]!;
      sumSquaresA += x * x;
      // NaN equals NaN here, as in the `diff` command: an unchanged NaN is no change.
      if (x === y || (x !== x && y !== y)) continue;
      const item = Math.floor(i / parts);
      if (item !== lastItem) differing++;
      lastItem = item;
      const delta = y - x;
      sumSquaresDiff += delta * delta;
      const abs = Math.abs(delta);
      if (abs > maxAbs) maxAbs = abs;
    }
  }
  if (entry.dtype === 'raw') return { name: entry.name, kind: differing > 0 ? 'changed' : 'equal', differing, items };
  const normA = Math.sqrt(sumSquaresA);
  const normDiff = Math.sqrt(sumSquaresDiff);
  // A change to an all-zero tensor has no finite relative size; Infinity sorts it first, which is where it belongs.
  const relative = normDiff === 0 ? 0 : normDiff / normA;
  return { name: entry.name, kind: differing > 0 ? 'changed' : 'equal', relative, normA, normDiff, maxAbs, differing, items };
}

function countDifferentItems(left: Uint8Array, right: Uint8Array, itemsize: number): number {
  let count = 0;
  for (let start = 0; start < left.length; start += itemsize) {
    if (!sameBytes(left.subarray(start, start + itemsize), right.subarray(start, start + itemsize))) count++;
  }
  return count;
}

const STRUCTURAL_ORDER: Record<DiffKind, number> = { 'only-a': 0, 'only-b': 1, dtype: 2, shape: 3, changed: 4, equal: 5 };

/**
 * The page's order: structural changes first (they break loading), then changed tensors by relative change,
 * largest first (NaN, a change involving NaN or Infinity, counts as largest), then the unchanged ones.
 */
export function orderDiffs(diffs: readonly TensorDiff[]): TensorDiff[] {
  const size = (diff: TensorDiff): number => (diff.relative === undefined || Number.isNaN(diff.relative) ? Infinity : diff.relative);
  return [...diffs].sort((x, y) => {
    const byKind = STRUCTURAL_ORDER[x.kind] - STRUCTURAL_ORDER[y.kind];
    if (byKind !== 0) return byKind;
    if (x.kind === 'changed') return size(y) - size(x) || (x.name < y.name ? -1 : 1);
    return 0;
  });
}
