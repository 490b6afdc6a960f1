import type { ArrayInfo } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_BAD_DATA, EXIT_OK, exitCodeFor, rootError, type CliContext, type Command } from '../context.js';
import { itemChunks, numbersOf, partsPerItem } from '../elements.js';
import { entryItemsize, inputLabel, isDamagedEntry, selectEntries, withNpz, type ArrayReader, type ReportedEntry } from '../npz-input.js';
import { selectArraySlices } from '../slice-syntax.js';
import { forEachStreamArray, isStdin } from '../stream-input.js';
import type { Progress } from '../progress.js';
import { addValues, emptySummary, type Summary } from '../summary.js';
import { formatNumber, formatShape, renderTable, type NoteRow } from '../table.js';

export { addValues, emptySummary, type Summary };

/**
 * Streamed statistics in float64: each chunk is summarised exactly enough with a two-pass mean and sum of squared
 * deviations, and chunks are merged with Chan et al.'s parallel update, so the result does not drift on
 * billions of elements the way a running sum of squares would.
 */

interface TensorStats {
  entry: ArrayInfo;
  summary?: Summary;
  note?: string;
}

/** An array that could not be summarised: damaged when the file was opened, or failing while it was read. */
interface FailedStats {
  name: string;
  /** What the entry says, when it is an array (a damaged member has no dtype or shape). */
  entry?: ArrayInfo;
  error: { code: string; message: string };
}

type StatsRow = TensorStats | FailedStats;

function isFailed(row: StatsRow): row is FailedStats {
  return 'error' in row;
}

/**
 * The error as a row of the table, when it is about this array's data (a CRC mismatch, a damaged header);
 * undefined for errors that end the command (I/O, Ctrl-C, usage).
 */
function failedRow(name: string, entry: ArrayInfo | undefined, caught: unknown): FailedStats | undefined {
  const error = rootError(caught);
  if (exitCodeFor(error) !== EXIT_BAD_DATA) return undefined;
  return { name, ...(entry === undefined ? {} : { entry }), error: { code: error.code, message: error.message } };
}

async function tensorStats(file: ArrayReader, entry: ArrayInfo, progress: Progress, context: CliContext): Promise<TensorStats> {
  const { dtype } = entry;
  if (dtype === 'raw') {
    progress.add(entry.byteLength);
    return { entry, note: `descr ${JSON.stringify(entry.descr)} is not numeric` };
  }
  if (partsPerItem(dtype) > 1) {
    progress.add(entry.byteLength);
    return { entry, note: 'complex values have no order; not summarised' };
  }
  const summary = emptySummary();
  for await (const chunk of itemChunks(file.chunks(entry.name, { signal: context.signal }), entryItemsize(entry), entry.name)) {
    addValues(summary, numbersOf(dtype, chunk));
    progress.add(chunk.length, entry.name);
  }
  return { entry, summary };
}

/**
 * Standard input: the arrays in stream order (names filter them), each summarised as it streams past. Damage ends
 * the stream (nothing after it can be found), so it is the last row.
 */
async function streamStats(names: readonly string[], context: CliContext): Promise<StatsRow[]> {
  const out: StatsRow[] = [];
  const progress = context.progress('stats', 0);
  let current: ArrayInfo | undefined;
  try {
    let total = 0;
    await forEachStreamArray(context, names, async ({ file, entry }) => {
      current = entry;
      // The total grows as the stream reveals arrays: the bar shows progress through what is known so far.
      progress.setTotal((total += entry.byteLength));
      out.push(await tensorStats(file, entry, progress, context));
      current = undefined;
    });
  } catch (caught) {
    const failed = failedRow(current?.name ?? rootError(caught).entry ?? '-', current, caught);
    if (failed === undefined) throw caught;
    out.push(failed);
  } finally {
    progress.finish();
  }
  return out;
}

/** A file: every array named (all of them by default), a failing one reported in its row and the rest read on. */
async function fileStats(path: string, names: readonly string[], context: CliContext): Promise<StatsRow[]> {
  return withNpz(path, context, async (file) => {
    // Every array (damaged ones get a row with their error), or the ones named; NAME[...] summarises only that slice.
    const selected: { entry: ReportedEntry; reader: ArrayReader }[] =
      names.length === 0
        ? selectEntries(file, names).map((entry) => ({ entry, reader: file }))
        : selectArraySlices(file, names).map(({ entry, file: reader }) => ({ entry, reader }));
    const progress = context.progress('stats', selected.reduce((sum, { entry }) => sum + (isDamagedEntry(entry) ? 0 : entry.byteLength), 0));
    try {
      const out: StatsRow[] = [];
      for (const { entry, reader } of selected) {
        if (isDamagedEntry(entry)) {
          out.push({ name: entry.name, error: entry.error });
          continue;
        }
        const before = progress.done;
        try {
          out.push(await tensorStats(reader, entry, progress, context));
        } catch (caught) {
          const failed = failedRow(entry.name, entry, caught);
          if (failed === undefined) throw caught;
          out.push(failed);
          // Keep the bar honest after an array that stopped early.
          progress.add(entry.byteLength - (progress.done - before));
        }
      }
      return out;
    } finally {
      progress.finish();
    }
  });
}

function statsJson(row: StatsRow): Record<string, unknown> {
  if (isFailed(row)) {
    return { name: row.name, ...(row.entry === undefined ? {} : { dtype: row.entry.dtype, shape: row.entry.shape }), error: row.error };
  }
  const { entry, summary, note } = row;
  const base = { name: entry.name, dtype: entry.dtype, shape: entry.shape };
  if (summary === undefined) return { ...base, note };
  const { count, mean, m2, min, max, nan, posInf, negInf } = summary;
  return count === 0
    ? { ...base, count, nan, posInf, negInf }
    : { ...base, count, min, max, mean, std: Math.sqrt(m2 / count), nan, posInf, negInf };
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [path, ...names] = parsed.positionals;
  if (path === undefined) throw usageError('stats takes a FILE and optional array NAMEs');
  const results = isStdin(path) ? await streamStats(names, context) : await fileStats(path, names, context);
  const failures = results.filter(isFailed);
  const status = failures.length === 0 ? EXIT_OK : EXIT_BAD_DATA;

  if (context.json) {
    context.printJson({ file: inputLabel(path), arrays: results.map(statsJson), failed: failures.length });
    return status;
  }
  const rows = results.map((row): string[] | NoteRow => {
    if (isFailed(row)) return [row.name, row.entry?.dtype ?? '-', row.entry === undefined ? '-' : formatShape(row.entry.shape), `(${row.error.code})`];
    const { entry, summary, note } = row;
    const head = [entry.name, entry.dtype, formatShape(entry.shape)];
    if (summary === undefined) return { cells: head, rest: `(${note ?? ''})` };
    const known = summary.count > 0;
    return [
      ...head,
      known ? formatNumber(summary.min) : '-',
      known ? formatNumber(summary.max) : '-',
      known ? formatNumber(summary.mean) : '-',
      known ? formatNumber(Math.sqrt(summary.m2 / summary.count)) : '-',
      String(summary.nan),
      String(summary.posInf + summary.negInf),
    ];
  });
  context.print(
    renderTable(
      [
        { header: 'NAME' },
        { header: 'DTYPE' },
        { header: 'SHAPE' },
        { header: 'MIN', align: 'right' },
        { header: 'MAX', align: 'right' },
        { header: 'MEAN', align: 'right' },
        { header: 'STD', align: 'right' },
        { header: 'NAN', align: 'right' },
        { header: 'INF', align: 'right' },
      ],
      rows,
    ),
  );
  for (const failure of failures) context.print(`FAIL  ${failure.name}: ${failure.error.message} [${failure.error.code}]`);
  if (failures.length > 0) {
    const summarised = results.length - failures.length;
    context.print(`${failures.length} of ${results.length} array${results.length === 1 ? '' : 's'} could not be read; ${summarised} summarised`);
  }
  return status;
}

export const statsCommand: Command = {
  name: 'stats',
  synopsis: "stats FILE [NAME|'NAME[...]'...]",
  summary: 'per array min, max, mean, std and NaN/Inf counts, streamed',
  details:
    'min/max/mean/std cover the finite values (std with ddof=0, as np.std); NaN and ±Inf are counted apart.\n' +
    'An array that cannot be read (a damaged header, a CRC-32 mismatch) gets its error code in its row and the\n' +
    'message below the table; the others are still summarised, and the exit code is 1.\n' +
    "NAME[...] summarises that slice only, in numpy's syntax (as cat takes it).",
  options: {},
  run,
};
