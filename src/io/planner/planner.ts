import { NpzError } from '../../errors.js';
import { checkInto, checkRange, type RandomAccessSource, type ReadCost } from '../random-access.js';
import { Limiter } from './limiter.js';
import { mergeRuns, mergeRunsLazily, type ByteRun } from './merge.js';
import { orderedPieces } from './pieces.js';
import { AROUND_WINDOW, MAX_MERGED, SMALL_READ, piecesInFlight, readPolicy, runGap, runReadsInFlight, type Landing, type ReadPolicy } from './policy.js';
import { splitRead } from './split.js';
import { TailCache, growsTail } from './tail.js';

/**
 * THE read planner: the one place that decides how reads reach a source. It wraps any `RandomAccessSource` and,
 * from the source's `readCost` (see policy.ts), merges near reads, splits large ones, bounds the reads in flight
 * and keeps the source's tail. Readers ask it for what they want, in the shape they want it:
 * - `read`: one positional read (it is a RandomAccessSource itself, so planners compose with every reader);
 * - `readAround`: a small read whose neighbourhood will likely be wanted next (npy and local headers), rounded up
 *   to a cached 64 KiB window;
 * - `pieces`: an ordered stream of the pieces of a large range, into caller memory, a recycled ring or fresh
 *   buffers, with a bounded number of reads in flight and an "all reads issued" cue;
 * - `readRuns`: a batch of byte runs (a zip scan's local headers, a tensor slice's rows) merged by cost, read with
 *   a bounded number of merged reads in flight and handed back in order; a run read on its own may land straight
 *   in the caller's memory.
 *
 * The policy (gap, reads in flight, request size) is fixed when the planner wraps the source. A batch of data runs
 * asks for its gap when it starts (`runGap`), from the source's cost at that moment, so a source that measures its
 * link (the HTTP source does) plans each slice with what it has learnt so far.
 */

export interface PlannerOptions {
  /** The source's last bytes, already read (e.g. by an HTTP source's first request): seeds the tail cache (and counts as one read). */
  tail?: Uint8Array;
  /** Memory for a split read without a destination (default: a zeroed Uint8Array). */
  allocate?: (length: number) => Uint8Array;
  /** Throws when the source can no longer be read (closed, aborted); run before a read is served from a cache. */
  guard?: () => void;
}

export interface PiecesOptions {
  /** Bytes per piece; the last may be shorter. */
  pieceBytes: number;
  /** Land every piece in its place in this memory (at least `length` bytes); pieces are views of it. */
  into?: Uint8Array | undefined;
  /** Land pieces in a few reused buffers: a piece is valid only until the next one is asked for. */
  recycle?: boolean | undefined;
  /** Called once the last piece's read has been issued (before it completes): time to start on the next range. */
  onAllIssued?: (() => void) | undefined;
  /** The error for a source that ends at `end`, before `expectedEnd` (default ERR_IO). */
  shortRead?: ((end: number, expectedEnd: number) => Error) | undefined;
}

/** Bytes read for consecutive runs of a batch: `bytes` starts at `start` and holds every run of `runs`. */
export interface RunGroup<R extends ByteRun> {
  readonly start: number;
  /** Fewer bytes than the runs span only where the source ended first. */
  readonly bytes: Uint8Array;
  readonly runs: readonly R[];
  /** True when `bytes` is the memory `RunsOptions.into` gave for the group's one run: nothing to copy. */
  readonly landed: boolean;
}

export interface RunsOptions<R extends ByteRun> {
  /** Largest merged read (default 4 MiB); a single run longer than this stays one read. */
  maxSpan?: number | undefined;
  /**
   * Gap read through for this batch (default: the policy's, as for a header scan); a function is asked again for
   * each read planned, so a batch follows a cost the source learns as it reads (pass `() => planner.runGap(…)`).
   */
  gapBytes?: number | (() => number) | undefined;
  /**
   * Data runs: every merged read is one read of exactly its range (no cached window on a cheap source, no merging
   * with other small reads or splitting on a round-trip one: merged reads are at most `maxSpan`, and the batch keeps
   * its own reads in flight); reads in flight are those of `landing` (see `runReadsInFlight`). Default: the
   * header-scan behaviour.
   */
  landing?: Landing | undefined;
  /** Memory a run read on its own should land in (at least its length), or undefined for fresh memory. */
  into?: ((run: R) => Uint8Array | undefined) | undefined;
  /** Stops the batch: reads in flight are stopped, and the generator throws the signal's reason. */
  signal?: AbortSignal | undefined;
}

/** Reads that reached the source and the bytes they returned; the caches and merging keep both below what was asked. */
export interface ReadStats {
  reads: number;
  bytes: number;
}

/** Largest merged read of a batch of runs by default: a file of tiny members costs a handful of reads. */
export const DEFAULT_MAX_SPAN = 4 * 1024 * 1024;

interface SmallRead {
  start: number;
  end: number;
  resolve(bytes: Uint8Array): void;
  reject(error: unknown): void;
}

const EMPTY = new Uint8Array(0);

/**
 * Runs `task` after the I/O callbacks of this turn of the event loop (Node's setImmediate), so small reads issued
 * by several completions in one turn are merged; hosts without it get a zero-delay timer.
 */
const nextTurn: (task: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (task) => void (globalThis as unknown as { setImmediate: (task: () => void) => unknown }).setImmediate(task)
    : (task) => void setTimeout(task, 0);

/**
 * How a large read is cut: at the request size, finer where slots are idle (`spread`, one read on its own), or not
 * at all (`none`: a read of a batch of runs, which keeps its own reads in flight and bounds them by its span).
 */
type Split = 'spread' | 'none';

/** Read through a call so that a check after an await is not narrowed away by the one before it. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function sourceEnded(end: number, expectedEnd: number): NpzError {
  return new NpzError('ERR_IO', `the source ended at offset ${end}, before ${expectedEnd}`, { offset: end, expected: expectedEnd });
}

export class ReadPlanner implements RandomAccessSource {
  /** The planner of `source`: the source itself when it already is one, else a new planner over it. */
  static over(source: RandomAccessSource): ReadPlanner {
    return source instanceof ReadPlanner ? source : new ReadPlanner(source);
  }

  readonly source: RandomAccessSource;
  /** Fixed when the planner is made, from the source's `readCost` at that time. */
  readonly policy: ReadPolicy;
  /** What reached the source through this planner. */
  readonly readStats: ReadStats = { reads: 0, bytes: 0 };
  readonly #limiter: Limiter | undefined;
  readonly #allocate: (length: number) => Uint8Array;
  readonly #guard: (() => void) | undefined;
  #tail: TailCache | undefined;
  #batch: SmallRead[] = [];
  #batchScheduled = false;
  #aroundStart = 0;
  #around: Uint8Array = EMPTY;

  constructor(source: RandomAccessSource, options: PlannerOptions = {}) {
    this.source = source;
    this.policy = readPolicy(source.readCost);
    const parallel = this.policy.parallelReads;
    this.#limiter = this.policy.roundTrip && parallel !== undefined ? new Limiter(parallel) : undefined;
    this.#allocate = options.allocate ?? ((length) => new Uint8Array(length));
    this.#guard = options.guard;
    if (options.tail !== undefined) {
      this.#tail = new TailCache(options.tail, source.size - options.tail.length);
      // The read that fetched it counts as this source's first.
      this.readStats.reads = 1;
      this.readStats.bytes = options.tail.length;
    }
  }

  get size(): number {
    return this.source.size;
  }

  get readCost(): ReadCost | undefined {
    return this.source.readCost;
  }

  /** Reads up to this length go through the cached window of `readAround`; longer ones are ordinary reads. */
  get aroundLimit(): number {
    return AROUND_WINDOW / 2;
  }

  /**
   * One positional read, with the RandomAccessSource contract. A cheap source gets it as asked. On a round-trip
   * source a read inside the cached tail costs nothing, a small one just below it grows the tail, other small reads
   * wait one turn of the event loop to be merged with their neighbours, and large ones are split over idle slots.
   */
  read(offset: number, length: number, into?: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#read(offset, length, into, signal, true);
  }

  /** `read`, with small reads merged (`merge`) or not: the pieces of a stream are planned already, merging them would only undo its depth. */
  #read(offset: number, length: number, into: Uint8Array | undefined, signal: AbortSignal | undefined, merge: boolean): Promise<Uint8Array> {
    try {
      checkRange(offset, length);
      checkInto(into, length);
      this.#guard?.();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.policy.roundTrip && this.#tail === undefined) return this.#fromSource(offset, length, into, signal);
    return this.#planned(offset, length, into, signal, merge, 'spread');
  }

  /** One read of the source, counted. */
  #fromSource(offset: number, length: number, into?: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    this.readStats.reads++;
    return this.source.read(offset, length, into, signal).then((bytes) => {
      this.readStats.bytes += bytes.length;
      return bytes;
    });
  }

  /**
   * The gap worth reading through in a batch of data runs landing as `landing` says, from the source's cost now
   * (see policy.ts `runGap`): a link the source measured, its declared gap, or a local file's nominal cost.
   */
  runGap(landing: Landing = 'fresh'): number {
    return runGap(this.source.readCost, runReadsInFlight(this.policy, landing));
  }

  /**
   * A small read served from one cached window of the source, so reading neighbouring small things one by one (a
   * local header, an npy header, a tiny member) does not cost a read each. Treat the result as read-only.
   */
  async readAround(offset: number, length: number): Promise<Uint8Array> {
    if (length > this.aroundLimit) return this.read(offset, length);
    const relative = offset - this.#aroundStart;
    if (relative >= 0 && relative + length <= this.#around.length) return this.#around.subarray(relative, relative + length);
    const span = Math.max(length, Math.min(AROUND_WINDOW, this.size - offset));
    // A fresh buffer per refill keeps earlier results valid for callers still holding them.
    const fetched = await this.read(offset, span);
    this.#aroundStart = offset;
    this.#around = fetched;
    return fetched.subarray(0, Math.min(length, fetched.length));
  }

  /**
   * One run of a batch read on its own (a header that needed more bytes than its batch read held): exact on a
   * round-trip source, through the cached window on a cheap one, where the surrounding bytes come free.
   */
  readRun(offset: number, length: number): Promise<Uint8Array> {
    return this.policy.roundTrip ? this.read(offset, length) : this.readAround(offset, length);
  }

  /**
   * The bytes `[offset, offset + length)` as an ordered stream of pieces of `pieceBytes`, with reads in flight
   * bounded by the source (its `parallelReads`; on a cheap source 4 into caller memory, where parallel reads spread
   * page faults over cores, else 2). Completing or leaving the loop returns only once every read has settled.
   */
  pieces(offset: number, length: number, options: PiecesOptions): AsyncGenerator<Uint8Array> {
    const landing = options.into !== undefined ? 'into' : options.recycle === true ? 'ring' : 'fresh';
    return orderedPieces((at, bytes, into) => this.#read(at, bytes, into, undefined, false), offset, length, {
      pieceBytes: options.pieceBytes,
      depth: piecesInFlight(this.policy, landing),
      into: options.into,
      recycle: options.recycle,
      onAllIssued: options.onAllIssued,
      shortRead: options.shortRead ?? sourceEnded,
    });
  }

  /**
   * Reads a batch of byte runs (sorted by offset) merged by cost: neighbours share a read while the gap between them
   * is worth reading through (`gapBytes`, by default the policy's: any gap within `maxSpan` on a cheap source).
   * Merged reads are issued ahead (up to 16 on a round-trip source; on a cheap one one at a time for a scan, more for
   * data runs) and yielded in order, so the consumer may await work between groups. Runs are taken from `runs` only
   * as reads are issued, so a lazy iterable of millions of runs costs no more memory than the reads in flight. A
   * failed read is reported when its group's turn comes. However the loop ends, it returns only once every read it
   * issued has settled, so no read lands in memory the caller has since reused.
   */
  async *readRuns<R extends ByteRun>(runs: Iterable<R>, options: RunsOptions<R> = {}): AsyncGenerator<RunGroup<R>> {
    const { landing, into, signal } = options;
    const data = landing !== undefined;
    const merged = mergeRunsLazily(runs, {
      gapBytes: options.gapBytes ?? this.policy.gapBytes,
      maxSpan: options.maxSpan ?? DEFAULT_MAX_SPAN,
      size: this.size,
    });
    const depth = runReadsInFlight(this.policy, landing);
    const stop = new AbortController();
    const stopping = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]);
    interface Issued {
      start: number;
      runs: R[];
      landed: boolean;
      bytes: Promise<Uint8Array>;
    }
    const queue: Issued[] = [];
    let exhausted = false;
    const issue = (): void => {
      const step = merged.next();
      if (step.done === true) {
        exhausted = true;
        return;
      }
      const read = step.value;
      const length = read.end - read.start;
      const target = into !== undefined && read.runs.length === 1 ? into(read.runs[0] as R) : undefined;
      const landed = target !== undefined && target.length >= length;
      let bytes: Promise<Uint8Array>;
      if (!data) bytes = this.readRun(read.start, length);
      else {
        try {
          checkRange(read.start, length);
          this.#guard?.();
          bytes =
            !this.policy.roundTrip && this.#tail === undefined
              ? this.#fromSource(read.start, length, landed ? target : undefined, stopping)
              : this.#planned(read.start, length, landed ? target : undefined, stopping, false, 'none');
        } catch (error) {
          bytes = Promise.reject(error);
        }
      }
      // Handled here so that a failure of a read issued ahead is not reported as unhandled while an earlier
      // group's error is the one thrown; awaiting it later still sees it.
      bytes.catch(() => undefined);
      queue.push({ start: read.start, runs: read.runs, landed, bytes });
    };
    try {
      for (;;) {
        if (signal?.aborted === true) throw signal.reason;
        while (!exhausted && queue.length < depth) issue();
        const next = queue.shift();
        if (next === undefined) return;
        const bytes = await next.bytes;
        if (isAborted(signal)) throw (signal as AbortSignal).reason;
        yield { start: next.start, bytes, runs: next.runs, landed: next.landed };
      }
    } finally {
      if (queue.length > 0) {
        stop.abort(new NpzError('ERR_ABORTED', 'the batch of reads was left'));
        await Promise.allSettled(queue.map((read) => read.bytes));
      }
    }
  }

  /** Drops the caches and closes the source. */
  async close(): Promise<void> {
    this.#tail = undefined;
    this.#around = EMPTY;
    await this.source.close();
  }

  async #planned(
    offset: number,
    length: number,
    into: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    merge: boolean,
    split: Split,
  ): Promise<Uint8Array> {
    const size = this.source.size;
    const start = Math.min(offset, size);
    const end = Math.min(offset + length, size);
    let bytes: Uint8Array;
    const tail = this.#tail;
    const cached = end <= start ? EMPTY : tail?.lookup(start, end);
    if (cached !== undefined) bytes = cached;
    else if (tail !== undefined && this.policy.roundTrip && growsTail(start, end, { start: tail.start, length: tail.bytes.length }, this.policy.gapBytes)) {
      bytes = await this.#growTail(tail, start, end);
    } else if (merge && this.policy.roundTrip && end - start <= SMALL_READ) bytes = await this.#queueSmall(start, end);
    else return this.#split(start, end, into, signal, split);
    if (into !== undefined) {
      into.set(bytes);
      return into.subarray(0, bytes.length);
    }
    // A fresh copy rather than a view into the cache or a merged read: like a file read, the result is then
    // aligned and callers may view it as a typed array.
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    return copy;
  }

  /** Runs `work` holding one of the source's read slots (when its reads in flight are bounded). */
  async #limited<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const limiter = this.#limiter;
    if (limiter === undefined) {
      if (signal?.aborted === true) throw signal.reason;
      return work();
    }
    const slot = await limiter.acquire(signal);
    try {
      return await work();
    } finally {
      slot.release();
    }
  }

  /** Fetches only the bytes missing between `start` and the cache, then serves the read from the grown cache. */
  async #growTail(tail: TailCache, start: number, end: number): Promise<Uint8Array> {
    const below = tail.start;
    const missing = await this.#limited(() => this.#fromSource(start, below - start));
    this.#guard?.();
    // Other reads may have grown the cache meanwhile, by less or more than this one: only what is still below it
    // goes in front, so the cache stays one contiguous run to the end.
    if (missing.length === below - start) tail.prepend(start, missing);
    if (start >= tail.start) return tail.lookup(start, end) as Uint8Array;
    return missing.subarray(0, end - start);
  }

  /** Small reads wait for the rest of this turn of the event loop, then go out merged with their neighbours. */
  #queueSmall(start: number, end: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#batch.push({ start, end, resolve, reject });
      if (this.#batchScheduled) return;
      this.#batchScheduled = true;
      nextTurn(() => this.#flushSmall());
    });
  }

  #flushSmall(): void {
    const reads = this.#batch.sort((a, b) => a.start - b.start);
    this.#batch = [];
    this.#batchScheduled = false;
    const runs = reads.map((read) => ({ offset: read.start, length: read.end - read.start }));
    for (const group of mergeRuns(runs, { gapBytes: this.policy.gapBytes, maxSpan: MAX_MERGED })) {
      const members = reads.slice(group.first, group.last);
      this.#limited(() => this.#fromSource(group.start, group.end - group.start)).then(
        (bytes) => {
          for (const read of members) read.resolve(bytes.subarray(read.start - group.start, read.end - group.start));
        },
        (error: unknown) => {
          for (const read of members) read.reject(error);
        },
      );
    }
  }

  /** A large read, split into parts run in parallel (see `Split`), each landing straight in its place; the first failure stops the rest. */
  async #split(start: number, end: number, into: Uint8Array | undefined, signal: AbortSignal | undefined, split: Split): Promise<Uint8Array> {
    const length = end - start;
    const parts: Array<[number, number]> = split === 'none' ? [[0, length]] : splitRead(length, this.policy.requestBytes, this.#limiter?.idle ?? 1);
    if (parts.length <= 1) return this.#limited(() => this.#fromSource(start, length, into, signal), signal);
    // Unzeroed memory would be safe: the read either fills every byte or fails.
    const target = into?.subarray(0, length) ?? this.#allocate(length);
    const siblings = new AbortController();
    const stop = signal === undefined ? siblings.signal : AbortSignal.any([signal, siblings.signal]);
    const reads = parts.map(([from, to]) => {
      const part = this.#limited(async () => {
        const place = target.subarray(from, to);
        const bytes = await this.#fromSource(start + from, to - from, place, stop);
        if (bytes.length > 0 && (bytes.buffer !== place.buffer || bytes.byteOffset !== place.byteOffset)) place.set(bytes);
        return bytes.length;
      }, stop);
      // The first failure stops the other parts; its error is the one reported.
      part.catch((error: unknown) => siblings.abort(error));
      return part;
    });
    const counts = await Promise.all(reads);
    // A source that ended early: only the bytes up to the first short part count.
    for (let i = 0; i < parts.length; i++) {
      const [from, to] = parts[i] as [number, number];
      const count = counts[i] as number;
      if (count < to - from) return target.subarray(0, from + count);
    }
    return target;
  }
}
