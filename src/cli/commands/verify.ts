import type { ArrayFile } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_BAD_DATA, EXIT_OK, exitCodeFor, rootError, type CliContext, type Command } from '../context.js';
import { inputLabel, isArrayEntry, openInput } from '../npz-input.js';
import { forEachStreamArray, isStdin } from '../stream-input.js';
import { formatBytes } from '../table.js';

interface Failure {
  name: string;
  code: string;
  message: string;
}

/** Reads every array to the end: the reader checks header, sizes, bounds, and the CRC-32 once a member is read. */
async function checkArrays(file: ArrayFile, context: CliContext): Promise<{ failures: Failure[]; checked: number; bytes: number }> {
  const arrays = file.entries.filter(isArrayEntry);
  const total = arrays.reduce((sum, entry) => sum + entry.byteLength, 0);
  const progress = context.progress('verify', total);
  const failures: Failure[] = [];
  let bytes = 0;
  try {
    for (const entry of arrays) {
      let seen = 0;
      try {
        for await (const chunk of file.chunks(entry.name, { signal: context.signal, reuseBuffers: true })) {
          seen += chunk.length;
          progress.add(chunk.length, entry.name);
        }
        bytes += seen;
      } catch (caught) {
        const error = rootError(caught);
        if (error.code === 'ERR_ABORTED') throw error;
        failures.push({ name: entry.name, code: error.code, message: error.message });
        // Keep the bar honest after a member that stopped early.
        progress.add(entry.byteLength - seen);
      }
    }
  } finally {
    progress.finish();
  }
  return { failures, checked: arrays.length, bytes };
}

/**
 * Standard input, front to back: each array's CRC-32 as it ends, then the central directory against the whole
 * stream. A damaged member leaves no way to find the next one, so the first failure ends the check.
 */
async function verifyStream(context: CliContext): Promise<number> {
  const failures: Failure[] = [];
  const skipped: string[] = [];
  let checked = 0;
  let bytes = 0;
  let total = 0;
  const progress = context.progress('verify', 0);
  try {
    await forEachStreamArray(
      context,
      [],
      async ({ file, entry }) => {
        progress.setTotal((total += entry.byteLength));
        let seen = 0;
        for await (const chunk of file.chunks(entry.name)) {
          seen += chunk.length;
          progress.add(chunk.length, entry.name);
        }
        checked += 1;
        bytes += seen;
      },
      (entry) => skipped.push(entry.memberName),
    );
  } catch (caught) {
    const error = rootError(caught);
    if (exitCodeFor(error) !== EXIT_BAD_DATA) throw error;
    failures.push({ name: error.entry ?? '-', code: error.code, message: error.message });
  } finally {
    progress.finish();
  }
  return report(context, '-', { failures, checked, bytes, skipped });
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [path, ...extra] = parsed.positionals;
  if (path === undefined || extra.length > 0) throw usageError('verify takes exactly one FILE');
  if (isStdin(path)) return verifyStream(context);

  let file: ArrayFile;
  try {
    file = await openInput(path, context);
  } catch (caught) {
    // A broken directory or header means no array can be trusted: that is a verdict, not a usage error.
    const error = rootError(caught);
    if (exitCodeFor(error) !== EXIT_BAD_DATA) throw error;
    return report(context, path, { failures: [{ name: error.entry ?? inputLabel(path), code: error.code, message: error.message }], checked: 0, bytes: 0, skipped: [] });
  }
  try {
    const skipped = file.entries.flatMap((entry) => (entry.isArray ? [] : [entry.memberName]));
    if (file.format === 'safetensors') context.note('safetensors holds no checksums: the header, offsets and sizes are checked and every byte is read');
    return report(context, path, { ...(await checkArrays(file, context)), skipped });
  } finally {
    await file.close();
  }
}

function report(
  context: CliContext,
  path: string,
  result: { failures: Failure[]; checked: number; bytes: number; skipped: string[] },
): number {
  const { failures, checked, bytes, skipped } = result;
  const ok = failures.length === 0;
  if (context.json) {
    context.printJson({ file: inputLabel(path), ok, arrays: checked, bytesVerified: bytes, failures, skipped });
    return ok ? EXIT_OK : EXIT_BAD_DATA;
  }
  for (const failure of failures) context.print(`FAIL  ${failure.name}: ${failure.message} [${failure.code}]`);
  for (const name of skipped) context.note(`skip  ${name}: not an .npy member, its contents are not checked`);
  if (ok) context.print(`OK    ${checked} array${checked === 1 ? '' : 's'}, ${formatBytes(bytes)} verified`);
  else {
    const of = Math.max(checked, failures.length);
    context.print(`FAILED  ${failures.length} of ${of} array${of === 1 ? '' : 's'} failed`);
  }
  return ok ? EXIT_OK : EXIT_BAD_DATA;
}

export const verifyCommand: Command = {
  name: 'verify',
  synopsis: 'verify FILE',
  summary: "check every array's CRC-32, header, size and bounds",
  details:
    'Exit code 0 when the file is sound, 1 with the failing entries listed otherwise. FILE - reads standard input\n' +
    'front to back (every CRC, then the central directory against the whole stream; the first failure ends it).',
  options: {},
  run,
};
