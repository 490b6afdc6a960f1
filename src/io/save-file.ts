/** Saving to a named file, the same way for every format: atomically, with the save options and error mapping. */
import { NpzError, isNpzError } from '../errors.js';
import { ioError } from '../io/sink.js';
import { abortError } from './abort.js';
import type { FileSink, Platform } from './platform.js';

/** What the save functions take about the file itself. */
export interface FileSaveOptions {
  /** Permissions of the new file (default 0o666, minus the umask, as numpy's `open` gives). */
  mode?: number;
  /** fsync the file and its directory so the rename survives a crash (default true). */
  fsync?: boolean;
  signal?: AbortSignal;
}

/** A save's failure as an NpzError: its own errors as they are, an abort as ERR_ABORTED, anything else ERR_IO. */
export function saveFailure(err: unknown, signal: AbortSignal | undefined, what: string): NpzError {
  if (isNpzError(err)) return err;
  if (signal?.aborted) return abortError(signal, 'the write');
  return ioError(what, err);
}

/**
 * Writes `path` atomically through the platform (temp file beside it, fsync'd unless `fsync: false`, renamed over
 * `path` once closed), with aborts and host failures as NpzErrors naming the target.
 */
export async function saveFile<T>(platform: Platform, path: string, options: FileSaveOptions, write: (sink: FileSink) => Promise<T>): Promise<T> {
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
