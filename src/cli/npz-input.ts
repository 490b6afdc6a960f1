import {
  NpzError,
  openNpy,
  openNpz,
  openSafetensors,
  openSafetensorsIndex,
  type ArrayFile,
  type DamagedPolicy,
} from '../index.js';
import type { CliContext } from './context.js';
import {
  formatOf,
  formatPath,
  isUrlInput,
  inputLabel,
  isDamagedEntry,
  isReported,
  memberNameOf,
  errorOf,
  type TensorEntry,
  type ReportedEntry,
} from './entries.js';

// Commands import entry helpers from here; they live in entries.ts so that the static viewer can bundle them.
export * from './entries.js';

/** Opening input files (npz, safetensors, a shard index, a bare .npy) and picking arrays from them, the same way for every command. */

/** What commands read array data through: an opened file, or the one array of a stream at hand. */
export type ArrayReader = Pick<ArrayFile, 'get' | 'chunks'>;

/**
 * Opens a path or a URL (http(s)://, s3://, gs://, hf://), as npz, safetensors (a file or a shard index) or a bare
 * .npy by extension; a URL gets a byte progress bar while the directory and headers arrive. Damaged members are
 * listed as damaged entries: each command reports them in their place and fails at the end.
 */
export async function openInput(path: string, context: CliContext, choices: { damaged?: DamagedPolicy } = {}): Promise<ArrayFile> {
  const remote = isUrlInput(path);
  const progress = remote ? context.progress('fetch', 0) : undefined;
  const http = progress === undefined
    ? context.read.http
    : {
        ...context.read.http,
        onBytes: (bytes: number, objectSize: number): void => {
          progress.setTotal(objectSize);
          progress.add(bytes, inputLabel(path));
        },
      };
  const withHttp = http === undefined ? {} : { http };
  try {
    const format = formatOf(path);
    if (format === 'npz') return await openNpz(path, { ...context.read, signal: context.signal, ...withHttp, ...choices });
    if (format === 'npy') return await openNpy(path, { ...context.read, signal: context.signal, ...withHttp, ...choices });
    const options = { signal: context.signal, ...withHttp };
    if (!/\.json$/i.test(formatPath(path))) return await openSafetensors(path, options);
    // The shards are read beside the index: files in its directory, keys beside its key, URLs relative to it.
    return await openSafetensorsIndex(path, options);
  } finally {
    progress?.finish();
  }
}

export async function withNpz<T>(path: string, context: CliContext, use: (file: ArrayFile) => Promise<T>): Promise<T> {
  const file = await openInput(path, context);
  try {
    return await use(file);
  } finally {
    await file.close();
  }
}

/**
 * The arrays named (keys, or npz member names), in the order given; every array when no name is given. Damaged
 * members are included (named, or among every array), so a command can report them in their place.
 */
export function selectEntries(file: ArrayFile, names: readonly string[]): ReportedEntry[] {
  if (names.length === 0) return file.entries.filter(isReported);
  return names.map((name) => {
    const entry = file.entries.find((candidate) => candidate.name === name || (candidate.format === 'npz' && candidate.memberName === name));
    if (entry === undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} in the file`, { entry: name });
    if (!isReported(entry)) {
      throw new NpzError('ERR_NPZ_NOT_ARRAY', `member ${JSON.stringify(memberNameOf(entry))} is not an .npy array`, { entry: name });
    }
    return entry;
  });
}

/** The arrays named, as `selectEntries`, with a damaged one refused with its error. */
export function selectArrays(file: ArrayFile, names: readonly string[]): TensorEntry[] {
  return selectEntries(file, names).map((entry) => {
    if (isDamagedEntry(entry)) throw errorOf(entry);
    return entry;
  });
}

