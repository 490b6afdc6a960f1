/** When to try a request again, and how long to wait first. */

export const MAX_RETRY_DELAY_MS = 30_000;

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date (relative to `now`). */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Milliseconds to wait before retry number `attempt + 1`: what the server asked for (Retry-After), else `baseMs`
 * doubling per attempt up to 30 s with ±25 % jitter, so clients cut off together do not return together. Never
 * more than a minute, whatever a server asks.
 */
export function retryDelayMs(attempt: number, baseMs: number, serverDelayMs: number | undefined, random: () => number = Math.random): number {
  const backoff = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** attempt);
  const delay = serverDelayMs ?? backoff * (0.75 + random() * 0.5);
  return Math.min(delay, MAX_RETRY_DELAY_MS * 2);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Aborts an attempt after `timeoutMs` without progress. Progress only stamps a time (cheap per body chunk); the one
 * timer re-arms itself for the time left when it fires early.
 */
export class Watchdog {
  #last = performance.now();
  #timer: ReturnType<typeof setTimeout>;
  #stopped = false;

  constructor(
    readonly timeoutMs: number,
    onTimeout: () => void,
  ) {
    const check = (): void => {
      if (this.#stopped) return;
      const idle = performance.now() - this.#last;
      if (idle >= this.timeoutMs) onTimeout();
      else this.#timer = setTimeout(check, this.timeoutMs - idle);
    };
    this.#timer = setTimeout(check, timeoutMs);
  }

  progress(): void {
    this.#last = performance.now();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
