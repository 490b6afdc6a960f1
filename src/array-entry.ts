/**
 * The union over the formats: an `ArrayEntry` is an entry of any format's file, and `ArrayFile` (without a type
 * argument) a file of any format. It sits above the formats because it names each format's entry type, while each
 * format builds its file type on the generic `FileOfEntries` of src/io/array-file.ts.
 */
import type { FileOfEntries } from './io/array-file.js';
import type { NpzEntry } from './npz/open.js';
import type { SafetensorsEntry } from './safetensors/open.js';

/** One entry of an `ArrayFile`: narrow on `format` for a format's own fields, on `isArray` before reading it. */
export type ArrayEntry = NpzEntry | SafetensorsEntry;

/** An opened file of arrays, read by name in any order; what every `open*` function returns. */
export interface ArrayFile<Entry extends ArrayEntry = ArrayEntry> extends FileOfEntries<Entry> {}
