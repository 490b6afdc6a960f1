import { stat } from 'node:fs/promises';
import type { ArrayFile, NpzError } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_BAD_DATA, EXIT_OK, exitCodeFor, rootError, type CliContext, type Command, inCliWords } from '../context.js';
import { formatOf, inputLabel, isArrayEntry, isDamagedEntry, isUrlInput, memberNameOf, openInput } from '../npz-input.js';
import { forEachStreamArray, isStdin, type StreamFormat } from '../stream-input.js';
import { formatBytes } from '../table.js';

interface Failure {
  name: string;
  code: string;
  message: string;
}

/** A file broken as a whole (no array could be checked): what is wrong with it, in a few words. */
interface Broken {
  problem: 'not-a-zip' | 'not-safetensors' | 'truncated' | 'damaged';
  /** Where a truncated file ends: its size, or where the error says the bytes stopped. */
  at?: number;
}

/** What an error found while opening says about the file as a whole. */
function brokenBy(error: NpzError, format: 'npz' | 'safetensors' | 'npy', size: number | undefined): Broken {
  const at = size ?? error.offset;
  const truncated = (): Broken => (at === undefined ? { problem: 'truncated' } : { problem: 'truncated', at });
  switch (error.code) {
    case 'ERR_ZIP_NOT_ZIP':
      return { problem: 'not-a-zip' };
    case 'ERR_ZIP_TRUNCATED':
    case 'ERR_NPY_TRUNCATED':
      return truncated();
    case 'ERR_SAFETENSORS_BUFFER_LENGTH':
    case 'ERR_SAFETENSORS_HEADER_LENGTH':
    case 'ERR_NPY_SIZE_MISMATCH': {
      // The header asks for more bytes than the file holds: the file stops early.
      const short = Number(error.actual) < Number(error.expected);
      if (short) return truncated();
      return { problem: format === 'safetensors' && error.code === 'ERR_SAFETENSORS_HEADER_LENGTH' ? 'not-safetensors' : 'damaged' };
    }
    default:
      return { problem: 'damaged' };
  }
}

function brokenText(label: string, broken: Broken, format: 'npz' | 'safetensors' | 'npy'): string {
  switch (broken.problem) {
    case 'not-a-zip':
      return `${label} is not a zip archive (an npz is one)${label === 'standard input' ? ' nor a safetensors file' : ''}, so it holds no arrays to check`;
    case 'not-safetensors':
      return `${label} is not a safetensors file`;
    case 'truncated':
      return `${label} is truncated${broken.at === undefined ? '' : ` at byte ${broken.at}`}: the file stops before its end, so no array can be trusted`;
    case 'damaged':
      return format === 'npz'
        ? `${label}: the archive's directory is damaged, so no array can be found or checked`
        : `${label}: the header is damaged, so no array can be checked`;
  }
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
        failures.push({ name: entry.name, code: error.code, message: inCliWords(error.message) });
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
/** Codes by which a stream as a whole is no archive, or ends early (rather than one member being damaged). */
const STREAM_ENDS = new Set(['ERR_ZIP_NOT_ZIP', 'ERR_ZIP_TRUNCATED', 'ERR_SAFETENSORS_HEADER_LENGTH', 'ERR_SAFETENSORS_BUFFER_LENGTH']);

async function verifyStream(context: CliContext): Promise<number> {
  let format: StreamFormat = 'npz';
  let broken: Broken | undefined;
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
      (found) => {
        format = found;
        if (found === 'safetensors') context.note('a safetensors stream: it holds no checksums; the header, the sizes and the stream length are checked');
      },
    );
  } catch (caught) {
    const error = rootError(caught);
    if (exitCodeFor(error) !== EXIT_BAD_DATA) throw error;
    failures.push({ name: error.entry ?? '-', code: error.code, message: inCliWords(error.message) });
    // A stream that is no archive, or that stops early, is broken as a whole: say so, with where it stopped.
    const whole = STREAM_ENDS.has(error.code) ? brokenBy(error, format, undefined) : undefined;
    if (whole?.problem === 'truncated' || whole?.problem === 'not-a-zip') broken = whole;
  } finally {
    progress.finish();
  }
  return report(context, '-', { failures, checked, bytes, skipped, format, ...(broken === undefined ? {} : { broken }) });
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [path, ...extra] = parsed.positionals;
  if (path === undefined || extra.length > 0) throw usageError('verify takes exactly one FILE');
  if (isStdin(path)) return verifyStream(context);
  const format = formatOf(path);
  const fileSize = isUrlInput(path) ? undefined : (await stat(path).catch(() => undefined))?.size;

  let file: ArrayFile;
  try {
    // A bare .npy is one array: its damage is the file's, reported as a verdict on the file like a broken archive.
    file = await openInput(path, context, format === 'npy' ? { damaged: 'error' } : {});
  } catch (caught) {
    // A broken directory or header means no array can be trusted: that is a verdict, not a usage error.
    const error = rootError(caught);
    if (exitCodeFor(error) !== EXIT_BAD_DATA) throw error;
    const failure = { name: error.entry ?? inputLabel(path), code: error.code, message: inCliWords(error.message) };
    return report(context, path, { failures: [failure], checked: 0, bytes: 0, skipped: [], broken: brokenBy(error, format, fileSize), format });
  }
  try {
    const skipped = file.entries.flatMap((entry) => (entry.isArray || isDamagedEntry(entry) ? [] : [memberNameOf(entry)]));
    const damaged: Failure[] = file.entries.filter(isDamagedEntry).map((entry) => ({ name: entry.name, ...entry.error }));
    if (file.format === 'safetensors') context.note('safetensors holds no checksums: the header, offsets and sizes are checked and every byte is read');
    if (file.format === 'npy') context.note('an .npy holds no checksum: the header and the file size are checked and every byte is read');
    const checked = await checkArrays(file, context);
    return report(context, path, { ...checked, failures: [...damaged, ...checked.failures], checked: checked.checked + damaged.length, skipped, format });
  } finally {
    await file.close();
  }
}

function report(
  context: CliContext,
  path: string,
  result: { failures: Failure[]; checked: number; bytes: number; skipped: string[]; broken?: Broken; format?: 'npz' | 'safetensors' | 'npy' },
): number {
  const { failures, checked, bytes, skipped, broken } = result;
  const ok = failures.length === 0;
  if (context.json) {
    context.printJson({ file: inputLabel(path), ok, arrays: checked, bytesVerified: bytes, failures, skipped, ...(broken === undefined ? {} : { broken }) });
    return ok ? EXIT_OK : EXIT_BAD_DATA;
  }
  for (const failure of failures) context.print(`FAIL  ${failure.name}: ${failure.message} [${failure.code}]`);
  for (const name of skipped) context.note(`skip  ${name}: not an .npy member, its contents are not checked`);
  if (ok) context.print(`OK    ${checked} array${checked === 1 ? '' : 's'}, ${formatBytes(bytes)} verified`);
  else if (broken !== undefined) context.print(`FAILED  ${brokenText(path === '-' ? 'standard input' : inputLabel(path), broken, result.format ?? 'npz')}`);
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
