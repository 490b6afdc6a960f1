import type { ReadCost } from '../random-access.js';

/**
 * How the planner reads one source, derived from the source's `readCost` alone (pure, so each rule is testable
 * without I/O). Two kinds of source:
 * - cheap reads (no `readCost`: a local file, memory): a read costs a system call, bytes are nearly free. Reads go
 *   to the source as asked; bytes between wanted runs are read through; in-flight depth is set for page faults.
 * - round-trip reads (a `readCost`: HTTP, object stores): a read costs a round trip. Small reads issued together
 *   are merged, gaps are read through only up to `gapBytes`, large reads are split and reads in flight bounded.
 */

/** Upper bound on reads in flight for any one planner, whatever a source asks for. */
export const MAX_READ_CONCURRENCY = 64;
/**
 * Reads kept in flight while filling caller memory from a cheap source. Reading into fresh memory is mostly page
 * faults, which the kernel takes on whichever thread reads; several positional reads at once spread them over the
 * cores (measured on a 2-vCPU VM: 0.25 GB/s with one read at a time, 0.52 GB/s with 2–4). Four is libuv's default
 * pool size.
 */
export const LOCAL_READS_INTO_MEMORY = 4;
/** Reads kept in flight while streaming pieces from a cheap source, so consuming one overlaps reading the next. */
export const LOCAL_READS_STREAMING = 2;
/** Batches of runs in flight at most, whatever a source asks: bounds a batch's memory to 16 merged reads. */
export const MAX_RUN_READS_IN_FLIGHT = 16;
/** Reads up to this size from a round-trip source are "small": they wait one turn of the event loop to be merged. */
export const SMALL_READ = 64 * 1024;
/** A merged small read never grows past this, so a burst of small reads cannot become one huge response. */
export const MAX_MERGED = 4 << 20;
/** Parts of a large read are never cut below this to spread them over idle slots: a request costs a round trip. */
export const MIN_SPLIT = 256 * 1024;
/** Reads from this size up are spread over idle slots. */
export const SPREAD_FROM = 1 << 20;
/** The cached tail stops growing here; reads below it are then ordinary reads. */
export const MAX_TAIL_CACHE = 16 << 20;
/** The window a small read is rounded up to by `readAround`, so its neighbours come free. */
export const AROUND_WINDOW = 64 * 1024;
/**
 * Gap read through on a round-trip source that says nothing about it. Tens of KiB cost less than a round trip on
 * any link worth reading a checkpoint over, while the mid-sized tensors (biases, norms, small kernels: 100 KiB and
 * up) that separate headers are not worth reading to skip one request.
 */
export const DEFAULT_GAP = 64 * 1024;
/** A gap derived from latency × throughput stays within these: a request has a CPU cost of its own; memory is finite. */
export const MIN_DERIVED_GAP = 4 * 1024;
export const MAX_DERIVED_GAP = 4 << 20;
/**
 * What a read from a cheap source (a local file) costs, as a link: a positional read is a system call plus a hop
 * through the thread pool (tens of microseconds), and bytes already in the page cache copy at a few GB/s. Used
 * for batches of runs (the rows of a slice), where reading a gap instead of making another read is a real choice:
 * with these numbers, gaps up to 40 KB are read through.
 */
export const LOCAL_READ_COST = { latencyMs: 0.02, bytesPerSecond: 2e9 } as const;
/**
 * Requests a measured latency must rest on before a batch of runs plans with it: the few requests that open a file
 * (one of them also opening the connection) say little about the link, and a wrong guess either way is costly
 * (reading an eighth of a matrix as all of it, or thousands of round trips instead of a few).
 */
export const MIN_LINK_SAMPLES = 8;
/**
 * Throughput assumed for a link whose latency is known but whose throughput is not (yet): 50 MB/s, a modest
 * broadband link; with 8 reads in flight and a nearby server's 10 ms it gives 64 KiB, the default gap. Only a
 * batch's gap uses it, until the source has timed enough bytes to replace it. Guessing low errs towards more
 * requests and fewer bytes, the cheaper mistake on a fast link (a few requests) than reading through on a slow one.
 */
export const ASSUMED_THROUGHPUT = 50e6;
/** Reads in flight derived from a link stay at or below this. */
export const MAX_DERIVED_PARALLEL = 16;
/** The read size a derived parallelism assumes when the source declares none. */
export const REFERENCE_READ = 1 << 20;

export interface ReadPolicy {
  /** True when every read is a round trip (the source has a `readCost`). */
  readonly roundTrip: boolean;
  /** Bytes between two wanted ranges worth reading through rather than paying another read. */
  readonly gapBytes: number;
  /** Reads in flight the source asks for (1…64), or undefined: then the local depths apply and nothing is limited. */
  readonly parallelReads: number | undefined;
  /** Reads longer than this are split (Infinity: never). */
  readonly requestBytes: number;
}

function positive(value: number | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/**
 * The bandwidth-delay product of a link, clamped: what one round trip's worth of waiting could have transferred.
 * With `inFlight` reads overlapping, one more read costs only its share of a round trip, and so does the gap worth
 * reading to save it.
 */
export function derivedGap(latencyMs: number, bytesPerSecond: number, inFlight = 1): number {
  const product = ((latencyMs / 1000) * bytesPerSecond) / Math.max(1, inFlight);
  return Math.round(Math.min(MAX_DERIVED_GAP, Math.max(MIN_DERIVED_GAP, product)));
}

/**
 * Reads in flight that keep a link busy (Little's law): one read takes latency + size / throughput, of which only
 * size / throughput moves bytes, so 1 + latency × throughput / size reads overlap to hide the round trips: two at
 * least, and at most 16 (a link paced per connection would want more, which only the source can know: it declares
 * `parallelReads` then).
 */
export function derivedParallel(latencyMs: number, bytesPerSecond: number, readBytes: number): number {
  const overlap = 1 + ((latencyMs / 1000) * bytesPerSecond) / readBytes;
  return Math.min(MAX_DERIVED_PARALLEL, Math.ceil(overlap));
}

export function readPolicy(cost: ReadCost | undefined): ReadPolicy {
  if (cost === undefined) {
    return { roundTrip: false, gapBytes: Number.POSITIVE_INFINITY, parallelReads: undefined, requestBytes: Number.POSITIVE_INFINITY };
  }
  const latency = positive(cost.latencyMs);
  const throughput = positive(cost.bytesPerSecond);
  let gapBytes: number;
  if (cost.gapBytes !== undefined) {
    // A declared gap wins; a nonsense one reads no gap at all rather than guessing.
    gapBytes = typeof cost.gapBytes === 'number' && cost.gapBytes >= 0 ? cost.gapBytes : 0;
  } else if (latency !== undefined && throughput !== undefined) {
    gapBytes = derivedGap(latency, throughput);
  } else gapBytes = DEFAULT_GAP;
  const request = positive(cost.requestBytes);
  const requestBytes = request === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(request));
  const declared = positive(cost.parallelReads);
  let parallelReads: number | undefined;
  if (declared !== undefined) parallelReads = declared < 1 ? undefined : Math.min(MAX_READ_CONCURRENCY, Math.floor(declared));
  else if (cost.parallelReads === undefined && latency !== undefined && throughput !== undefined) {
    parallelReads = derivedParallel(latency, throughput, Number.isFinite(requestBytes) ? requestBytes : REFERENCE_READ);
  }
  return { roundTrip: true, gapBytes, parallelReads, requestBytes };
}

/** How a stream of pieces lands: in caller memory, in a recycled ring, or in fresh buffers per piece. */
export type Landing = 'into' | 'ring' | 'fresh';

/** Pieces of an ordered stream kept in flight. */
export function piecesInFlight(policy: ReadPolicy, landing: Landing): number {
  return policy.parallelReads ?? (landing === 'into' ? LOCAL_READS_INTO_MEMORY : LOCAL_READS_STREAMING);
}

/**
 * Merged reads of a batch of runs kept in flight. A cheap source reads a header scan's windows one at a time; the
 * runs of a slice landing in memory go like pieces (several at once spread page faults), streamed ones two at once.
 */
export function runReadsInFlight(policy: ReadPolicy, landing?: Landing): number {
  if (!policy.roundTrip) return landing === undefined ? 1 : landing === 'into' ? LOCAL_READS_INTO_MEMORY : LOCAL_READS_STREAMING;
  return Math.min(MAX_RUN_READS_IN_FLIGHT, policy.parallelReads ?? 1);
}

/**
 * The gap worth reading through in a batch of data runs (a slice's rows), from the source's cost as it is now (a
 * source may measure its link as it reads; a batch asks again for each read it plans). Reading a gap costs
 * gap / throughput; another read costs a round trip, shared by the `inFlight` reads that overlap; so a gap is read
 * when `gap < latency × throughput / inFlight`.
 * - a round-trip source with a latency gets that (throughput `ASSUMED_THROUGHPUT` until it has one), except that a
 *   latency measured on fewer than `MIN_LINK_SAMPLES` requests is not trusted yet: gap 0, runs read exactly;
 * - one that only declares a gap gets its gap, one that says nothing `DEFAULT_GAP`;
 * - a cheap source (no cost) gets `LOCAL_READ_COST`'s.
 */
export function runGap(cost: ReadCost | undefined, inFlight: number): number {
  if (cost === undefined) return derivedGap(LOCAL_READ_COST.latencyMs, LOCAL_READ_COST.bytesPerSecond);
  const latency = positive(cost.latencyMs);
  if (latency !== undefined) {
    const samples = cost.latencySamples;
    if (typeof samples === 'number' && samples < MIN_LINK_SAMPLES) return 0;
    return derivedGap(latency, positive(cost.bytesPerSecond) ?? ASSUMED_THROUGHPUT, inFlight);
  }
  if (cost.gapBytes !== undefined) return typeof cost.gapBytes === 'number' && cost.gapBytes >= 0 ? cost.gapBytes : 0;
  return DEFAULT_GAP;
}
