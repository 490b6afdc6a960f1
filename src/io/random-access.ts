import { NpzError } from '../errors.js';

/**
 * Random access to the bytes of an archive. A zip can only be read from its end (the central directory), so
 * every reader needs the total size up front and positional reads; that is all this interface asks for, which
 * keeps other transports (HTTP range requests, cloud object stores) a small adapter away. How reads are merged,
 * split and kept in flight is not a source's business: the read planner (`io/planner/`) wraps any source and
 * decides that from its `readCost`.
 */
export interface RandomAccessSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads the bytes at `[offset, offset + length)`. Resolves with exactly `length` bytes, or fewer only when the
   * source ends first (never more). With `into` (at least `length` bytes long) the bytes are written to its start
   * and the result is a view of it; without it the result may alias memory the source keeps (e.g. the caller's
   * Buffer), so callers treat results as read-only. A source may stop early (rejecting) once `signal` aborts; the
   * planner passes one to stop the other parts of a split read when one part failed. Ignoring it is allowed.
   */
  read(offset: number, length: number, into?: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
  /** Releases the underlying resource. Idempotent. */
  close(): Promise<void>;
  /** Optional: set by sources that pay a round trip per read (HTTP ranges, object stores); absent means reads are cheap. */
  readonly readCost?: ReadCost | undefined;
}

/**
 * What a read costs on a source where every read is a round trip; the read planner derives its merging, splitting
 * and reads in flight from it. A source may declare the outcome directly (`gapBytes`, `parallelReads`) or the link
 * it sees, declared or measured (`latencyMs`, `bytesPerSecond`), and let the planner derive the rest. Nonsense
 * values (NaN, negative) are treated as absent, or as "read no gap" for `gapBytes`.
 */
export interface ReadCost {
  /** A gap up to this many bytes between two wanted ranges is cheaper to read through than a second request. */
  gapBytes?: number;
  /** Independent reads worth having in flight at once (the planner keeps at most 64; derived from the link when absent). */
  parallelReads?: number;
  /** Milliseconds a read waits for its first byte (about one round trip). */
  latencyMs?: number;
  /**
   * For a measured latency, how many requests it was measured on. Below a handful (see policy.ts
   * `MIN_LINK_SAMPLES`) a batch of data runs trusts no estimate yet: it reads its runs exactly, each read one more
   * sample. Absent for a declared latency.
   */
  latencySamples?: number;
  /**
   * Bytes per second the link delivers once bytes flow: for the fixed policy, what one read gets; for a batch of
   * runs (`runGap`), what all its reads in flight get together.
   */
  bytesPerSecond?: number;
  /** A large read is split into reads of this many bytes, run in parallel (absent: reads are never split). */
  requestBytes?: number;
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
