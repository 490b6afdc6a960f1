import type { ArrayFile, DType } from '../../index.js';
import { numbersOf, partsPerItem } from '../elements.js';
import { SideFailure, itemPairs } from '../paired-items.js';
import { rootError } from '../root-error.js';
import { entryItemsize, isDamagedEntry, isReported, type ReportedEntry, type TensorEntry } from '../entries.js';
import { formatShape } from '../shape.js';
import { isSmallType, patternValues, patternsOf } from './patterns.js';
import type { WorkProgress } from './progress-report.js';

/**
 * What a fine-tune changed, tensor by tensor: the relative change ‖a − b‖₂ / ‖a‖₂ (A is the reference) with both
 * files streamed side by side, in float64. Structural changes (only in one file, another dtype or shape) are
 * listed without reading data.
 */

export type DiffKind = 'only-a' | 'only-b' | 'dtype' | 'shape' | 'damaged' | 'changed' | 'equal';

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
  /** kind 'damaged': the file the tensor cannot be read in ('A', 'B', or 'A and B'), and its error. */
  damaged?: 'A' | 'B' | 'A and B';
  error?: { code: string; message: string };
}

function describe(entry: TensorEntry): string {
  return `${entry.dtype === 'raw' ? JSON.stringify(entry.descr) : entry.dtype} ${formatShape(entry.shape)}`;
}

function sameType(a: TensorEntry, b: TensorEntry): boolean {
  return a.dtype === b.dtype && (a.dtype !== 'raw' || JSON.stringify(a.descr) === JSON.stringify(b.descr));
}

/** Two tensors of one name whose values must be compared (same dtype and shape; the storage orders may differ). */
export interface PendingPair {
  compare: true;
  a: TensorEntry;
  b: TensorEntry;
}

/**
 * One name's tensors in A and B: damage in either file, a structural difference found without reading data, or
 * the pair whose values must be compared. A C-order and a Fortran-order array of one shape compare by index, as
 * `npz-stream diff` compares them.
 */
export function pairDiff(a: ReportedEntry | undefined, b: ReportedEntry | undefined): TensorDiff | PendingPair | undefined {
  const damagedA = a !== undefined && isDamagedEntry(a) ? a : undefined;
  const damagedB = b !== undefined && isDamagedEntry(b) ? b : undefined;
  if (damagedA !== undefined || damagedB !== undefined) {
    const name = (damagedA ?? damagedB)!.name;
    const error = (damagedA ?? damagedB)!.error;
    return { name, kind: 'damaged', damaged: damagedA !== undefined && damagedB !== undefined ? 'A and B' : damagedA !== undefined ? 'A' : 'B', error };
  }
  const arrayA = a as TensorEntry | undefined;
  const arrayB = b as TensorEntry | undefined;
  if (arrayA === undefined) return arrayB === undefined ? undefined : { name: arrayB.name, kind: 'only-b', b: describe(arrayB) };
  if (arrayB === undefined) return { name: arrayA.name, kind: 'only-a', a: describe(arrayA) };
  if (!sameType(arrayA, arrayB)) return { name: arrayA.name, kind: 'dtype', a: describe(arrayA), b: describe(arrayB) };
  if (arrayA.shape.join() !== arrayB.shape.join()) return { name: arrayA.name, kind: 'shape', a: describe(arrayA), b: describe(arrayB) };
  return { compare: true, a: arrayA, b: arrayB };
}

function isPending(value: TensorDiff | PendingPair): value is PendingPair {
  return 'compare' in value;
}

/** Pairs the tensors of A and B; `pending` are those whose values must be compared. */
export function diffPlan(fileA: ArrayFile, fileB: ArrayFile): { structural: TensorDiff[]; pending: PendingPair[] } {
  const arraysA = fileA.entries.filter(isReported);
  const arraysB = new Map(fileB.entries.filter(isReported).map((entry) => [entry.name, entry]));
  const structural: TensorDiff[] = [];
  const pending: PendingPair[] = [];
  for (const a of arraysA) {
    const paired = pairDiff(a, arraysB.get(a.name))!;
    if (isPending(paired)) pending.push(paired);
    else structural.push(paired);
  }
  const namesA = new Set(arraysA.map((entry) => entry.name));
  for (const b of arraysB.values()) if (!namesA.has(b.name)) structural.push(pairDiff(undefined, b) as TensorDiff);
  return { structural, pending };
}

/** The plan for one name: its structural difference (damage included), or the entry whose values must be compared. */
export function tensorDiffPlan(a: ReportedEntry | undefined, b: ReportedEntry | undefined): { structural?: TensorDiff; pending?: PendingPair } {
  const paired = pairDiff(a, b);
  if (paired === undefined) return {};
  return isPending(paired) ? { pending: paired } : { structural: paired };
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

/**
 * compareTensor, with damage found while reading (a CRC mismatch, a truncated member) reported as the tensor's
 * row, naming the file it was found in; the other tensors are compared all the same. Aborts and I/O errors end
 * the comparison.
 */
export async function compareOrReport(
  fileA: ArrayFile,
  fileB: ArrayFile,
  pair: PendingPair,
  signal: AbortSignal,
  progress: WorkProgress,
): Promise<TensorDiff> {
  const entry = pair.a;
  try {
    return await compareTensor(fileA, fileB, pair, signal, progress);
  } catch (caught) {
    if (!(caught instanceof SideFailure)) throw caught;
    const error = rootError(caught.error);
    if (signal.aborted || !isDataError(error.code)) throw caught.error;
    return { name: entry.name, kind: 'damaged', damaged: caught.file, error: { code: error.code, message: error.message } };
  }
}

/** Codes about the bytes of a file, as opposed to the outside world (I/O, network, abort). */
function isDataError(code: string): boolean {
  return !/^ERR_(IO|REMOTE_|ABORTED|INVALID_ARGUMENT|NPZ_CLOSED)/.test(code);
}

export async function compareTensor(
  fileA: ArrayFile,
  fileB: ArrayFile,
  pair: PendingPair,
  signal: AbortSignal,
  progress: WorkProgress,
): Promise<TensorDiff> {
  const entry = pair.a;
  const itemsize = entryItemsize(entry);
  const items = entry.shape.reduce((product, dim) => product * dim, 1);
  let sumSquaresA = 0;
  let sumSquaresDiff = 0;
  let maxAbs = 0;
  let differing = 0;
  // Recycled read buffers keep memory flat on multi-GB pairs; each side's piece is used up before that side reads on.
  for await (const [left, right] of itemPairs(fileA, fileB, entry, pair.b, itemsize, signal, true)) {
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
    for (let i = start; i < start + itemsize; i++) {
      if (left[i] !== right[i]) {
        count++;
        break;
      }
    }
  }
  return count;
}

const STRUCTURAL_ORDER: Record<DiffKind, number> = { damaged: 0, 'only-a': 1, 'only-b': 2, dtype: 3, shape: 4, changed: 5, equal: 6 };

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
