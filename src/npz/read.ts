import { NpzError } from '../errors.js';
import { unflattenWithNames } from '../tree/flatten.js';
import type { NpyArray } from '../npy/array.js';
import { isByteStream, type ByteStream } from '../source/byte-stream.js';
import type { NpzSource } from '../source/random-access.js';
import { resolveSource } from '../source/resolve.js';
import { throwIfAborted } from '../util/abort.js';
import { ZipArchive } from '../zip/archive.js';
import { readArray } from './arrays.js';
import { indexByKey, isArrayMember, keyOfMember } from './keys.js';
import type { OpenNpzOptions } from './open.js';
import { readNpzStream } from './stream.js';

export type ReadNpzOptions = OpenNpzOptions;

export interface LoadNpzOptions extends ReadNpzOptions {
  /**
   * Unwrap the checkpoint the way big_vision's `load_params` does: the `params` subtree if there is one, else
   * `opt/target` if there is an `opt`, else the whole tree.
   */
  unwrapParams?: boolean;
}

/**
 * Every array of an npz, one at a time, in central directory order: `[key, array]` with the key's `.npy`
 * removed. Members that are not `.npy` are skipped. Each array is read into its own buffer and verified before
 * it is yielded; the file is closed when the loop ends, throws, or is left early.
 *
 * A stream (Node Readable, web ReadableStream, any AsyncIterable<Uint8Array>) is read front to back instead, in
 * stream order (see streamNpz): the central directory is checked at its end, after the arrays before it.
 */
export async function* readNpz(input: NpzSource | ByteStream, options: ReadNpzOptions = {}): AsyncGenerator<[string, NpyArray], void, undefined> {
  if (isByteStream(input)) {
    yield* readNpzStream(input, options);
    return;
  }
  const { source, owned } = await resolveSource(input, options);
  try {
    const archive = await ZipArchive.open(source);
    const { kept } = indexByKey(archive.entries, options.duplicates ?? 'error');
    for (const entry of kept) {
      throwIfAborted(options.signal, 'reading');
      // A non-array member is skipped, but only once its local header agrees with the central directory, so a
      // damaged name cannot make an array disappear from the output silently.
      if (!isArrayMember(entry)) await archive.dataStart(entry);
      else yield [keyOfMember(entry.name), await readArray(archive, entry, options)];
    }
  } finally {
    if (owned) await source.close();
  }
}

/** Nested arrays as loadNpz returns them: plain objects keyed by name segment, arrays at the leaves. */
export interface NpzTree {
  [key: string]: NpzTree | NpyArray;
}

function isSubtree(value: NpzTree | NpyArray | undefined): value is NpzTree {
  // Leaves are the reader's own NpyArray objects, which always carry a typed array in `data`.
  return value !== undefined && !ArrayBuffer.isView((value as Partial<NpyArray>).data);
}

/**
 * big_vision `load_params`: the `params` subtree if present, else `opt/target` when there is an `opt`, else the
 * whole tree. A leaf called `params` is not a checkpoint wrapper, so it is left alone.
 */
function unwrapCheckpoint(tree: NpzTree): NpzTree {
  const params = tree['params'];
  if (isSubtree(params)) return params;
  const opt = tree['opt'];
  if (isSubtree(opt)) {
    const target = opt['target'];
    if (!isSubtree(target)) {
      throw new NpzError('ERR_NPZ_NOT_FOUND', `checkpoint has "opt" but no "opt/target" subtree to unwrap`, { entry: 'opt/target' });
    }
    return target;
  }
  return tree;
}

/**
 * The whole npz as a nested tree of arrays, rebuilt with big_vision's `recover_tree` semantics (names split on
 * '/'). Holds every array in memory; use `readNpz` or `openNpz` to stay within bounded memory.
 */
export async function loadNpz(input: NpzSource | ByteStream, options: LoadNpzOptions = {}): Promise<NpzTree> {
  const pairs: Array<[string, NpyArray]> = [];
  for await (const pair of readNpz(input, options)) pairs.push(pair);
  const tree = unflattenWithNames(pairs) as NpzTree;
  return options.unwrapParams === true ? unwrapCheckpoint(tree) : tree;
}
