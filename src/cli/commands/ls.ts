import { stat } from 'node:fs/promises';
import type { ArrayInfo } from '../../index.js';
import { usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_BAD_DATA, EXIT_OK, type CliContext, type Command, inCliWords } from '../context.js';
import { inputLabel, isArrayEntry, isDamagedEntry, memberNameOf, placementOf, withNpz } from '../npz-input.js';
import { forEachStreamArray, isStdin, type StreamArrayEntry, type StreamFormat } from '../stream-input.js';
import { formatBytes, formatShape, renderTable } from '../table.js';

/** The dtype, or the descr of a raw array; a structured descr can be kilobytes long, so only its size is shown. */
function typeLabel(entry: ArrayInfo): string {
  if (entry.dtype !== 'raw') return entry.dtype;
  return typeof entry.descr === 'string' ? entry.descr : `struct(${entry.descr.length} fields)`;
}

/**
 * Standard input has no directory up front: the listing comes from the headers in stream order (an npz's local
 * and npy headers, a safetensors header), and is printed only once the whole stream was read and checked.
 */
async function lsStream(context: CliContext): Promise<number> {
  const entries: Array<{ name: string; member: string; compression: string; offset: number; array?: StreamArrayEntry }> = [];
  let format: StreamFormat = 'npz';
  await forEachStreamArray(
    context,
    [],
    async ({ entry }) => {
      entries.push(
        entry.format === 'safetensors'
          ? { name: entry.name, member: entry.name, compression: 'stored', offset: entry.dataOffset, array: entry }
          : { name: entry.name, member: entry.memberName, compression: entry.compression, offset: entry.localHeaderOffset, array: entry },
      );
    },
    (entry) => entries.push({ name: entry.name, member: entry.memberName, compression: entry.compression, offset: entry.localHeaderOffset }),
    (found) => (format = found),
  );
  const arrays = entries.flatMap((entry) => (entry.array === undefined ? [] : [entry.array]));
  const dataBytes = arrays.reduce((sum, entry) => sum + entry.byteLength, 0);
  if (context.json) {
    context.printJson({
      file: '-',
      format,
      entries: entries.map(({ name, member, compression, offset, array }) => ({
        name,
        member,
        isArray: array !== undefined,
        ...(array === undefined
          ? {}
          : {
              dtype: array.dtype,
              descr: array.descr,
              ...(array.format === 'safetensors' ? {} : { storedDescr: array.storedDescr }),
              shape: array.shape,
              fortranOrder: array.fortranOrder,
              byteLength: array.byteLength,
              ...(array.format === 'safetensors' ? { safetensorsDType: array.safetensorsDType } : { npyVersion: array.npyVersion }),
            }),
        compression,
        offset,
      })),
      totals: { arrays: arrays.length, members: entries.length, dataBytes },
    });
    return EXIT_OK;
  }
  context.note(
    format === 'npz'
      ? 'ls -: read all of standard input (the central directory is at its end); every member was verified on the way'
      : 'ls -: read all of standard input (a safetensors stream); its header and length were checked',
  );
  const rows = entries.map(({ name, compression, offset, array }) =>
    array === undefined
      ? [name, '(file)', '-', '-', compression, String(offset)]
      : [name, typeLabel(array), `${formatShape(array.shape)}${array.fortranOrder ? ' F' : ''}`, formatBytes(array.byteLength), compression, String(offset)],
  );
  context.print(
    renderTable(
      [{ header: 'NAME' }, { header: 'DTYPE' }, { header: 'SHAPE' }, { header: 'SIZE', align: 'right' }, { header: 'COMPRESSION' }, { header: 'OFFSET', align: 'right' }],
      rows,
    ),
  );
  const others = entries.length - arrays.length;
  context.print(
    [`${arrays.length} array${arrays.length === 1 ? '' : 's'}`, ...(others > 0 ? [`${others} other member${others === 1 ? '' : 's'}`] : []), `${formatBytes(dataBytes)} of data`].join(', '),
  );
  return EXIT_OK;
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [path, ...extra] = parsed.positionals;
  if (path === undefined || extra.length > 0) throw usageError('ls takes exactly one FILE');
  if (isStdin(path)) return lsStream(context);
  const fileSize = (await stat(path).catch(() => undefined))?.size;
  // openNpz reads only the central directory and each npy header, so this is instant on any file size.
  const entries = await withNpz(path, context, async (file) => file.entries);
  const arrays = entries.filter(isArrayEntry);
  const damaged = entries.filter(isDamagedEntry);
  const dataBytes = arrays.reduce((sum, entry) => sum + entry.byteLength, 0);
  const storedBytes = entries.reduce((sum, entry) => sum + placementOf(entry).compressedSize, 0);
  const status = damaged.length === 0 ? EXIT_OK : EXIT_BAD_DATA;

  if (context.json) {
    context.printJson({
      file: inputLabel(path),
      fileSize,
      entries: entries.map((entry) => {
        const { member, compression, memberSize, compressedSize, offset, dataOffset } = placementOf(entry);
        return {
          name: entry.name,
          member,
          isArray: entry.isArray,
          ...(isArrayEntry(entry)
            ? {
                dtype: entry.dtype,
                descr: entry.descr,
                ...(entry.format === 'safetensors' ? {} : { storedDescr: entry.storedDescr }),
                shape: entry.shape,
                fortranOrder: entry.fortranOrder,
                byteLength: entry.byteLength,
                ...(entry.format === 'safetensors' ? { safetensorsDType: entry.safetensorsDType } : { npyVersion: entry.npyVersion }),
              }
            : {}),
          ...(isDamagedEntry(entry) ? { damaged: true, error: entry.error } : {}),
          compression,
          memberSize,
          compressedSize,
          offset,
          ...(dataOffset === undefined ? {} : { dataOffset }),
        };
      }),
      totals: { arrays: arrays.length, members: entries.length, damaged: damaged.length, dataBytes, compressedBytes: storedBytes },
    });
    return status;
  }

  const rows = entries.map((entry) => {
    const placement = placementOf(entry);
    const common = [placement.compression, String(placement.offset)];
    if (isDamagedEntry(entry)) return [entry.name, `DAMAGED ${entry.error.code}`, '-', placement.memberSize > 0 ? formatBytes(placement.memberSize) : '-', ...common];
    if (!isArrayEntry(entry)) return [entry.name, '(file)', '-', formatBytes(placement.memberSize), ...common];
    const order = entry.fortranOrder ? ' F' : '';
    return [entry.name, typeLabel(entry), `${formatShape(entry.shape)}${order}`, formatBytes(entry.byteLength), ...common];
  });
  context.print(
    renderTable(
      [
        { header: 'NAME' },
        { header: 'DTYPE' },
        { header: 'SHAPE' },
        { header: 'SIZE', align: 'right' },
        { header: 'COMPRESSION' },
        { header: 'OFFSET', align: 'right' },
      ],
      rows,
    ),
  );
  const others = entries.length - arrays.length - damaged.length;
  const summary = [
    `${arrays.length} array${arrays.length === 1 ? '' : 's'}`,
    ...(damaged.length > 0 ? [`${damaged.length} damaged member${damaged.length === 1 ? '' : 's'}`] : []),
    ...(others > 0 ? [`${others} other member${others === 1 ? '' : 's'}`] : []),
    `${formatBytes(dataBytes)} of data`,
    `${formatBytes(storedBytes)} stored`,
    ...(fileSize === undefined ? [] : [`file ${formatBytes(fileSize)}`]),
  ];
  context.print(summary.join(', '));
  for (const entry of damaged) context.print(`DAMAGED  ${memberNameOf(entry)}: ${inCliWords(entry.error.message)} [${entry.error.code}]`);
  return status;
}

export const lsCommand: Command = {
  name: 'ls',
  synopsis: 'ls FILE',
  summary: 'list arrays: name, dtype, shape, size, compression, offset',
  details:
    'Reads only the central directory and the npy headers. OFFSET is where the member starts in the file.\n' +
    'A member whose headers are damaged is listed as DAMAGED with its error code (exit code 1); the others are\n' +
    'listed as usual. FILE - reads standard input through to its end (the directory is there), verifying every\n' +
    'member.',
  options: {},
  run,
};
