import { NpzError, decodeNpyHeader, type RandomAccessSource } from '../../index.js';
import { entryItemsize, type TensorEntry } from '../entries.js';
import { boxRuns, boxShape, type BoxReader } from './preview.js';

/**
 * Boxes read as byte ranges straight from the file, for data stored as one uncompressed run (`dataOffset`):
 * safetensors tensors and stored npz members. A few small reads per box, whatever the tensor's size. The CRC-32
 * of an npz member covers all of it, so these reads are not checked against it (the statistics pass is).
 *
 * Until `get(name, { slice })` exists this is the bounded way; once it does, that replaces this module.
 */

/** The source holding an entry's data (for a shard index, the entry's shard), or undefined when there is none. */
export type RawSourceOf = (entry: TensorEntry) => Promise<RandomAccessSource | undefined>;

interface RawLayout {
  source: RandomAccessSource;
  dataOffset: number;
  /** Bytes reversed per unit for big-endian data (2, 4 or 8); 1 for none. */
  swapUnit: number;
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_SIZE = 30;
/** Longer npy headers than this are not looked for before the data (the reader's own limit is far lower). */
const MAX_NPY_PREFIX = 1 << 20;

/**
 * How an npz member's data is stored: its npy header sits between the member's local header and the data, and
 * says the byte order (entries report data as handed out, little-endian). Undefined when anything disagrees with
 * the entry, so the caller falls back to streaming.
 */
async function npzLayout(source: RandomAccessSource, entry: TensorEntry & { format: 'npz' }, dataOffset: number, signal: AbortSignal): Promise<RawLayout | undefined> {
  const local = await source.read(entry.localHeaderOffset, LOCAL_HEADER_SIZE, undefined, signal);
  if (local.length < LOCAL_HEADER_SIZE) return undefined;
  const view = new DataView(local.buffer, local.byteOffset, local.byteLength);
  if (view.getUint32(0, true) !== LOCAL_HEADER_SIGNATURE) return undefined;
  const npyStart = entry.localHeaderOffset + LOCAL_HEADER_SIZE + view.getUint16(26, true) + view.getUint16(28, true);
  const length = dataOffset - npyStart;
  if (length <= 0 || length > MAX_NPY_PREFIX) return undefined;
  const header = decodeNpyHeader(await source.read(npyStart, length, undefined, signal), { maxHeaderSize: MAX_NPY_PREFIX });
  const agrees =
    header.headerLength === length &&
    header.byteLength === entry.byteLength &&
    header.fortranOrder === entry.fortranOrder &&
    header.shape.join() === entry.shape.join();
  return agrees ? { source, dataOffset, swapUnit: header.byteOrder === '>' ? header.swapUnit : 1 } : undefined;
}

export function rangeBoxReader(sourceOf: RawSourceOf, fallback: BoxReader): BoxReader {
  const layouts = new Map<TensorEntry, Promise<RawLayout | undefined>>();
  const layoutOf = (entry: TensorEntry, signal: AbortSignal): Promise<RawLayout | undefined> => {
    let layout = layouts.get(entry);
    if (layout === undefined) {
      layout = (async () => {
        const dataOffset = entry.dataOffset;
        if (dataOffset === undefined) return undefined;
        const source = await sourceOf(entry);
        if (source === undefined || dataOffset + entry.byteLength > source.size) return undefined;
        if (entry.format === 'npz') return npzLayout(source, entry, dataOffset, signal);
        return { source, dataOffset, swapUnit: 1 };
      })();
      layouts.set(entry, layout);
      // A failure (an abort among them) is not remembered: the next preview tries again.
      layout.catch(() => layouts.delete(entry));
    }
    return layout;
  };

  return async (entry, boxes, signal) => {
    const layout = await layoutOf(entry, signal);
    if (layout === undefined) return fallback(entry, boxes, signal);
    const { source, dataOffset, swapUnit } = layout;
    const itemsize = entryItemsize(entry);
    return Promise.all(
      boxes.map(async (box) => {
        const out = new Uint8Array(boxShape(box).reduce((total, dim) => total * dim, 1) * itemsize);
        await Promise.all(
          boxRuns(entry.shape, entry.fortranOrder, box).map(async (run) => {
            const bytes = await source.read(dataOffset + run.element * itemsize, run.count * itemsize, undefined, signal);
            if (bytes.length < run.count * itemsize) throw new NpzError('ERR_IO', `the data of ${JSON.stringify(entry.name)} ends before its recorded length`, { entry: entry.name });
            for (let k = 0; k < run.count; k++) {
              const at = (run.index + k * run.step) * itemsize;
              const item = bytes.subarray(k * itemsize, (k + 1) * itemsize);
              if (swapUnit <= 1) out.set(item, at);
              else for (let b = 0; b < itemsize; b++) out[at + b] = item[b - (b % swapUnit) + swapUnit - 1 - (b % swapUnit)]!;
            }
          }),
        );
        return out;
      }),
    );
  };
}
