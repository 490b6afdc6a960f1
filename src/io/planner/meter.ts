/**
 * A link measured from its own requests: what a source that pays a round trip per read (HTTP ranges, an object
 * store) reports as its `readCost`, so the read planner can weigh a gap against another request with numbers from
 * the link at hand rather than a fixed guess.
 *
 * - Latency: the lowest time to first byte among the last requests. The lowest, because everything above it is
 *   queueing (in the server, the client's event loop, the network) that the next request need not meet; it is the
 *   estimate TCP's own min-RTT filter makes.
 * - Throughput: bytes delivered per second while bodies were flowing, over all requests together (several in
 *   flight share the link): each request's transfer counts from its send time plus that latency to its last byte,
 *   overlapping transfers count once. Bodies too small to time (under `MIN_TIMED_BYTES`) are left out.
 */

/** Requests whose times to first byte are remembered. */
export const LATENCY_WINDOW = 32;
/** A body smaller than this transfers in too little time to measure it; it counts for latency only. */
export const MIN_TIMED_BYTES = 64 * 1024;
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
  readonly #latencies: number[] = [];
  #next = 0;
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

  /** Milliseconds to the first byte on this link at best; undefined before any request got an answer. */
  get latencyMs(): number | undefined {
    if (this.#latencies.length === 0) return undefined;
    return Math.min(...this.#latencies);
  }

  /** Bytes per second the link delivers; undefined until enough bytes were timed. */
  get bytesPerSecond(): number | undefined {
    if (this.#bytes < MIN_TIMED_BYTES || this.#busyMs <= 0) return undefined;
    return (this.#bytes / this.#busyMs) * 1000;
  }

  #addLatency(ms: number): void {
    const sample = Math.max(0, ms);
    if (this.#latencies.length < LATENCY_WINDOW) this.#latencies.push(sample);
    else this.#latencies[this.#next] = sample;
    this.#next = (this.#next + 1) % LATENCY_WINDOW;
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
    if (this.#pendingBytes >= MIN_TIMED_BYTES) {
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
