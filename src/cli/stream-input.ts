import { NpzError, streamNpz, type ByteStream, type NpzArrayEntry, type NpzFile, type StreamNpzArrayEntry, type StreamNpzEntry } from '../index.js';
import type { CliContext } from './context.js';

/**
 * `-` as an input file: the archive is read front to back from standard input (a pipe: `curl ... | npz-stream
 * verify -`). Commands see each array as the entry of a one-array NpzFile, in stream order, so the code that
 * reads arrays from files serves streams too. The central directory is checked when the stream ends: a command
 * has only succeeded once the whole stream has been read.
 */

export const STDIN_PATH = '-';

export function isStdin(path: string): boolean {
  return path === STDIN_PATH;
}

/** Standard input, unless a test or caller supplies another stream. */
export function stdinStream(): ByteStream {
  return process.stdin;
}

/**
 * The entry as the file commands know it. Sizes the stream learns only after the data (the compressed size, the
 * CRC) are not known when the entry is handed out: they are NaN.
 */
function asFileEntry(entry: StreamNpzArrayEntry): NpzArrayEntry {
  return {
    isArray: true,
    name: entry.name,
    memberName: entry.memberName,
    compression: entry.compression,
    compressedSize: Number.NaN,
    memberSize: Number.NaN,
    localHeaderOffset: entry.localHeaderOffset,
    crc32: Number.NaN,
    dtype: entry.dtype,
    descr: entry.descr,
    shape: entry.shape,
    fortranOrder: entry.fortranOrder,
    byteLength: entry.byteLength,
    npyVersion: entry.npyVersion,
  };
}

/** A one-array NpzFile over the current stream entry: its data can be read once, before the stream moves on. */
function singleEntryFile(entry: StreamNpzArrayEntry, fileEntry: NpzArrayEntry): NpzFile {
  const matches = (name: string): boolean => name === entry.name || name === entry.memberName;
  const missing = (name: string): NpzError => new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} at this point of the stream`, { entry: name });
  return {
    entries: [fileEntry],
    has: matches,
    get: async (name) => {
      if (!matches(name)) throw missing(name);
      return entry.read();
    },
    chunks: (name, options = {}) => {
      if (!matches(name)) throw missing(name);
      return entry.chunks(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize });
    },
    close: async () => undefined,
  };
}

export interface StreamVisit {
  file: NpzFile;
  entry: NpzArrayEntry;
}

/**
 * Reads the stream on standard input to its end, calling `visit` for each array whose key or member name is in
 * `names` (every array when `names` is empty), in stream order; `other` sees the members that are not arrays.
 * Names never seen are ERR_NPZ_NOT_FOUND once the stream has ended.
 */
export async function forEachStreamArray(
  context: CliContext,
  names: readonly string[],
  visit: (visit: StreamVisit) => Promise<void>,
  other?: (entry: StreamNpzEntry) => void,
): Promise<void> {
  const wanted = new Set(names);
  const found = new Set<string>();
  for await (const entry of streamNpz(stdinStream(), { ...context.read, signal: context.signal })) {
    if (!entry.isArray) {
      if (names.includes(entry.name) || names.includes(entry.memberName)) {
        throw new NpzError('ERR_NPZ_NOT_ARRAY', `member ${JSON.stringify(entry.memberName)} is not an .npy array`, { entry: entry.name });
      }
      other?.(entry);
      continue;
    }
    const key = wanted.has(entry.name) ? entry.name : wanted.has(entry.memberName) ? entry.memberName : undefined;
    if (wanted.size > 0 && key === undefined) continue;
    if (key !== undefined) found.add(key);
    const fileEntry = asFileEntry(entry);
    await visit({ file: singleEntryFile(entry, fileEntry), entry: fileEntry });
  }
  const absent = names.find((name) => !found.has(name));
  if (absent !== undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(absent)} in the stream`, { entry: absent });
}
