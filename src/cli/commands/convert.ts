import { mkdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import chain from 'stream-chain';
import {
  NpzError,
  saveNpz,
  saveNpzStream,
  saveSafetensors,
  saveSafetensorsShards,
  type ArrayFile,
  type LazyArray,
  type SafetensorsFloat8DType,
  type SaveSummary,
} from '../../index.js';
import { flag, listOption, stringOption, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, type CliContext, type Command } from '../context.js';
import { castLeaf, parseCasts, parseRename, renameWith, type ArrayRecord } from '../convert-records.js';
import { globToRegExp, nameFilter } from '../glob.js';
import { errorOf, formatOf, inputLabel, isArrayEntry, isDamagedEntry, memberNameOf, withNpz, type TensorEntry } from '../npz-input.js';
import type { Progress } from '../progress.js';
import { parseShardSize } from '../shard-size.js';
import { Spool } from '../spool.js';
import { isStdin, stdinEntries, STDIN_PATH, type StreamArrayEntry } from '../stream-input.js';
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

/** A leaf reading the current entry of standard input: once, when the writer (or the spool) gets to it. */
function streamLeaf(entry: StreamArrayEntry, progress: Progress): LazyArray {
  return {
    ...(entry.format === 'safetensors' ? { safetensorsDType: entry.safetensorsDType } : {}),
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
}

interface OutputOptions {
  /** The safetensors file, or the weights name shards are named after (`model.safetensors`). */
  path: string;
  npz: { align?: number };
  metadata?: Record<string, string>;
  maxShardSize?: number;
  /** `--raw-dtype`: the float8 kind of raw one-byte arrays, by name. */
  rawDType?: (name: string) => SafetensorsFloat8DType | undefined;
}

const FLOAT8_KINDS: readonly SafetensorsFloat8DType[] = ['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ'];

/** `--raw-dtype [GLOB=]KIND`, repeatable: the first whose glob matches an array's (output) name names its kind. */
function parseRawDTypes(specs: readonly string[]): ((name: string) => SafetensorsFloat8DType | undefined) | undefined {
  if (specs.length === 0) return undefined;
  const rules = specs.map((spec) => {
    const split = spec.lastIndexOf('=');
    const kind = spec.slice(split + 1);
    if (!FLOAT8_KINDS.includes(kind as SafetensorsFloat8DType)) {
      throw usageError(`--raw-dtype takes [GLOB=]KIND with KIND one of ${FLOAT8_KINDS.join(', ')}; got ${JSON.stringify(spec)}`);
    }
    const pattern = split < 0 ? undefined : globToRegExp(spec.slice(0, split));
    return { pattern, kind: kind as SafetensorsFloat8DType };
  });
  return (name) => rules.find((rule) => rule.pattern === undefined || rule.pattern.test(name))?.kind;
}

/** The options that depend on the output format, each refused where it means nothing. */
function outputOptions(parsed: ParsedCommandLine, format: 'npz' | 'safetensors', output: string): OutputOptions {
  const align = stringOption(parsed, 'align');
  const shardSize = stringOption(parsed, 'max-shard-size');
  const metadata = listOption(parsed, 'metadata');
  const rawDTypes = listOption(parsed, 'raw-dtype');
  if (format === 'npz') {
    if (shardSize !== undefined || metadata.length > 0 || rawDTypes.length > 0) {
      throw usageError('--max-shard-size, --metadata and --raw-dtype need a .safetensors output');
    }
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
  const rawDType = parseRawDTypes(rawDTypes);
  if (rawDType !== undefined) options.rawDType = rawDType;
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

/** One-byte raw descrs numpy with ml_dtypes writes float8 as ('<V1', '|V1'; '<f1' for float8_e5m2). */
function isFloat8Raw(leaf: LazyArray): boolean {
  return leaf.dtype === 'raw' && typeof leaf.descr === 'string' && /^[|<>=]?(V1|f1)$/.test(leaf.descr);
}

/**
 * A raw one-byte array going to safetensors must say which float8 kind it holds: its own (from a safetensors
 * input), `--raw-dtype`'s, or ml_dtypes' '<f1' (float8_e5m2). Refused here, in the CLI's words, before anything
 * is written.
 */
function checkRawKind(record: ArrayRecord, rawDType: OutputOptions['rawDType']): void {
  const { leaf } = record;
  if (!isFloat8Raw(leaf) || leaf.safetensorsDType !== undefined || rawDType?.(record.name) !== undefined || /f1$/.test(leaf.descr as string)) return;
  throw new NpzError(
    'ERR_SAFETENSORS_UNSUPPORTED',
    `${JSON.stringify(record.name)} has descr ${JSON.stringify(leaf.descr)}: one-byte values of a kind it does not name (numpy with ml_dtypes saves ` +
      `float8 this way); say which with --raw-dtype, e.g. --raw-dtype '${record.name}=F8_E4M3' (or F8_E5M2, F8_E8M0)`,
    { entry: record.name, actual: leaf.descr },
  );
}

/** Float8 tensors written to an npz lose their kind: say which, and how to get it back. */
function warnFloat8Loss(context: CliContext, records: readonly ArrayRecord[]): void {
  const lost = records.filter((record) => isFloat8Raw(record.leaf) && record.leaf.safetensorsDType !== undefined);
  if (lost.length === 0) return;
  const shown = lost.slice(0, 4).map((record) => `--raw-dtype '${record.name}=${record.leaf.safetensorsDType}'`);
  context.warn(
    `${lost.length} float8 tensor${lost.length === 1 ? ' is' : 's are'} written as raw '|V1' bytes: npz has no float8 dtype, so the file no longer ` +
      `says which kind ${lost.length === 1 ? 'it holds' : 'they hold'} (${lost
        .slice(0, 4)
        .map((record) => `${record.name}: ${record.leaf.safetensorsDType}`)
        .join(', ')}${lost.length > 4 ? ', …' : ''}). To convert back to safetensors: ${shown.join(' ')}${lost.length > 4 ? ' …' : ''}`,
  );
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [input, output, ...extra] = parsed.positionals;
  if (input === undefined || output === undefined || extra.length > 0) throw usageError('convert takes an input and an output file');
  if (flag(parsed, 'compress') && flag(parsed, 'no-compress')) throw usageError('--compress and --no-compress exclude each other');
  const casts = parseCasts(listOption(parsed, 'cast'));
  const includes = listOption(parsed, 'include');
  const excludes = listOption(parsed, 'exclude');
  const keep = nameFilter(includes, excludes);
  const filtered = includes.length > 0 || excludes.length > 0;
  const stripPrefix = stringOption(parsed, 'strip-prefix');
  const addPrefix = stringOption(parsed, 'add-prefix');
  const outputFormat = formatOf(output);
  if (outputFormat === 'npy') throw usageError('convert writes an .npz or .safetensors file; to write arrays as .npy files use extract');
  const written = outputOptions(parsed, outputFormat, output);
  const rename = renameWith({
    renames: listOption(parsed, 'rename').map(parseRename),
    ...(stripPrefix === undefined ? {} : { stripPrefix }),
    ...(addPrefix === undefined ? {} : { addPrefix }),
  });
  /** Nothing matched the filters: refused before the output is touched (or, for a stream, before it is renamed into place). */
  const nothingMatched = (): NpzError =>
    usageError(`--include/--exclude match no array of ${inputLabel(input)}; nothing was written${toStdout ? '' : ` and ${output} was left as it was`}`);

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
  /** Stream records that lose their float8 kind on the way out: announced once, when the stream has ended. */
  const lostFloat8: ArrayRecord[] = [];
  /** The stream's records that go out, checked for what their output format needs. */
  const outgoing = (record: ArrayRecord): ArrayRecord => {
    if (outputFormat === 'safetensors') checkRawKind(record, written.rawDType);
    else if (isFloat8Raw(record.leaf) && record.leaf.safetensorsDType !== undefined) lostFloat8.push(record);
    return record;
  };
  const toStdout = output === STDIN_PATH;
  const rawDType = written.rawDType === undefined ? {} : { rawDType: (name: string) => written.rawDType!(name) };
  async function write(pairs: AsyncIterable<[string, LazyArray]>, compress: boolean): Promise<ConvertSummary> {
    if (toStdout) {
      const saved = await writeToStdout(pairs, compress);
      return { entries: saved.entries, bytesWritten: saved.bytesWritten, names: saved.names, files: [output as string] };
    }
    if (outputFormat === 'npz') {
      const saved = await saveNpz(output as string, pairs, { compress, signal: context.signal, ...written.npz });
      return { entries: saved.entries, bytesWritten: saved.bytesWritten, names: saved.names, files: [output as string] };
    }
    const common = { signal: context.signal, ...rawDType, ...(written.metadata === undefined ? {} : { metadata: written.metadata }) };
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

  /**
   * Standard input as the source. Each array becomes a record when the stream reaches it. To an npz (or standard
   * output) it goes to the writer straight away, with no read-ahead (an array's data must be written before the
   * stream moves to the next); the output is stored unless --compress, since whether the input was compressed is
   * only known array by array. A safetensors header needs every shape before any data, so to safetensors the
   * data is first spooled to a temporary file beside the output, which is written once the stream has ended and
   * verified, then removed (also on failure or Ctrl-C).
   */
  async function convertStream(steps: readonly RecordStep[], compress: boolean): Promise<ConvertSummary> {
    const progress = context.progress('convert', 0);
    let total = 0;
    async function* records(): AsyncGenerator<ArrayRecord> {
      let count = 0;
      for await (const entry of stdinEntries(context)) {
        if (!entry.isArray) {
          context.warn(`${JSON.stringify(entry.memberName)} is not an .npy array; it is not copied`);
          continue;
        }
        progress.setTotal((total += entry.byteLength));
        let record: ArrayRecord | null = { name: entry.name, leaf: streamLeaf(entry, progress) };
        for (const step of steps) if (record !== null) record = step(record);
        if (record === null) continue;
        count++;
        yield outgoing(record);
      }
      if (count === 0 && filtered) throw nothingMatched();
    }
    try {
      if (outputFormat !== 'safetensors' || toStdout) {
        async function* pairs(): AsyncGenerator<[string, LazyArray]> {
          for await (const record of records()) yield [record.name, record.leaf];
        }
        const summary = await write(pairs(), compress);
        warnFloat8Loss(context, lostFloat8);
        return summary;
      }
      // The shard writer makes its output directory; the spool beside it needs it first.
      if (written.maxShardSize !== undefined) await mkdir(dirname(written.path), { recursive: true });
      const spool = await Spool.besides(written.path);
      try {
        const spooled: [string, LazyArray][] = [];
        for await (const record of records()) {
          const { offset, length } = await spool.append(record.leaf.chunks() as AsyncIterable<Uint8Array>, context.signal);
          spooled.push([record.name, spool.leafAt(record.leaf, offset, length, context.signal)]);
        }
        context.note(`convert -: standard input read and verified (${formatBytes(spool.size)} spooled); writing ${written.path}`);
        async function* fromSpool(): AsyncGenerator<[string, LazyArray]> {
          yield* spooled;
        }
        return await write(fromSpool(), compress);
      } finally {
        await spool.remove();
      }
    } finally {
      progress.finish();
    }
  }

  const summary = isStdin(input)
    ? await convertStream([keepStep, renameStep, castStep], flag(parsed, 'compress'))
    : await withNpz(input, context, async (file) => {
      for (const entry of file.entries) {
        if (!isArrayEntry(entry) && !isDamagedEntry(entry)) context.warn(`${JSON.stringify(memberNameOf(entry))} is not an .npy array; it is not copied`);
      }
      // A damaged array the filters select fails the conversion before anything is written: leaving it out
      // would give a checkpoint that silently lacks it.
      const damaged = file.entries.filter(isDamagedEntry);
      const selectedDamage = damaged.find((entry) => keep(entry.name));
      if (selectedDamage !== undefined) throw errorOf(selectedDamage);
      for (const entry of damaged) context.warn(`${JSON.stringify(entry.name)} is damaged (${entry.error.code}) and not selected; it is not copied`);
      const selected = file.entries.filter(isArrayEntry).filter((entry) => keep(entry.name));
      if (selected.length === 0 && filtered) throw nothingMatched();
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
      // Records carry no data, so the whole pipeline runs before the first byte is written: every record is
      // checked for what the output needs (a float8 kind), and float8 losses are announced, up front.
      const pipeline = chain([Readable.from(records()), keepStep, renameStep, castStep]);
      const planned: ArrayRecord[] = [];
      try {
        for await (const record of pipeline as AsyncIterable<ArrayRecord>) planned.push(record);
      } finally {
        pipeline.destroy();
      }
      if (outputFormat === 'safetensors') for (const record of planned) checkRawKind(record, written.rawDType);
      else warnFloat8Loss(context, planned);
      async function* pairs(): AsyncGenerator<[string, LazyArray]> {
        for (const record of planned) yield [record.name, record.leaf];
      }
      try {
        return await write(pairs(), compress);
      } finally {
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
    'IN - reads standard input front to back, an npz or a safetensors stream (output stored unless --compress); to\n' +
    'a .safetensors OUT the data is first copied to a temporary file beside OUT (the header needs every shape\n' +
    'first), removed when done or interrupted. OUT - writes standard output as a stream, with data descriptors\n' +
    'as numpy writes to a pipe; a failure mid-stream leaves what was written so far. Filters that match no array\n' +
    'fail (exit code 2) and leave OUT alone; so does a selected array that is damaged (exit code 1).\n' +
    "float8: npz has no float8 dtype, so safetensors F8_* tensors go to an npz as raw '|V1' bytes (a warning\n" +
    "says so); raw one-byte arrays ('<V1', '|V1', as numpy with ml_dtypes saves float8) go to safetensors only\n" +
    "with --raw-dtype naming their kind ('<f1' is float8_e5m2: F8_E5M2).",
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
    'raw-dtype': {
      type: 'string',
      multiple: true,
      value: '[GLOB=]KIND',
      description: 'safetensors: the float8 kind (F8_E4M3, F8_E5M2, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ) of raw one-byte arrays, all or those matching GLOB',
    },
  },
  run,
};
