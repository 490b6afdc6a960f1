import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { NpzError } from '../errors.js';
import { httpSource, isHttpUrl, type HttpSourceOptions } from '../source/http.js';

/**
 * Random access to the bytes of an archive. A zip can only be read from its end (the central directory), so
 * every reader needs the total size up front and positional reads; that is all this interface asks for, which
 * keeps other transports (HTTP range requests, cloud object stores) a small adapter away.
 */
export interface RandomAccessSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads the bytes at `[offset, offset + length)`. Resolves with exactly `length` bytes, or fewer only when the
   * source ends first (never more). With `into` (at least `length` bytes long) the bytes are written to its start
   * and the result is a view of it; without it the result may alias memory the source keeps (e.g. the caller's
   * Buffer), so callers treat results as read-only.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /** Releases the underlying resource. Idempotent. */
  close(): Promise<void>;
}

/** Anything the readers accept: a path, a `file:` or `http(s):` URL, the bytes themselves, or a custom source. */
export type NpzSource = string | URL | Uint8Array | RandomAccessSource;

/** An opened source plus whether the caller who resolved it is responsible for closing it. */
export interface ResolvedSource {
  source: RandomAccessSource;
  /** True when the library opened the source (path, URL, bytes) and must close it; false for a caller's object. */
  owned: boolean;
}

export function isRandomAccessSource(value: unknown): value is RandomAccessSource {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<RandomAccessSource>;
  return typeof candidate.size === 'number' && typeof candidate.read === 'function' && typeof candidate.close === 'function';
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `read range must be non-negative safe integers, got offset ${offset}, length ${length}`);
  }
}

function checkInto(into: Uint8Array | undefined, length: number): void {
  if (into !== undefined && into.length < length) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `destination holds ${into.length} bytes, ${length} requested`);
  }
}

/** The bytes of a Buffer or Uint8Array, read without copying unless a destination is given. */
export function bufferSource(bytes: Uint8Array): RandomAccessSource {
  return {
    size: bytes.length,
    read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
      try {
        checkRange(offset, length);
        checkInto(into, length);
      } catch (error) {
        return Promise.reject(error);
      }
      const available = bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
      if (into === undefined) return Promise.resolve(available);
      into.set(available);
      return Promise.resolve(into.subarray(0, available.length));
    },
    close: () => Promise.resolve(),
  };
}

// One FileHandle.read is capped by libuv at 2^31-1 bytes; staying well under keeps each call short.
const MAX_SINGLE_READ = 1 << 30;

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
    // Unzeroed memory is safe here: only the bytes actually read are ever exposed.
    const target = into ?? Buffer.allocUnsafe(wanted);
    let done = 0;
    // A positional read may return less than asked (signals, pipes, network filesystems); loop until EOF.
    while (done < wanted) {
      const step = Math.min(wanted - done, MAX_SINGLE_READ);
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

function pathOf(location: string | URL): string {
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

/** How `resolveSource` opens an `http(s):` URL; the reader's `signal` stops its requests too. */
export interface ResolveOptions {
  http?: HttpSourceOptions;
  signal?: AbortSignal;
}

/** Turns any accepted input into a source, noting whether the library opened it (and so must close it). */
export async function resolveSource(input: NpzSource, options: ResolveOptions = {}): Promise<ResolvedSource> {
  if (isHttpUrl(input)) {
    const http = { ...options.http, ...(options.http?.signal === undefined && options.signal !== undefined ? { signal: options.signal } : {}) };
    return { source: await httpSource(input, http), owned: true };
  }
  if (typeof input === 'string' || input instanceof URL) return { source: await fileSource(input), owned: true };
  if (input instanceof Uint8Array) return { source: bufferSource(input), owned: true };
  if (isRandomAccessSource(input)) {
    if (!Number.isSafeInteger(input.size) || input.size < 0) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `source size must be a non-negative safe integer, got ${input.size}`);
    }
    return { source: input, owned: false };
  }
  throw new NpzError(
    'ERR_INVALID_ARGUMENT',
    'expected a path, a file: URL, a Buffer/Uint8Array or a RandomAccessSource { size, read, close }',
  );
}
