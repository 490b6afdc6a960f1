import { formatBytes } from './table.js';

/**
 * A one-line byte progress bar on stderr: bytes done / total, rate and ETA. Redraws at most every 100 ms, so a
 * stream of 64 KiB chunks costs a timestamp check per chunk, not a terminal write.
 */

export interface ProgressSink {
  write(text: string): unknown;
  columns?: number;
}

const REDRAW_INTERVAL_MS = 100;
const BAR_WIDTH = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${secs}` : `${minutes}:${secs}`;
}

/** The text of one progress line (without the carriage return), cut to `width` columns. */
export function progressLine(label: string, done: number, total: number, elapsedSeconds: number, detail: string, width: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const eta = rate > 0 ? (total - done) / rate : Number.NaN;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const line = `${label} [${bar}] ${percent} ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}${
    detail === '' ? '' : ` ${detail}`
  }`;
  return line.length > width ? line.slice(0, Math.max(0, width - 1)) : line;
}

export class Progress {
  readonly #sink: ProgressSink | undefined;
  readonly #label: string;
  readonly #started = performance.now();
  #total: number;
  #done = 0;
  #detail = '';
  #lastDraw = -Infinity;
  #drawn = false;

  /** A disabled progress (no sink) accepts updates and draws nothing. */
  constructor(sink: ProgressSink | undefined, label: string, total: number) {
    this.#sink = sink;
    this.#label = label;
    this.#total = total;
  }

  get done(): number {
    return this.#done;
  }

  setTotal(total: number): void {
    this.#total = total;
  }

  add(bytes: number, detail?: string): void {
    this.update(this.#done + bytes, detail);
  }

  update(done: number, detail?: string): void {
    this.#done = done;
    if (detail !== undefined) this.#detail = detail;
    if (this.#sink === undefined) return;
    const now = performance.now();
    if (now - this.#lastDraw < REDRAW_INTERVAL_MS && done < this.#total) return;
    this.#lastDraw = now;
    this.#draw(now);
  }

  /** Erases the bar so the command's own output starts on a clean line. */
  finish(): void {
    if (this.#sink === undefined || !this.#drawn) return;
    this.#sink.write('\r\x1b[K');
    this.#drawn = false;
  }

  #draw(now: number): void {
    const width = (this.#sink?.columns ?? 80) - 1;
    const line = progressLine(this.#label, this.#done, this.#total, (now - this.#started) / 1000, this.#detail, width);
    this.#sink?.write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }
}
