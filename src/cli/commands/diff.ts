import type { ArrayFile, DType } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { isStdin } from '../stream-input.js';
import { EXIT_BAD_DATA, EXIT_OK, exitCodeFor, rootError, type CliContext, type Command } from '../context.js';
import { numbersOf, partsPerItem } from '../elements.js';
import { SideFailure, itemPairs, layoutsAgree, type Side } from '../paired-items.js';
import { entryItemsize, inputLabel, isDamagedEntry, withNpz, type ReportedEntry, type TensorEntry } from '../npz-input.js';
import { FLOAT_DTYPES, floatScalarText, generalText } from '../print/float-format.js';
import type { Progress } from '../progress.js';
import { formatNumber, formatShape } from '../table.js';

/**
 * Compares two archives array by array with both open and the data streamed in step, so memory stays at a few
 * chunks whatever the file sizes. Relative differences are |b - a| / |a|, taking A as the reference. Values are
 * compared by index: the same values stored in C order in one file and in Fortran order in the other are equal.
 */

interface ValueDiff {
  /** Items that differ (NaN equals NaN). */
  differing: number;
  items: number;
  maxAbs: number;
  maxRel: number;
  /** Item index (A's storage order) of the largest absolute difference, with both values. */
  at?: { item: number; a: number; b: number };
}


/** Why an array could not be compared: which file failed, and how. */
interface SideError {
  file: Side;
  code: string;
  message: string;
}

type StorageOrder = 'C' | 'F';

type ArrayDiff =
  | { name: string; kind: 'only-a' | 'only-b'; entry: TensorEntry }
  | { name: string; kind: 'dtype' | 'shape'; a: string; b: string }
  | {
      name: string;
      kind: 'values' | 'equal';
      values: ValueDiff;
      dtype: TensorEntry['dtype'];
      shape: number[];
      fortranOrder: boolean;
      /** Set when A and B store the array in different orders (values are compared by index all the same). */
      order?: { a: StorageOrder; b: StorageOrder };
    }
  | { name: string; kind: 'error'; errors: SideError[] };

function sameNumber(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

async function compareValues(fileA: ArrayFile, fileB: ArrayFile, a: TensorEntry, b: TensorEntry, progress: Progress, context: CliContext): Promise<ValueDiff> {
  const itemsize = entryItemsize(a);
  const dtype = a.dtype;
  const parts = dtype === 'raw' ? 1 : partsPerItem(dtype);
  const result: ValueDiff = { differing: 0, items: a.shape.reduce((p, d) => p * d, 1), maxAbs: 0, maxRel: 0 };
  const pairs = itemPairs(fileA, fileB, a, b, itemsize, context.signal);
  let item = 0;
  for await (const [left, right] of pairs) {
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

/** The error as a diff row, when it is about the data of one file; undefined for errors that end the command. */
function sideError(file: Side, caught: unknown): SideError | undefined {
  const error = rootError(caught);
  if (exitCodeFor(error) !== EXIT_BAD_DATA) return undefined;
  return { file, code: error.code, message: error.message };
}

async function compareFiles(fileA: ArrayFile, fileB: ArrayFile, context: CliContext): Promise<ArrayDiff[]> {
  const reported = (entry: ArrayFile['entries'][number]): entry is ReportedEntry => entry.isArray || isDamagedEntry(entry);
  const arraysA = fileA.entries.filter(reported);
  const arraysB = new Map(fileB.entries.filter(reported).map((entry) => [entry.name, entry]));
  const diffs: ArrayDiff[] = [];
  const pending: [TensorEntry, TensorEntry][] = [];
  for (const a of arraysA) {
    const b = arraysB.get(a.name);
    if (isDamagedEntry(a) || (b !== undefined && isDamagedEntry(b))) {
      const errors: SideError[] = [];
      if (isDamagedEntry(a)) errors.push({ file: 'A', ...a.error });
      if (b !== undefined && isDamagedEntry(b)) errors.push({ file: 'B', ...b.error });
      diffs.push({ name: a.name, kind: 'error', errors });
    } else if (b === undefined) diffs.push({ name: a.name, kind: 'only-a', entry: a });
    else if (a.dtype !== b.dtype || (a.dtype === 'raw' && JSON.stringify(a.descr) !== JSON.stringify(b.descr))) {
      // Typed data arrives little-endian whatever the descr said, so '<V2' vs '|V2' or '>f4' vs '<f4' is no change.
      diffs.push({ name: a.name, kind: 'dtype', a: describeType(a), b: describeType(b as TensorEntry) });
    } else if (a.shape.join() !== (b as TensorEntry).shape.join()) {
      diffs.push({ name: a.name, kind: 'shape', a: formatShape(a.shape), b: formatShape((b as TensorEntry).shape) });
    } else pending.push([a, b as TensorEntry]);
  }
  const namesA = new Set(arraysA.map((entry) => entry.name));
  for (const b of arraysB.values()) {
    if (namesA.has(b.name)) continue;
    diffs.push(isDamagedEntry(b) ? { name: b.name, kind: 'error', errors: [{ file: 'B', ...b.error }] } : { name: b.name, kind: 'only-b', entry: b });
  }

  const progress = context.progress('diff', pending.reduce((sum, [a]) => sum + a.byteLength, 0));
  try {
    for (const [a, b] of pending) {
      const before = progress.done;
      let values: ValueDiff;
      try {
        values = await compareValues(fileA, fileB, a, b, progress, context);
      } catch (caught) {
        const failure = caught instanceof SideFailure ? sideError(caught.file, caught.error) : undefined;
        if (failure === undefined) throw caught instanceof SideFailure ? caught.error : caught;
        diffs.push({ name: a.name, kind: 'error', errors: [failure] });
        progress.add(a.byteLength - (progress.done - before));
        continue;
      }
      const reordered = a.fortranOrder !== b.fortranOrder && !layoutsAgree(a.shape);
      diffs.push({
        name: a.name,
        kind: values.differing > 0 ? 'values' : 'equal',
        values,
        dtype: a.dtype,
        shape: a.shape,
        fortranOrder: a.fortranOrder,
        ...(reordered ? { order: { a: orderOf(a), b: orderOf(b) } } : {}),
      });
    }
  } finally {
    progress.finish();
  }
  return diffs;
}

function describeType(entry: TensorEntry): string {
  return entry.dtype === 'raw' ? JSON.stringify(entry.descr) : entry.dtype;
}

function orderOf(entry: TensorEntry): StorageOrder {
  return entry.fortranOrder ? 'F' : 'C';
}

function orderName(order: StorageOrder): string {
  return order === 'F' ? 'Fortran order' : 'C order';
}

/** "stored in C order in A and in Fortran order in B", for an array the two files lay out differently. */
function orderNote(order: { a: StorageOrder; b: StorageOrder }): string {
  return `stored in ${orderName(order.a)} in A and in ${orderName(order.b)} in B`;
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
      return `~ ${diff.name}: ${diff.kind} ${diff.a} -> ${diff.b}`;
    case 'error':
      return diff.errors.map((error) => `! ${diff.name}: cannot be read in ${error.file}: ${error.message} [${error.code}]`).join('\n');
    case 'equal':
      return `= ${diff.name}: equal values, ${orderNote(diff.order!)}`;
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
      if (diff.order !== undefined) parts.push(`compared by index, ${orderNote(diff.order)}`);
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
      return { name: diff.name, kind: diff.kind, a: diff.a, b: diff.b };
    case 'error':
      return { name: diff.name, kind: diff.kind, errors: diff.errors };
    default: {
      const { differing, items, maxAbs, maxRel, at } = diff.values;
      const location = at === undefined ? {} : { at: { index: indexOf(at.item, diff.shape, diff.fortranOrder), a: at.a, b: at.b } };
      return { name: diff.name, kind: diff.kind, differing, items, maxAbs, maxRel, ...location, ...(diff.order === undefined ? {} : { order: diff.order }) };
    }
  }
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [pathA, pathB, ...extra] = parsed.positionals;
  if (pathA === undefined || pathB === undefined || extra.length > 0) throw usageError('diff takes two files, A and B');
  // diff reads A and B side by side, tensor by tensor: both need random access, which standard input lacks.
  if (isStdin(pathA) || isStdin(pathB)) throw usageError('diff needs two files or URLs; standard input (-) cannot be read side by side');
  const diffs = await withNpz(pathA, context, (fileA) => withNpz(pathB, context, (fileB) => compareFiles(fileA, fileB, context)));
  const changed = diffs.filter((diff) => diff.kind !== 'equal' && diff.kind !== 'error');
  const failed = diffs.filter((diff) => diff.kind === 'error');
  if (context.json) {
    context.printJson({
      a: inputLabel(pathA),
      b: inputLabel(pathB),
      identical: changed.length === 0 && failed.length === 0,
      arrays: diffs.map(diffJson),
      failed: failed.length,
    });
  } else {
    for (const diff of diffs) if (diff.kind !== 'equal' || diff.order !== undefined) context.print(describeDiff(diff));
    const compared = diffs.filter((diff) => diff.kind === 'equal' || diff.kind === 'values').length;
    const unread = failed.length === 0 ? '' : `; ${failed.length} array${failed.length === 1 ? '' : 's'} could not be read`;
    const summary =
      changed.length === 0 && failed.length === 0
        ? `identical: ${compared} array${compared === 1 ? '' : 's'} with equal names, dtypes, shapes and values`
        : changed.length === 0
          ? `no differences in what could be read: ${compared} array${compared === 1 ? '' : 's'} compared value by value${unread}`
          : `${changed.length} difference${changed.length === 1 ? '' : 's'}; ${compared} array${compared === 1 ? '' : 's'} compared value by value${unread}`;
    context.print(summary);
  }
  return changed.length === 0 && failed.length === 0 ? EXIT_OK : EXIT_BAD_DATA;
}

export const diffCommand: Command = {
  name: 'diff',
  synopsis: 'diff A B',
  summary: 'arrays only in one file, dtype/shape changes, max abs/rel value differences',
  details:
    'Exit code 1 when the files differ. Values are compared in step with both files open, in bounded memory;\n' +
    'NaN equals NaN; the relative difference is |b - a| / |a| (A is the reference). Values are compared by\n' +
    'index, so an array stored in C order in one file and in Fortran order in the other is equal when its values\n' +
    'are (a line notes the order). An array that cannot be read (damaged, a CRC-32 mismatch) is reported with the\n' +
    'file it failed in, the others are still compared, and the exit code is 1.',
  options: {},
  run,
};
