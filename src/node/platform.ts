/**
 * The Node platform: how the core reaches files, zlib, HTTP, object stores and a caller's Node streams here. `src/index.ts`
 * passes it to every core entry point; nothing else in the library refers to it.
 */
import type { Writable } from 'node:stream';
import { NpzError } from '../errors.js';
import type { Platform, StreamSink } from '../io/platform.js';
import { resolveSource } from './resolve.js';
import { nodeCodecs } from './codecs.js';
import { WritableSink } from './sinks.js';
import { nodeFiles, type FileSystemCalls } from './files.js';

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
    codecs: nodeCodecs,
    openSource: (input, options) => resolveSource(input, options),
    streamSink,
    files: nodeFiles(calls),
    openUpload: async (url, options) => {
      const { openObjectUpload } = await import('./objectstore/index.js');
      return openObjectUpload(url, options);
    },
  };
}

export const nodePlatform: Platform = /* @__PURE__ */ nodePlatformWith();
