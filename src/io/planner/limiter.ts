/** One held read slot. */
export interface Slot {
  release(): void;
}

/**
 * FIFO counting semaphore bounding a source's reads in flight: reads start in the order they were asked for, so
 * bytes arrive roughly in order. A released slot goes to exactly one waiting read.
 */
export class Limiter {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Slots no read holds and no read waits for. */
  get idle(): number {
    return this.#waiting.length > 0 ? 0 : this.#free;
  }

  /** Waits for a slot; rejects with the signal's reason if it aborts first (the read then never starts). */
  async acquire(signal?: AbortSignal): Promise<Slot> {
    if (signal?.aborted === true) throw signal.reason;
    if (this.#free > 0) this.#free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const at = this.#waiting.indexOf(wake);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#waiting.push(wake);
      });
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const next = this.#waiting.shift();
        if (next !== undefined) next();
        else this.#free++;
      },
    };
  }
}
