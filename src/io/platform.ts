/**
 * What the core needs from its host, as one object handed to every core entry point: the core (npy, zip, tree,
 * npz, safetensors, io, http) imports no `node:` module and no adapter. `src/node/platform.ts` is Node's
 * implementation and `src/index.ts` binds the public functions to it; a browser entry will bind the same core
 * to its own. There is no registry and nothing is set on import: a core function uses the platform it is given.
 */
import type { NpzError } from '../errors.js';
import type { HttpReadOptions } from '../http/options.js';
import type { RemoteOptions } from '../objectstore/options.js';
import type { UploadSink } from '../objectstore/upload.js';
import type { NpzSource, RandomAccessSource } from './random-access.js';
import type { ZipSink } from './sink.js';
import type { Codecs } from './codecs.js';

export interface Platform {
  /** CRC-32 and raw deflate. */
  readonly codecs: Codecs;
  /**
   * Opens what a reader was given: a path or `file:` URL, an `http(s):` URL, an object store URL (`s3://`, `gs://`,
   * `hf://`), bytes, or the caller's own
   * RandomAccessSource (returned as is, not owned). Rejects with ERR_INVALID_ARGUMENT for anything else.
   */
  openSource(input: NpzSource, options: OpenSourceOptions): Promise<OpenedSource>;
  /**
   * The caller's destination stream (a Node Writable on Node) as a sink; throws ERR_INVALID_ARGUMENT, naming
   * `caller`, when it is not one.
   */
  streamSink(destination: unknown, caller: string): StreamSink;
  /** Named files: atomic writes, the text of a shard index, paths. */
  readonly files: PlatformFiles;
  /**
   * Starts an upload to an object store URL (`s3://`, `gs://`): the object appears only on `complete()`. Absent on a
   * host that cannot upload. Rejects with ERR_INVALID_ARGUMENT for a URL it cannot write (`hf://`).
   */
  openUpload?(url: string, options: OpenUploadOptions): Promise<Upload>;
}

export interface OpenUploadOptions {
  remote?: RemoteOptions | undefined;
  /** Stops the upload's requests; the writer then aborts the upload. */
  signal?: AbortSignal | undefined;
}

/** An upload by parts in progress: a sink for the writers, then completed or aborted. */
export interface Upload {
  readonly sink: UploadSink;
  /** The object as messages name it (`s3://bucket/key`). */
  readonly label: string;
  /** Sends what is left and makes the object appear, whole. */
  complete(): Promise<void>;
  /** Cancels the upload: the key is left as it was. Never rejects. */
  abort(reason: NpzError): Promise<void>;
}

export interface OpenSourceOptions {
  /** How an `http(s):` URL (or an object store URL, which is read over HTTP) is fetched. */
  http?: HttpReadOptions;
  /** Credentials and endpoints for `s3://`, `gs://` and `hf://` URLs. */
  remote?: RemoteOptions;
  /** Stops the source's requests too (a URL source's signal unless `http.signal` is given). */
  signal?: AbortSignal;
}

/** A source plus whether the reader that asked for it must close it (it opened a path, URL or bytes). */
export interface OpenedSource {
  source: RandomAccessSource;
  owned: boolean;
}

/** A destination stream as the writers see it: appends only, then ended, left open, or destroyed. */
export interface StreamSink extends ZipSink {
  /** Ends the destination and waits until it has finished. */
  end(): Promise<void>;
  /** Leaves the destination open; waits until every byte written so far was accepted. */
  release(): Promise<void>;
  /** Destroys the destination after a failure. */
  destroy(reason: Error): void;
}

/** A file being written: appends, overwrites of bytes already written (to patch a local header), whether written chunks may be refilled, and whether appends may overlap. */
export type FileSink = Required<Pick<ZipSink, 'write' | 'writeAt' | 'releasesChunks'>> & Pick<ZipSink, 'overlappingWrites'>;

export interface AtomicWriteOptions {
  /** Permissions of the new file (before the umask). */
  mode: number;
  /** Flush the file before the rename, and the directory after it, so the result survives a crash. */
  fsync: boolean;
  /** Checked once more right before the rename: an abort then leaves `path` as it was. */
  signal?: AbortSignal | undefined;
}

export interface PlatformFiles {
  /**
   * Writes `path` through a temp file beside it that is renamed over `path` only once `produce` has finished and
   * the file is closed: readers see the old file or the whole new one; on any failure (an abort before the
   * rename included) `path` is as it was and the temp file is gone. Errors are the host's, unmapped.
   */
  writeAtomically<T>(path: string, produce: (sink: FileSink) => Promise<T>, options: AtomicWriteOptions): Promise<T>;
  /** The UTF-8 text of a file. Errors are the host's, unmapped. */
  readText(path: string): Promise<string>;
  /** Creates a directory and its parents if missing. Errors are the host's, unmapped. */
  makeDirectory(path: string): Promise<void>;
  /** The absolute form of `path`, as error messages name it. */
  resolve(path: string): string;
  /** `name` inside `directory`. */
  join(directory: string, name: string): string;
  /** The directory part of `path` ('.' when it has none). */
  dirname(path: string): string;
  /** The last segment of `path`. */
  basename(path: string): string;
}
