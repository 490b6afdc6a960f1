import { NpzError, streamNpz, type ByteStream, type StreamNpzArrayEntry, type StreamNpzEntry } from '../index.js';
import type { CliContext } from './context.js';
import type { ArrayReader } from './npz-input.js';

/**
 * `-` as an input file: the archive is read front to back from standard input (a pipe: `curl ... | npz-stream
 * verify -`). Commands read each array through a reader of that one array, in stream order, so the code that
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

/** A reader of the current stream entry: its data can be read once, before the stream moves on. */
function singleArrayReader(entry: StreamNpzArrayEntry): ArrayReader {
  const matches = (name: string): boolean => name === entry.name || name === entry.memberName;
  const missing = (name: string): NpzError => new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(name)} at this point of the stream`, { entry: name });
  return {
    get: async (name) => {
      if (!matches(name)) throw missing(name);
      return entry.read();
    },
    chunks: (name, options = {}) => {
      if (!matches(name)) throw missing(name);
      return entry.chunks(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize });
    },
  };
}

export interface StreamVisit {
  file: ArrayReader;
  entry: StreamNpzArrayEntry;
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
    await visit({ file: singleArrayReader(entry), entry });
  }
  const absent = names.find((name) => !found.has(name));
  if (absent !== undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(absent)} in the stream`, { entry: absent });
}
