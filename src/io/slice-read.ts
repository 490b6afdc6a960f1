/**
 * Reading a slice of an array whose data is stored as-is in a file (a stored npz member, a safetensors tensor)
 * through the read planner, or picked out of its data bytes as they stream past (a deflated npz member, which has
 * no random access). Format-neutral: the formats hand over where the data is and how it is laid out.
 *
 * Results are C order whatever the storage order: a Fortran-order box is read in storage order (the result's
 * Fortran order) and transposed. Big-endian data is converted as `get` converts it. Nothing here checks a CRC: a
 * partial read cannot (the CRC-32 of a zip member covers all of it).
 */
import { NpzError } from '../errors.js';
import type { NpyArray } from '../npy/array.js';
import { byteSwapInPlace, typedArrayFor, type ArrayDType } from '../npy/dtype.js';
import type { Descr } from '../npy/header.js';
import { copyRun, fortranToC, sliceRuns, storageLayout, type AxisPick, type SliceBox, type SliceRun } from '../npy/slice.js';
import { abortError } from './abort.js';
import { MAX_VIEW_BYTES } from './chunks.js';
import { DEFAULT_MAX_SPAN, type ReadPlanner } from './planner/index.js';

/** An array as a slice reader needs it. */
export interface SlicedArray {
  /** For messages. */
  name: string;
  dtype: ArrayDType;
  /** The descr of the result (little-endian where the data is converted). */
  descr: Descr;
  itemsize: number;
  /** Bytes swapped per unit to make the data little-endian; 1 for none. */
  swapUnit: number;
  fortranOrder: boolean;
}

export interface SliceReadOptions {
  signal?: AbortSignal | undefined;
  /** Refuse (ERR_NPY_TOO_LARGE) a result larger than this before allocating it. */
  maxArrayBytes?: number | undefined;
}

export interface StoredSliceOptions extends SliceReadOptions {
  /** File offset of the array's first data byte. */
  dataOffset: number;
  /** The error for a source that ended at `end`, before `expectedEnd`. */
  shortRead: (end: number, expectedEnd: number) => Error;
}

function throwIfAborted(signal: AbortSignal | undefined, array: SlicedArray): void {
  if (signal?.aborted === true) throw abortError(signal, `reading ${JSON.stringify(array.name)}`);
}

/** Fresh memory for a result of `byteLength` bytes, or ERR_NPY_TOO_LARGE. */
function allocate(array: SlicedArray, byteLength: number, maxArrayBytes: number | undefined): Uint8Array {
  const max = maxArrayBytes ?? Number.POSITIVE_INFINITY;
  if (byteLength > max) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `slice of ${JSON.stringify(array.name)}: ${byteLength} bytes exceed the maxArrayBytes limit of ${max}`, {
      entry: array.name,
      expected: max,
      actual: byteLength,
    });
  }
  try {
    return new Uint8Array(new ArrayBuffer(byteLength));
  } catch (cause) {
    throw new NpzError('ERR_NPY_TOO_LARGE', `slice of ${JSON.stringify(array.name)}: ${byteLength} bytes cannot be allocated here; use chunks()`, {
      entry: array.name,
      actual: byteLength,
      cause,
    });
  }
}

function swap(bytes: Uint8Array, unit: number): void {
  if (unit <= 1) return;
  for (let at = 0; at < bytes.length; at += MAX_VIEW_BYTES) byteSwapInPlace(bytes.subarray(at, Math.min(bytes.length, at + MAX_VIEW_BYTES)), unit);
}

/** The result as an NpyArray: `storage` holds the box in storage order; Fortran order is transposed to C. */
function finish(array: SlicedArray, shape: number[], storage: Uint8Array): NpyArray {
  const bytes = array.fortranOrder && shape.length > 1 ? fortranToC(storage, shape, array.itemsize) : storage;
  swap(bytes, array.swapUnit);
  return {
    dtype: array.dtype,
    descr: array.descr,
    shape,
    fortranOrder: false,
    data: typedArrayFor(array.dtype, bytes.buffer, bytes.byteOffset, bytes.length),
  };
}

/** Chunks hold whole items, so big-endian data converts chunk by chunk. */
function chunkBytesFor(array: SlicedArray, chunkSize: number): number {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { actual: chunkSize });
  }
  const item = Math.max(1, array.itemsize);
  return Math.max(item, chunkSize - (chunkSize % item));
}

// ---------------------------------------------------------------------------------------------------------------
// Stored data: byte runs through the read planner

/** Reads the box's runs into `storage` (the box in storage order), landing plain runs straight in place. */
async function readRunsInto(planner: ReadPlanner, array: SlicedArray, box: SliceBox, storage: Uint8Array, options: StoredSliceOptions): Promise<void> {
  const layout = storageLayout(box, array.itemsize, array.fortranOrder);
  if (layout.byteLength === 0) return;
  // Asked again for each read planned: a source measuring its link plans the rest of the slice with what it learnt.
  const gapBytes = (): number => planner.runGap('into');
  const runs = sliceRuns(layout, { dataOffset: options.dataOffset, gapBytes, maxSpan: DEFAULT_MAX_SPAN });
  const groups = planner.readRuns(runs, {
    gapBytes,
    maxSpan: DEFAULT_MAX_SPAN,
    landing: 'into',
    into: (run) => (run.count === 1 ? storage.subarray(run.at, run.at + run.size) : undefined),
    signal: options.signal,
  });
  for await (const group of groups) {
    const last = group.runs[group.runs.length - 1] as SliceRun;
    const end = last.offset + last.length;
    if (group.start + group.bytes.length < end) throw options.shortRead(group.start + group.bytes.length, end);
    if (!group.landed) for (const run of group.runs) copyRun(run, group.bytes, group.start, storage);
  }
}

/** A slice of stored data, read by byte runs. */
export async function readStoredSlice(planner: ReadPlanner, array: SlicedArray, box: SliceBox, options: StoredSliceOptions): Promise<NpyArray> {
  throwIfAborted(options.signal, array);
  const byteLength = box.size * array.itemsize;
  const storage = allocate(array, byteLength, options.maxArrayBytes);
  try {
    await readRunsInto(planner, array, box, storage, options);
  } catch (error) {
    throw abortedOr(error, options.signal, array);
  }
  throwIfAborted(options.signal, array);
  return finish(array, box.resultShape, storage);
}

/** A stop by the caller's signal is reported as ERR_ABORTED, whatever the read it stopped said. */
function abortedOr(error: unknown, signal: AbortSignal | undefined, array: SlicedArray): unknown {
  return signal?.aborted === true && !(error instanceof NpzError && error.code === 'ERR_ABORTED') ? abortError(signal, `reading ${JSON.stringify(array.name)}`) : error;
}

/** Accumulates the result's bytes, in order, into chunks of `chunkBytes` (the last one shorter). */
class ChunkWriter {
  readonly ready: Uint8Array[] = [];
  #buffer: Uint8Array | undefined;
  #filled = 0;
  #left: number;

  constructor(
    readonly chunkBytes: number,
    total: number,
    readonly swapUnit: number,
  ) {
    this.#left = total;
  }

  /** Appends `source[from, from + length)`. */
  put(source: Uint8Array, from: number, length: number): void {
    while (length > 0) {
      let buffer = this.#buffer;
      if (buffer === undefined) {
        buffer = new Uint8Array(Math.min(this.chunkBytes, this.#left));
        this.#buffer = buffer;
        this.#filled = 0;
      }
      const take = Math.min(length, buffer.length - this.#filled);
      if (take <= 16) for (let i = 0; i < take; i++) buffer[this.#filled + i] = source[from + i] as number;
      else buffer.set(source.subarray(from, from + take), this.#filled);
      this.#filled += take;
      from += take;
      length -= take;
      if (this.#filled === buffer.length) {
        swap(buffer, this.swapUnit);
        this.ready.push(buffer);
        this.#left -= buffer.length;
        this.#buffer = undefined;
      }
    }
  }

  /** Appends every piece of `run` from `bytes` (which start at file offset `start`). */
  putRun(run: SliceRun, bytes: Uint8Array, start: number): void {
    let from = run.offset - start;
    for (let p = 0; p < run.count; p++, from += run.stride) this.put(bytes, from, run.size);
  }
}

/**
 * The box of `box` where the result's leading axes are fixed: `fixed` holds indices of the result's first axes,
 * then `count` indices of the next one from `first`; later axes are whole. Used to cut a Fortran-order result into
 * C-order slabs.
 */
function subBox(box: SliceBox, fixed: readonly number[], first: number, count: number): SliceBox {
  let r = 0;
  const picks = box.picks.map((pick): AxisPick => {
    if (pick.dropped) return pick;
    const axis = r++;
    if (axis < fixed.length) return { start: pick.start + (fixed[axis] as number) * pick.step, step: 1, count: 1, dropped: true };
    if (axis === fixed.length) return { start: pick.start + first * pick.step, step: pick.step, count, dropped: false };
    return pick;
  });
  const resultShape = [count, ...box.resultShape.slice(fixed.length + 1)];
  const size = resultShape.reduce((product, dim) => product * dim, 1);
  return { shape: box.shape, picks, resultShape, size, whole: false };
}

/**
 * The C-order result cut into slabs of at most `chunkBytes` (at least one item): leading result axes fixed, a range
 * of the next one, later axes whole. Yields the sub-boxes in C order.
 */
function* slabs(box: SliceBox, itemsize: number, chunkBytes: number): Generator<SliceBox> {
  const shape = box.resultShape;
  if (box.size === 0) return;
  // The first axis j whose trailing block fits a chunk: slabs are ranges of axis j, axes before it fixed.
  let j = shape.length - 1;
  let block = itemsize;
  while (j > 0 && block * (shape[j] as number) <= chunkBytes) {
    block *= shape[j] as number;
    j--;
  }
  if (j < 0 || shape.length === 0) {
    yield box;
    return;
  }
  const perSlab = Math.max(1, Math.floor(chunkBytes / block));
  const fixedCounts = shape.slice(0, j);
  const fixed = fixedCounts.map(() => 0);
  for (;;) {
    for (let first = 0; first < (shape[j] as number); first += perSlab) yield subBox(box, fixed, first, Math.min(perSlab, (shape[j] as number) - first));
    let level = fixed.length - 1;
    for (; level >= 0; level--) {
      if (++(fixed[level] as number) < (fixedCounts[level] as number)) break;
      fixed[level] = 0;
    }
    if (level < 0) return;
  }
}

/** A slice of stored data as C-order chunks of at most `chunkSize` bytes (whole items), in bounded memory. */
export async function* storedSliceChunks(
  planner: ReadPlanner,
  array: SlicedArray,
  box: SliceBox,
  chunkSize: number,
  options: StoredSliceOptions,
): AsyncGenerator<Uint8Array> {
  const chunkBytes = chunkBytesFor(array, chunkSize);
  throwIfAborted(options.signal, array);
  try {
    if (array.fortranOrder && box.resultShape.length > 1) {
      // The result's C order runs across the storage: each slab is a box of its own, read and transposed.
      for (const slab of slabs(box, array.itemsize, chunkBytes)) {
        const storage = new Uint8Array(slab.size * array.itemsize);
        await readRunsInto(planner, array, slab, storage, options);
        const bytes = fortranToC(storage, slab.resultShape, array.itemsize);
        swap(bytes, array.swapUnit);
        yield bytes;
        throwIfAborted(options.signal, array);
      }
      return;
    }
    const layout = storageLayout(box, array.itemsize, array.fortranOrder);
    if (layout.byteLength === 0) return;
    if (layout.loops.length === 0) {
      // One run: the planner's ordered pieces, as a whole array streams.
      const pieces = planner.pieces(options.dataOffset + layout.base, layout.byteLength, { pieceBytes: chunkBytes, shortRead: options.shortRead });
      for await (const piece of pieces) {
        throwIfAborted(options.signal, array);
        // Swapped on a private copy: pieces of an in-memory source are views of the caller's bytes.
        if (array.swapUnit > 1) {
          const copy = piece.slice();
          swap(copy, array.swapUnit);
          yield copy;
        } else yield piece;
      }
      return;
    }
    const gapBytes = (): number => planner.runGap('fresh');
    const maxSpan = Math.min(DEFAULT_MAX_SPAN, Math.max(chunkBytes, 64 * 1024));
    const writer = new ChunkWriter(chunkBytes, layout.byteLength, array.swapUnit);
    const runs = sliceRuns(layout, { dataOffset: options.dataOffset, gapBytes, maxSpan });
    for await (const group of planner.readRuns(runs, { gapBytes, maxSpan, landing: 'fresh', signal: options.signal })) {
      const last = group.runs[group.runs.length - 1] as SliceRun;
      const end = last.offset + last.length;
      if (group.start + group.bytes.length < end) throw options.shortRead(group.start + group.bytes.length, end);
      for (const run of group.runs) writer.putRun(run, group.bytes, group.start);
      while (writer.ready.length > 0) yield writer.ready.shift() as Uint8Array;
    }
  } catch (error) {
    throw abortedOr(error, options.signal, array);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Streamed data: picked out as it passes

/** Where the picking stands: the run, the piece within it and the byte within the piece. */
class Picker {
  readonly #runs: Iterator<SliceRun>;
  #run: SliceRun | undefined;
  #piece = 0;
  #byte = 0;

  constructor(runs: Iterable<SliceRun>) {
    this.#runs = runs[Symbol.iterator]();
    this.#run = this.#next();
  }

  get done(): boolean {
    return this.#run === undefined;
  }

  #next(): SliceRun | undefined {
    const step = this.#runs.next();
    return step.done === true ? undefined : step.value;
  }

  /**
   * Takes what the box wants from `bytes` (the data from offset `position` on), in order, handing each part to
   * `take(bytes, from, length, at)` with `at` its offset in the box's storage order.
   */
  pick(bytes: Uint8Array, position: number, take: (source: Uint8Array, from: number, length: number, at: number) => void): void {
    const end = position + bytes.length;
    for (let run = this.#run; run !== undefined; ) {
      const pieceStart = run.offset + this.#piece * run.stride + this.#byte;
      if (pieceStart >= end) return;
      const length = Math.min(run.size - this.#byte, end - pieceStart);
      take(bytes, pieceStart - position, length, run.at + this.#piece * run.size + this.#byte);
      this.#byte += length;
      if (this.#byte === run.size) {
        this.#byte = 0;
        if (++this.#piece === run.count) {
          this.#piece = 0;
          run = this.#run = this.#next();
        }
      }
    }
  }
}

function streamedRuns(array: SlicedArray, box: SliceBox): Iterable<SliceRun> {
  // Every byte passes anyway: fold the innermost loop whole, whatever its gaps.
  return sliceRuns(storageLayout(box, array.itemsize, array.fortranOrder), {
    dataOffset: 0,
    gapBytes: Number.POSITIVE_INFINITY,
    maxSpan: Number.POSITIVE_INFINITY,
  });
}

/**
 * A slice of data that can only be read front to back (`data`: the array's data bytes in storage order). Stops
 * pulling once the box's last byte has passed (leaving the loop lets the producer stop), so it costs the data up
 * to there; memory is the result's.
 */
export async function readStreamedSlice(data: AsyncIterable<Uint8Array>, array: SlicedArray, box: SliceBox, options: SliceReadOptions): Promise<NpyArray> {
  throwIfAborted(options.signal, array);
  const storage = allocate(array, box.size * array.itemsize, options.maxArrayBytes);
  const picker = new Picker(streamedRuns(array, box));
  let position = 0;
  if (!picker.done) {
    for await (const bytes of data) {
      throwIfAborted(options.signal, array);
      picker.pick(bytes, position, (source, from, length, at) => {
        if (length <= 16) for (let i = 0; i < length; i++) storage[at + i] = source[from + i] as number;
        else storage.set(source.subarray(from, from + length), at);
      });
      position += bytes.length;
      if (picker.done) break;
    }
  }
  if (!picker.done) throw new NpzError('ERR_NPY_TRUNCATED', `the data of ${JSON.stringify(array.name)} ended at byte ${position}, before the slice's last byte`, { entry: array.name, actual: position });
  return finish(array, box.resultShape, storage);
}

/**
 * Streamed data as C-order chunks of the slice. A C-order box passes in result order, so chunks go out as they
 * fill (memory: one chunk); a Fortran-order one is gathered whole first (memory: the slice), since its C order
 * runs across the data.
 */
export async function* streamedSliceChunks(
  data: AsyncIterable<Uint8Array>,
  array: SlicedArray,
  box: SliceBox,
  chunkSize: number,
  options: SliceReadOptions,
): AsyncGenerator<Uint8Array> {
  const chunkBytes = chunkBytesFor(array, chunkSize);
  if (array.fortranOrder && box.resultShape.length > 1) {
    const whole = await readStreamedSlice(data, array, box, options);
    const bytes = new Uint8Array(whole.data.buffer, whole.data.byteOffset, whole.data.byteLength);
    for (let at = 0; at < bytes.length; at += chunkBytes) yield bytes.slice(at, Math.min(bytes.length, at + chunkBytes));
    return;
  }
  throwIfAborted(options.signal, array);
  const total = box.size * array.itemsize;
  if (total === 0) return;
  const writer = new ChunkWriter(chunkBytes, total, array.swapUnit);
  const picker = new Picker(streamedRuns(array, box));
  let position = 0;
  for await (const bytes of data) {
    throwIfAborted(options.signal, array);
    picker.pick(bytes, position, (source, from, length) => writer.put(source, from, length));
    position += bytes.length;
    while (writer.ready.length > 0) yield writer.ready.shift() as Uint8Array;
    if (picker.done) break;
  }
  if (!picker.done) throw new NpzError('ERR_NPY_TRUNCATED', `the data of ${JSON.stringify(array.name)} ended at byte ${position}, before the slice's last byte`, { entry: array.name, actual: position });
}
