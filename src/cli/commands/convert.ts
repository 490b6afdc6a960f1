import { Readable } from 'node:stream';
import chain from 'stream-chain';
import { saveNpz, type LazyArray, type NpzArrayEntry, type NpzFile } from '../../index.js';
import { flag, listOption, stringOption, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, type CliContext, type Command } from '../context.js';
import { castLeaf, parseCasts, parseRename, renameWith, type ArrayRecord } from '../convert-records.js';
import { nameFilter } from '../glob.js';
import { isArrayEntry, withNpz } from '../npz-input.js';
import type { Progress } from '../progress.js';
import { formatBytes } from '../table.js';

/** A leaf reading its data from the open input when the writer gets to it, counting bytes for the progress bar. */
function lazyLeaf(file: NpzFile, entry: NpzArrayEntry, progress: Progress, signal: AbortSignal): LazyArray {
  return {
    dtype: entry.dtype,
    descr: entry.descr,
    shape: entry.shape,
    fortranOrder: entry.fortranOrder,
    async *chunks() {
      for await (const chunk of file.chunks(entry.name, { signal })) {
        progress.add(chunk.length, entry.name);
        yield chunk;
      }
    },
  };
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [input, output, ...extra] = parsed.positionals;
  if (input === undefined || output === undefined || extra.length > 0) throw usageError('convert takes an input and an output file');
  if (flag(parsed, 'compress') && flag(parsed, 'no-compress')) throw usageError('--compress and --no-compress exclude each other');
  const casts = parseCasts(listOption(parsed, 'cast'));
  const keep = nameFilter(listOption(parsed, 'include'), listOption(parsed, 'exclude'));
  const stripPrefix = stringOption(parsed, 'strip-prefix');
  const addPrefix = stringOption(parsed, 'add-prefix');
  const rename = renameWith({
    renames: listOption(parsed, 'rename').map(parseRename),
    ...(stripPrefix === undefined ? {} : { stripPrefix }),
    ...(addPrefix === undefined ? {} : { addPrefix }),
  });

  const summary = await withNpz(input, context, async (file) => {
    for (const entry of file.entries) {
      if (!isArrayEntry(entry)) context.warn(`${JSON.stringify(entry.memberName)} is not an .npy array; it is not copied`);
    }
    const selected = file.entries.filter(isArrayEntry).filter((entry) => keep(entry.name));
    // Default: compress only when the input's arrays all were, so a plain conversion keeps the input's layout.
    const compress = flag(parsed, 'compress') || (!flag(parsed, 'no-compress') && selected.length > 0 && selected.every((e) => e.compression === 'deflate'));
    const progress = context.progress('convert', selected.reduce((sum, entry) => sum + entry.byteLength, 0));

    async function* records(): AsyncGenerator<ArrayRecord & { entry: NpzArrayEntry }> {
      for (const entry of file.entries) {
        if (isArrayEntry(entry)) yield { name: entry.name, entry, leaf: lazyLeaf(file, entry, progress, context.signal) };
      }
    }
    // Records carry no tensor data: filter, rename and cast only rewrite metadata and wrap chunks().
    const pipeline = chain([
      Readable.from(records()),
      (record: ArrayRecord) => (keep(record.name) ? record : null),
      (record: ArrayRecord) => {
        const name = rename(record.name);
        if (name === '') throw usageError(`renaming ${JSON.stringify(record.name)} leaves an empty name`);
        return { ...record, name };
      },
      (record: ArrayRecord) => {
        const cast = casts.get(record.leaf.dtype);
        return cast === undefined ? record : { ...record, leaf: castLeaf(record.leaf, cast, record.name) };
      },
    ]);
    async function* pairs(): AsyncGenerator<[string, LazyArray]> {
      for await (const record of pipeline as AsyncIterable<ArrayRecord>) yield [record.name, record.leaf];
    }
    try {
      return await saveNpz(output, pairs(), { compress, signal: context.signal });
    } finally {
      pipeline.destroy();
      progress.finish();
    }
  });

  if (context.json) {
    context.printJson({ input, output, arrays: summary.entries, bytesWritten: summary.bytesWritten, names: summary.names });
  } else {
    context.print(`wrote ${output}: ${summary.entries} array${summary.entries === 1 ? '' : 's'}, ${formatBytes(summary.bytesWritten)}`);
  }
  return EXIT_OK;
}

export const convertCommand: Command = {
  name: 'convert',
  synopsis: 'convert IN OUT',
  summary: 'rewrite an npz: cast, rename, filter, (de)compress; streamed',
  details:
    'Names are filtered (--include/--exclude, on the input names), then --strip-prefix, --rename (in order) and\n' +
    '--add-prefix apply. Globs: * and ? stay within a path segment, ** crosses them. Without --compress or\n' +
    '--no-compress the output is compressed only when every selected input array was. OUT is written to a temp\n' +
    'file and renamed into place, so an interrupted or failed conversion leaves no partial file.',
  options: {
    cast: { type: 'string', multiple: true, value: 'FROM:TO', description: 'float32:bfloat16, bfloat16:float32, float32:float16, float16:float32' },
    'strip-prefix': { type: 'string', value: 'PREFIX', description: 'remove PREFIX from names that start with it' },
    'add-prefix': { type: 'string', value: 'PREFIX', description: 'put PREFIX in front of every name' },
    rename: { type: 'string', multiple: true, value: 'REGEX=REPL', description: 'replace the first match of REGEX (JS syntax, $1 etc.)' },
    include: { type: 'string', multiple: true, value: 'GLOB', description: 'keep only arrays whose input name matches' },
    exclude: { type: 'string', multiple: true, value: 'GLOB', description: 'drop arrays whose input name matches' },
    compress: { type: 'boolean', description: 'deflate every member (like np.savez_compressed)' },
    'no-compress': { type: 'boolean', description: 'store every member (like np.savez)' },
  },
  run,
};
