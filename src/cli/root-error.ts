import { NpzError, isNpzError } from '../index.js';

/**
 * What a failure is reported as, in the command line's words. Imports nothing of Node: the static viewer's worker
 * bundles it, so its errors read as the server's.
 */

/**
 * The library's hints name its options (`option maxHeaderSize`); on the command line the same hint names the flag
 * that sets the option. Each API wording and its CLI wording.
 */
const CLI_HINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\(option maxHeaderSize\)/g, '(raise it with --max-header-size N)'],
  [/option duplicates: 'last'/g, "--duplicates last"],
];

/** A library message in the CLI's words: option hints name the flag. */
export function inCliWords(message: string): string {
  return CLI_HINTS.reduce((text, [api, cli]) => text.replace(api, cli), message);
}

export function rootError(error: unknown): NpzError {
  let current = error;
  while (isNpzError(current, 'ERR_SOURCE') && isNpzError((current as NpzError).cause)) current = (current as NpzError).cause;
  if (isNpzError(current)) {
    const message = inCliWords(current.message);
    if (message === current.message) return current;
    const { entry, offset, expected, actual } = current;
    return new NpzError(current.code, message, {
      cause: current,
      ...(entry === undefined ? {} : { entry }),
      ...(offset === undefined ? {} : { offset }),
      expected,
      actual,
    });
  }
  const code = (current as { code?: unknown } | null)?.code;
  const message = current instanceof Error ? current.message : String(current);
  return new NpzError('ERR_IO', typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message, { cause: current });
}
