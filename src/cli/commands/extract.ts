import { mkdir } from 'node:fs/promises';
import { isNpzError, saveNpy, type ArrayInfo } from '../../index.js';
import { stringOption, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_BAD_DATA, EXIT_OK, type CliContext, type Command, inCliWords } from '../context.js';
import { inputLabel, withNpz, type ArrayReader } from '../npz-input.js';
import { selectArraySlices } from '../slice-syntax.js';
import { forEachStreamArray, isStdin } from '../stream-input.js';
import type { Progress } from '../progress.js';
import { safeTarget } from '../safe-path.js';
import { formatBytes } from '../table.js';

/**
 * Writes arrays as standalone `.npy` files numpy can load. The reader hands out little-endian data and reports
 * the descr accordingly, so the array is written as it is described (the header np.save would write for it).
 * Each file is written atomically, without an fsync (a lost extraction is simply run again).
 */
async function extractOne(file: ArrayReader, entry: ArrayInfo, root: string, progress: Progress, context: CliContext): Promise<string> {
  const target = await safeTarget(root, entry.name, '.npy');
  await saveNpy(
    target,
    {
      dtype: entry.dtype,
      descr: entry.descr,
      shape: entry.shape,
      fortranOrder: entry.fortranOrder,
      async *chunks() {
        for await (const chunk of file.chunks(entry.name, { signal: context.signal, reuseBuffers: true })) {
          yield chunk;
          progress.add(chunk.length, entry.name);
        }
      },
    },
    { signal: context.signal, fsync: false },
  );
  return target;
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [path, ...names] = parsed.positionals;
  const root = stringOption(parsed, 'output');
  if (path === undefined) throw usageError('extract takes a FILE, optional array NAMEs and -o DIR');
  if (root === undefined) throw usageError('extract needs an output directory: -o DIR');
  await mkdir(root, { recursive: true });

  const written: { name: string; path: string; bytes: number }[] = [];
  const refused: { name: string; code: string; message: string }[] = [];
  const extractEach = async (pairs: Iterable<{ file: ArrayReader; entry: ArrayInfo }>, progress: Progress): Promise<void> => {
    for (const { file, entry } of pairs) {
      try {
        const target = await extractOne(file, entry, root, progress, context);
        written.push({ name: entry.name, path: target, bytes: entry.byteLength });
      } catch (error) {
        // A hostile name costs that one array, not the rest of the archive.
        if (!isNpzError(error, 'ERR_TREE_KEY')) throw error;
        refused.push({ name: entry.name, code: error.code, message: inCliWords(error.message) });
        progress.add(entry.byteLength);
      }
    }
  };
  if (isStdin(path)) {
    // Standard input: each array is written as the stream reaches it; a failure later in the stream (or in its
    // central directory) fails the command, with the files already written left in place, complete and verified.
    const progress = context.progress('extract', 0);
    try {
      let total = 0;
      await forEachStreamArray(context, names, (visit) => {
        progress.setTotal((total += visit.entry.byteLength));
        return extractEach([visit], progress);
      });
    } finally {
      progress.finish();
    }
  } else {
    await withNpz(path, context, async (file) => {
      // NAME[...] writes only that slice, as DIR/NAME[...].npy.
      const selected = selectArraySlices(file, names);
      const progress = context.progress('extract', selected.reduce((sum, { entry }) => sum + entry.byteLength, 0));
      try {
        await extractEach(selected.map(({ file: reader, entry }) => ({ file: reader, entry })), progress);
      } finally {
        progress.finish();
      }
    });
  }

  if (context.json) {
    context.printJson({ file: inputLabel(path), directory: root, written, refused });
  } else {
    for (const failure of refused) context.print(`FAIL  ${failure.name}: ${failure.message} [${failure.code}]`);
    const bytes = written.reduce((sum, item) => sum + item.bytes, 0);
    context.print(`extracted ${written.length} array${written.length === 1 ? '' : 's'} (${formatBytes(bytes)} of data) to ${root}`);
  }
  return refused.length === 0 ? EXIT_OK : EXIT_BAD_DATA;
}

export const extractCommand: Command = {
  name: 'extract',
  synopsis: "extract FILE [NAME|'NAME[...]'...] -o DIR",
  summary: 'write arrays as .npy files numpy can load',
  details:
    "Each array NAME becomes DIR/NAME.npy ('/' in names makes subdirectories). Names that are absolute or hold\n" +
    "'..', '.', empty segments, backslashes or NUL are refused (exit code 1); nothing is written outside DIR.\n" +
    'Each file is written to a temp file and renamed into place. NAME[...] writes only that slice (C order), as\n' +
    'DIR/NAME[...].npy with the slice spelled as numpy spells it.',
  options: { output: { type: 'string', short: 'o', value: 'DIR', description: 'output directory (created if missing)' } },
  run,
};
