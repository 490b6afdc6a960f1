#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { NpzError } from '../index.js';
import { GLOBAL_OPTIONS, flag, helpText, optionLines, parseCommandLine, readOptions, usageError, type OptionSpec } from './args.js';
import { catCommand } from './commands/cat.js';
import { convertCommand } from './commands/convert.js';
import { diffCommand } from './commands/diff.js';
import { extractCommand } from './commands/extract.js';
import { lsCommand } from './commands/ls.js';
import { packCommand } from './commands/pack.js';
import { statsCommand } from './commands/stats.js';
import { verifyCommand } from './commands/verify.js';
import { viewCommand } from './commands/view.js';
import { CliContext, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, errorLine, exitCodeFor, rootError, type Command } from './context.js';
import { runDemo } from './demo.js';
import { SAME_INTERRUPT_MS, glibcVersion, hugePageEnvironment, relaunch, relaunchPays } from './hugepages.js';

/**
 * The `npz-stream` command. Built only on the package's public API. Exit codes: 0 ok, 1 bad data or a
 * difference found, 2 usage or I/O error, 130 interrupted (Ctrl-C aborts the work; no partial output remains).
 */

const COMMANDS: readonly Command[] = [
  lsCommand,
  verifyCommand,
  catCommand,
  statsCommand,
  diffCommand,
  convertCommand,
  extractCommand,
  packCommand,
  viewCommand,
];

/** Commands that read `-` (standard input), for the pipe suggested when a server ignores Range. */
const PIPE_COMMANDS = new Set(['ls', 'verify', 'stats', 'cat', 'convert', 'extract']);

const VERSION_OPTION: OptionSpec = { type: 'boolean', short: 'V', description: 'print the version' };

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}

function generalHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.synopsis.length));
  return [
    'usage: npz-stream [--json] [--quiet] COMMAND [ARGS...]',
    '',
    'Stream NumPy .npz checkpoints in bounded memory.',
    '',
    'commands:',
    ...COMMANDS.map((command) => `  ${command.synopsis.padEnd(width)}  ${command.summary}`),
    `  ${'demo [ARGS...]'.padEnd(width)}  write and read back a synthetic PaliGemma checkpoint`,
    '',
    'global options (before or after the command):',
    ...optionLines({ ...GLOBAL_OPTIONS, version: VERSION_OPTION }),
    '',
    'exit codes: 0 ok, 1 bad data or differences, 2 usage or I/O error, 130 interrupted',
    '',
  ].join('\n');
}

async function dispatch(argv: string[], signal: AbortSignal): Promise<number> {
  const globalFlags: string[] = [];
  let index = 0;
  while (index < argv.length && argv[index]!.startsWith('-')) {
    const token = argv[index++]!;
    globalFlags.push(token);
    // A global option that takes a value ('--duplicates last') owns the next word too.
    if (GLOBAL_OPTIONS[token.slice(2)]?.type === 'string' && index < argv.length) globalFlags.push(argv[index++]!);
  }
  const name = argv[index];
  const rest = argv.slice(index + 1);

  const leading = parseCommandLine(globalFlags, { version: VERSION_OPTION });
  if (flag(leading, 'version')) {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  if (name === undefined) {
    if (flag(leading, 'help')) {
      process.stdout.write(generalHelp());
      return EXIT_OK;
    }
    process.stderr.write(generalHelp());
    return EXIT_USAGE;
  }
  if (name === 'help') {
    const target = COMMANDS.find((command) => command.name === rest[0]);
    process.stdout.write(target ? helpText(target.synopsis, target.summary, target.options, target.details) : generalHelp());
    return EXIT_OK;
  }
  if (name === 'demo') return runDemo(rest);

  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) throw usageError(`unknown command '${name}'; run 'npz-stream --help' for the list`);
  const parsed = parseCommandLine([...globalFlags, ...rest], command.options);
  if (flag(parsed, 'help') || flag(leading, 'help')) {
    process.stdout.write(helpText(command.synopsis, command.summary, command.options, command.details));
    return EXIT_OK;
  }
  const context = new CliContext(
    { stdout: process.stdout, stderr: process.stderr },
    {
      json: flag(parsed, 'json'),
      quiet: flag(parsed, 'quiet'),
      signal,
      read: readOptions(parsed),
      forceProgress: process.env['NPZ_STREAM_PROGRESS'] === 'always',
    },
  );
  return command.run(parsed, context);
}

async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let interrupted = false;
  let interruptedAt = 0;
  const onInterrupt = (): void => {
    // A second Ctrl-C does not wait for the clean-up of the first. One right after the first is the same
    // Ctrl-C passed on by the relaunching parent (src/cli/hugepages.ts), which the terminal also sent us.
    if (interrupted && performance.now() - interruptedAt > SAME_INTERRUPT_MS) process.exit(EXIT_INTERRUPTED);
    if (interrupted) return;
    interrupted = true;
    interruptedAt = performance.now();
    controller.abort(new NpzError('ERR_ABORTED', 'interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    // `npz-stream cat ... | head` closes the pipe early: that is the reader's choice, not a failure.
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
  try {
    return await dispatch(argv, controller.signal);
  } catch (caught) {
    const error = interrupted ? new NpzError('ERR_ABORTED', 'interrupted') : rootError(caught);
    process.stderr.write(`${errorLine(error)}\n`);
    const ignoredRange = error.code === 'ERR_REMOTE_RANGE' ? /^(\S+) ignored the Range header/.exec(error.message) : null;
    if (ignoredRange !== null) {
      // Such a server still sends the whole file in order, which the readers of standard input take.
      const command = COMMANDS.find((candidate) => argv.includes(candidate.name) && PIPE_COMMANDS.has(candidate.name))?.name ?? 'verify';
      process.stderr.write(`the whole file can still be read in one pass from a pipe: curl -s '${ignoredRange[1]}' | npz-stream ${command} -\n`);
    }
    if (error.code === 'ERR_INVALID_ARGUMENT' && argv.length > 0) {
      process.stderr.write(`run 'npz-stream --help' or 'npz-stream COMMAND --help' for usage\n`);
    }
    return exitCodeFor(error);
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

/** Relaunched with huge pages when they are missing and the command moves array data (once; see hugepages.ts), else run here. */
async function start(): Promise<number> {
  const argv = process.argv.slice(2);
  const stringOptions = new Set(Object.entries(GLOBAL_OPTIONS).filter(([, spec]) => spec.type === 'string').map(([name]) => name));
  const env = relaunchPays(argv, stringOptions) ? hugePageEnvironment(process.env, glibcVersion()) : undefined;
  if (env !== undefined) {
    try {
      return await relaunch(env);
    } catch {
      // Could not start a second process: run without huge pages rather than not at all.
    }
  }
  return main(argv);
}

process.exitCode = await start();
