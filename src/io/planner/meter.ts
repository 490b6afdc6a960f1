/**
 * A link measured from its own requests: what a source that pays a round trip per read (HTTP ranges, an object
 * store) reports as its `readCost`, so the read planner can weigh a gap against another request with numbers from
 * the link at hand rather than a fixed guess.
 *
 * - Latency: the lowest time to first byte over the last 5 minutes (at least the latest request). The lowest,
 *   because everything above it is queueing (behind the other responses in flight, in the server, in the client's
 *   event loop) that a request need not meet, and that the throughput already accounts for. It is the estimate
 *   TCP's own min-RTT filter makes, over the window Linux keeps it (`tcp_min_rtt_wlen`, 300 s): long enough that
 *   a batch of thousands of requests, each queued behind the others, does not outlive the quiet ones that
 *   measured the link.
 * - Throughput: bytes delivered per second while bodies were flowing, over all requests together (several in
 *   flight share the link): each request's transfer counts from its send time plus that latency to its last byte,
 *   overlapping transfers count once. Busy periods that moved too little to time (under `MIN_PERIOD_BYTES`) are
 *   left out, and nothing is reported until `MIN_TIMED_BYTES` were timed.
 */

/** How long a time to first byte stays a candidate for the latency (Linux's `tcp_min_rtt_wlen` default). */
export const LATENCY_WINDOW_MS = 300_000;
/**
 * Bytes timed before a throughput is reported: less transfers in too little time to tell the link from the noise
 * of one request (a busy machine stretches a single 256 KiB response from half a millisecond to a hundred).
 */
export const MIN_TIMED_BYTES = 4 << 20;
/** A busy period that moved less than this is not timed at all: its requests count for latency only. */
export const MIN_PERIOD_BYTES = 1 << 20;
/** Throughput is measured over about this many of the latest bytes: older ones weigh half as much each time it is reached. */
export const THROUGHPUT_WINDOW_BYTES = 64 << 20;

/** One request being timed. */
export interface RequestTiming {
  /** The response's head arrived. */
  firstByte(): void;
  /** The body ended after `bytes` (call it for every request that got a head; a failed one may report what arrived). */
  end(bytes: number): void;
}

export class LinkMeter {
  readonly #now: () => number;
  /**
   * Candidates for the windowed minimum, oldest first, their values increasing: a sample is dropped once a later
   * one is as low (it can never be the minimum again) or once it is older than the window.
   */
  readonly #candidates: Array<{ at: number; ms: number }> = [];
  #samples = 0;
  /** Throughput accounts: bytes and busy milliseconds (decayed together). */
  #bytes = 0;
  #busyMs = 0;
  /** Timed transfers in flight, and when the current busy period's uncounted part began. */
  #active = 0;
  #busySince = 0;
  #pendingBytes = 0;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A request is being sent now. */
  begin(): RequestTiming {
    const sent = this.#now();
    let headAt: number | undefined;
    let ended = false;
    return {
      firstByte: () => {
        if (headAt !== undefined || ended) return;
        headAt = this.#now();
        this.#addLatency(headAt - sent);
        this.#startTransfer(sent);
      },
      end: (bytes: number) => {
        if (ended || headAt === undefined) return;
        ended = true;
        this.#endTransfer(bytes);
      },
    };
  }

  /** Requests that got an answer (each a latency sample). */
  get samples(): number {
    return this.#samples;
  }

  /** Milliseconds to the first byte on this link at best; undefined before any request got an answer. */
  get latencyMs(): number | undefined {
    this.#expire(this.#now());
    return this.#candidates[0]?.ms;
  }

  /** Bytes per second the link delivers; undefined until enough bytes were timed. */
  get bytesPerSecond(): number | undefined {
    if (this.#bytes < MIN_TIMED_BYTES || this.#busyMs <= 0) return undefined;
    return (this.#bytes / this.#busyMs) * 1000;
  }

  #addLatency(ms: number): void {
    const sample = Math.max(0, ms);
    const at = this.#now();
    this.#samples++;
    const candidates = this.#candidates;
    while (candidates.length > 0 && (candidates[candidates.length - 1] as { ms: number }).ms >= sample) candidates.pop();
    candidates.push({ at, ms: sample });
    this.#expire(at);
  }

  /** Drops candidates older than the window, keeping the latest sample whatever its age. */
  #expire(now: number): void {
    const candidates = this.#candidates;
    let drop = 0;
    while (drop < candidates.length - 1 && now - (candidates[drop] as { at: number }).at > LATENCY_WINDOW_MS) drop++;
    if (drop > 0) candidates.splice(0, drop);
  }

  /** A transfer begins (as far as the link is concerned) one latency after its request was sent. */
  #startTransfer(sent: number): void {
    const begins = sent + (this.latencyMs ?? 0);
    if (this.#active === 0) this.#busySince = Math.min(begins, this.#now());
    this.#active++;
  }

  #endTransfer(bytes: number): void {
    this.#active--;
    this.#pendingBytes += bytes;
    if (this.#active > 0) return;
    // A busy period ended: count it if it moved enough bytes to be timed.
    const now = this.#now();
    if (this.#pendingBytes >= MIN_PERIOD_BYTES) {
      this.#bytes += this.#pendingBytes;
      this.#busyMs += Math.max(0, now - this.#busySince);
      while (this.#bytes > THROUGHPUT_WINDOW_BYTES) {
        this.#bytes /= 2;
        this.#busyMs /= 2;
      }
    }
    this.#pendingBytes = 0;
  }
}
