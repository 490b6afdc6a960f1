/**
 * The union over the formats: an `ArrayEntry` is an entry of any format's file, and `ArrayFile` (without a type
 * argument) a file of any format. It sits above the formats because it names each format's entry type, while each
 * format builds its file type on the generic `FileOfEntries` of src/io/array-file.ts.
 */
import type { FileOfEntries } from './io/array-file.js';
import type { NpyFileEntry } from './npz/open-npy.js';
import type { NpzEntry } from './npz/open.js';
import type { SafetensorsEntry } from './safetensors/open.js';

/**
 * One entry of an `ArrayFile`: narrow on `format` for a format's own fields, on `isArray` before reading it. A
 * damaged member (`damaged: true`) is on the non-array side, with the `error` reading it throws.
 */
export type ArrayEntry = NpzEntry | SafetensorsEntry | NpyFileEntry;

/** An opened file of arrays, read by name in any order; what every `open*` function returns. */
export interface ArrayFile<Entry extends ArrayEntry = ArrayEntry> extends FileOfEntries<Entry> {}

/** The entries of a file that were found damaged when it was opened (see `DamagedPolicy`). */
export type DamagedEntry = Extract<ArrayEntry, { damaged: true }>;

/** True for an entry found damaged when its file was opened: it carries `error`, and reading it throws that. */
export function isDamagedEntry(entry: ArrayEntry): entry is DamagedEntry {
  return entry.damaged === true;
}
