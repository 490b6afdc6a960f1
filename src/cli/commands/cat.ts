import { once } from 'node:events';
import type { ArrayInfo, DType } from '../../index.js';
import { flag, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, type CliContext, type Command } from '../context.js';
import { itemChunks } from '../elements.js';
import { entryItemsize, withNpz, type ArrayReader } from '../npz-input.js';
import { selectArraySlices } from '../slice-syntax.js';
import { forEachStreamArray, isStdin } from '../stream-input.js';
import { arrayText, isSummarised, shownIndices, type Element, type PrintDType } from '../print/array-print.js';
import { elementAt } from '../print/element.js';


/** A fixed-width string descr: numpy's `<U5` (UTF-32 code points) or `|S5` (bytes). */
function stringKind(descr: ArrayInfo['descr']): { kind: 'str' | 'bytes'; bigEndian: boolean } | undefined {
  if (typeof descr !== 'string') return undefined;
  const match = /^([<>|=]?)([USa])(\d+)$/.exec(descr);
  if (match === null) return undefined;
  return { kind: match[2] === 'U' ? 'str' : 'bytes', bigEndian: match[1] === '>' };
}

/** numpy's value of a `U` item: its code points up to the trailing NULs it pads with. */
function strAt(view: DataView, offset: number, itemsize: number, bigEndian: boolean): string {
  let end = itemsize / 4;
  while (end > 0 && view.getUint32(offset + (end - 1) * 4, !bigEndian) === 0) end--;
  let text = '';
  for (let i = 0; i < end; i++) {
    const code = view.getUint32(offset + i * 4, !bigEndian);
    text += code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
  }
  return text;
}

/** numpy's value of an `S` item: its bytes up to the trailing NULs it pads with. */
function bytesAt(view: DataView, offset: number, itemsize: number): Uint8Array {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, itemsize);
  let end = itemsize;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.slice(0, end);
}

/**
 * Collects only the elements numpy would show, while the data streams past: at most 6 per axis once the array
 * is summarised, so printing a multi-GB tensor holds a few hundred numbers.
 */
export async function shownElements(file: ArrayReader, entry: ArrayInfo, dtype: DType, signal?: AbortSignal): Promise<Element[]> {
  return shownValues(file, entry, (view, offset) => elementAt(dtype, view, offset), signal);
}

async function shownValues(
  file: ArrayReader,
  entry: ArrayInfo,
  decode: (view: DataView, offset: number) => Element,
  signal?: AbortSignal,
): Promise<Element[]> {
  const { shape } = entry;
  const shown = shownIndices(shape);
  const storageStrides = shape.map((_, axis) =>
    entry.fortranOrder ? shape.slice(0, axis).reduce((p, d) => p * d, 1) : shape.slice(axis + 1).reduce((p, d) => p * d, 1),
  );
  const wanted: { storage: number; position: number }[] = [];
  const counter = shown.map(() => 0);
  const total = shown.reduce((product, indices) => product * indices.length, 1);
  for (let position = 0; position < total; position++) {
    wanted.push({ storage: counter.reduce((sum, at, axis) => sum + shown[axis]![at]! * storageStrides[axis]!, 0), position });
    for (let axis = counter.length - 1; axis >= 0; axis--) {
      if (++counter[axis]! < shown[axis]!.length) break;
      counter[axis] = 0;
    }
  }
  wanted.sort((a, b) => a.storage - b.storage);

  const itemsize = entryItemsize(entry);
  const values: Element[] = new Array<Element>(total);
  let next = 0;
  let base = 0;
  for await (const chunk of itemChunks(file.chunks(entry.name, signal === undefined ? {} : { signal }), itemsize, entry.name)) {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const end = base + chunk.length / itemsize;
    while (next < wanted.length && wanted[next]!.storage < end) {
      values[wanted[next]!.position] = decode(view, (wanted[next]!.storage - base) * itemsize);
      next++;
    }
    base = end;
    if (next === wanted.length) break;
  }
  return values;
}

async function writeRaw(file: ArrayReader, entry: ArrayInfo, context: CliContext): Promise<void> {
  const { stdout } = context;
  for await (const chunk of file.chunks(entry.name, { signal: context.signal })) {
    if (!stdout.write(chunk)) await once(stdout, 'drain', { signal: context.signal });
  }
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [path, name, ...extra] = parsed.positionals;
  if (path === undefined || name === undefined || extra.length > 0) throw usageError('cat takes a FILE and one array NAME');
  // Standard input: the array is printed when the stream reaches it, and the rest is read and verified after.
  if (isStdin(path)) {
    let status = EXIT_OK;
    await forEachStreamArray(context, [name], async ({ file, entry }) => {
      status = await catOne(file, entry, name, parsed, context);
    });
    return status;
  }
  return withNpz(path, context, async (file) => {
    // NAME[...] reads only that slice: its entry describes the slice, its reader reads it.
    const [selected] = selectArraySlices(file, [name]);
    if (selected === undefined) throw usageError(`no array named ${JSON.stringify(name)}`);
    return catOne(selected.file, selected.entry, name, parsed, context);
  });
}

/** Prints one array; `name` is as the user gave it (a key or a member name). */
async function catOne(file: ArrayReader, entry: ArrayInfo, name: string, parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  if (flag(parsed, 'raw')) {
    await writeRaw(file, entry, context);
    return EXIT_OK;
  }
  const { dtype } = entry;
  let printed: PrintDType;
  let values: Element[];
  if (dtype === 'raw') {
    const strings = stringKind(entry.descr);
    if (strings === undefined) {
      throw usageError(`${JSON.stringify(name)} has descr ${JSON.stringify(entry.descr)}, which is not printed as numbers; use --raw for its bytes`);
    }
    const itemsize = entryItemsize(entry);
    printed = strings.kind;
    values =
      itemsize === 0
        ? new Array<Element>(shownIndices(entry.shape).reduce((product, indices) => product * indices.length, 1)).fill(strings.kind === 'str' ? '' : new Uint8Array(0))
        : await shownValues(
            file,
            entry,
            strings.kind === 'str' ? (view, offset) => strAt(view, offset, itemsize, strings.bigEndian) : (view, offset) => bytesAt(view, offset, itemsize),
            context.signal,
          );
  } else {
    printed = dtype;
    values = await shownElements(file, entry, dtype, context.signal);
  }
  const text = arrayText({ dtype: printed, shape: entry.shape, values });
  if (context.json) {
    context.printJson({
      name: entry.name,
      dtype,
      descr: entry.descr,
      shape: entry.shape,
      fortranOrder: entry.fortranOrder,
      summarised: isSummarised(entry.shape),
      text,
    });
  } else {
    context.print(text);
  }
  return EXIT_OK;
}

export const catCommand: Command = {
  name: 'cat',
  synopsis: "cat FILE NAME|'NAME[0:2, :, 5]'",
  summary: 'print one array the way numpy prints it, or its raw bytes',
  details:
    "Arrays with more than 1000 elements are summarised with '...' (3 items at each end of every long axis); only the\n" +
    'shown elements are kept while the data streams. bfloat16 prints as ml_dtypes does,\n' +
    'string arrays (<U…, |S…) as numpy prints them. --raw writes the data bytes\n' +
    "(little-endian, in storage order) to stdout. NAME[...] prints that slice as numpy prints a[...] (integers,\n" +
    "start:stop:step with steps of 1 or more, '...'); only the bytes it needs are read (see docs/slices.md).",
  options: { raw: { type: 'boolean', description: 'write the raw data bytes to stdout' } },
  run,
};
