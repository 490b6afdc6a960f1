/**
 * Writing safetensors files. The header names every tensor's dtype, shape and offsets, so every leaf's
 * descriptor is gathered first (lazy leaves stay unread), then the data is streamed in the writer's order.
 */
import { NpzError, isNpzError } from '../errors.js';
import { abortError, raceAbort } from '../io/abort.js';
import { checkedSource, slices } from '../io/chunks.js';
import type { Platform } from '../io/platform.js';
import { progressReporter, type SaveProgress } from '../io/progress.js';
import { BatchedOutput } from '../io/output.js';
import { saveFailure, saveFile } from '../io/save-file.js';
import { byteSwapInPlace, parseDescrString } from '../npy/dtype.js';
import { normalizeLeaf, type Leaf, type NormalizedLeaf } from '../npy/write.js';
import { flattenWithNames, type FlatTree, type Tree } from '../tree/flatten.js';
import type { ZipSink } from '../io/sink.js';
import type { RemoteOptions } from '../objectstore/options.js';
import { isFloat8Name, rawSafetensorsDType, safetensorsDTypeFor, type SafetensorsDTypeInfo } from './dtypes.js';
import { layoutSafetensors, type PlacedTensor, type TensorDescriptor } from './header.js';

export interface SaveSafetensorsOptions {
  /** The `__metadata__` map (strings to strings), written first in the header, in this object's key order. */
  metadata?: Readonly<Record<string, string>>;
  /** Stops the write (ERR_ABORTED); the file is then left as it was. */
  signal?: AbortSignal;
  onProgress?: (progress: SaveProgress) => void;
  /** Prepended to every tensor name. */
  prefix?: string;
  /** Permissions of the new file (default 0o666, minus the umask, as numpy's `open` gives). */
  mode?: number;
  /** fsync the file and its directory so the rename survives a crash (default true). */
  fsync?: boolean;
  /** For an `s3://` or `gs://` URL: credentials, endpoint, part size, parts in flight. */
  remote?: RemoteOptions;
  /**
   * The float8 kind of raw one-byte leaves, which say nothing of it themselves: numpy with ml_dtypes saves
   * float8_e4m3fn, float8_e8m0fnu and the other one-byte kinds with descr '<V1' (and '|V1' once numpy has
   * normalised it). A safetensors name for every such leaf (`'F8_E4M3'`), or a function of the tensor's name and
   * descr giving one (undefined refuses that leaf). A leaf's own `safetensorsDType` comes first. Without either,
   * such a leaf is refused (ERR_SAFETENSORS_UNSUPPORTED): guessing the kind would silently change every value.
   * Descr '<f1' is what ml_dtypes writes for float8_e5m2 alone, so it is F8_E5M2 unless named otherwise.
   */
  rawDType?: SafetensorsFloat8DType | ((name: string, descr: string) => SafetensorsFloat8DType | undefined);
}

/** The safetensors float8 kinds a raw one-byte leaf can be written as. */
export type SafetensorsFloat8DType = 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ';

/** Every `SafetensorsFloat8DType`. */
export const FLOAT8_KINDS: readonly SafetensorsFloat8DType[] = ['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ'];

export interface SaveSafetensorsSummary {
  tensors: number;
  bytesWritten: number;
  /** Tensor names in the order their data sits in the file. */
  names: string[];
}

/** A leaf checked for safetensors: its header entry and where its little-endian bytes come from. */
export interface PendingTensor extends TensorDescriptor {
  leaf: NormalizedLeaf;
  /** Byte-swap unit when the leaf is big-endian; 1 otherwise. */
  swapUnit: number;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** String.prototype.isWellFormed, which TypeScript's ES2022 library does not declare. */
function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

function unsupported(name: string, why: string, actual?: unknown): NpzError {
  return new NpzError('ERR_SAFETENSORS_UNSUPPORTED', `tensor ${JSON.stringify(name)} cannot be written to safetensors: ${why}`, {
    entry: name,
    actual,
  });
}

/** One-byte raw descrs that hold float8 data: void bytes, and ml_dtypes' '<f1' for float8_e5m2. */
const FLOAT8_DESCR = /^[|<>=]?(V1|f1)$/;

/**
 * The safetensors dtype of a leaf; a raw leaf (float8, F4, F6_*) says which kind it is with its declared
 * `safetensorsDType` (as read), else, for a one-byte (float8) leaf, the `rawDType` option names it.
 */
function dtypeOf(name: string, normalized: NormalizedLeaf, leaf: Leaf, rawDType: SaveSafetensorsOptions['rawDType']): SafetensorsDTypeInfo {
  const declared = typeof leaf === 'object' && leaf !== null && 'safetensorsDType' in leaf ? leaf.safetensorsDType : undefined;
  if (normalized.dtype === 'raw') {
    const descr = typeof normalized.descr === 'string' ? normalized.descr : undefined;
    const declaredRaw = rawSafetensorsDType(declared, normalized.descr);
    if (declaredRaw !== undefined) return declaredRaw;
    if (descr !== undefined && FLOAT8_DESCR.test(descr)) {
      const option = declared === undefined ? (typeof rawDType === 'function' ? rawDType(name, descr) : rawDType) : undefined;
      const named = declared ?? option ?? (/f1$/.test(descr) ? 'F8_E5M2' : undefined);
      if (isFloat8Name(named)) return rawSafetensorsDType(named, '|V1')!;
      if (named !== undefined) throw unsupported(name, `${JSON.stringify(named)} is not a safetensors float8 kind (${FLOAT8_KINDS.join(', ')})`, named);
      throw unsupported(
        name,
        `descr ${JSON.stringify(descr)} holds one-byte values of a kind it does not name (numpy with ml_dtypes saves float8 this way); name it with the leaf's safetensorsDType or the rawDType option`,
        descr,
      );
    }
    throw unsupported(name, `safetensors has no dtype for descr ${JSON.stringify(descr ?? 'a structured dtype')}`, normalized.descr);
  }
  const info = safetensorsDTypeFor(normalized.dtype);
  if (info === undefined) throw unsupported(name, `safetensors has no ${normalized.dtype} dtype`, normalized.dtype);
  return info;
}

function pendingTensor(name: string, leaf: Leaf, rawDType: SaveSafetensorsOptions['rawDType']): PendingTensor {
  let normalized: NormalizedLeaf;
  try {
    normalized = normalizeLeaf(name, leaf);
  } catch (err) {
    if (isNpzError(err)) throw err;
    throw new NpzError('ERR_TREE_LEAF', `leaf ${JSON.stringify(name)} cannot be written: ${String(err)}`, { entry: name, cause: err });
  }
  if (normalized.fortranOrder) throw unsupported(name, 'the data is in Fortran order and safetensors stores C order only');
  if (!isWellFormed(name)) throw unsupported(name, 'the name holds a lone UTF-16 surrogate, which JSON readers refuse');
  if (name === '__metadata__') throw unsupported(name, 'the name is reserved for the metadata map');
  const dtype = dtypeOf(name, normalized, leaf, rawDType);
  const { byteOrder, swapUnit } = parseDescrString(normalized.descr as string);
  return { name, dtype, shape: normalized.shape, byteLength: normalized.byteLength, leaf: normalized, swapUnit: byteOrder === '>' ? swapUnit : 1 };
}

/** Every leaf of `tree` checked (no data read), in the tree's order; `prefix` is prepended to each name. */
export async function pendingTensors(
  tree: Tree | FlatTree,
  prefix: string,
  signal: AbortSignal | undefined,
  rawDType?: SaveSafetensorsOptions['rawDType'],
): Promise<PendingTensor[]> {
  const pairs = flattenWithNames(tree);
  const out: PendingTensor[] = [];
  const seen = new Set<string>();
  for (;;) {
    let step: IteratorResult<[string, Leaf]>;
    try {
      step = await raceAbort(pairs.next(), signal);
    } catch (err) {
      if (isNpzError(err)) throw err;
      throw new NpzError('ERR_SOURCE', 'the tree iterable failed', { cause: err });
    }
    if (step.done) return out;
    const name = `${prefix}${step.value[0]}`;
    // Unique before the prefix means unique after it; this guards a caller-built flat tree all the same.
    if (seen.has(name)) throw new NpzError('ERR_TREE_DUPLICATE_NAME', `duplicate name ${JSON.stringify(name)}`, { entry: name });
    seen.add(name);
    out.push(pendingTensor(name, step.value[1], rawDType));
  }
}

export function checkMetadata(metadata: unknown): Readonly<Record<string, string>> | undefined {
  if (metadata === undefined) return undefined;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'metadata must be an object of strings');
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string' || !isWellFormed(value) || !isWellFormed(key)) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `metadata ${JSON.stringify(key)} must be a well-formed string`, { actual: typeof value });
    }
  }
  return metadata as Record<string, string>;
}

/**
 * Big-endian chunks to little-endian, whole items at a time (a chunk may end inside an item). Each chunk is
 * copied before the swap, so a caller's in-memory array is never modified.
 */
async function* swapped(chunks: AsyncIterable<Uint8Array>, unit: number): AsyncGenerator<Uint8Array> {
  let carry = new Uint8Array(0);
  for await (const chunk of chunks) {
    const joined = new Uint8Array(carry.byteLength + chunk.byteLength);
    joined.set(carry);
    joined.set(chunk, carry.byteLength);
    const whole = joined.byteLength - (joined.byteLength % unit);
    carry = joined.slice(whole);
    const out = joined.subarray(0, whole);
    byteSwapInPlace(out, unit);
    yield out;
  }
}

/**
 * The little-endian bytes of one tensor, the caller's memory never modified: a lazy leaf's chunks (checked against
 * its size), or a big-endian in-memory leaf's bytes swapped; undefined for a little-endian in-memory leaf, which
 * goes out as it is (`leaf.bytes`).
 */
function streamedBytes(tensor: PendingTensor, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> | undefined {
  const { leaf } = tensor;
  let source: AsyncIterable<Uint8Array>;
  if (leaf.bytes !== undefined) {
    if (tensor.swapUnit <= 1) return undefined;
    const view = leaf.bytes;
    source = (async function* () {
      yield* slices(view, 1 << 20);
    })();
  } else {
    let chunks: ReturnType<NonNullable<NormalizedLeaf['chunks']>>;
    try {
      chunks = leaf.chunks!();
    } catch (err) {
      throw new NpzError('ERR_SOURCE', `the chunks() of '${tensor.name}' threw`, { entry: tensor.name, cause: err });
    }
    source = checkedSource(chunks, tensor.name, tensor.byteLength, signal);
  }
  return tensor.swapUnit > 1 ? swapped(source, tensor.swapUnit) : source;
}

/** Writes one file's header and data through `sink`. */
export async function writeSafetensors(
  tensors: readonly PendingTensor[],
  sink: ZipSink,
  options: { metadata?: Readonly<Record<string, string>> | undefined; signal?: AbortSignal | undefined; onProgress?: ((progress: SaveProgress) => void) | undefined },
): Promise<SaveSafetensorsSummary> {
  const { signal, onProgress } = options;
  const layout = layoutSafetensors(tensors, options.metadata);
  const progress: SaveProgress = {
    entriesDone: 0,
    entriesTotal: layout.tensors.length,
    bytesDone: 0,
    bytesTotal: layout.header.byteLength + layout.dataLength,
  };
  const report = progressReporter(progress, onProgress);
  // Small chunks in vectored batches, everything in writes of at most 1 MiB, in-memory tensors as views or copies
  // (whichever the sink takes faster), as the npz writer does (src/io/output.ts).
  const out = new BatchedOutput(sink, {
    signal,
    onWrite: (written) => {
      progress.bytesDone = written;
      report();
    },
  });
  const check = (): void => {
    if (signal?.aborted) throw abortError(signal);
  };
  check();
  sink.expectLength?.(progress.bytesTotal as number);
  await out.put(layout.header);
  for (const placed of layout.tensors as (PlacedTensor & PendingTensor)[]) {
    progress.entry = placed.name;
    const streamed = streamedBytes(placed, signal);
    if (streamed === undefined) {
      const bytes = placed.leaf.bytes!;
      await out.putStable(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } else {
      // A producer may refill its buffer once the next chunk is pulled: its chunks are borrowed. Swapped chunks
      // are fresh copies nothing else refers to.
      const borrowed = placed.swapUnit <= 1;
      for await (const chunk of streamed) {
        check();
        await out.put(chunk, undefined, borrowed);
      }
    }
    progress.entriesDone += 1;
  }
  await out.drain();
  check();
  report();
  return { tensors: layout.tensors.length, bytesWritten: out.offset, names: layout.tensors.map((tensor) => tensor.name) };
}

/** `saveSafetensors` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function saveSafetensors(platform: Platform, path: string, tree: Tree | FlatTree, options: SaveSafetensorsOptions = {}): Promise<SaveSafetensorsSummary> {
  if (typeof path !== 'string' || path === '') throw new NpzError('ERR_INVALID_ARGUMENT', 'saveSafetensors needs a file path or an s3:// or gs:// URL', { actual: path });
  if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new NpzError('ERR_INVALID_ARGUMENT', 'prefix must be a string');
  const metadata = checkMetadata(options.metadata);
  if (options.signal?.aborted) throw abortError(options.signal);
  const tensors = await pendingTensors(tree, options.prefix ?? '', options.signal, options.rawDType);
  return saveFile(platform, path, options, (sink) => writeSafetensors(tensors, sink, { metadata, signal: options.signal, onProgress: options.onProgress }));
}

/** What `saveSafetensorsStream` takes. */
export interface SaveSafetensorsStreamOptions {
  /** The `__metadata__` map (strings to strings), written first in the header, in this object's key order. */
  metadata?: Readonly<Record<string, string>>;
  /** Stops the write (ERR_ABORTED); the destination is then destroyed. */
  signal?: AbortSignal;
  onProgress?: (progress: SaveProgress) => void;
  /** Prepended to every tensor name. */
  prefix?: string;
  /** End the destination when done (default true); false leaves it open. */
  end?: boolean;
  /** The safetensors float8 kind of raw one-byte leaves, as for `saveSafetensors`. */
  rawDType?: SaveSafetensorsOptions['rawDType'];
}

/**
 * `saveSafetensorsStream` on an explicit platform (the public functions pass Node's or the browser's). The header
 * comes first and names every tensor's shape and offsets, so every leaf is checked before a byte is written (lazy
 * leaves declare their dtype and shape; their data is read only when its turn comes).
 */
export async function saveSafetensorsStream(
  platform: Platform,
  tree: Tree | FlatTree,
  destination: unknown,
  options: SaveSafetensorsStreamOptions = {},
): Promise<SaveSafetensorsSummary> {
  const sink = platform.streamSink(destination, 'saveSafetensorsStream');
  try {
    if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new NpzError('ERR_INVALID_ARGUMENT', 'prefix must be a string');
    const metadata = checkMetadata(options.metadata);
    if (options.signal?.aborted) throw abortError(options.signal);
    const tensors = await pendingTensors(tree, options.prefix ?? '', options.signal, options.rawDType);
    const summary = await writeSafetensors(tensors, sink, { metadata, signal: options.signal, onProgress: options.onProgress });
    if (options.end === false) await sink.release();
    else await sink.end();
    return summary;
  } catch (err) {
    const error = saveFailure(err, options.signal, 'writing the safetensors stream failed');
    sink.destroy(error);
    throw error;
  }
}
