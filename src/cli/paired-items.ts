/**
 * The items of one array in two files, side by side, for `diff` and the viewer's comparison: in lockstep when the
 * files store the array in the same order, else B's items rearranged into A's order. A read failure carries the
 * file it came from. No Node imports: the static viewer's worker bundles this module.
 */
import type { ArrayFile } from '../index.js';
import { itemChunks, pairedChunks } from './elements.js';
import type { TensorEntry } from './entries.js';

export type Side = 'A' | 'B';

/** An error thrown while one file was read, tagged with that file. */
export class SideFailure extends Error {
  constructor(
    readonly file: Side,
    readonly error: unknown,
  ) {
    super('side failure');
  }
}

/** Chunks whose failures say which file they came from. */
export async function* tagged(chunks: AsyncIterable<Uint8Array>, file: Side): AsyncGenerator<Uint8Array> {
  try {
    yield* chunks;
  } catch (error) {
    throw new SideFailure(file, error);
  }
}

/** True when C and Fortran order lay the shape out alike: at most one axis longer than 1. */
export function layoutsAgree(shape: readonly number[]): boolean {
  return shape.filter((dim) => dim > 1).length <= 1;
}

/** Items per block when one file's items are rearranged into the other's order (two blocks are held). */
const REORDER_BLOCK_BYTES = 32 << 20;

/**
 * B's items in A's storage order, beside A's own, for arrays the two files store in different orders. A is read
 * once; B once per block of A (one block covers arrays up to 32 MiB), each of B's items placed where A's order
 * puts it: memory stays at two blocks whatever the array's size.
 */
export async function* reorderedPairs(
  fileA: Pick<ArrayFile, 'chunks'>,
  fileB: Pick<ArrayFile, 'chunks'>,
  a: Pick<TensorEntry, 'name' | 'shape' | 'fortranOrder'>,
  itemsize: number,
  signal: AbortSignal,
  blockBytes = REORDER_BLOCK_BYTES,
): AsyncGenerator<[Uint8Array, Uint8Array]> {
  const { shape } = a;
  const items = shape.reduce((p, d) => p * d, 1);
  const blockItems = Math.max(1, Math.floor(blockBytes / itemsize));
  // Strides of A's storage order, and B's axes from fastest to slowest.
  const strideA = shape.map((_, axis) =>
    a.fortranOrder ? shape.slice(0, axis).reduce((p, d) => p * d, 1) : shape.slice(axis + 1).reduce((p, d) => p * d, 1),
  );
  const axesB = shape.map((_, axis) => axis);
  if (a.fortranOrder) axesB.reverse(); // B is in C order: its last axis is fastest.
  const streamA = itemChunks(tagged(fileA.chunks(a.name, { signal }), 'A'), itemsize, a.name)[Symbol.asyncIterator]();
  let carry = new Uint8Array(0);
  try {
    for (let first = 0; first < items; first += blockItems) {
      const count = Math.min(blockItems, items - first);
      const blockA = new Uint8Array(count * itemsize);
      let filled = Math.min(carry.length, blockA.length);
      blockA.set(carry.subarray(0, filled));
      carry = carry.subarray(filled);
      while (filled < blockA.length) {
        const next = await streamA.next();
        if (next.done) throw new SideFailure('A', new Error(`the data of ${JSON.stringify(a.name)} ended early`));
        const take = Math.min(next.value.length, blockA.length - filled);
        blockA.set(next.value.subarray(0, take), filled);
        filled += take;
        carry = new Uint8Array(next.value.subarray(take)); // a copy: the chunk may be a recycled buffer, or a Node Buffer whose slice() is a view
      }
      const blockB = new Uint8Array(count * itemsize);
      // One pass over B: each item's index in A's order follows from counters over B's axes.
      const counter = new Array<number>(shape.length).fill(0);
      let target = 0;
      for await (const chunk of itemChunks(tagged(fileB.chunks(a.name, { signal }), 'B'), itemsize, a.name)) {
        for (let at = 0; at < chunk.length; at += itemsize) {
          if (target >= first && target < first + count) blockB.set(chunk.subarray(at, at + itemsize), (target - first) * itemsize);
          for (const axis of axesB) {
            target += strideA[axis]!;
            if (++counter[axis]! < shape[axis]!) break;
            target -= strideA[axis]! * shape[axis]!;
            counter[axis] = 0;
          }
        }
      }
      yield [blockA, blockB];
    }
  } finally {
    await streamA.return?.(undefined);
  }
}

/**
 * A's and B's items of the array `a` (B's entry `b` has the same shape and dtype) as pairs of equal-length pieces
 * in A's storage order. `reuseBuffers` lets lockstep reads use recycled buffers (each piece is used up before its
 * side reads on).
 */
export function itemPairs(
  fileA: Pick<ArrayFile, 'chunks'>,
  fileB: Pick<ArrayFile, 'chunks'>,
  a: Pick<TensorEntry, 'name' | 'shape' | 'fortranOrder'>,
  b: Pick<TensorEntry, 'fortranOrder'>,
  itemsize: number,
  signal: AbortSignal,
  reuseBuffers = false,
): AsyncIterable<[Uint8Array, Uint8Array]> {
  if (a.fortranOrder !== b.fortranOrder && !layoutsAgree(a.shape)) return reorderedPairs(fileA, fileB, a, itemsize, signal);
  const options = reuseBuffers ? { signal, reuseBuffers } : { signal };
  return pairedChunks(
    itemChunks(tagged(fileA.chunks(a.name, options), 'A'), itemsize, a.name),
    itemChunks(tagged(fileB.chunks(a.name, options), 'B'), itemsize, a.name),
    a.name,
  );
}
