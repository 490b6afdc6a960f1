import type { Writable } from 'node:stream';
import { NpzError, type NpzErrorCode } from '../index.js';
import type { OptionSpec, ParsedCommandLine, ReadOptions } from './args.js';
import { Progress, type ProgressSink } from './progress.js';
import { inCliWords, rootError } from './root-error.js';

export { inCliWords, rootError };

/** What every command gets: where to print, whether to be quiet or machine-readable, and the Ctrl-C signal. */

export const EXIT_OK = 0;
/** The data is bad, or two files differ. */
export const EXIT_BAD_DATA = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export interface CliStreams {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export class CliContext {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly signal: AbortSignal;
  /** How input archives and .npy files are read (--max-header-size, --duplicates). */
  readonly read: ReadOptions;
  readonly #streams: CliStreams;
  readonly #progressSink: ProgressSink | undefined;

  constructor(
    streams: CliStreams,
    options: { json: boolean; quiet: boolean; signal: AbortSignal; read?: ReadOptions; forceProgress?: boolean },
  ) {
    this.json = options.json;
    this.read = options.read ?? {};
    this.quiet = options.quiet;
    this.signal = options.signal;
    this.#streams = streams;
    const { stderr } = streams;
    const wanted = !this.json && !this.quiet && (stderr.isTTY === true || options.forceProgress === true);
    this.#progressSink = wanted ? { write: (text: string) => stderr.write(text), columns: stderr.columns ?? 80 } : undefined;
  }

  get stdout(): Writable {
    return this.#streams.stdout;
  }

  /** A line of the command's result on stdout. */
  print(text: string): void {
    this.#streams.stdout.write(`${text}\n`);
  }

  printJson(value: unknown): void {
    this.#streams.stdout.write(`${JSON.stringify(value, jsonNumbers, 2)}\n`);
  }

  /** Informational text on stderr; silent under --quiet and --json. */
  note(text: string): void {
    if (!this.quiet && !this.json) this.#streams.stderr.write(`${text}\n`);
  }

  /** A warning on stderr, shown unless --quiet. */
  warn(text: string): void {
    if (!this.quiet) this.#streams.stderr.write(`npz-stream: warning: ${text}\n`);
  }

  progress(label: string, total: number): Progress {
    return new Progress(this.#progressSink, label, total);
  }
}

/** JSON has no NaN or Infinity: they become strings, so no statistic silently turns into null. */
function jsonNumbers(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export interface Command {
  name: string;
  synopsis: string;
  summary: string;
  details?: string;
  options: Readonly<Record<string, OptionSpec>>;
  run(parsed: ParsedCommandLine, context: CliContext): Promise<number>;
}

const USAGE_OR_IO_CODES: ReadonlySet<NpzErrorCode> = new Set([
  'ERR_IO',
  'ERR_REMOTE_RANGE',
  'ERR_REMOTE_CHANGED',
  'ERR_REMOTE_STATUS',
  'ERR_REMOTE_NETWORK',
  'ERR_REMOTE_CREDENTIALS',
  'ERR_INVALID_ARGUMENT',
  'ERR_NPZ_NOT_FOUND',
  'ERR_NPZ_NOT_ARRAY',
  'ERR_TREE_KEY',
  'ERR_TREE_DUPLICATE_NAME',
]);

/** The error a failure should be reported as: writer-wrapped source failures show what actually went wrong. */

export function exitCodeFor(error: NpzError): number {
  if (error.code === 'ERR_ABORTED') return EXIT_INTERRUPTED;
  return USAGE_OR_IO_CODES.has(error.code) ? EXIT_USAGE : EXIT_BAD_DATA;
}

export function errorLine(error: NpzError): string {
  return `npz-stream: ${inCliWords(error.message)} [${error.code}]`;
}
