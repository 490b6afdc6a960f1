/**
 * Named files on Node: the atomic write every save goes through, the text of a shard index, directories and
 * paths. The file-system calls of the atomic write go through `FileSystemCalls`, so a test can record their
 * order or make one fail without touching Node's modules.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { throwIfAborted } from '../io/abort.js';
import type { AtomicWriteOptions, FileSink, PlatformFiles } from '../io/platform.js';
import { FileHandleSink } from './sinks.js';

/** The calls an atomic write makes. Node's own by default (`nodeFileSystem`). */
export interface FileSystemCalls {
  open(path: string, flags: string, mode?: number): Promise<FileHandle>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

export const nodeFileSystem: FileSystemCalls = {
  open: (where, flags, mode) => fs.open(where, flags, mode),
  rename: (from, to) => fs.rename(from, to),
  rm: (where, options) => fs.rm(where, options),
};

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
  /** The file-system calls to make (tests record or fail them); Node's by default. */
  calls?: FileSystemCalls;
}

/**
 * Writes a file through a temp file beside it (same directory, so the rename is atomic) and renames it over
 * `path` only once `produce` has finished and the file is closed (and synced, with `fsync`): a reader of `path`
 * sees the old file or the whole new one, and on any failure nothing is left behind, not even the temp file.
 * With `fsync` the directory is synced after the rename, so the rename itself survives a crash.
 */
export async function writeFileAtomically<T>(
  target: string,
  produce: (handle: FileHandle) => Promise<T>,
  options: AtomicFileOptions = {},
): Promise<T> {
  const calls = options.calls ?? nodeFileSystem;
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    // 'wx': never follow or reuse something already at the temp name.
    handle = await calls.open(temp, 'wx', options.mode ?? 0o666);
    const result = await produce(handle);
    if (options.fsync === true) await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    // The last moment to back out: after the rename the new file is in place and the old one is gone.
    throwIfAborted(options.signal, 'the write');
    await calls.rename(temp, target);
    if (options.fsync === true) await syncDirectory(calls, path.dirname(target));
    return result;
  } catch (error) {
    // close() waits for any write still in flight (an abort does not wait for it), so the unlink is final.
    await handle?.close().catch(() => undefined);
    await calls.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Makes a rename durable. Some platforms cannot open or sync a directory; that only weakens durability. */
async function syncDirectory(calls: FileSystemCalls, directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await calls.open(directory, 'r');
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Named files for the core: atomic writes hand `produce` a positional sink over the temp file. */
export function nodeFiles(calls: FileSystemCalls = nodeFileSystem): PlatformFiles {
  return {
    writeAtomically: <T>(target: string, produce: (sink: FileSink) => Promise<T>, options: AtomicWriteOptions): Promise<T> =>
      writeFileAtomically(target, (handle) => produce(new FileHandleSink(handle)), { ...options, calls }),
    readText: (where) => fs.readFile(where, 'utf8'),
    makeDirectory: async (where) => {
      await fs.mkdir(where, { recursive: true });
    },
    resolve: (where) => path.resolve(where),
    join: (directory, name) => path.join(directory, name),
    dirname: (where) => path.dirname(where),
    basename: (where) => path.basename(where),
  };
}
