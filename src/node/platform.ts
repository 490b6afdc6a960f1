/**
 * The Node platform: how the core reaches files, zlib, HTTP and a caller's Node streams here. `src/index.ts`
 * passes it to every core entry point; nothing else in the library refers to it.
 */
import { Readable, pipeline, type Writable } from 'node:stream';
import { constants as zlibConstants, createDeflateRaw, inflateRawSync } from 'node:zlib';
import { NpzError } from '../errors.js';
import type { Codecs } from '../io/codecs.js';
import type { Platform, StreamSink } from '../io/platform.js';
import { resolveSource } from './resolve.js';
import { crc32 } from '../zip/crc32.js';
import { WritableSink } from '../zip/sinks.js';
import { nodeFiles, type FileSystemCalls } from './files.js';

/**
 * Interim codecs for this branch of issue 21: the zip readers and writer here still call zlib themselves, and the
 * core uses only `inflateHead` (openNpz's peek at a deflated npy header). When the zip rework lands, this object
 * is replaced by `src/node/codecs.ts`, which implements all of `Codecs`.
 */
const interimCodecs: Codecs = {
  crc32: (data, previous) => crc32(data, previous),
  deflateRaw(input, { level, chunkSize }) {
    return pipeline(Readable.from(input), createDeflateRaw({ level, chunkSize }), () => undefined) as AsyncIterable<Uint8Array>;
  },
  inflateRaw() {
    throw new Error('inflateRaw is not wired on this branch: the zip readers inflate with zlib themselves');
  },
  inflateHead(head, maxOutput) {
    try {
      return inflateRawSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: maxOutput });
    } catch {
      return undefined;
    }
  },
};

function isWritable(value: unknown): value is Writable {
  const candidate = value as Partial<Writable> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.write === 'function' &&
    typeof candidate.end === 'function' &&
    typeof candidate.on === 'function'
  );
}

function streamSink(destination: unknown, caller: string): StreamSink {
  if (!isWritable(destination)) throw new NpzError('ERR_INVALID_ARGUMENT', `${caller} needs a Node Writable destination`);
  return new WritableSink(destination);
}

/** A Node platform whose atomic writes make `calls` (tests record or fail them); `nodePlatform` uses Node's own. */
export function nodePlatformWith(calls?: FileSystemCalls): Platform {
  return {
    codecs: interimCodecs,
    openSource: (input, options) => resolveSource(input, options),
    streamSink,
    files: nodeFiles(calls),
  };
}

export const nodePlatform: Platform = /* @__PURE__ */ nodePlatformWith();
