/**
 * One array as a standalone `.npy` file, the member format of an npz written on its own: the header `np.save`
 * writes, then the data, atomically like every save.
 */
import { NpzError, isNpzError } from '../errors.js';
import { throwIfAborted } from '../io/abort.js';
import { checkedSource, slices } from '../io/chunks.js';
import type { Platform } from '../io/platform.js';
import { saveFile } from '../io/save-file.js';
import { normalizeLeaf, type Leaf, type NormalizedLeaf } from '../npy/write.js';
import type { RemoteOptions } from '../objectstore/options.js';

export interface SaveNpyOptions {
  /** Stops the write (ERR_ABORTED); the file is then left as it was. */
  signal?: AbortSignal;
  /** Permissions of the new file (default 0o666, minus the umask, as numpy's `open` gives). */
  mode?: number;
  /** fsync the file and its directory so the rename survives a crash (default true). */
  fsync?: boolean;
  /** For an `s3://` or `gs://` URL: credentials, endpoint, part size, parts in flight. */
  remote?: RemoteOptions;
}

export interface SaveNpySummary {
  /** File size in bytes: the npy header plus the data. */
  bytesWritten: number;
}

/** In-memory data goes out in views of this size, so an abort is noticed between them. */
const SLICE_BYTES = 16 << 20;

/** The leaf's data bytes as written: the caller's view in slices, or its chunks checked against the declared size. */
function dataOf(leaf: NormalizedLeaf, label: string, signal: AbortSignal | undefined): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  if (leaf.bytes !== undefined) return slices(leaf.bytes, SLICE_BYTES);
  let chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  try {
    chunks = leaf.chunks!();
  } catch (err) {
    throw new NpzError('ERR_SOURCE', `the chunks() of '${label}' threw`, { entry: label, cause: err });
  }
  return checkedSource(chunks, label, leaf.byteLength, signal);
}

/** `saveNpy` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function saveNpy(platform: Platform, path: string, array: Leaf, options: SaveNpyOptions = {}): Promise<SaveNpySummary> {
  if (typeof path !== 'string' || path === '') throw new NpzError('ERR_INVALID_ARGUMENT', 'saveNpy needs a file path', { actual: path });
  const { signal } = options;
  throwIfAborted(signal, 'the write');
  const label = platform.files.basename(path);
  let leaf: NormalizedLeaf;
  try {
    leaf = normalizeLeaf(label, array);
  } catch (err) {
    if (isNpzError(err)) throw err;
    throw new NpzError('ERR_TREE_LEAF', `${JSON.stringify(label)} cannot be written: ${String(err)}`, { entry: label, cause: err });
  }
  return saveFile(platform, path, options, async (sink) => {
    sink.expectLength?.(leaf.header.byteLength + leaf.byteLength);
    await sink.write([leaf.header]);
    let written = leaf.header.byteLength;
    for await (const piece of dataOf(leaf, label, signal)) {
      throwIfAborted(signal, 'the write');
      await sink.write([piece]);
      written += piece.byteLength;
    }
    return { bytesWritten: written };
  });
}
