import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { NpzError } from '../errors.js';
import { MAX_VIEW_BYTES } from '../io/chunks.js';
import { checkInto, checkRange, type RandomAccessSource } from '../io/random-access.js';

class FileSource implements RandomAccessSource {
  #handle: FileHandle | undefined;
  readonly #path: string;

  constructor(
    handle: FileHandle,
    readonly size: number,
    path: string,
  ) {
    this.#handle = handle;
    this.#path = path;
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(offset, length);
    checkInto(into, length);
    const handle = this.#handle;
    if (handle === undefined) throw new NpzError('ERR_NPZ_CLOSED', `read from ${this.#path} after close`);
    const wanted = Math.max(0, Math.min(length, this.size - offset));
    // Unzeroed memory is safe here: only the bytes actually read are ever exposed. Not from Buffer's shared pool,
    // and handed out as a plain Uint8Array: readers pass views of it on (chunks), and Buffer's slice() is a view.
    const target = into ?? plainBytes(wanted);
    let done = 0;
    // A positional read may return less than asked (signals, pipes, network filesystems); loop until EOF.
    while (done < wanted) {
      const step = Math.min(wanted - done, MAX_VIEW_BYTES);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(target, done, step, offset + done));
      } catch (cause) {
        throw new NpzError('ERR_IO', `reading ${this.#path} at offset ${offset + done} failed: ${(cause as Error).message}`, {
          offset: offset + done,
          cause,
        });
      }
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return target.subarray(0, done);
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    try {
      await handle.close();
    } catch (cause) {
      throw new NpzError('ERR_IO', `closing ${this.#path} failed: ${(cause as Error).message}`, { cause });
    }
  }
}

export function pathOf(location: string | URL): string {
  if (typeof location === 'string') return location;
  if (location.protocol !== 'file:') {
    throw new NpzError(
      'ERR_INVALID_ARGUMENT',
      `only file: URLs are opened directly (got ${location.protocol}); pass a RandomAccessSource for other transports`,
    );
  }
  return fileURLToPath(location);
}

/** Opens a regular file for positional reads. The caller closes the returned source. */
export async function fileSource(location: string | URL): Promise<RandomAccessSource> {
  const path = pathOf(location);
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw new NpzError('ERR_IO', `cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NpzError('ERR_IO', `${path} is not a regular file`);
    return new FileSource(handle, stats.size, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    if (error instanceof NpzError) throw error;
    throw new NpzError('ERR_IO', `cannot stat ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** `length` unzeroed bytes of their own (not in Buffer's shared pool), typed as a plain Uint8Array. */
export function plainBytes(length: number): Uint8Array {
  const bytes = Buffer.allocUnsafeSlow(length);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
