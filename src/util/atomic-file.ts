import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { throwIfAborted } from './abort.js';

export interface AtomicFileOptions {
  /** Permissions of the new file (default 0o666, minus the umask, as numpy's `open` gives). */
  mode?: number;
  /** fsync the file, and its directory after the rename, so the result survives a crash (default false). */
  fsync?: boolean;
  /**
   * Checked once more right before the rename: an abort that arrives while `produce`'s last write is in flight
   * (too late for `produce` to notice) still leaves `path` as it was, and rejects with ERR_ABORTED.
   */
  signal?: AbortSignal | undefined;
}

/**
 * Writes a file through a temp file beside it (same directory, so the rename is atomic) and renames it over
 * `path` only once `produce` has finished: a reader of `path` sees the old file or the whole new one, and on
 * any failure nothing is left behind, not even the temp file.
 */
export async function writeFileAtomically<T>(
  path: string,
  produce: (handle: FileHandle) => Promise<T>,
  options: AtomicFileOptions = {},
): Promise<T> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx', options.mode ?? 0o666);
    const result = await produce(handle);
    if (options.fsync === true) await handle.sync();
    await handle.close();
    handle = undefined;
    // The last moment to back out: after the rename the new file is in place and the old one is gone.
    throwIfAborted(options.signal, 'the write');
    await rename(temp, path);
    if (options.fsync === true) await syncDirectory(dirname(path));
    return result;
  } catch (error) {
    // close() waits for any write still in flight (an abort does not wait for it), so the unlink is final.
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Makes a rename durable. Some platforms cannot open or sync a directory; that only weakens durability. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
