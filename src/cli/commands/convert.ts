import { basename } from 'node:path';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import chain from 'stream-chain';
import {
  saveNpz,
  saveNpzStream,
  saveSafetensors,
  saveSafetensorsShards,
  streamNpz,
  type ArrayFile,
  type LazyArray,
  type SaveSummary,
} from '../../index.js';
import { flag, listOption, stringOption, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, type CliContext, type Command } from '../context.js';
import { castLeaf, parseCasts, parseRename, renameWith, type ArrayRecord } from '../convert-records.js';
import { nameFilter } from '../glob.js';
import { formatOf, inputLabel, isArrayEntry, withNpz, type TensorEntry } from '../npz-input.js';
import type { Progress } from '../progress.js';
import { parseShardSize } from '../shard-size.js';
import { isStdin, stdinStream, STDIN_PATH } from '../stream-input.js';
import { formatBytes } from '../table.js';
import { compareTreeNames } from '../tree-order.js';

/** A leaf reading its data from the open input when the writer gets to it, counting bytes for the progress bar. */
function lazyLeaf(file: ArrayFile, entry: TensorEntry, progress: Progress, signal: AbortSignal): LazyArray {
  return {
    // A float8 tensor is raw '|V1' bytes to npz; its safetensors kind goes along for a safetensors output.
    ...(entry.format === 'safetensors' ? { safetensorsDType: entry.safetensorsDType } : {}),
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

interface OutputOptions {
  /** The safetensors file, or the weights name shards are named after (`model.safetensors`). */
  path: string;
  npz: { align?: number };
  metadata?: Record<string, string>;
  maxShardSize?: number;
}

/** The options that depend on the output format, each refused where it means nothing. */
function outputOptions(parsed: ParsedCommandLine, format: 'npz' | 'safetensors', output: string): OutputOptions {
  const align = stringOption(parsed, 'align');
  const shardSize = stringOption(parsed, 'max-shard-size');
  const metadata = listOption(parsed, 'metadata');
  if (format === 'npz') {
    if (shardSize !== undefined || metadata.length > 0) throw usageError('--max-shard-size and --metadata need a .safetensors output');
    if (align === undefined) return { path: output, npz: {} };
    const value = Number(align);
    if (!Number.isInteger(value) || value < 1 || value > 4096 || (value & (value - 1)) !== 0) {
      throw usageError(`--align takes a power of two up to 4096, got ${JSON.stringify(align)}`);
    }
    return { path: output, npz: { align: value } };
  }
  if (align !== undefined) throw usageError('--align is for .npz output (safetensors data has no alignment guarantee)');
  if (flag(parsed, 'compress')) throw usageError('safetensors has no compression; drop --compress');
  const path = output.replace(/\.index\.json$/i, '');
  if (!path.endsWith('.safetensors')) throw usageError(`a shard index is named like model.safetensors.index.json, got ${JSON.stringify(output)}`);
  const options: OutputOptions = { path, npz: {} };
  if (shardSize !== undefined) options.maxShardSize = parseShardSize(shardSize);
  if (metadata.length > 0) {
    options.metadata = {};
    for (const spec of metadata) {
      const split = spec.indexOf('=');
      if (split <= 0) throw usageError(`--metadata needs KEY=VALUE, got ${JSON.stringify(spec)}`);
      options.metadata[spec.slice(0, split)] = spec.slice(split + 1);
    }
  }
  return options;
}

/** What a conversion wrote, whatever the output format. */
interface ConvertSummary {
  entries: number;
  bytesWritten: number;
  names: string[];
  files: string[];
}

type RecordStep = (record: ArrayRecord) => ArrayRecord | null;

/**
 * Standard input as the source: each array becomes a record when the stream reaches it and goes to the writer
 * straight away, with no read-ahead (an array's data must be written before the stream moves to the next). The
 * output is stored unless --compress: whether the input was compressed is only known array by array.
 */
async function convertStream(
  context: CliContext,
  steps: readonly RecordStep[],
  compress: boolean,
  write: (pairs: AsyncIterable<[string, LazyArray]>, compress: boolean) => Promise<ConvertSummary>,
): Promise<ConvertSummary> {
  const progress = context.progress('convert', 0);
  let total = 0;
  async function* pairs(): AsyncGenerator<[string, LazyArray]> {
    for await (const entry of streamNpz(stdinStream(), { ...context.read, signal: context.signal })) {
      if (!entry.isArray) {
        context.warn(`${JSON.stringify(entry.memberName)} is not an .npy array; it is not copied`);
        continue;
      }
      const leaf: LazyArray = {
        dtype: entry.dtype,
        descr: entry.descr,
        shape: entry.shape,
        fortranOrder: entry.fortranOrder,
        async *chunks() {
          for await (const chunk of entry.chunks()) {
            progress.add(chunk.length, entry.name);
            yield chunk;
          }
        },
      };
      progress.setTotal((total += entry.byteLength));
      let record: ArrayRecord | null = { name: entry.name, leaf };
      for (const step of steps) if (record !== null) record = step(record);
      if (record !== null) yield [record.name, record.leaf];
    }
  }
  try {
    return await write(pairs(), compress);
  } finally {
    progress.finish();
  }
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [input, output, ...extra] = parsed.positionals;
  if (input === undefined || output === undefined || extra.length > 0) throw usageError('convert takes an input and an output file');
  if (flag(parsed, 'compress') && flag(parsed, 'no-compress')) throw usageError('--compress and --no-compress exclude each other');
  const casts = parseCasts(listOption(parsed, 'cast'));
  const keep = nameFilter(listOption(parsed, 'include'), listOption(parsed, 'exclude'));
  const stripPrefix = stringOption(parsed, 'strip-prefix');
  const addPrefix = stringOption(parsed, 'add-prefix');
  const outputFormat = formatOf(output);
  const written = outputOptions(parsed, outputFormat, output);
  const rename = renameWith({
    renames: listOption(parsed, 'rename').map(parseRename),
    ...(stripPrefix === undefined ? {} : { stripPrefix }),
    ...(addPrefix === undefined ? {} : { addPrefix }),
  });

  // Filter, rename and cast only rewrite metadata and wrap chunks(): records carry no tensor data.
  const keepStep = (record: ArrayRecord): ArrayRecord | null => (keep(record.name) ? record : null);
  const renameStep = (record: ArrayRecord): ArrayRecord => {
    const name = rename(record.name);
    if (name === '') throw usageError(`renaming ${JSON.stringify(record.name)} leaves an empty name`);
    return { ...record, name };
  };
  const castStep = (record: ArrayRecord): ArrayRecord => {
    const cast = casts.get(record.leaf.dtype);
    return cast === undefined ? record : { ...record, leaf: castLeaf(record.leaf, cast, record.name) };
  };
  const toStdout = output === STDIN_PATH;
  async function write(pairs: AsyncIterable<[string, LazyArray]>, compress: boolean): Promise<ConvertSummary> {
    if (toStdout) {
      const saved = await writeToStdout(pairs, compress);
      return { entries: saved.entries, bytesWritten: saved.bytesWritten, names: saved.names, files: [output as string] };
    }
    if (outputFormat === 'npz') {
      const saved = await saveNpz(output as string, pairs, { compress, signal: context.signal, ...written.npz });
      return { entries: saved.entries, bytesWritten: saved.bytesWritten, names: saved.names, files: [output as string] };
    }
    const common = { signal: context.signal, ...(written.metadata === undefined ? {} : { metadata: written.metadata }) };
    if (written.maxShardSize === undefined) {
      const saved = await saveSafetensors(written.path, pairs, common);
      return { entries: saved.tensors, bytesWritten: saved.bytesWritten, names: saved.names, files: [written.path] };
    }
    const saved = await saveSafetensorsShards(written.path, pairs, { ...common, maxShardSize: written.maxShardSize });
    return { entries: saved.tensors, bytesWritten: saved.bytesWritten, names: [], files: saved.files };
  }

  // As numpy writes to a pipe: data descriptors after each member. Through a PassThrough, so a failed write
  // ends the pipe without destroying standard output itself.
  async function writeToStdout(pairs: AsyncIterable<[string, LazyArray]>, compress: boolean): Promise<SaveSummary> {
    const out = new PassThrough();
    out.pipe(context.stdout, { end: false });
    const summary = await saveNpzStream(pairs, out, { compress, signal: context.signal, ...written.npz });
    if (!out.readableEnded) await once(out, 'end');
    return summary;
  }
  const summary = isStdin(input)
    ? await convertStream(context, [keepStep, renameStep, castStep], flag(parsed, 'compress'), write)
    : await withNpz(input, context, async (file) => {
      for (const entry of file.entries) {
        if (!isArrayEntry(entry)) context.warn(`${JSON.stringify(entry.memberName)} is not an .npy array; it is not copied`);
      }
      const selected = file.entries.filter(isArrayEntry).filter((entry) => keep(entry.name));
      // Default: compress only when the input's arrays all were, so a plain conversion keeps the input's layout.
      const compress =
        flag(parsed, 'compress') || (!flag(parsed, 'no-compress') && selected.length > 0 && selected.every((e) => e.format === 'npz' && e.compression === 'deflate'));
      const progress = context.progress('convert', selected.reduce((sum, entry) => sum + entry.byteLength, 0));

      // safetensors keeps no order (its writer sorts by dtype), so its tensors go out in big_vision's tree order,
      // which makes npz -> safetensors -> npz give back the original bytes.
      const inputArrays = file.entries.filter(isArrayEntry);
      if (file.format === 'safetensors') inputArrays.sort((a, b) => compareTreeNames(a.name, b.name));
      async function* records(): AsyncGenerator<ArrayRecord & { entry: TensorEntry }> {
        for (const entry of inputArrays) yield { name: entry.name, entry, leaf: lazyLeaf(file, entry, progress, context.signal) };
      }
      const pipeline = chain([Readable.from(records()), keepStep, renameStep, castStep]);
      async function* pairs(): AsyncGenerator<[string, LazyArray]> {
        for await (const record of pipeline as AsyncIterable<ArrayRecord>) yield [record.name, record.leaf];
      }
      try {
        return await write(pairs(), compress);
      } finally {
        pipeline.destroy();
        progress.finish();
      }
    });

  if (toStdout) {
    context.note(`wrote standard output: ${summary.entries} array${summary.entries === 1 ? '' : 's'}, ${formatBytes(summary.bytesWritten)}`);
    return EXIT_OK;
  }
  if (context.json) {
    context.printJson({ input: inputLabel(input), output, arrays: summary.entries, bytesWritten: summary.bytesWritten, names: summary.names, files: summary.files });
  } else {
    const where = summary.files.length === 1 ? output : `${summary.files.length} files (${summary.files.map((file) => basename(file)).join(', ')})`;
    context.print(`wrote ${where}: ${summary.entries} array${summary.entries === 1 ? '' : 's'}, ${formatBytes(summary.bytesWritten)}`);
  }
  return EXIT_OK;
}

export const convertCommand: Command = {
  name: 'convert',
  synopsis: 'convert IN OUT',
  summary: 'rewrite an npz or safetensors file as either: cast, rename, filter, shard; streamed',
  details:
    'Names are filtered (--include/--exclude, on the input names), then --strip-prefix, --rename (in order) and\n' +
    '--add-prefix apply. Globs: * and ? stay within a path segment, ** crosses them. Without --compress or\n' +
    '--no-compress the output is compressed only when every selected input array was. OUT is written to a temp\n' +
    'file and renamed into place, so an interrupted or failed conversion leaves no partial file.\n' +
    'Formats go by extension: .npz, .safetensors, or a model.safetensors.index.json of shards (input or\n' +
    'output). safetensors tensors are written to an npz in big_vision tree order. With --max-shard-size OUT\n' +
    'names the weights (out/model.safetensors): numbered shards plus OUT.index.json, as transformers writes.\n' +
    'IN - reads standard input front to back (output stored unless --compress); OUT - writes standard output as a\n' +
    'stream, with data descriptors as numpy writes to a pipe. A failure mid-stream leaves what was written so far.',
  options: {
    cast: { type: 'string', multiple: true, value: 'FROM:TO', description: 'float32:bfloat16, bfloat16:float32, float32:float16, float16:float32' },
    'strip-prefix': { type: 'string', value: 'PREFIX', description: 'remove PREFIX from names that start with it' },
    'add-prefix': { type: 'string', value: 'PREFIX', description: 'put PREFIX in front of every name' },
    rename: { type: 'string', multiple: true, value: 'REGEX=REPL', description: 'replace the first match of REGEX (JS syntax, $1 etc.)' },
    include: { type: 'string', multiple: true, value: 'GLOB', description: 'keep only arrays whose input name matches' },
    exclude: { type: 'string', multiple: true, value: 'GLOB', description: 'drop arrays whose input name matches' },
    compress: { type: 'boolean', description: 'deflate every member (like np.savez_compressed)' },
    'no-compress': { type: 'boolean', description: 'store every member (like np.savez)' },
    align: { type: 'string', value: 'N', description: 'npz: start every array\'s data at a multiple of N bytes (power of two up to 4096)' },
    'max-shard-size': { type: 'string', value: 'SIZE', description: 'safetensors: Hugging Face shards of at most SIZE (bytes, 5GB, 500MiB)' },
    metadata: { type: 'string', multiple: true, value: 'KEY=VALUE', description: 'safetensors: a __metadata__ entry (transformers wants format=pt)' },
  },
  run,
};
