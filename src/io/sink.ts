/**
 * Where a writer's bytes go. A sink appends batches of chunks; a seekable sink can also overwrite bytes it already
 * wrote (to patch a local header after streaming the member, as zipfile does on real files). Node's sinks (an open
 * file, any Writable) are in src/node/sinks.ts.
 */
import { NpzError, isNpzError } from '../errors.js';

export interface ByteSink {
  /** Appends `chunks` in order. Resolves when the sink no longer needs the chunks and is ready for more. */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Overwrites already-written bytes at `position`. Only seekable sinks have it. */
  writeAt?(data: Uint8Array, position: number): Promise<void>;
  /**
   * True when a resolved `write` leaves no reference to the chunks' memory behind (the bytes were copied, e.g.
   * into the kernel), so the writer may refill a buffer it wrote. A stream that passes chunks on (a Transform, a
   * PassThrough) does not, so writers only ever hand it views of memory that stays unchanged.
   */
  readonly releasesChunks?: boolean;
  /**
   * True when `write` may be called again before the last call resolved, each call's bytes still landing after the
   * bytes of the calls before it (a file written at positions taken when each call is made).
   */
  readonly overlappingWrites?: boolean;
  /**
   * A sink that sends bytes on as they come (an upload by parts) can patch only bytes it still holds: a writer says
   * before writing them that `[position, position + length)` will be patched, and patches them (writeAt) as soon as
   * it can rather than at the end. Called before those bytes are written.
   */
  hold?(position: number, length: number): void;
  /** The total the writer will write, said before its first byte when it knows it (an upload sizes its parts by it). */
  expectLength?(total: number): void;
}

/** The sink ZipWriter writes to: any ByteSink. */
export type ZipSink = ByteSink;

/** An ERR_IO for a failed write, naming the host's error code (`ENOSPC`...) when it has one; NpzErrors pass as is. */
export function ioError(message: string, cause: unknown, offset?: number): NpzError {
  if (isNpzError(cause)) return cause;
  const code = (cause as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? ` (${code})` : '';
  return new NpzError('ERR_IO', `${message}${detail}`, offset === undefined ? { cause } : { cause, offset });
}
