/** Saving to a named file, the same way for every format: atomically, with the save options and error mapping. */
import { NpzError, isNpzError } from '../errors.js';
import { ioError, type ZipSink } from '../io/sink.js';
import type { RemoteOptions } from '../objectstore/options.js';
import { formatObjectUrl, isObjectStoreUrl, parseObjectUrl } from '../objectstore/url.js';
import { abortError, throwIfAborted } from './abort.js';
import type { Platform } from './platform.js';

/** What the save functions take about the file itself. */
export interface FileSaveOptions {
  /** Permissions of the new file (default 0o666, minus the umask, as numpy's `open` gives). */
  mode?: number;
  /** fsync the file and its directory so the rename survives a crash (default true). */
  fsync?: boolean;
  signal?: AbortSignal;
  /** For an `s3://` or `gs://` target: credentials, endpoint, part size and parts in flight. */
  remote?: RemoteOptions;
}

/** A save's failure as an NpzError: its own errors as they are, an abort as ERR_ABORTED, anything else ERR_IO. */
export function saveFailure(err: unknown, signal: AbortSignal | undefined, what: string): NpzError {
  if (isNpzError(err)) return err;
  if (signal?.aborted) return abortError(signal, 'the write');
  return ioError(what, err);
}

/**
 * Writes `path` atomically through the platform (temp file beside it, fsync'd unless `fsync: false`, renamed over
 * `path` once closed), with aborts and host failures as NpzErrors naming the target. An object store URL is
 * uploaded by parts instead, just as atomically: the object appears when the upload completes, and any failure or
 * abort cancels the upload, leaving what was at the key as it was.
 */
export async function saveFile<T>(platform: Platform, path: string, options: FileSaveOptions, write: (sink: ZipSink) => Promise<T>): Promise<T> {
  if (isObjectStoreUrl(path)) return saveObject(platform, path, options, write);
  const target = platform.files.resolve(path);
  try {
    return await platform.files.writeAtomically(target, write, {
      mode: options.mode ?? 0o666,
      fsync: options.fsync !== false,
      signal: options.signal,
    });
  } catch (err) {
    throw saveFailure(err, options.signal, `saving ${target} failed`);
  }
}

async function saveObject<T>(platform: Platform, url: string, options: FileSaveOptions, write: (sink: ZipSink) => Promise<T>): Promise<T> {
  const label = formatObjectUrl(parseObjectUrl(url));
  if (platform.openUpload === undefined) throw new NpzError('ERR_INVALID_ARGUMENT', `${label}: this platform cannot upload to object stores`);
  throwIfAborted(options.signal, 'the upload');
  const upload = await platform.openUpload(url, { remote: options.remote, signal: options.signal });
  try {
    const result = await write(upload.sink);
    // The last moment to back out: once completed, the new object has replaced the old one.
    throwIfAborted(options.signal, 'the upload');
    await upload.complete();
    return result;
  } catch (err) {
    const error = saveFailure(err, options.signal, `uploading ${label} failed`);
    await upload.abort(error);
    throw error;
  }
}
