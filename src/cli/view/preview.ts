import { NpzError, type ArrayFile, type DType } from '../../index.js';
import { elementAt } from '../print/element.js';
import { copyOf } from '../elements.js';
import { entryItemsize, type TensorEntry } from '../entries.js';
import { arrayText, isSummarised, shownIndices, type Element } from '../print/array-print.js';

/**
 * The first and last values of a tensor as numpy prints it, reading only what is printed: numpy shows at most
 * the first and last three indices of each long axis, so the values shown are a few boxes of the array (one per
 * combination of "head" or "tail" along each axis), each read on its own.
 *
 * How boxes are read is a `BoxReader`, chosen by whoever has the file. Once `get(name, { slice })` exists, the
 * reader for any file is one line: `(entry, boxes, signal) => Promise.all(boxes.map((box) =>
 * file.get(entry.name, { slice: box.map(([start, stop]) => [start, stop]), signal }).then(bytesOfArray)))`.
 */

/** Per axis, a half-open range of indices `[start, stop)`. */
export type Box = readonly (readonly [start: number, stop: number])[];

/** For each box, its elements' little-endian bytes in C order of the box (as `get` would hand a slice out). */
export type BoxReader = (entry: TensorEntry, boxes: readonly Box[], signal: AbortSignal) => Promise<Uint8Array[]>;

/** Contiguous runs of sorted indices: [0, 1, 2, 9, 10, 11] → [[0, 3], [9, 12]]. */
function runsOf(indices: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const index of indices) {
    const last = runs.at(-1);
    if (last !== undefined && last[1] === index) last[1]++;
    else runs.push([index, index + 1]);
  }
  return runs;
}

function product(values: readonly number[]): number {
  return values.reduce((total, value) => total * value, 1);
}

/** The boxes that hold what numpy prints of an array of `shape`, and where each shown element sits in them. */
export interface PreviewPlan {
  boxes: Box[];
  /** For each shown element, in the printed grid's C order: its box and its index in that box's C order. */
  places: { box: number; index: number }[];
}

export function previewPlan(shape: readonly number[]): PreviewPlan {
  if (shape.some((dim) => dim === 0)) return { boxes: [], places: [] };
  const shown = shownIndices(shape);
  const runs = shown.map(runsOf);
  // Every combination of one run per axis is a box; the last axis varies fastest.
  const boxes: Box[] = [];
  const choice = runs.map(() => 0);
  for (;;) {
    boxes.push(choice.map((run, axis) => runs[axis]![run]!));
    let axis = choice.length - 1;
    while (axis >= 0 && ++choice[axis]! === runs[axis]!.length) choice[axis--] = 0;
    if (axis < 0) break;
  }
  // Where each shown index of an axis falls: which run, and how far into it.
  const where = shown.map((indices, axis) =>
    indices.map((index) => {
      const run = runs[axis]!.findIndex(([start, stop]) => index >= start && index < stop);
      return { run, offset: index - runs[axis]![run]![0] };
    }),
  );
  const runCounts = runs.map((axisRuns) => axisRuns.length);
  const places: PreviewPlan['places'] = [];
  const position = shown.map(() => 0);
  const total = product(shown.map((indices) => indices.length));
  for (let element = 0; element < total; element++) {
    let box = 0;
    let index = 0;
    for (let axis = 0; axis < shape.length; axis++) {
      const { run, offset } = where[axis]![position[axis]!]!;
      box = box * runCounts[axis]! + run;
      const [start, stop] = runs[axis]![run]!;
      index = index * (stop - start) + offset;
    }
    places.push({ box, index });
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++position[axis]! < shown[axis]!.length) break;
      position[axis] = 0;
    }
  }
  return { boxes, places };
}

/** The box's extent per axis. */
export function boxShape(box: Box): number[] {
  return box.map(([start, stop]) => stop - start);
}

/**
 * Where a box's elements are stored, as runs of consecutive elements of the array's data: the offset of the run's
 * first element (in elements from the start of the data), its length, and where its elements go in the box's C
 * order (the first one's index, then every `step`). C order runs along the last axis, Fortran order along the first.
 */
export function boxRuns(shape: readonly number[], fortranOrder: boolean, box: Box): { element: number; count: number; index: number; step: number }[] {
  if (shape.length === 0) return [{ element: 0, count: 1, index: 0, step: 1 }];
  const extents = boxShape(box);
  const storageStrides = shape.map((_, axis) => (fortranOrder ? product(shape.slice(0, axis)) : product(shape.slice(axis + 1))));
  const boxStrides = extents.map((_, axis) => product(extents.slice(axis + 1)));
  const along = fortranOrder ? 0 : shape.length - 1;
  const others = shape.map((_, axis) => axis).filter((axis) => axis !== along);
  const runs: { element: number; count: number; index: number; step: number }[] = [];
  const at = others.map(() => 0);
  const combinations = product(others.map((axis) => extents[axis]!));
  for (let combination = 0; combination < combinations; combination++) {
    let element = box[along]![0] * storageStrides[along]!;
    let index = 0;
    others.forEach((axis, k) => {
      element += (box[axis]![0] + at[k]!) * storageStrides[axis]!;
      index += at[k]! * boxStrides[axis]!;
    });
    runs.push({ element, count: extents[along]!, index, step: boxStrides[along]! });
    for (let k = others.length - 1; k >= 0; k--) {
      if (++at[k]! < extents[others[k]!]!) break;
      at[k] = 0;
    }
  }
  return runs;
}

/** Small chunks: the head of a tensor arrives after one small read, and a pass through it holds little memory. */
export const PREVIEW_CHUNK_BYTES = 256 * 1024;

/**
 * Boxes read by streaming the data once, in recycled buffers, keeping only the bytes of the boxes and stopping
 * after the last of them: for stored data that needs no file offsets, and for compressed members (whose bytes
 * must be inflated in order anyway). Memory stays at a chunk plus the boxes; time is a pass up to the last one.
 */
export function streamedBoxReader(file: Pick<ArrayFile, 'chunks'>): BoxReader {
  return async (entry, boxes, signal) => {
    const itemsize = entryItemsize(entry);
    const outputs = boxes.map((box) => new Uint8Array(product(boxShape(box)) * itemsize));
    // Every wanted element's position in the data, and where it goes, in data order.
    const wanted: { element: number; box: number; index: number }[] = [];
    boxes.forEach((box, boxIndex) => {
      for (const run of boxRuns(entry.shape, entry.fortranOrder, box)) {
        for (let k = 0; k < run.count; k++) wanted.push({ element: run.element + k, box: boxIndex, index: run.index + k * run.step });
      }
    });
    wanted.sort((a, b) => a.element - b.element);
    if (wanted.length === 0) return outputs;
    let next = 0;
    let base = 0;
    const chunkSize = Math.max(itemsize, PREVIEW_CHUNK_BYTES - (PREVIEW_CHUNK_BYTES % itemsize));
    let carry: Uint8Array = new Uint8Array(0);
    for await (const piece of file.chunks(entry.name, { signal, reuseBuffers: true, chunkSize })) {
      // Chunks need not end on an item boundary: an item cut in two is completed from the next chunk.
      let chunk = piece;
      if (carry.length > 0) {
        const joined = new Uint8Array(carry.length + piece.length);
        joined.set(carry);
        joined.set(piece, carry.length);
        chunk = joined;
      }
      const whole = chunk.length - (chunk.length % itemsize);
      const end = base + whole / itemsize;
      while (next < wanted.length && wanted[next]!.element < end) {
        const { element, box, index } = wanted[next++]!;
        const from = (element - base) * itemsize;
        outputs[box]!.set(chunk.subarray(from, from + itemsize), index * itemsize);
      }
      carry = copyOf(chunk.subarray(whole));
      base = end;
      if (next === wanted.length) break;
    }
    if (next < wanted.length) {
      throw new NpzError('ERR_NPY_SIZE_MISMATCH', `the data of ${JSON.stringify(entry.name)} ended before element ${wanted[next]!.element}`, { entry: entry.name });
    }
    return outputs;
  };
}

/** The first and last values as numpy prints the array (the `cat` command's text), reading only those. */
export async function tensorPreview(entry: TensorEntry, readBoxes: BoxReader, signal: AbortSignal): Promise<{ text: string; summarised: boolean }> {
  if (entry.dtype === 'raw') return { text: `(descr ${JSON.stringify(entry.descr)} is not printed as numbers)`, summarised: false };
  const dtype: DType = entry.dtype;
  const plan = previewPlan(entry.shape);
  const bytes = plan.boxes.length === 0 ? [] : await readBoxes(entry, plan.boxes, signal);
  const itemsize = entryItemsize(entry);
  const views = bytes.map((data) => new DataView(data.buffer, data.byteOffset, data.byteLength));
  const values: Element[] = plan.places.map(({ box, index }) => elementAt(dtype, views[box]!, index * itemsize));
  return { text: arrayText({ dtype, shape: entry.shape, values }), summarised: isSummarised(entry.shape) };
}
