import {
  NpzError,
  streamNpz,
  streamSafetensors,
  type ByteStream,
  type StreamNpzArrayEntry,
  type StreamNpzEntry,
  type StreamSafetensorsEntry,
} from '../index.js';
import type { CliContext } from './context.js';
import type { ArrayReader } from './npz-input.js';

/**
 * `-` as an input file: the file is read front to back from standard input (a pipe: `curl ... | npz-stream
 * verify -`). Its first bytes say what it is: an npz (a zip archive) or a safetensors file. Commands read each
 * array through a reader of that one array, in stream order, so the code that reads arrays from files serves
 * streams too. A command has only succeeded once the whole stream has been read: an npz's central directory is
 * checked at its end, and a safetensors stream must end where its last tensor does.
 */

export const STDIN_PATH = '-';

export function isStdin(path: string): boolean {
  return path === STDIN_PATH;
}

/** Standard input, unless a test or caller supplies another stream. */
export function stdinStream(): ByteStream {
  return process.stdin;
}

/** What a stream's first bytes show it to be. */
export type StreamFormat = 'npz' | 'safetensors';

/** An array of a stream, whatever its format: an npz member with its npy header, or a safetensors tensor. */
export type StreamArrayEntry = StreamNpzArrayEntry | StreamSafetensorsEntry;

/** The member's name in the stream: an npz member name, else the tensor's name. */
export function streamMemberName(entry: StreamArrayEntry): string {
  return 'memberName' in entry ? entry.memberName : entry.name;
}

/** The bytes a stream's first bytes must be to say its format: 8 for safetensors' length, then its '{'. */
const SNIFF_BYTES = 9;
const ZIP_SIGNATURES = [0x04034b50, 0x06054b50, 0x06064b50];
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** The format the first bytes show; undefined when they are neither (the npz reader then says what is wrong). */
export function formatOfHead(head: Uint8Array): StreamFormat | 'npy' | undefined {
  if (head.length >= 4) {
    const signature = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
    if (ZIP_SIGNATURES.includes(signature)) return 'npz';
  }
  if (NPY_MAGIC.every((byte, index) => head[index] === byte)) return 'npy';
  if (head.length >= SNIFF_BYTES && head[8] === 0x7b) {
    // An 8-byte little-endian header length (at most the reference reader's 100 MB), then the JSON's '{'.
    const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (length >= 2n && length <= 100_000_000n) return 'safetensors';
  }
  return undefined;
}

/**
 * Reads the first bytes of `stream` to tell its format, and hands back a stream that yields every byte again,
 * those first ones included. Waiting for them stops on `signal`.
 */
export async function sniffStream(stream: ByteStream, signal: AbortSignal): Promise<{ format: StreamFormat | 'npy' | undefined; stream: AsyncIterable<Uint8Array> }> {
  const source: AsyncIterator<unknown> =
    Symbol.asyncIterator in stream ? (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]() : (stream as ReadableStream<Uint8Array>).values()[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let length = 0;
  let ended = false;
  const aborted = new Promise<never>((_, reject) => {
    const stop = (): void => reject(new NpzError('ERR_ABORTED', 'interrupted while waiting for standard input'));
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
  aborted.catch(() => undefined);
  while (length < SNIFF_BYTES) {
    const next = await Promise.race([source.next(), aborted]);
    if (next.done === true) {
      ended = true;
      break;
    }
    const value = next.value as Uint8Array;
    const chunk = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    head.push(chunk);
    length += chunk.length;
  }
  const first = new Uint8Array(length);
  let at = 0;
  for (const chunk of head) {
    first.set(chunk, at);
    at += chunk.length;
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    try {
      if (first.length > 0) yield first;
      if (ended) return;
      for (;;) {
        const next = await source.next();
        if (next.done === true) return;
        yield next.value as Uint8Array;
      }
    } finally {
      // Leaving early stops the producer (a Node stream is destroyed).
      if (!ended) await source.return?.();
    }
  }
  return { format: formatOfHead(first.subarray(0, SNIFF_BYTES)), stream: replay() };
}

/** A reader of the current stream entry: its data can be read once, before the stream moves on. */
function singleArrayReader(entry: StreamArrayEntry): ArrayReader {
  const matches = (name: string): boolean => name === entry.name || name === streamMemberName(entry);
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
  entry: StreamArrayEntry;
}

/**
 * The entries of standard input, npz or safetensors by its first bytes: every member of an npz (`other` sees
 * those that are not arrays), every tensor of a safetensors file. `onFormat` hears the format before the first
 * entry.
 */
export async function* stdinEntries(context: CliContext, onFormat?: (format: StreamFormat) => void): AsyncGenerator<StreamArrayEntry | StreamNpzEntry> {
  const { format, stream } = await sniffStream(stdinStream(), context.signal);
  if (format === 'npy') {
    throw new NpzError('ERR_INVALID_ARGUMENT', 'standard input holds a bare .npy file; - reads an npz or a safetensors stream: give the .npy file by its path');
  }
  onFormat?.(format ?? 'npz');
  if (format === 'safetensors') {
    yield* streamSafetensors(stream, { signal: context.signal });
    return;
  }
  // Anything else goes to the npz reader, which says what is wrong with it ("not a zip archive"...).
  yield* streamNpz(stream, { ...context.read, signal: context.signal });
}

/**
 * Reads the stream on standard input to its end, calling `visit` for each array whose key or member name is in
 * `names` (every array when `names` is empty), in stream order; `other` sees the npz members that are not
 * arrays. Names never seen are ERR_NPZ_NOT_FOUND once the stream has ended.
 */
export async function forEachStreamArray(
  context: CliContext,
  names: readonly string[],
  visit: (visit: StreamVisit) => Promise<void>,
  other?: (entry: StreamNpzEntry) => void,
  onFormat?: (format: StreamFormat) => void,
): Promise<void> {
  const wanted = new Set(names);
  const found = new Set<string>();
  for await (const entry of stdinEntries(context, onFormat)) {
    if (!entry.isArray) {
      if (names.includes(entry.name) || names.includes(entry.memberName)) {
        throw new NpzError('ERR_NPZ_NOT_ARRAY', `member ${JSON.stringify(entry.memberName)} is not an .npy array`, { entry: entry.name });
      }
      other?.(entry);
      continue;
    }
    const member = streamMemberName(entry);
    const key = wanted.has(entry.name) ? entry.name : wanted.has(member) ? member : undefined;
    if (wanted.size > 0 && key === undefined) continue;
    if (key !== undefined) found.add(key);
    await visit({ file: singleArrayReader(entry), entry });
  }
  const absent = names.find((name) => !found.has(name));
  if (absent !== undefined) throw new NpzError('ERR_NPZ_NOT_FOUND', `no array named ${JSON.stringify(absent)} in the stream`, { entry: absent });
}
