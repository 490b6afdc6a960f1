import type { ArrayFile, DType } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { isStdin } from '../stream-input.js';
import { EXIT_BAD_DATA, EXIT_OK, type CliContext, type Command } from '../context.js';
import { itemChunks, numbersOf, pairedChunks, partsPerItem } from '../elements.js';
import { entryItemsize, inputLabel, isArrayEntry, withNpz, type TensorEntry } from '../npz-input.js';
import { FLOAT_DTYPES, floatScalarText, generalText } from '../print/float-format.js';
import type { Progress } from '../progress.js';
import { formatNumber, formatShape } from '../table.js';

/**
 * Compares two archives array by array with both open and the data streamed in step, so memory stays at a few
 * chunks whatever the file sizes. Relative differences are |b - a| / |a|, taking A as the reference.
 */

interface ValueDiff {
  /** Items that differ (NaN equals NaN). */
  differing: number;
  items: number;
  maxAbs: number;
  maxRel: number;
  /** Item index (storage order) of the largest absolute difference, with both values. */
  at?: { item: number; a: number; b: number };
}

type ArrayDiff =
  | { name: string; kind: 'only-a' | 'only-b'; entry: TensorEntry }
  | { name: string; kind: 'dtype' | 'shape' | 'order'; a: string; b: string }
  | { name: string; kind: 'values' | 'equal'; values: ValueDiff; dtype: TensorEntry['dtype']; shape: number[]; fortranOrder: boolean };

function sameNumber(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

async function compareValues(fileA: ArrayFile, fileB: ArrayFile, a: TensorEntry, progress: Progress, context: CliContext): Promise<ValueDiff> {
  const itemsize = entryItemsize(a);
  const dtype = a.dtype;
  const parts = dtype === 'raw' ? 1 : partsPerItem(dtype);
  const result: ValueDiff = { differing: 0, items: a.shape.reduce((p, d) => p * d, 1), maxAbs: 0, maxRel: 0 };
  const streamA = itemChunks(fileA.chunks(a.name, { signal: context.signal }), itemsize, a.name);
  const streamB = itemChunks(fileB.chunks(a.name, { signal: context.signal }), itemsize, a.name);
  let item = 0;
  for await (const [left, right] of pairedChunks(streamA, streamB, a.name)) {
    const count = left.length / itemsize;
    progress.add(left.length, a.name);
    if (Buffer.compare(left, right) === 0) {
      item += count;
      continue;
    }
    if (dtype === 'raw') {
      for (let i = 0; i < count; i++) {
        if (Buffer.compare(left.subarray(i * itemsize, (i + 1) * itemsize), right.subarray(i * itemsize, (i + 1) * itemsize)) !== 0) {
          result.differing++;
        }
      }
      item += count;
      continue;
    }
    const xs = numbersOf(dtype as DType, left);
    const ys = numbersOf(dtype as DType, right);
    let previousItem = -1;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      const y = ys[i]!;
      if (sameNumber(x, y)) continue;
      const itemIndex = item + Math.floor(i / parts);
      if (itemIndex !== previousItem) result.differing++;
      previousItem = itemIndex;
      const abs = Math.abs(y - x);
      // NaN against a number has no size; it is counted above but cannot be the largest difference.
      if (!(abs <= result.maxAbs) && !Number.isNaN(abs)) {
        result.maxAbs = abs;
        result.at = { item: itemIndex, a: x, b: y };
      }
      const rel = abs / Math.abs(x);
      if (rel > result.maxRel) result.maxRel = rel;
    }
    item += count;
  }
  return result;
}

async function compareFiles(fileA: ArrayFile, fileB: ArrayFile, context: CliContext): Promise<ArrayDiff[]> {
  const arraysA = fileA.entries.filter(isArrayEntry);
  const arraysB = new Map(fileB.entries.filter(isArrayEntry).map((entry) => [entry.name, entry]));
  const diffs: ArrayDiff[] = [];
  const pending: TensorEntry[] = [];
  for (const a of arraysA) {
    const b = arraysB.get(a.name);
    if (b === undefined) diffs.push({ name: a.name, kind: 'only-a', entry: a });
    else if (a.dtype !== b.dtype || (a.dtype === 'raw' && JSON.stringify(a.descr) !== JSON.stringify(b.descr))) {
      // Typed data arrives little-endian whatever the descr said, so '<V2' vs '|V2' or '>f4' vs '<f4' is no change.

      diffs.push({ name: a.name, kind: 'dtype', a: describeType(a), b: describeType(b) });
    } else if (a.shape.join() !== b.shape.join()) diffs.push({ name: a.name, kind: 'shape', a: formatShape(a.shape), b: formatShape(b.shape) });
    else if (a.fortranOrder !== b.fortranOrder) diffs.push({ name: a.name, kind: 'order', a: orderOf(a), b: orderOf(b) });
    else pending.push(a);
  }
  const namesA = new Set(arraysA.map((entry) => entry.name));
  for (const b of arraysB.values()) if (!namesA.has(b.name)) diffs.push({ name: b.name, kind: 'only-b', entry: b });

  const progress = context.progress('diff', pending.reduce((sum, entry) => sum + entry.byteLength, 0));
  try {
    for (const a of pending) {
      const values = await compareValues(fileA, fileB, a, progress, context);
      diffs.push({ name: a.name, kind: values.differing > 0 ? 'values' : 'equal', values, dtype: a.dtype, shape: a.shape, fortranOrder: a.fortranOrder });
    }
  } finally {
    progress.finish();
  }
  return diffs;
}

function describeType(entry: TensorEntry): string {
  return entry.dtype === 'raw' ? JSON.stringify(entry.descr) : entry.dtype;
}

function orderOf(entry: TensorEntry): string {
  return entry.fortranOrder ? 'Fortran order' : 'C order';
}

/** The multi-index of the item at `item` in storage order. */
function indexOf(item: number, shape: readonly number[], fortranOrder: boolean): number[] {
  const index = new Array<number>(shape.length).fill(0);
  let rest = item;
  const axes = shape.map((_, axis) => axis);
  for (const axis of fortranOrder ? axes : axes.reverse()) {
    const dim = shape[axis]!;
    index[axis] = rest % dim;
    rest = Math.floor(rest / dim);
  }
  return index;
}

function valueText(value: number, dtype: TensorEntry['dtype']): string {
  if (dtype === 'float16' || dtype === 'float32' || dtype === 'float64') return floatScalarText(value, FLOAT_DTYPES[dtype]);
  if (dtype === 'complex64') return floatScalarText(value, FLOAT_DTYPES.float32);
  if (dtype === 'complex128') return floatScalarText(value, FLOAT_DTYPES.float64);
  if (dtype === 'bfloat16') return generalText(value);
  return String(value);
}

function describeDiff(diff: ArrayDiff): string {
  switch (diff.kind) {
    case 'only-a':
    case 'only-b':
      return `${diff.kind === 'only-a' ? '-' : '+'} ${diff.name}: only in ${diff.kind === 'only-a' ? 'A' : 'B'} (${describeType(diff.entry)} ${formatShape(diff.entry.shape)})`;
    case 'dtype':
    case 'shape':
    case 'order':
      return `~ ${diff.name}: ${diff.kind} ${diff.a} -> ${diff.b}`;
    default: {
      const { values } = diff;
      const parts = [`~ ${diff.name}: ${values.differing} of ${values.items} values differ`];
      if (values.at !== undefined) {
        const where = indexOf(values.at.item, diff.shape, diff.fortranOrder);
        parts.push(
          `max abs diff ${formatNumber(values.maxAbs)} at [${where.join(', ')}] (${valueText(values.at.a, diff.dtype)} vs ${valueText(values.at.b, diff.dtype)})`,
          `max rel diff ${formatNumber(values.maxRel)}`,
        );
      }
      return parts.join(', ');
    }
  }
}

function diffJson(diff: ArrayDiff): Record<string, unknown> {
  switch (diff.kind) {
    case 'only-a':
    case 'only-b':
      return { name: diff.name, kind: diff.kind, dtype: diff.entry.dtype, shape: diff.entry.shape };
    case 'dtype':
    case 'shape':
    case 'order':
      return { name: diff.name, kind: diff.kind, a: diff.a, b: diff.b };
    default: {
      const { differing, items, maxAbs, maxRel, at } = diff.values;
      const location = at === undefined ? {} : { at: { index: indexOf(at.item, diff.shape, diff.fortranOrder), a: at.a, b: at.b } };
      return { name: diff.name, kind: diff.kind, differing, items, maxAbs, maxRel, ...location };
    }
  }
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [pathA, pathB, ...extra] = parsed.positionals;
  if (pathA === undefined || pathB === undefined || extra.length > 0) throw usageError('diff takes two files, A and B');
  // diff reads A and B side by side, tensor by tensor: both need random access, which standard input lacks.
  if (isStdin(pathA) || isStdin(pathB)) throw usageError('diff needs two files or URLs; standard input (-) cannot be read side by side');
  const diffs = await withNpz(pathA, context, (fileA) => withNpz(pathB, context, (fileB) => compareFiles(fileA, fileB, context)));
  const changed = diffs.filter((diff) => diff.kind !== 'equal');
  if (context.json) {
    context.printJson({ a: inputLabel(pathA), b: inputLabel(pathB), identical: changed.length === 0, arrays: diffs.map(diffJson) });
  } else {
    for (const diff of changed) context.print(describeDiff(diff));
    const compared = diffs.filter((diff) => diff.kind === 'equal' || diff.kind === 'values').length;
    const summary =
      changed.length === 0
        ? `identical: ${compared} array${compared === 1 ? '' : 's'} with equal names, dtypes, shapes and values`
        : `${changed.length} difference${changed.length === 1 ? '' : 's'}; ${compared} array${compared === 1 ? '' : 's'} compared value by value`;
    context.print(summary);
  }
  return changed.length === 0 ? EXIT_OK : EXIT_BAD_DATA;
}

export const diffCommand: Command = {
  name: 'diff',
  synopsis: 'diff A B',
  summary: 'arrays only in one file, dtype/shape changes, max abs/rel value differences',
  details:
    'Exit code 1 when the files differ. Values are compared in step with both files open, in bounded memory;\n' +
    'NaN equals NaN; the relative difference is |b - a| / |a| (A is the reference).',
  options: {},
  run,
};
