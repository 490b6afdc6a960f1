/**
 * Slices of an array as numpy indexes them, and where their bytes lie in the array's storage. Pure: no I/O.
 *
 * A slice has one item per leading axis: an integer (one index, the axis is dropped), `[start, stop]` or
 * `[start, stop, step]` (Python's half-open range: `null` for an omitted bound, negative bounds count from the end,
 * bounds past the ends are clipped, step ≥ 1), or `null` (the whole axis). Axes past the list are whole.
 *
 * The selected elements form a box of the array. In storage (C order, or Fortran order: the axes reversed) a box is
 * a set of byte runs: the innermost axes the box covers whole, plus a range of the next one, are one contiguous
 * run; every other axis is a loop over runs at a fixed byte stride. `storageLayout` finds those loops,
 * `sliceRuns` enumerates the runs (lazily: a column of a large matrix is millions of them), folding runs of an
 * inner loop into one strided run where the gaps between them are worth reading through.
 */
import { NpzError } from '../errors.js';

/** A bound of a range item: an integer, or `null` for the omitted bound. */
export type SliceBound = number | null;

/** One item of a slice: an index, `[start, stop]`, `[start, stop, step]`, or `null` for the whole axis. */
export type SliceItem = number | null | readonly [SliceBound, SliceBound] | readonly [SliceBound, SliceBound, SliceBound];

/** One item per leading axis; axes past the list are whole (`[]` is the whole array). */
export type Slice = readonly SliceItem[];

/** The `index`-th of `count` equal parts along `axis` (negative axes count from the end). */
export interface ShardSpec {
  axis: number;
  index: number;
  count: number;
}

/** What a slice selects on one axis of the array. */
export interface AxisPick {
  /** First index selected (0 when nothing is). */
  start: number;
  /** Distance between selected indices, ≥ 1. */
  step: number;
  /** Indices selected. */
  count: number;
  /** True for an integer index: the axis is not in the result. */
  dropped: boolean;
}

/** A slice checked against a shape: the box it selects. */
export interface SliceBox {
  /** The shape of the array sliced. */
  readonly shape: readonly number[];
  /** One pick per axis of the array. */
  readonly picks: readonly AxisPick[];
  /** The result's shape: the picks' counts, dropped axes left out. */
  readonly resultShape: number[];
  /** Elements in the result. */
  readonly size: number;
  /** True when the result is the whole array, axis for axis (nothing dropped, every axis whole). */
  readonly whole: boolean;
}

function invalid(message: string, details: { expected?: unknown; actual?: unknown } = {}): NpzError {
  return new NpzError('ERR_INVALID_ARGUMENT', message, details);
}

function describeValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Python's clipping of one bound for a positive step. */
function clip(bound: number, size: number): number {
  if (bound < 0) return Math.max(0, bound + size);
  return Math.min(bound, size);
}

function pickOf(item: unknown, axis: number, size: number): AxisPick {
  if (item === null || item === undefined) return { start: 0, step: 1, count: size, dropped: false };
  if (typeof item === 'number') {
    if (!Number.isInteger(item)) throw invalid(`axis ${axis}: index ${describeValue(item)} is not an integer`, { actual: item });
    const index = item < 0 ? item + size : item;
    if (index < 0 || index >= size) {
      throw invalid(`axis ${axis}: index ${item} is out of range for size ${size}`, { expected: size, actual: item });
    }
    return { start: index, step: 1, count: 1, dropped: true };
  }
  if (Array.isArray(item) && (item.length === 2 || item.length === 3)) {
    const [start, stop, step] = item as unknown[];
    for (const [what, bound] of [
      ['start', start],
      ['stop', stop],
      ['step', step],
    ] as const) {
      if (bound !== null && bound !== undefined && (typeof bound !== 'number' || !Number.isInteger(bound))) {
        throw invalid(`axis ${axis}: ${what} ${describeValue(bound)} is not an integer or null`, { actual: bound });
      }
    }
    const stride = step === null || step === undefined ? 1 : (step as number);
    if (stride < 1) throw invalid(`axis ${axis}: step must be at least 1, got ${stride}`, { actual: stride });
    const first = start === null || start === undefined ? 0 : clip(start as number, size);
    const end = stop === null || stop === undefined ? size : clip(stop as number, size);
    const count = end > first ? Math.ceil((end - first) / stride) : 0;
    return { start: count > 0 ? first : 0, step: stride, count, dropped: false };
  }
  throw invalid(`axis ${axis}: ${describeValue(item)} is not an index, [start, stop], [start, stop, step] or null`, { actual: item });
}

/** Checks `slice` against `shape` (numpy's rules for basic indexing with steps ≥ 1) and returns the box it selects. */
export function normalizeSlice(shape: readonly number[], slice: Slice): SliceBox {
  if (!Array.isArray(slice)) throw invalid(`a slice is a list with one item per leading axis, got ${describeValue(slice)}`, { actual: slice });
  if (slice.length > shape.length) {
    throw invalid(`axis ${shape.length}: the slice has ${slice.length} items but the array has ${shape.length} ax${shape.length === 1 ? 'is' : 'es'}`, {
      expected: shape.length,
      actual: slice.length,
    });
  }
  const picks = shape.map((size, axis) => pickOf(slice[axis], axis, size));
  const resultShape = picks.filter((pick) => !pick.dropped).map((pick) => pick.count);
  const size = resultShape.reduce((product, dim) => product * dim, 1);
  const whole = picks.every((pick, axis) => !pick.dropped && pick.count === shape[axis] && (pick.step === 1 || pick.count <= 1));
  return { shape: [...shape], picks, resultShape, size, whole };
}

/** The shape numpy gives `a[slice]` for an array of `shape`, or the error `get` would give for the slice. */
export function sliceShape(shape: readonly number[], slice: Slice): number[] {
  return normalizeSlice(shape, slice).resultShape;
}

/** The slice of `shard`: the `index`-th of `count` equal parts along one axis (TGI's `get_sharded`). */
export function shardSlice(shape: readonly number[], shard: ShardSpec): Slice {
  if (typeof shard !== 'object' || shard === null) throw invalid(`a shard is { axis, index, count }, got ${describeValue(shard)}`, { actual: shard });
  const { axis, index, count } = shard;
  const ndim = shape.length;
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw invalid(`shard axis ${describeValue(axis)} is outside an array of ${ndim} ax${ndim === 1 ? 'is' : 'es'} (shape (${shape.join(', ')}))`, {
      expected: ndim,
      actual: axis,
    });
  }
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) {
    throw invalid(`shard count must be a positive integer, got ${describeValue(count)}`, { actual: count });
  }
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw invalid(`shard index ${describeValue(index)} is outside 0…${count - 1} for ${count} shards`, { expected: count, actual: index });
  }
  const at = axis < 0 ? axis + ndim : axis;
  const size = shape[at] as number;
  if (size % count !== 0) {
    throw invalid(`axis ${at} of size ${size} does not divide into ${count} equal shards (shape (${shape.join(', ')}))`, { expected: count, actual: size });
  }
  const part = size / count;
  const slice: SliceItem[] = shape.map(() => null);
  slice[at] = [index * part, (index + 1) * part];
  return slice;
}

/** numpy's spelling of a slice, for messages and labels: `[0:2, :, 5]`. */
export function formatSlice(slice: Slice): string {
  const items = slice.map((item) => {
    if (item === null || item === undefined) return ':';
    if (typeof item === 'number') return String(item);
    const [start, stop, step] = item;
    const bound = (value: SliceBound | undefined): string => (value === null || value === undefined ? '' : String(value));
    return step === null || step === undefined || step === 1 ? `${bound(start)}:${bound(stop)}` : `${bound(start)}:${bound(stop)}:${step}`;
  });
  return `[${items.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------------------------
// Storage

/** One loop over runs: `count` of them, `stride` bytes apart. */
export interface RunLoop {
  count: number;
  stride: number;
}

/** Where a box's bytes lie in the array's data: runs of `runBytes` at `base` plus the loops' offsets. */
export interface StorageLayout {
  /** Bytes from the start of the data to the box's first byte. */
  base: number;
  /** Contiguous bytes of each run. */
  runBytes: number;
  /** The loops over runs, outermost first (axes of one index are folded into `base`). Empty for one run. */
  loops: RunLoop[];
  /** Bytes of the box: the result's size. */
  byteLength: number;
}

/**
 * The runs of a box in storage order: the order the bytes lie in the data, which is the result's C order for a
 * C-order array and its Fortran order for a Fortran-order one.
 */
export function storageLayout(box: SliceBox, itemsize: number, fortranOrder: boolean): StorageLayout {
  const byteLength = box.size * itemsize;
  const { shape, picks } = box;
  // Storage axes, innermost last.
  const order = shape.map((_, axis) => axis);
  if (fortranOrder) order.reverse();
  if (byteLength === 0) return { base: 0, runBytes: 0, loops: [], byteLength: 0 };
  const strides = new Array<number>(shape.length);
  let stride = itemsize;
  for (let i = order.length - 1; i >= 0; i--) {
    const axis = order[i] as number;
    strides[axis] = stride;
    stride *= shape[axis] as number;
  }
  let base = 0;
  let runBytes = itemsize;
  let i = order.length - 1;
  // Innermost axes taken whole are one contiguous block.
  for (; i >= 0; i--) {
    const axis = order[i] as number;
    const pick = picks[axis] as AxisPick;
    if (pick.count !== shape[axis] || (pick.step !== 1 && pick.count > 1)) break;
    runBytes *= pick.count;
  }
  // The next axis extends the run when its indices are consecutive.
  if (i >= 0) {
    const axis = order[i] as number;
    const pick = picks[axis] as AxisPick;
    if (pick.step === 1 || pick.count === 1) {
      base += pick.start * (strides[axis] as number);
      runBytes *= pick.count;
      i--;
    }
  }
  const loops: RunLoop[] = [];
  for (let j = 0; j <= i; j++) {
    const axis = order[j] as number;
    const pick = picks[axis] as AxisPick;
    base += pick.start * (strides[axis] as number);
    if (pick.count > 1) loops.push({ count: pick.count, stride: pick.step * (strides[axis] as number) });
  }
  return { base, runBytes, loops, byteLength };
}

/**
 * A wanted run of the data: `count` pieces of `size` bytes, `stride` apart, from `offset` (a plain run is one
 * piece). `length` spans them all, gaps included. Their bytes are the result's bytes `[at, at + count × size)`.
 */
export interface SliceRun {
  readonly offset: number;
  readonly length: number;
  readonly at: number;
  readonly count: number;
  readonly stride: number;
  readonly size: number;
}

export interface SliceRunOptions {
  /** File offset of the array's first data byte. */
  dataOffset: number;
  /**
   * A gap up to this many bytes between the runs of the innermost loop is read through (they become one strided
   * run); a function is asked again at each step of the outer loops.
   */
  gapBytes: number | (() => number);
  /** A strided run spans at most this many bytes; a plain run longer than this is cut into runs of this length. */
  maxSpan: number;
}

/** How many runs `sliceRuns` yields for `layout` (for estimates; the runs themselves are made lazily). */
export function runCount(layout: StorageLayout): number {
  return layout.byteLength === 0 ? 0 : layout.loops.reduce((product, loop) => product * loop.count, 1);
}

/**
 * The runs of `layout`, in storage order (sorted by offset, as the read planner wants them), made one at a time.
 * The innermost loop folds into strided runs when its gaps are at most `gapBytes` (each spanning at most `maxSpan`).
 */
export function* sliceRuns(layout: StorageLayout, options: SliceRunOptions): Generator<SliceRun> {
  if (layout.byteLength === 0) return;
  const { runBytes, loops } = layout;
  const maxSpan = Math.max(1, options.maxSpan);
  const { gapBytes } = options;
  const gapOf = typeof gapBytes === 'function' ? gapBytes : () => gapBytes;
  const inner = loops.at(-1);
  // The innermost loop is stepped here (folded into strided runs, or run by run); the outer ones by the odometer.
  const outer = loops.slice(0, -1);
  const counters = outer.map(() => 0);
  let at = 0;
  let offset = options.dataOffset + layout.base;
  for (;;) {
    if (inner === undefined) {
      for (let from = 0; from < runBytes; from += maxSpan) {
        const size = Math.min(maxSpan, runBytes - from);
        yield { offset: offset + from, length: size, at, count: 1, stride: size, size };
        at += size;
      }
    } else {
      for (let first = 0; first < inner.count; ) {
        // Strided runs: blocks of the innermost loop that each span at most maxSpan, while its gaps are worth reading.
        let perRun = 1;
        if (inner.stride - runBytes <= gapOf() && runBytes + inner.stride <= maxSpan) {
          perRun = Math.min(inner.count - first, Math.floor((maxSpan - runBytes) / inner.stride) + 1);
        }
        const start = offset + first * inner.stride;
        if (perRun > 1) {
          yield { offset: start, length: (perRun - 1) * inner.stride + runBytes, at, count: perRun, stride: inner.stride, size: runBytes };
          at += perRun * runBytes;
        } else {
          for (let from = 0; from < runBytes; from += maxSpan) {
            const size = Math.min(maxSpan, runBytes - from);
            yield { offset: start + from, length: size, at, count: 1, stride: size, size };
            at += size;
          }
        }
        first += perRun;
      }
    }
    // Odometer over the outer loops, innermost fastest.
    let level = outer.length - 1;
    for (; level >= 0; level--) {
      const loop = outer[level] as RunLoop;
      if (++(counters[level] as number) < loop.count) {
        offset += loop.stride;
        break;
      }
      offset -= (loop.count - 1) * loop.stride;
      counters[level] = 0;
    }
    if (level < 0) return;
  }
}

/**
 * Copies the pieces of `run` from `bytes` (which hold the data from file offset `start` on) to `out` at the run's
 * `at` minus `outStart`.
 */
export function copyRun(run: SliceRun, bytes: Uint8Array, start: number, out: Uint8Array, outStart = 0): void {
  let from = run.offset - start;
  let to = run.at - outStart;
  const { size, stride, count } = run;
  if (size > 16) {
    for (let p = 0; p < count; p++, from += stride, to += size) out.set(bytes.subarray(from, from + size), to);
    return;
  }
  // Small pieces (one element of a column): a byte loop beats a view per piece.
  for (let p = 0; p < count; p++, from += stride) {
    for (let b = 0; b < size; b++) out[to++] = bytes[from + b] as number;
  }
}

/**
 * The result's bytes in C order from its bytes in Fortran order (`shape` is the result's shape). A Fortran-order
 * array's box is read in storage order, which is the result's Fortran order.
 */
export function fortranToC(source: Uint8Array, shape: readonly number[], itemsize: number): Uint8Array {
  const out = new Uint8Array(source.length);
  const ndim = shape.length;
  if (ndim <= 1 || source.length === 0) {
    out.set(source);
    return out;
  }
  // Element strides in the Fortran-ordered source, per axis.
  const fStrides = new Array<number>(ndim);
  let stride = 1;
  for (let axis = 0; axis < ndim; axis++) {
    fStrides[axis] = stride;
    stride *= shape[axis] as number;
  }
  const last = ndim - 1;
  const lastSize = shape[last] as number;
  const lastStride = fStrides[last] as number;
  const outer = source.length / itemsize / lastSize;
  const counters = new Array<number>(last).fill(0);
  // Copied in the widest words the item size and alignment allow: integers only, so every bit pattern survives.
  const word = [4, 2].find((size) => itemsize % size === 0 && source.byteOffset % size === 0 && out.byteOffset % size === 0) ?? 1;
  const words = itemsize / word;
  const wordsOf = (bytes: Uint8Array): Uint8Array | Uint16Array | Uint32Array =>
    word === 4 ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) : word === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2) : bytes;
  const src = wordsOf(source);
  const dst = wordsOf(out);
  const step = lastStride * words;
  let from = 0;
  let to = 0;
  for (let row = 0; row < outer; row++) {
    if (words === 1) {
      for (let k = 0, f = from; k < lastSize; k++, f += step) dst[to + k] = src[f] as number;
    } else {
      for (let k = 0, f = from, d = to * words; k < lastSize; k++, f += step) {
        for (let w = 0; w < words; w++) dst[d++] = src[f + w] as number;
      }
    }
    to += lastSize;
    // Odometer over axes 0…last-1 in C order (the last of them fastest).
    for (let axis = last - 1; axis >= 0; axis--) {
      if (++(counters[axis] as number) < (shape[axis] as number)) {
        from += (fStrides[axis] as number) * words;
        break;
      }
      from -= ((shape[axis] as number) - 1) * (fStrides[axis] as number) * words;
      counters[axis] = 0;
    }
  }
  return out;
}
