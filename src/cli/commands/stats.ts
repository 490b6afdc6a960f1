import type { ArrayInfo } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, type CliContext, type Command } from '../context.js';
import { itemChunks, numbersOf, partsPerItem } from '../elements.js';
import { entryItemsize, inputLabel, withNpz, type ArrayReader } from '../npz-input.js';
import { selectArraySlices } from '../slice-syntax.js';
import { forEachStreamArray, isStdin } from '../stream-input.js';
import type { Progress } from '../progress.js';
import { addValues, emptySummary, type Summary } from '../summary.js';

export { addValues, emptySummary, type Summary };
import { formatNumber, formatShape, renderTable, type NoteRow } from '../table.js';

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

/** Standard input: the arrays in stream order (names filter them), each summarised as it streams past. */
async function streamStats(names: readonly string[], context: CliContext): Promise<TensorStats[]> {
  const out: TensorStats[] = [];
  const progress = context.progress('stats', 0);
  try {
    let total = 0;
    await forEachStreamArray(context, names, async ({ file, entry }) => {
      // The total grows as the stream reveals arrays: the bar shows progress through what is known so far.
      progress.setTotal((total += entry.byteLength));
      out.push(await tensorStats(file, entry, progress, context));
    });
  } finally {
    progress.finish();
  }
  return out;
}

function statsJson({ entry, summary, note }: TensorStats): Record<string, unknown> {
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
  const results = isStdin(path) ? await streamStats(names, context) : await withNpz(path, context, async (file) => {
    // NAME[...] summarises only that slice.
    const selected = selectArraySlices(file, names);
    const progress = context.progress('stats', selected.reduce((sum, { entry }) => sum + entry.byteLength, 0));
    try {
      const out: TensorStats[] = [];
      for (const { file: reader, entry } of selected) out.push(await tensorStats(reader, entry, progress, context));
      return out;
    } finally {
      progress.finish();
    }
  });

  if (context.json) {
    context.printJson({ file: inputLabel(path), arrays: results.map(statsJson) });
    return EXIT_OK;
  }
  const rows = results.map(({ entry, summary, note }): string[] | NoteRow => {
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
  return EXIT_OK;
}

export const statsCommand: Command = {
  name: 'stats',
  synopsis: "stats FILE [NAME|'NAME[...]'...]",
  summary: 'per array min, max, mean, std and NaN/Inf counts, streamed',
  details:
    'min/max/mean/std cover the finite values (std with ddof=0, as np.std); NaN and ±Inf are counted apart.\n' +
    "NAME[...] summarises that slice only, in numpy's syntax (as cat takes it).",
  options: {},
  run,
};
