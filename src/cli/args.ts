import { parseArgs } from 'node:util';
import { NpzError, type HttpRetry, type HttpSourceOptions } from '../index.js';

/** Command-line parsing on node:util's parseArgs, with the options every command shares. */

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. 'DIR'. */
  value?: string;
  description: string;
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  help: { type: 'boolean', short: 'h', description: 'show help' },
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress bars or notes on stderr' },
  'max-header-size': { type: 'string', value: 'N', description: 'accept npy headers up to N characters (default 10000, as np.load)' },
  duplicates: { type: 'string', value: 'error|last', description: "repeated member names: refuse (default) or keep the last, as np.load" },
  header: {
    type: 'string',
    multiple: true,
    value: "'NAME: VALUE'",
    description: "HTTP header for http(s):// inputs, repeatable (e.g. 'Authorization: Bearer TOKEN')",
  },
};

export interface ParsedCommandLine {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

export function usageError(message: string): NpzError {
  return new NpzError('ERR_INVALID_ARGUMENT', message);
}

/** Parses `argv` (after the command name) against the command's options plus the global ones. */
export function parseCommandLine(argv: readonly string[], options: Readonly<Record<string, OptionSpec>>): ParsedCommandLine {
  const config: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries({ ...GLOBAL_OPTIONS, ...options })) {
    config[name] = {
      type: spec.type,
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple === true ? { multiple: true } : {}),
    };
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: true });
    return { values: values as ParsedCommandLine['values'], positionals };
  } catch (error) {
    // parseArgs explains itself well ("Unknown option '--x'"); keep its words, drop its hint about '--'.
    const message = (error as Error).message.split('. To specify')[0] ?? String(error);
    throw usageError(message.replace(/\.$/, ''));
  }
}

export function stringOption(parsed: ParsedCommandLine, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function listOption(parsed: ParsedCommandLine, name: string): string[] {
  const value = parsed.values[name];
  if (Array.isArray(value)) return value;
  return typeof value === 'string' ? [value] : [];
}

export function flag(parsed: ParsedCommandLine, name: string): boolean {
  return parsed.values[name] === true;
}

export interface ReadOptions {
  maxHeaderSize?: number;
  duplicates?: 'error' | 'last';
  /** For http(s):// inputs (--header). */
  http?: HttpSourceOptions;
}

/** `--header 'Name: value'` as a header pair; the value is never echoed back in an error (it may be a token). */
function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw usageError(`--header takes 'NAME: VALUE', got one without a valid header name before ':'`);
  }
  return [name, text.slice(colon + 1).trim()];
}

/** The global options that change how input files are read. */
export function readOptions(parsed: ParsedCommandLine): ReadOptions {
  const options: ReadOptions = {};
  const size = stringOption(parsed, 'max-header-size');
  if (size !== undefined) {
    const value = Number(size);
    if (!Number.isSafeInteger(value) || value <= 0) throw usageError(`--max-header-size needs a positive integer, got ${JSON.stringify(size)}`);
    options.maxHeaderSize = value;
  }
  const duplicates = stringOption(parsed, 'duplicates');
  if (duplicates !== undefined) {
    if (duplicates !== 'error' && duplicates !== 'last') throw usageError(`--duplicates takes 'error' or 'last', got ${JSON.stringify(duplicates)}`);
    options.duplicates = duplicates;
  }
  const headers = listOption(parsed, 'header').map(parseHeader);
  // Each retry is said on stderr (unless --quiet): a read that stalls while it retries does not look hung.
  const quiet = flag(parsed, 'quiet');
  options.http = {
    ...(headers.length > 0 ? { headers } : {}),
    ...(quiet ? {} : { onRetry: (retry: HttpRetry) => void process.stderr.write(`npz-stream: ${retry.url}: ${retry.reason}; retry ${retry.retry} of ${retry.retries} in ${(retry.delayMs / 1000).toFixed(1)} s\n`) }),
  };
  return options;
}

/** Option help lines, the option column padded to one width. */
export function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const value = spec.value === undefined ? '' : ` ${spec.value}`;
    return [`  ${short}--${name}${value}`, spec.description] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${left.padEnd(width)}  ${right}`);
}

export function helpText(synopsis: string, summary: string, options: Readonly<Record<string, OptionSpec>>, details = ''): string {
  return [
    `usage: npz-stream ${synopsis}`,
    '',
    summary,
    ...(details === '' ? [] : ['', details]),
    '',
    'options:',
    ...optionLines({ ...options, ...GLOBAL_OPTIONS }),
    '',
  ].join('\n');
}
