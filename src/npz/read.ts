import { NpzError } from '../errors.js';
import { unflattenWithNames } from '../tree/flatten.js';
import type { NpyArray } from '../npy/array.js';
import { isByteStream, type ByteStream } from '../io/byte-stream.js';
import type { NpzSource } from '../io/random-access.js';
import type { Platform } from '../io/platform.js';
import { throwIfAborted } from '../io/abort.js';
import { ZipArchive, type ZipEntry } from '../zip/random/archive.js';
import { readArray } from './arrays.js';
import { indexByKey, isArrayMember, keyOfMember } from './keys.js';
import type { OpenNpzOptions } from './open.js';
import { readNpzStream } from './stream.js';

export interface ReadNpzOptions extends OpenNpzOptions {
  /**
   * Read the next array while the loop body works on the current one (at most one array ahead, started as soon
   * as the current one's last reads are issued), so reading overlaps the caller's work and a source with many
   * reads in flight stays busy between arrays. An array is read ahead only while it and the one the caller holds fit in the
   * largest array of the file plus 64 MiB, so peak memory stays what reading one array at a time needs; two
   * large arrays in a row are read one after the other. Default true.
   */
  readAhead?: boolean;
  /**
   * Read arrays into a few buffers reused from array to array instead of a fresh buffer each: an array's data
   * is then valid only until the next array is requested (copy what you keep). Fresh memory costs a page fault
   * per 4 KiB on first touch, which on VMs is most of the read time; reused memory is already resident. Memory
   * held: one buffer of the largest array so far (two with `readAhead`). Default false.
   */
  reuse?: boolean;
}

export interface LoadNpzOptions extends Omit<ReadNpzOptions, 'reuse'> {
  /**
   * Unwrap the checkpoint the way big_vision's `load_params` does: the `params` subtree if there is one, else
   * `opt/target` if there is an `opt`, else the whole tree.
   */
  unwrapParams?: boolean;
}

/**
 * Memory a read-ahead may add to what reading one array at a time holds (the largest array). Enough to read
 * every small and mid-sized array ahead (norms, biases, most kernels), never a second large one.
 */
const READ_AHEAD_SLACK_BYTES = 64 * 1024 * 1024;

/**
 * Buffers handed out in turn, each grown (replaced) only when an array needs more: with read-ahead, the array
 * being read and the one the caller holds use different buffers.
 */
class ReusedMemory {
  readonly #slots: ArrayBuffer[] = [];
  #turn = 0;

  constructor(readonly count: number) {}

  readonly take = (byteLength: number): ArrayBuffer => {
    const slot = this.#turn;
    this.#turn = (this.#turn + 1) % this.count;
    const held = this.#slots[slot];
    if (held !== undefined && held.byteLength >= byteLength) return held;
    const buffer = new ArrayBuffer(byteLength);
    this.#slots[slot] = buffer;
    return buffer;
  };
}

/** `readNpz` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function* readNpz(
  platform: Platform,
  input: NpzSource | ByteStream,
  options: ReadNpzOptions = {},
): AsyncGenerator<[string, NpyArray], void, undefined> {
  if (isByteStream(input)) {
    yield* readNpzStream(platform, input, options);
    return;
  }
  const { source, owned } = await platform.openSource(input, options);
  const readAhead = options.readAhead !== false;
  // Stops a read-ahead nobody will ask for; the caller's signal still stops everything.
  const stop = new AbortController();
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);
  const readOptions: ReadNpzOptions = { ...options, signal };
  const memory = options.reuse === true ? new ReusedMemory(readAhead ? 2 : 1) : undefined;
  let pending: { result: Promise<[string, NpyArray] | undefined>; requested: Promise<void> } | undefined;
  try {
    const archive = await ZipArchive.open(source, platform.codecs);
    const { kept } = indexByKey(archive.entries, options.duplicates ?? 'error');
    const budget = kept.reduce((largest, entry) => Math.max(largest, entry.uncompressedSize), 0) + READ_AHEAD_SLACK_BYTES;
    const load = async (entry: ZipEntry, onAllRequested: () => void): Promise<[string, NpyArray] | undefined> => {
      throwIfAborted(options.signal, 'reading');
      // A non-array member is skipped, but only once its local header agrees with the central directory, so a
      // damaged name cannot make an array disappear from the output silently.
      if (!isArrayMember(entry)) {
        await archive.dataStart(entry);
        return undefined;
      }
      return [keyOfMember(entry.name), await readArray(archive, entry, readOptions, memory?.take, onAllRequested)];
    };
    interface Loading {
      result: Promise<[string, NpyArray] | undefined>;
      /** Settles once every byte of the array has been requested (or it is read, or failed): the read-ahead's cue. */
      requested: Promise<void>;
    }
    const start = (entry: ZipEntry): Loading => {
      let cue = (): void => undefined;
      const requested = new Promise<void>((resolve) => (cue = resolve));
      const result = load(entry, cue);
      // Its error surfaces when the caller asks for this array; until then (or if it never does) it is handled.
      result.then(cue, cue);
      return { result, requested };
    };
    for (let index = 0; index < kept.length; index++) {
      const current = kept[index] as ZipEntry;
      const loading = pending ?? start(current);
      pending = undefined;
      const next = kept[index + 1];
      // The next array starts as soon as the last reads of this one are issued, not when they complete, so a source
      // with many reads in flight (HTTP connections) is never left idle between arrays; its reads queue behind
      // this array's, which still completes first.
      const readingAhead =
        readAhead && next !== undefined && current.uncompressedSize + next.uncompressedSize <= budget
          ? loading.requested.then(() => {
              if (!stop.signal.aborted) pending = start(next);
            })
          : undefined;
      const pair = await loading.result;
      await readingAhead;
      if (pair !== undefined) yield pair;
    }
  } finally {
    stop.abort();
    if (pending !== undefined) await pending.result.catch(() => undefined);
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

/** `loadNpz` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function loadNpz(platform: Platform, input: NpzSource | ByteStream, options: LoadNpzOptions = {}): Promise<NpzTree> {
  const pairs: Array<[string, NpyArray]> = [];
  // Every array is kept, so none may share memory with another.
  for await (const pair of readNpz(platform, input, { ...options, reuse: false })) pairs.push(pair);
  const tree = unflattenWithNames(pairs) as NpzTree;
  return options.unwrapParams === true ? unwrapCheckpoint(tree) : tree;
}
