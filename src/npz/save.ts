/**
 * Writing `.npz` archives: `saveNpzStream` into any Writable, `saveNpz` atomically to a path. Members are
 * `<name>.npy` in flatten order, laid out byte for byte as `np.savez` lays them out (see src/zip/write/writer.ts
 * for the three member layouts and when each is used).
 */
import { NpzError, isNpzError } from '../errors.js';
import { abortError, raceAbort } from '../io/abort.js';
import type { Codecs } from '../io/codecs.js';
import type { Platform } from '../io/platform.js';
import { progressReporter, type SaveProgress } from '../io/progress.js';
import { saveFailure, saveFile } from '../io/save-file.js';
import { normalizeLeaf, type NormalizedLeaf } from '../npy/write.js';
import { flattenWithNames, isFlatTree, type FlatTree, type Tree } from '../tree/flatten.js';
import type { ZipSink } from '../io/sink.js';
import type { RemoteOptions } from '../objectstore/options.js';
import { ZipWriter } from '../zip/write/writer.js';

export type { SaveProgress } from '../io/progress.js';

export interface SaveOptions {
  /** Deflate members, like `np.savez_compressed`. Default false (stored, like `np.savez`). */
  compress?: boolean;
  /** Deflate level 0-9 when compressing; zipfile and numpy use 6. */
  compressionLevel?: number;
  /** Stops the write (ERR_ABORTED); saveNpz then leaves the file as it was. */
  signal?: AbortSignal;
  onProgress?: (progress: SaveProgress) => void;
  /** Prepended to every member name, e.g. 'params/' gives 'params/img/embedding/kernel.npy'. */
  prefix?: string;
  /** Write zip64 records even for a small archive (to test readers). The data is unchanged. */
  forceZip64?: boolean;
  /** saveNpzStream: end the destination when done (default true); false leaves it open, e.g. for a socket. */
  end?: boolean;
  /** saveNpz: permissions of the new file (default 0o666, minus the umask, as numpy's `open` gives). */
  mode?: number;
  /** saveNpz: fsync the file and its directory so the rename survives a crash (default true). */
  fsync?: boolean;
  /** saveNpz to an `s3://` or `gs://` URL: credentials, endpoint, part size, parts in flight. */
  remote?: RemoteOptions;
  /**
   * Start every stored array's data at a file offset that is a multiple of this (a power of two up to 4096), so
   * it can be memory-mapped in place; the padding is an extra record in the local header. Default: unaligned,
   * exactly np.savez's bytes.
   */
  align?: number;
}

export interface SaveSummary {
  /** Number of members written. */
  entries: number;
  /** Total archive size in bytes. */
  bytesWritten: number;
  /** Keys as `np.load(...).files` lists them (member names without '.npy'), in archive order. */
  names: string[];
}

function checkOptions(options: SaveOptions): void {
  const { prefix, compressionLevel } = options;
  if (prefix !== undefined && typeof prefix !== 'string') {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'prefix must be a string', { actual: typeof prefix });
  }
  if (compressionLevel !== undefined && !(Number.isInteger(compressionLevel) && compressionLevel >= 0 && compressionLevel <= 9)) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'compressionLevel must be an integer from 0 to 9', { actual: compressionLevel });
  }
  const { align } = options;
  if (align !== undefined && !(Number.isInteger(align) && align >= 1 && align <= 4096 && (align & (align - 1)) === 0)) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'align must be a power of two from 1 to 4096', { actual: align });
  }
  if (options.signal?.aborted) throw abortError(options.signal, 'the write');
}

/** Leaves one at a time; failures of a caller's flat iterable become ERR_SOURCE, an abort interrupts a wait. */
async function* normalizedLeaves(tree: Tree | FlatTree, signal: AbortSignal | undefined): AsyncGenerator<NormalizedLeaf> {
  const pairs = flattenWithNames(tree);
  for (;;) {
    let step: IteratorResult<[string, unknown]>;
    try {
      step = await raceAbort(pairs.next(), signal, 'the write');
    } catch (err) {
      if (isNpzError(err)) throw err;
      throw new NpzError('ERR_SOURCE', 'the tree iterable failed', { cause: err });
    }
    if (step.done) return;
    const [name, leaf] = step.value;
    let normalized: NormalizedLeaf;
    try {
      normalized = normalizeLeaf(name, leaf as Parameters<typeof normalizeLeaf>[1]);
    } catch (err) {
      if (isNpzError(err)) throw err;
      throw new NpzError('ERR_TREE_LEAF', `leaf ${JSON.stringify(name)} cannot be written: ${String(err)}`, { entry: name, cause: err });
    }
    yield normalized;
  }
}

async function writeArchive(codecs: Codecs, tree: Tree | FlatTree, sink: ZipSink, options: SaveOptions): Promise<SaveSummary> {
  const { signal, onProgress } = options;
  const prefix = options.prefix ?? '';
  const compress = options.compress === true;
  const forceZip64 = options.forceZip64 === true;

  const progress: SaveProgress = { entriesDone: 0, bytesDone: 0 };
  const report = progressReporter(progress, onProgress);
  const writerOptions: ConstructorParameters<typeof ZipWriter>[1] = {
    codecs,
    forceZip64,
    onWrite: (bytes) => {
      progress.bytesDone = bytes;
      report();
    },
  };
  if (signal) writerOptions.signal = signal;
  if (options.compressionLevel !== undefined) writerOptions.compressionLevel = options.compressionLevel;
  if (options.align !== undefined) writerOptions.align = options.align;
  const writer = new ZipWriter(sink, writerOptions);

  // A nested tree already holds every leaf, so checking them all first costs nothing and means a bad leaf
  // fails before the first byte; a flat iterable may produce its leaves on demand, so it is streamed.
  let leaves: AsyncIterable<NormalizedLeaf> | NormalizedLeaf[] = normalizedLeaves(tree, signal);
  if (!isFlatTree(tree)) {
    const all: NormalizedLeaf[] = [];
    for await (const leaf of leaves) all.push(leaf);
    leaves = all;
    progress.entriesTotal = all.length;
    // Alignment padding depends on each member's offset, so with it the total is known only at the end.
    if (!compress && (options.align ?? 1) <= 1) {
      progress.bytesTotal = writer.plannedLength(
        all.map((leaf) => ({
          name: `${prefix}${leaf.name}.npy`,
          size: leaf.header.byteLength + leaf.byteLength,
          streamed: leaf.bytes === undefined,
        })),
      );
      // An upload sizes its parts by it.
      sink.expectLength?.(progress.bytesTotal);
    }
  }

  const names: string[] = [];
  for await (const leaf of leaves) {
    let data: ArrayBufferView | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    if (leaf.bytes !== undefined) {
      data = leaf.bytes;
    } else {
      try {
        data = leaf.chunks!();
      } catch (err) {
        throw new NpzError('ERR_SOURCE', `the chunks() of '${leaf.name}' threw`, { entry: leaf.name, cause: err });
      }
    }
    progress.entry = leaf.name;
    await writer.add({
      name: `${prefix}${leaf.name}.npy`,
      label: leaf.name,
      head: leaf.header,
      data,
      size: leaf.byteLength,
      compress,
    });
    names.push(`${prefix}${leaf.name}`);
    progress.entriesDone += 1;
    report();
  }
  const summary = await writer.finish();
  progress.bytesDone = summary.bytes;
  return { entries: summary.entries, bytesWritten: summary.bytes, names };
}

/** `saveNpzStream` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function saveNpzStream(platform: Platform, tree: Tree | FlatTree, destination: unknown, options: SaveOptions = {}): Promise<SaveSummary> {
  const sink = platform.streamSink(destination, 'saveNpzStream');
  try {
    checkOptions(options);
    const summary = await writeArchive(platform.codecs, tree, sink, options);
    if (options.end === false) await sink.release();
    else await sink.end();
    return summary;
  } catch (err) {
    const error = saveFailure(err, options.signal, 'writing the archive failed');
    sink.destroy(error);
    throw error;
  }
}

/** `saveNpz` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function saveNpz(platform: Platform, path: string, tree: Tree | FlatTree, options: SaveOptions = {}): Promise<SaveSummary> {
  if (typeof path !== 'string' || path === '') {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'saveNpz needs a file path or an s3:// or gs:// URL', { actual: path });
  }
  checkOptions(options);
  return saveFile(platform, path, options, (sink) => writeArchive(platform.codecs, tree, sink, options));
}
