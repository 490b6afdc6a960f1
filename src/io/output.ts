/**
 * How a writer's bytes reach its sink (ZipWriter's and the safetensors writer's): `BatchedOutput` gathers small
 * chunks (headers, small arrays) into vectored batches of 1 MiB and keeps one sink write in flight at a time, or
 * two where the sink takes overlapping writes (an open file): the next write then waits in the kernel, not for the
 * event loop to notice that the one before it finished.
 *
 * In-memory array data (`putStable`) goes out either as views of the caller's memory or copied through a few reused
 * buffers, whichever the sink takes faster; `CopyPolicy` decides from what the call measures. Why both: on some
 * virtual machines the kernel pays a page fault of its own on every 4 KiB page of user memory it reads for the
 * first time (memory that only user code has touched, e.g. arrays a script just computed), which slowed writes of
 * such arrays to ~0.1–0.3 GB/s, while copying them in user space first costs ~0.1 s per 1.5 GB and lets the kernel
 * read warm pages. Where the kernel reads the arrays at full speed (arrays it filled itself, huge pages, a second
 * save of the same arrays), views are cheaper: the copy would only add to the CRC on the main thread.
 */
import { raceAbort } from './abort.js';
import { isNpzError } from '../errors.js';
import { ioError, type ByteSink } from './sink.js';

/** What hashes the bytes as they go out (the ZIP writer's CRC-32). */
export interface ByteHash {
  update(bytes: Uint8Array): void;
}

export interface OutputOptions {
  signal?: AbortSignal | undefined;
  /** Called after each write the sink accepted, with the total bytes accepted so far. */
  onWrite?: ((bytesWritten: number) => void) | undefined;
  /** Milliseconds on a monotonic clock (tests pass their own); `performance.now` by default. */
  now?: (() => number) | undefined;
}

export interface ByteOutput {
  /** Bytes handed to `put` so far: the file offset of the next byte. */
  readonly offset: number;
  /**
   * Appends `chunk`, hashing it into `crc` when given. `borrowed`: the caller may reuse the chunk's memory once
   * the promise resolves, so it must not be referenced after that.
   */
  put(chunk: Uint8Array, crc?: ByteHash, borrowed?: boolean): Promise<void>;
  /**
   * Appends in-memory data the caller leaves unchanged until `drain()` resolves, hashing it into `crc` when given:
   * as views or as copies, whichever the sink takes faster.
   */
  putStable(data: Uint8Array, crc?: ByteHash): Promise<void>;
  /** Overwrites `bytes` at `position` if they have not left for the sink yet; false otherwise. */
  patchPending(position: number, bytes: Uint8Array): boolean;
  /** Hands every byte put so far to the sink and waits until the sink accepted all of them. */
  drain(): Promise<void>;
}

async function guarded(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  try {
    await raceAbort(work, signal);
  } catch (err) {
    throw isNpzError(err) ? err : ioError('writing the archive failed', err);
  }
}

/** A batch is handed to the sink once it holds this many bytes (or iovecs). */
const BATCH_BYTES = 1 << 20;
const BATCH_CHUNKS = 1024;
/**
 * In-memory data goes out in views of this size while views are the faster way, and through reused buffers of
 * this size while copies are. One MiB, because the size of each write decides how fast a fresh process fills
 * the page cache: on the test VM (ext4, Linux 6.18) a first save of 1.5 GB took 0.6–0.7 s in 1 MiB writes and
 * 2.1–2.4 s in 4 MiB copies, 3.2–3.9 s in 16 MiB views (bench/RESULTS.md, "One-shot save"); larger writes gain
 * nothing once the pages are warm.
 */
export const VIEW_SLICE_BYTES = BATCH_BYTES;
export const COPY_SLICE_BYTES = BATCH_BYTES;
/** A view write that tests the kernel's speed on the caller's memory (the first ones of a call, and probes). */
export const PROBE_BYTES = 1 << 20;

/**
 * Writes in flight at once on a sink that takes overlapping writes. A 1 MiB write into warm page cache takes about
 * as long as hashing the next MiB, so with one write in flight each write waited for the main thread to come back
 * and start it; with two, the next one is already queued in the thread pool (bench/RESULTS.md, "Two writes in
 * flight"). More would not help: buffered writes to one file take the file's lock in turn.
 */
export const OVERLAPPING_WRITES = 2;

/** Copy buffers at most: one per write in flight and one being filled. */
const COPY_BUFFERS = OVERLAPPING_WRITES + 1;

/**
 * Copy buffers outlive a call, so a later save reuses memory the kernel has already read (fresh buffers would pay
 * the very cost they avoid, on their own pages). At most one set is kept.
 */
const spareBuffers: Uint8Array[] = [];

function takeBuffer(): Uint8Array {
  return spareBuffers.pop() ?? new Uint8Array(COPY_SLICE_BYTES);
}

function returnBuffers(buffers: Uint8Array[]): void {
  for (const buffer of buffers.splice(0)) if (spareBuffers.length < COPY_BUFFERS) spareBuffers.push(buffer);
}

export type StableWay = 'view' | 'copy' | 'probe';

/**
 * Views or copies for in-memory data, from what the current call measured (so it follows the machine's state and
 * load, not a guess). Writes are in flight while the main thread hashes (views) or copies and hashes (copies)
 * the next bytes, so the slower of the two sets the pace:
 * - views: when the main thread waited for SLOW_VIEWS view writes in a row longer than copying the same bytes would
 *   take, copying costs nothing (it fits in those waits) and may spare the kernel its slow reads: switch to
 *   copies. One slow write is not enough: a write now and then waits for something else (the page cache, another
 *   process), and each needless switch costs a run of copies before the next probe;
 * - copies: when the main thread does not wait for the writes (copying is what it spends its time on), try a
 *   view again now and then (a probe of PROBE_BYTES); if the kernel takes it at least as fast, switch back. A
 *   failed probe doubles the distance to the next.
 */
export class CopyPolicy {
  #copies = false;
  /** Main-thread milliseconds per byte copied; a cautious guess (8 GB/s) until copies measure it. */
  #copyMsPerByte = 1 / 8e6;
  #copyMeasured = false;
  /** Consecutive copy slices the main thread did not wait for. */
  #mainBound = 0;
  /** Consecutive view writes (not probes) that took longer than copies would. */
  #slowViews = 0;
  #probeAfter = PROBE_FIRST;

  /** How the next slice goes out. */
  next(): StableWay {
    if (!this.#copies) return 'view';
    if (this.#mainBound >= this.#probeAfter) return 'probe';
    return 'copy';
  }

  /** Estimated main-thread milliseconds to copy `bytes`. */
  copyMs(bytes: number): number {
    return bytes * this.#copyMsPerByte;
  }

  /** A view write (or a probe) of `bytes`: the main thread then waited `waitMs` for it. */
  viewed(bytes: number, waitMs: number, probe = false): void {
    const copyWouldFit = waitMs > COPY_MARGIN * this.copyMs(bytes) + WAIT_NOISE_MS;
    if (probe) {
      this.#mainBound = 0;
      if (copyWouldFit) {
        this.#probeAfter = Math.min(this.#probeAfter * 2, PROBE_MAX);
      } else {
        this.#copies = false;
        this.#probeAfter = PROBE_FIRST;
      }
      return;
    }
    this.#slowViews = copyWouldFit ? this.#slowViews + 1 : 0;
    if (this.#slowViews >= SLOW_VIEWS) {
      this.#copies = true;
      this.#slowViews = 0;
    }
  }

  /** A copied slice of `bytes`: copying took `copyMs`, then the main thread waited `waitMs` for the write before it. */
  copied(bytes: number, copyMs: number, waitMs: number): void {
    if (bytes > 0 && copyMs > 0) {
      const rate = copyMs / bytes;
      this.#copyMsPerByte = this.#copyMeasured ? 0.75 * this.#copyMsPerByte + 0.25 * rate : rate;
      this.#copyMeasured = true;
    }
    if (waitMs <= WAIT_NOISE_MS) this.#mainBound += 1;
    else this.#mainBound = 0;
  }

  get copies(): boolean {
    return this.#copies;
  }
}

/**
 * View writes in a row that must be slow before copies take over. With one, a 1.58 GB save with the tunable (huge
 * pages: the kernel reads them fast) still copied 0.2–0.4 GB after stray slow writes, 1.3–1.6x the time of views
 * only; where the kernel's reads are slow every write is, and three cost a few milliseconds.
 */
export const SLOW_VIEWS = 3;
/** Copies win only if the wait exceeds the copy time by this factor (noise, and the copy's cache misses). */
const COPY_MARGIN = 1.5;
/** Waits this short are the event loop's own latency, not the sink's. */
const WAIT_NOISE_MS = 0.2;
/** Main-bound copy slices before the first probe, and the most between two probes. */
const PROBE_FIRST = 8;
const PROBE_MAX = 256;

/**
 * Batches small chunks into vectored writes, one in flight at a time or OVERLAPPING_WRITES where the sink takes
 * them; in-memory data as views or copies (above).
 */
export class BatchedOutput implements ByteOutput {
  #batch: Uint8Array[] = [];
  #batchBytes = 0;
  #offset = 0;
  #accepted = 0;
  /** How many sink writes may be under way at once. */
  readonly #depth: number;
  /**
   * The sink writes under way, oldest first. Each starts once the one `#depth` places before it is done, so no more
   * than `#depth` run at once; bytes land in order because the sink takes each write's place when it is called.
   */
  readonly #inFlight: Promise<void>[] = [];
  /** The first write that failed: it stays in `#inFlight`, and every later write waits on it, so none starts. */
  #failed: Promise<void> | undefined;
  readonly #policy = new CopyPolicy();
  readonly #now: () => number;
  /** The copy buffers (taken on first use, given back by drain), the write that last read each, the last filled. */
  readonly #buffers: Uint8Array[] = [];
  readonly #bufferWrites: (Promise<void> | undefined)[] = [];
  #lastBuffer = -1;
  readonly #stats = { viewBytes: 0, copyBytes: 0, probes: 0 };

  constructor(
    private readonly sink: ByteSink,
    private readonly options: OutputOptions = {},
  ) {
    this.#now = options.now ?? (() => performance.now());
    this.#depth = sink.overlappingWrites === true ? OVERLAPPING_WRITES : 1;
  }

  get offset(): number {
    return this.#offset;
  }

  /** How in-memory data went out so far (tests and the bench read it). */
  get stats(): { viewBytes: number; copyBytes: number; probes: number } {
    return { ...this.#stats };
  }

  async put(chunk: Uint8Array, crc?: ByteHash, borrowed = false): Promise<void> {
    if (!borrowed) {
      // A chunk larger than a batch goes out in writes of a batch's size (views of it; see VIEW_SLICE_BYTES), its
      // first piece completing the batch before it, each piece hashed while it is written.
      const large = chunk.byteLength > BATCH_BYTES;
      for (let at = 0; at < chunk.byteLength; ) {
        const piece = large ? chunk.subarray(at, at + Math.max(BATCH_BYTES - this.#batchBytes, 1)) : chunk;
        at += piece.byteLength;
        const sent = this.#enqueue(piece);
        crc?.update(piece);
        if (sent) await this.#room();
      }
      return;
    }
    // A small chunk would sit in the batch while the caller refills its buffer: keep a copy instead. A chunk of a
    // batch's size completes the batch, which is written (and released) before the caller gets it back.
    if (chunk.byteLength < BATCH_BYTES) return this.put(new Uint8Array(chunk), crc);
    await this.put(chunk, crc);
    await this.#flush();
  }

  async putStable(data: Uint8Array, crc?: ByteHash): Promise<void> {
    // A sink that may still hold a chunk after its write resolved gets views only: a refilled copy buffer would
    // change bytes it has not passed on yet.
    if (this.sink.releasesChunks !== true) {
      for (let at = 0; at < data.byteLength; at += VIEW_SLICE_BYTES) await this.#view(data.subarray(at, at + VIEW_SLICE_BYTES), crc, false);
      return;
    }
    // Views until a run of them measures slow: what the kernel makes of the first slices decides the rest.
    let at = 0;
    while (at < data.byteLength) {
      const way = this.#policy.next();
      const size = Math.min(data.byteLength - at, way === 'view' ? VIEW_SLICE_BYTES : way === 'probe' ? PROBE_BYTES : COPY_SLICE_BYTES);
      const slice = data.subarray(at, at + size);
      // A copy smaller than a batch would wait in the batch inside a buffer about to be refilled: send it as a view.
      if (way === 'copy' && size >= BATCH_BYTES) await this.#copy(slice, crc);
      else await this.#view(slice, crc, way === 'probe');
      at += size;
    }
  }

  patchPending(position: number, bytes: Uint8Array): boolean {
    const batchStart = this.#offset - this.#batchBytes;
    if (position < batchStart || position + bytes.byteLength > this.#offset) return false;
    // Find the batched chunk that holds the range; headers are emitted as one chunk, so one suffices.
    let at = batchStart;
    for (const chunk of this.#batch) {
      if (position >= at && position + bytes.byteLength <= at + chunk.byteLength) {
        chunk.set(bytes, position - at);
        return true;
      }
      at += chunk.byteLength;
    }
    return false;
  }

  async drain(): Promise<void> {
    await this.#flush();
    // Every write is done, so nothing refers to the copy buffers any more. (After a failure they are dropped
    // instead: an aborted write may still be reading one.)
    this.#bufferWrites.length = 0;
    returnBuffers(this.#buffers);
  }

  /** A view of stable bytes: written while the main thread hashes it; times the wait that follows. */
  async #view(slice: Uint8Array, crc: ByteHash | undefined, probe: boolean): Promise<void> {
    // A probe times its own write only, not the writes before it.
    if (probe) await this.#settled();
    const sent = this.#enqueue(slice);
    crc?.update(slice);
    // With writes to spare in flight nobody waits, and that says nothing of how fast the kernel reads the views.
    const measured = probe || (sent && this.#inFlight.length >= this.#depth);
    const waitStart = this.#now();
    if (probe) await this.#settled();
    else if (sent) await this.#room();
    const waitMs = this.#now() - waitStart;
    this.#stats.viewBytes += slice.byteLength;
    if (probe) this.#stats.probes += 1;
    // A slice smaller than a batch may not have been written yet: nothing to learn from it either.
    if (measured && slice.byteLength >= BATCH_BYTES) this.#policy.viewed(slice.byteLength, waitMs, probe);
  }

  /** A copy of stable bytes into a buffer no write reads any more, sent once there is room. */
  async #copy(slice: Uint8Array, crc: ByteHash | undefined): Promise<void> {
    const index = (this.#lastBuffer + 1) % (this.#depth + 1);
    // The write that last read this buffer is normally done (a send waits for room first), but writes may finish
    // out of order.
    const reading = this.#bufferWrites[index];
    if (reading) await reading;
    this.#buffers[index] ??= takeBuffer();
    const copy = this.#buffers[index]!.subarray(0, slice.byteLength);
    // Hashed before it is copied: the hash pulls the slice into the CPU's cache at its own pace, and the copy then
    // reads it from there (copying first read it from memory; the hash, bound by its arithmetic, gained little).
    crc?.update(slice);
    const copyStart = this.#now();
    copy.set(slice);
    const copyMs = this.#now() - copyStart;
    const waitStart = this.#now();
    await this.#room();
    const waitMs = this.#now() - waitStart;
    this.#lastBuffer = index;
    this.#offset += copy.byteLength;
    this.#batch.push(copy);
    this.#batchBytes += copy.byteLength;
    // Not awaited: the next slice is copied while this one is written.
    this.#bufferWrites[index] = this.#send();
    this.#stats.copyBytes += slice.byteLength;
    this.#policy.copied(slice.byteLength, copyMs, waitMs);
  }

  /** Batches `chunk`; true when that filled the batch and sent it. */
  #enqueue(chunk: Uint8Array): boolean {
    if (chunk.byteLength === 0) return false;
    this.#batch.push(chunk);
    this.#batchBytes += chunk.byteLength;
    this.#offset += chunk.byteLength;
    if (this.#batchBytes < BATCH_BYTES && this.#batch.length < BATCH_CHUNKS) return false;
    void this.#send();
    return true;
  }

  /** Sends the batch once there is room for it; the returned promise settles with this write. */
  #send(): Promise<void> {
    const chunks = this.#batch;
    const bytes = this.#batchBytes;
    if (chunks.length === 0) return this.#inFlight.at(-1) ?? Promise.resolve();
    this.#batch = [];
    this.#batchBytes = 0;
    const write = async (): Promise<void> => {
      await guarded(this.sink.write(chunks), this.options.signal);
      this.#accepted += bytes;
      this.options.onWrite?.(this.#accepted);
    };
    const queue = this.#inFlight;
    const gate = this.#failed ?? (queue.length >= this.#depth ? queue[queue.length - this.#depth] : undefined);
    // Started right away when there is room, so a caller hashing meanwhile overlaps the write.
    const writing = gate === undefined ? write() : gate.then(write);
    queue.push(writing);
    writing.then(
      () => queue.splice(queue.indexOf(writing), 1),
      // A failed write stays in flight, so every later wait, write and drain gets its error, however long after it
      // failed (handled here so a failure nobody awaits yet is not unhandled).
      () => {
        this.#failed ??= writing;
      },
    );
    return writing;
  }

  /** Waits until another write may start at once (rejects with the first failed write's error). */
  async #room(): Promise<void> {
    while (this.#inFlight.length >= this.#depth) await this.#inFlight[0];
  }

  /** Waits until every write sent so far is done. */
  async #settled(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#inFlight[0];
  }

  async #flush(): Promise<void> {
    void this.#send();
    await this.#settled();
  }
}
