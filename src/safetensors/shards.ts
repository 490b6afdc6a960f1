/**
 * Hugging Face sharded checkpoints: `model-00001-of-00003.safetensors`... plus `model.safetensors.index.json`
 * (`{"metadata": {"total_size": N}, "weight_map": {name: file}}`), split and named as `transformers`'
 * `save_pretrained` does, and read back as its loader does (every name exactly once).
 */
import { NpzError } from '../errors.js';
import { abortError } from '../io/abort.js';
import type { ArrayGetOptions, ShardOptions } from '../io/array-file.js';
import type { ReadStats } from '../io/planner/index.js';
import type { Platform } from '../io/platform.js';
import { saveFile } from '../io/save-file.js';
import { redactUrl } from '../http/url.js';
import { isObjectStoreUrl, objectDirname, siblingObjectUrl } from '../objectstore/url.js';
import type { NpyArray } from '../npy/array.js';
import { compareCodePoints, type FlatTree, type Tree } from '../tree/flatten.js';
import { openSafetensors, type OpenSafetensorsOptions, type SafetensorsChunksOptions, type SafetensorsEntry, type SafetensorsFile } from './open.js';
import { checkMetadata, pendingTensors, writeSafetensors, type PendingTensor, type SaveSafetensorsOptions } from './save.js';

/**
 * Splits tensors (in the given order) as huggingface_hub's `split_state_dict_into_shards_factory` does: a new
 * shard when the next tensor would push the current one past the limit, and a tensor larger than the limit on
 * a shard of its own, placed before the shard being filled.
 */
export function planShards<T extends { byteLength: number }>(tensors: readonly T[], maxShardSize: number): T[][] {
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const tensor of tensors) {
    if (tensor.byteLength > maxShardSize) {
      shards.push([tensor]);
      continue;
    }
    if (size + tensor.byteLength > maxShardSize && current.length > 0) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(tensor);
    size += tensor.byteLength;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/** `model.safetensors` → `model-00002-of-00005.safetensors`, as `transformers` names shards. */
export function shardFileName(weightsName: string, index: number, count: number): string {
  const suffix = `-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}`;
  return weightsName.endsWith('.safetensors') ? `${weightsName.slice(0, -'.safetensors'.length)}${suffix}.safetensors` : `${weightsName}${suffix}`;
}

/** Python's `json.dumps` string form (ensure_ascii): non-ASCII as lowercase \u escapes, UTF-16 units. */
function pythonJsonString(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The index exactly as `transformers` writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`. */
export function encodeShardIndex(totalSize: number, weightMap: ReadonlyMap<string, string>): string {
  const names = [...weightMap.keys()].sort(compareCodePoints);
  const lines = names.map((name) => `    ${pythonJsonString(name)}: ${pythonJsonString(weightMap.get(name)!)}`);
  const map = lines.length === 0 ? '{}' : `{\n${lines.join(',\n')}\n  }`;
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": ${map}\n}\n`;
}

export interface ShardIndex {
  totalSize: number | undefined;
  /** Tensor name → shard file name, in the index's order. */
  weightMap: Map<string, string>;
}

function indexError(message: string, entry?: string): NpzError {
  return new NpzError('ERR_SAFETENSORS_INDEX', message, entry === undefined ? {} : { entry });
}

/** Parses and checks an index: a weight_map of names to plain file names (no directories, no '..'). */
export function decodeShardIndex(text: string): ShardIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new NpzError('ERR_SAFETENSORS_INDEX', `the shard index is not JSON: ${(cause as Error).message}`, { cause });
  }
  const root = parsed as { metadata?: { total_size?: unknown }; weight_map?: unknown } | null;
  if (typeof root !== 'object' || root === null || typeof root.weight_map !== 'object' || root.weight_map === null || Array.isArray(root.weight_map)) {
    throw indexError('the shard index has no "weight_map" object');
  }
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(root.weight_map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || file.includes('/') || file.includes('\\')) {
      throw indexError(`the shard index maps ${JSON.stringify(name)} to ${JSON.stringify(file)}, which is not a file name beside the index`, name);
    }
    weightMap.set(name, file);
  }
  const total = root.metadata?.total_size;
  return { totalSize: typeof total === 'number' ? total : undefined, weightMap };
}

export interface SaveShardsOptions extends SaveSafetensorsOptions {
  /** Largest shard data size in bytes (a tensor larger than this gets a shard of its own). */
  maxShardSize: number;
}

export interface SaveShardsSummary {
  /** Files written, shards first, then the index (absent when everything fits in one file). */
  files: string[];
  tensors: number;
  /** Sum of the tensors' data sizes: the index's `metadata.total_size`. */
  totalSize: number;
  bytesWritten: number;
}

/** `saveSafetensorsShards` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function saveSafetensorsShards(platform: Platform, path: string, tree: Tree | FlatTree, options: SaveShardsOptions): Promise<SaveShardsSummary> {
  if (typeof path !== 'string' || path === '') throw new NpzError('ERR_INVALID_ARGUMENT', 'saveSafetensorsShards needs a file path', { actual: path });
  const { maxShardSize, signal } = options;
  if (!Number.isSafeInteger(maxShardSize) || maxShardSize <= 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'maxShardSize must be a positive integer', { actual: maxShardSize });
  }
  const metadata = checkMetadata(options.metadata);
  const tensors = await pendingTensors(tree, options.prefix ?? '', signal, options.rawDType);
  const shards = planShards(tensors, maxShardSize);
  if (shards.length === 0) shards.push([]);
  const { files: host } = platform;
  // An object store has no directories: shards are keys beside the index's.
  const remote = isObjectStoreUrl(path);
  const directory = remote ? objectDirname(path) : host.dirname(path);
  const weightsName = remote ? path.slice(directory.length + 1) : host.basename(path);
  const join = (name: string): string => (remote ? siblingObjectUrl(path, name) : host.join(directory, name));
  // save_pretrained creates its output directory too.
  try {
    if (!remote) await host.makeDirectory(directory);
  } catch (cause) {
    throw new NpzError('ERR_IO', `cannot create ${directory}: ${(cause as Error).message}`, { cause });
  }
  const totalSize = tensors.reduce((sum, tensor) => sum + tensor.byteLength, 0);
  const files: string[] = [];
  const weightMap = new Map<string, string>();
  let bytesWritten = 0;
  for (const [index, shard] of shards.entries()) {
    if (signal?.aborted) throw abortError(signal);
    const name = shards.length === 1 ? weightsName : shardFileName(weightsName, index, shards.length);
    const target = join(name);
    const summary = await saveFile(platform, target, options, (sink) =>
      writeSafetensors(shard as PendingTensor[], sink, { metadata, signal, onProgress: options.onProgress }),
    );
    bytesWritten += summary.bytesWritten;
    files.push(target);
    for (const tensor of shard) weightMap.set(tensor.name, name);
  }
  if (shards.length > 1) {
    const indexPath = `${path}.index.json`;
    const text = new TextEncoder().encode(encodeShardIndex(totalSize, weightMap));
    await saveFile(platform, indexPath, options, (sink) => sink.write([text]));
    bytesWritten += text.byteLength;
    files.push(indexPath);
  }
  return { files, tensors: tensors.length, totalSize, bytesWritten };
}

export interface ShardedEntry extends SafetensorsEntry {
  /** The shard file holding the tensor (its name beside the index). */
  shard: string;
}

class ShardedSafetensors implements SafetensorsFile<ShardedEntry> {
  readonly format = 'safetensors';
  readonly entries: readonly ShardedEntry[];
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly #files: Map<string, SafetensorsFile>;
  readonly #byName: Map<string, ShardedEntry>;

  constructor(files: Map<string, SafetensorsFile>, entries: ShardedEntry[]) {
    this.#files = files;
    this.entries = Object.freeze(entries);
    this.#byName = new Map(entries.map((entry) => [entry.name, entry]));
    this.metadata = [...files.values()][0]?.metadata;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  get(name: string, options?: ArrayGetOptions): Promise<NpyArray> {
    try {
      return this.#file(name).get(name, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  chunks(name: string, options?: SafetensorsChunksOptions): AsyncIterable<Uint8Array> {
    return this.#file(name).chunks(name, options);
  }

  shard(name: string, options: ShardOptions): Promise<NpyArray> {
    try {
      return this.#file(name).shard(name, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The reads of every shard file, summed. */
  get readStats(): Readonly<ReadStats> {
    const total: ReadStats = { reads: 0, bytes: 0 };
    for (const file of this.#files.values()) {
      total.reads += file.readStats.reads;
      total.bytes += file.readStats.bytes;
    }
    return total;
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled([...this.#files.values()].map((file) => file.close()));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  #file(name: string): SafetensorsFile {
    const entry = this.#byName.get(name);
    if (entry === undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no tensor named ${JSON.stringify(name)} in the shards`, { entry: name });
    return this.#files.get(entry.shard)!;
  }
}

/** Largest shard index read: the Hub's largest are a few MB; a bigger "index" is not one. */
const MAX_INDEX_BYTES = 256 << 20;

/** Shards opened at once: over HTTP each open is a round trip or two, so they overlap; a few suffice. */
const SHARDS_IN_FLIGHT = 8;

/** A URL (any scheme: `https:`, `file:`, an object store's), as opposed to a path; a drive letter is a path. */
function indexUrl(index: string | URL): URL | undefined {
  if (index instanceof URL) return index;
  if (!/^[a-z][a-z0-9+.-]+:\/\//i.test(index)) return undefined;
  try {
    return new URL(index);
  } catch {
    throw new NpzError('ERR_INVALID_ARGUMENT', `not a valid URL: ${redactUrl(index)}`);
  }
}

/** The index's text, read through the platform's source for its URL (the reader's HTTP options and signal apply). */
async function readIndexText(platform: Platform, url: string, options: OpenSafetensorsOptions): Promise<string> {
  const { source, owned } = await platform.openSource(url, options);
  try {
    if (source.size > MAX_INDEX_BYTES) {
      throw indexError(`the shard index ${redactUrl(url)} is ${source.size} bytes, more than a shard index can be (${MAX_INDEX_BYTES})`);
    }
    const bytes = await source.read(0, source.size);
    if (bytes.length !== source.size) throw new NpzError('ERR_IO', `${redactUrl(url)} ended at byte ${bytes.length} of ${source.size}`);
    return new TextDecoder().decode(bytes);
  } finally {
    if (owned) await source.close().catch(() => undefined);
  }
}

/** Runs `work` on every item, at most `limit` at once; the first failure is thrown once all have settled. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await work(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** `openSafetensorsIndex` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function openSafetensorsIndex(
  platform: Platform,
  index: string | URL,
  options: OpenSafetensorsOptions = {},
): Promise<SafetensorsFile<ShardedEntry>> {
  if (typeof index !== 'string' && !(index instanceof URL)) {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'openSafetensorsIndex takes the path or URL of a *.safetensors.index.json', { actual: typeof index });
  }
  const url = indexUrl(index);
  let text: string;
  // The index as given (an object store key may hold characters a URL would re-encode).
  const location = typeof index === 'string' ? index : index.href;
  if (url !== undefined) text = await readIndexText(platform, location, options);
  else {
    try {
      text = await platform.files.readText(index as string);
    } catch (cause) {
      throw new NpzError('ERR_IO', `cannot read ${index as string}: ${(cause as Error).message}`, { cause });
    }
  }
  const { weightMap } = decodeShardIndex(text);
  const shardNames = [...new Set(weightMap.values())];
  // Shards sit beside the index: in its directory, beside its key in an object store, or (an http(s) URL) resolved
  // against it as a link in a page would be, each name one path segment (escaped, so '?' or '#' in a name cannot
  // become a query or a fragment; the index's own query, a pre-signed signature for instance, is not carried over).
  const shardInput = (shard: string): string => {
    if (url === undefined) return platform.files.join(platform.files.dirname(location), shard);
    if (isObjectStoreUrl(location)) return siblingObjectUrl(location, shard);
    return new URL(encodeURIComponent(shard), url).href;
  };
  const opened = new Array<SafetensorsFile | undefined>(shardNames.length);
  try {
    await eachLimited(shardNames, SHARDS_IN_FLIGHT, async (shard, at) => {
      opened[at] = await openSafetensors(platform, shardInput(shard), options);
    });
    const files = new Map<string, SafetensorsFile>();
    const entries: ShardedEntry[] = [];
    for (const [at, shard] of shardNames.entries()) {
      const file = opened[at]!;
      files.set(shard, file);
      for (const entry of file.entries) {
        const mapped = weightMap.get(entry.name);
        if (mapped !== shard) {
          throw indexError(
            mapped === undefined
              ? `shard ${shard} holds ${JSON.stringify(entry.name)}, which the index does not list`
              : `shard ${shard} holds ${JSON.stringify(entry.name)}, which the index maps to ${mapped}`,
            entry.name,
          );
        }
        entries.push({ ...entry, shard });
      }
    }
    for (const [name, shard] of weightMap) {
      if (!files.get(shard)!.has(name)) throw indexError(`the index maps ${JSON.stringify(name)} to ${shard}, which does not hold it`, name);
    }
    return new ShardedSafetensors(files, entries);
  } catch (error) {
    await Promise.allSettled(opened.map((file) => file?.close()));
    throw error;
  }
}
