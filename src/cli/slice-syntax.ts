import { NpzError, formatSlice, isNpzError, sliceShape, type ArrayFile, type Slice, type SliceBound, type SliceItem } from '../index.js';
import type { ArrayReader, TensorEntry } from './npz-input.js';
import { selectArrays } from './npz-input.js';

/**
 * Array names with numpy's basic-indexing syntax on the command line: `NAME[0:2, :, 5]`, `NAME[-1]`,
 * `NAME[..., ::2]`. Each item is an integer, `start:stop[:step]` (any part omitted), or `...` (as many whole axes
 * as the array has left). A name that is itself an array's name is never read as a slice.
 */

/** One parsed item: a slice item, or numpy's Ellipsis. */
type ParsedItem = SliceItem | 'ellipsis';

export interface ParsedSelector {
  /** The array's name. */
  name: string;
  /** The items as written (`...` not yet expanded); undefined for a bare name. */
  items: ParsedItem[] | undefined;
}

function syntaxError(text: string, why: string): NpzError {
  return new NpzError('ERR_INVALID_ARGUMENT', `${JSON.stringify(text)}: ${why}; write NAME[i, start:stop:step, ...] as numpy indexes`);
}

const INTEGER = /^[+-]?\d+$/;

function bound(text: string, whole: string, what: string): SliceBound {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (!INTEGER.test(trimmed)) throw syntaxError(whole, `${what} ${JSON.stringify(trimmed)} is not an integer`);
  return Number(trimmed);
}

function parseItem(text: string, whole: string): ParsedItem {
  const item = text.trim();
  if (item === '...') return 'ellipsis';
  if (item === '') throw syntaxError(whole, 'an index is empty');
  const parts = item.split(':');
  if (parts.length === 1) return bound(item, whole, 'index') as number;
  if (parts.length > 3) throw syntaxError(whole, `${JSON.stringify(item)} has more than two ':'`);
  const [start = '', stop = '', step] = parts;
  const range: [SliceBound, SliceBound, SliceBound] = [bound(start, whole, 'start'), bound(stop, whole, 'stop'), step === undefined ? null : bound(step, whole, 'step')];
  return range[2] === null && range[0] === null && range[1] === null ? null : range;
}

/** Splits `NAME[...]` into the name and its items; a text without a trailing `[...]` is a bare name. */
export function parseSelector(text: string): ParsedSelector {
  const open = text.indexOf('[');
  if (!text.endsWith(']') || open <= 0) return { name: text, items: undefined };
  const name = text.slice(0, open);
  const inner = text.slice(open + 1, -1);
  if (inner.includes('[') || inner.includes(']')) throw syntaxError(text, 'brackets inside the index');
  // A trailing comma makes a tuple in Python (a[1,] is a[1]); it adds no item.
  const pieces = inner.split(',');
  if (pieces.length > 1 && (pieces.at(-1) as string).trim() === '') pieces.pop();
  const items = pieces.map((piece) => parseItem(piece, text));
  if (items.filter((item) => item === 'ellipsis').length > 1) throw syntaxError(text, "an index can only have a single ellipsis ('...')");
  return { name, items };
}

/** The items for an array of `ndim` axes: `...` becomes the whole axes the other items leave. */
export function expandItems(items: readonly ParsedItem[], ndim: number): Slice {
  const at = items.indexOf('ellipsis');
  if (at < 0) return items as SliceItem[];
  const rest = items.length - 1;
  const fill = Math.max(0, ndim - rest);
  return [...(items.slice(0, at) as SliceItem[]), ...Array.from({ length: fill }, () => null), ...(items.slice(at + 1) as SliceItem[])];
}

export interface SelectedArray {
  /** The array, or for a slice an entry describing the slice: its shape, C order, its byte length. */
  entry: TensorEntry;
  /** Reads the array, or just the slice (the name passed in is ignored). */
  file: ArrayReader;
  /** The array's own name (`entry.name` is the selector as typed for a slice, e.g. `w[0:2, :, 5]`). */
  arrayName: string;
  /** The slice, or undefined for the whole array. */
  slice: Slice | undefined;
}

/**
 * The arrays named, as `selectArrays` picks them, with `NAME[...]` read as a slice of NAME: its entry describes the
 * slice (shape, C order, bytes) and its reader reads only the slice.
 */
export function selectArraySlices(file: ArrayFile, names: readonly string[]): SelectedArray[] {
  if (names.length === 0) return selectArrays(file, names).map((entry) => ({ entry, file, arrayName: entry.name, slice: undefined }));
  return names.map((text) => {
    const parsed = file.has(text) ? { name: text, items: undefined } : parseSelector(text);
    const [entry] = selectArrays(file, [parsed.name]) as [TensorEntry];
    if (parsed.items === undefined) return { entry, file, arrayName: entry.name, slice: undefined };
    const slice = expandItems(parsed.items, entry.shape.length);
    const shape = resultShape(entry.shape, slice, text);
    const elements = shape.reduce((product, dim) => product * dim, 1);
    const count = entry.shape.reduce((product, dim) => product * dim, 1);
    const itemsize = count > 0 ? entry.byteLength / count : 0;
    const label = `${entry.name}${formatSlice(slice)}`;
    const sliced = { ...entry, name: label, shape, fortranOrder: false, byteLength: elements * itemsize } as TensorEntry;
    delete (sliced as { dataOffset?: number }).dataOffset;
    const reader: ArrayReader = {
      get: (_name, options = {}) => file.get(entry.name, { ...options, slice }),
      chunks: (_name, options = {}) => file.chunks(entry.name, { ...options, slice }),
    };
    return { entry: sliced, file: reader, arrayName: entry.name, slice };
  });
}

/** The slice's shape, the library's error for a slice that does not fit the array prefixed with the text typed. */
function resultShape(shape: readonly number[], slice: Slice, text: string): number[] {
  try {
    return sliceShape(shape, slice);
  } catch (error) {
    if (!isNpzError(error)) throw error;
    throw new NpzError(error.code, `${JSON.stringify(text)}: ${error.message}`, { cause: error });
  }
}
