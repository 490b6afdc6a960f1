import { NpzError } from '../errors.js';

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
  /** Optional: set by sources that pay a round trip per read (HTTP ranges, object stores); absent means reads are cheap. */
  readonly readCost?: ReadCost;
}

/** Upper bound on reads in flight for any one reader, whatever a source asks for. */
export const MAX_READ_CONCURRENCY = 64;

/**
 * The positional reads a member reader keeps in flight for `source`: its `readCost.parallelReads` when valid
 * (clamped to MAX_READ_CONCURRENCY), else `fallback`, the depth suited to local files.
 */
export function readConcurrency(source: RandomAccessSource, fallback: number): number {
  const hint = source.readCost?.parallelReads;
  if (typeof hint !== 'number' || !Number.isFinite(hint) || hint < 1) return fallback;
  return Math.min(MAX_READ_CONCURRENCY, Math.floor(hint));
}

/** Anything the readers accept: a path, a `file:` URL, the bytes themselves, or a custom source. */
export type NpzSource = string | URL | Uint8Array | RandomAccessSource;

export function isRandomAccessSource(value: unknown): value is RandomAccessSource {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<RandomAccessSource>;
  return typeof candidate.size === 'number' && typeof candidate.read === 'function' && typeof candidate.close === 'function';
}

/** Refuses a read request no source can serve; shared by every source so they agree on what is invalid. */
export function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `read range must be non-negative safe integers, got offset ${offset}, length ${length}`);
  }
}

export function checkInto(into: Uint8Array | undefined, length: number): void {
  if (into !== undefined && into.length < length) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `destination holds ${into.length} bytes, ${length} requested`);
  }
}

/** How readers should trade bytes for requests on a source where every read is a round trip. */
export interface ReadCost {
  /** A gap up to this many bytes between two wanted ranges is cheaper to read through than a second request. */
  gapBytes: number;
  /** Independent reads worth having in flight at once (the member readers keep up to 64 going). */
  parallelReads: number;
}
