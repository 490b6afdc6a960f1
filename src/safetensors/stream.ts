/**
 * A safetensors file read front to back from a stream that cannot seek (stdin, a pipe, an HTTP body): the header
 * first, checked whole as `openSafetensors` checks it, then each tensor's bytes in data order. The stream must end
 * exactly where the last tensor does.
 */
import { NpzError } from '../errors.js';
import { throwIfAborted } from '../io/abort.js';
import type { ArrayInfo } from '../io/array-file.js';
import { StreamByteReader, type ByteStream } from '../io/byte-stream.js';
import type { Platform } from '../io/platform.js';
import type { NpyArray } from '../npy/array.js';
import { typedArrayFor } from '../npy/dtype.js';
import { DEFAULT_CHUNK_SIZE } from '../zip/random/member-reader.js';
import { LENGTH_PREFIX, MAX_HEADER_LENGTH, decodeHeaderLength, decodeSafetensorsHeader } from './header.js';

export interface StreamSafetensorsOptions {
  /** Longest header accepted, in bytes (default and maximum 100 000 000, the reference reader's limit). */
  maxHeaderLength?: number;
  /** Refuse (ERR_NPY_TOO_LARGE) to `read()` a tensor larger than this before allocating it. Default: none. */
  maxArrayBytes?: number;
  /** Largest chunk `chunks()` yields (default 4 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Called with the header's `__metadata__` map (when it has one) before the first tensor is handed out. */
  onMetadata?: (metadata: Readonly<Record<string, string>>) => void;
}

/** A tensor whose header entry has been read; its bytes are still in the stream. */
export interface StreamSafetensorsEntry extends ArrayInfo {
  format: 'safetensors';
  isArray: true;
  name: string;
  /** The project dtype; float8 kinds are `'raw'` with descr '|V1'. */
  dtype: ArrayInfo['dtype'];
  descr: string;
  /** The dtype name in the header: 'BF16', 'F8_E4M3'... */
  safetensorsDType: string;
  fortranOrder: false;
  /** Stream offset of the tensor's first byte. */
  dataOffset: number;
  /**
   * The tensor's bytes, in chunks of at most `chunkSize`. Once only, and only before the next entry is requested
   * (an entry not read is skipped when the next one is asked for).
   */
  chunks(options?: { chunkSize?: number }): AsyncGenerator<Uint8Array, void, undefined>;
  /** The whole tensor in a buffer of its own, aligned for its typed array. Once only, like `chunks()`. */
  read(): Promise<NpyArray>;
}

function streamEnded(at: number, expectedEnd: number): NpzError {
  return new NpzError('ERR_SAFETENSORS_BUFFER_LENGTH', `the stream ended at byte ${at}, before byte ${expectedEnd} where the header says its data ends`, {
    offset: at,
    expected: expectedEnd,
    actual: at,
  });
}

/** `streamSafetensors` on an explicit platform (the public function, documented in src/index.ts, passes Node's). */
export async function* streamSafetensors(
  _platform: Platform,
  input: ByteStream,
  options: StreamSafetensorsOptions = {},
): AsyncGenerator<StreamSafetensorsEntry, void, undefined> {
  const { signal } = options;
  const reader = new StreamByteReader(input, signal);
  try {
    const limit = Math.min(options.maxHeaderLength ?? MAX_HEADER_LENGTH, MAX_HEADER_LENGTH);
    const prefix = await reader.read(LENGTH_PREFIX);
    const length = decodeHeaderLength(prefix, prefix.length < LENGTH_PREFIX ? prefix.length : Number.MAX_SAFE_INTEGER, limit);
    const json = await reader.read(length);
    if (json.length < length) {
      throw new NpzError('ERR_SAFETENSORS_HEADER_LENGTH', `the stream ended at byte ${LENGTH_PREFIX + json.length}, inside the ${length}-byte header`, {
        offset: LENGTH_PREFIX + json.length,
        expected: length,
        actual: json.length,
      });
    }
    const header = decodeSafetensorsHeader(json);
    if (header.metadata !== undefined) options.onMetadata?.(Object.freeze({ ...header.metadata }));
    const dataStart = LENGTH_PREFIX + length;
    const chunkDefault = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    for (const tensor of header.tensors) {
      throwIfAborted(signal);
      const start = dataStart + tensor.begin;
      const end = dataStart + tensor.end;
      let state: 'waiting' | 'reading' | 'passed' = 'waiting';
      const passedOver = (): NpzError =>
        new NpzError('ERR_NPZ_CLOSED', `tensor ${JSON.stringify(tensor.name)} was passed over: a stream's tensors must be read before asking for the next`, {
          entry: tensor.name,
        });
      const claim = (): void => {
        if (state === 'passed') throw passedOver();
        if (state === 'reading') throw new NpzError('ERR_NPZ_CLOSED', `tensor ${JSON.stringify(tensor.name)} was already read; a stream is read once`, { entry: tensor.name });
        state = 'reading';
      };
      async function* bytes(chunkSize: number): AsyncGenerator<Uint8Array, void, undefined> {
        if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
          throw new NpzError('ERR_INVALID_ARGUMENT', `chunkSize must be a positive integer, got ${chunkSize}`, { actual: chunkSize });
        }
        while (reader.position < end || state === 'passed') {
          // Once the stream has moved on, this tensor's bytes are gone: never end quietly with fewer of them.
          if (state === 'passed') throw passedOver();
          throwIfAborted(signal);
          const piece = await reader.next(Math.min(chunkSize, end - reader.position));
          if (piece === undefined) throw streamEnded(reader.position, end);
          yield piece;
        }
      }
      const entry: StreamSafetensorsEntry = {
        format: 'safetensors',
        isArray: true,
        name: tensor.name,
        dtype: tensor.dtype.dtype,
        descr: tensor.dtype.descr,
        safetensorsDType: tensor.dtype.name,
        shape: tensor.shape,
        fortranOrder: false,
        byteLength: tensor.end - tensor.begin,
        dataOffset: start,
        chunks(chunkOptions = {}) {
          claim();
          return bytes(chunkOptions.chunkSize ?? chunkDefault);
        },
        async read() {
          claim();
          const byteLength = tensor.end - tensor.begin;
          const max = options.maxArrayBytes ?? Number.POSITIVE_INFINITY;
          if (byteLength > max) {
            throw new NpzError('ERR_NPY_TOO_LARGE', `tensor ${JSON.stringify(tensor.name)}: ${byteLength} bytes exceed the maxArrayBytes limit of ${max}`, {
              entry: tensor.name,
              expected: max,
              actual: byteLength,
            });
          }
          const buffer = new ArrayBuffer(byteLength);
          const into = new Uint8Array(buffer);
          let at = 0;
          for await (const piece of bytes(chunkDefault)) {
            into.set(piece, at);
            at += piece.length;
          }
          return { dtype: tensor.dtype.dtype, descr: tensor.dtype.descr, shape: [...tensor.shape], fortranOrder: false, data: typedArrayFor(tensor.dtype.dtype, buffer, 0, byteLength) };
        },
      };
      yield entry;
      state = 'passed';
      // What the consumer left unread of this tensor is skipped; the next one starts where it ends.
      while (reader.position < end) {
        throwIfAborted(signal);
        const piece = await reader.next(Math.min(DEFAULT_CHUNK_SIZE, end - reader.position));
        if (piece === undefined) throw streamEnded(reader.position, end);
      }
    }
    if (!(await reader.atEnd())) {
      const at = reader.position;
      throw new NpzError('ERR_SAFETENSORS_BUFFER_LENGTH', `the stream goes on after byte ${at}, where the header says the last tensor ends`, {
        offset: at,
        expected: at,
      });
    }
  } finally {
    await reader.close();
  }
}
