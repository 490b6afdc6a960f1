/**
 * The Huffman side of raw deflate (RFC 1951) for the TypeScript inflater (inflate.ts): the length and distance
 * tables of the format, and canonical Huffman decoding tables built from code lengths, refused where zlib refuses
 * the code set.
 */

export const LENGTH_BASE = Uint16Array.of(3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258);
export const LENGTH_EXTRA = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0);
export const DIST_BASE = Uint16Array.of(1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577);
export const DIST_EXTRA = Uint8Array.of(0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13);
/** The order code length code lengths are sent in. */
export const CODE_LENGTH_ORDER = Uint8Array.of(16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15);

/** A table entry for a bit pattern no code has: decoding it is an error (symbol past every valid one). */
const INVALID_SYMBOL = 0x7ff;

/**
 * A decoding table: indexed by the next `bits` input bits (least significant first), each entry is
 * `symbol << 4 | code length`. Every code is replicated across the entries its unused high bits allow.
 */
export interface Table {
  entries: Int32Array;
  bits: number;
}

export type CodeKind = 'codes' | 'lengths' | 'distances';

/**
 * The table of a canonical Huffman code, or an error message. Over-subscribed sets are refused; incomplete ones
 * too, except a code with a single length-1 code (allowed for literal/length and distance codes, as zlib allows
 * it); a set with no codes at all gives a table whose every entry is invalid, so using it fails.
 */
export function buildTable(lengths: Uint8Array, kind: CodeKind): Table | string {
  const count = new Uint16Array(16);
  for (let i = 0; i < lengths.length; i++) count[lengths[i] as number]!++;
  let max = 15;
  while (max > 0 && count[max] === 0) max--;
  if (max === 0) {
    // Nothing to decode with: a code length code decodes every pattern as length 0 (one bit), as zlib's does.
    const entry = kind === 'codes' ? (0 << 4) | 1 : (INVALID_SYMBOL << 4) | 1;
    return { entries: Int32Array.of(entry, entry), bits: 1 };
  }
  let left = 1;
  for (let length = 1; length <= 15; length++) {
    left = (left << 1) - (count[length] as number);
    if (left < 0) return kind === 'codes' ? 'invalid code lengths set' : kind === 'lengths' ? 'invalid literal/lengths set' : 'invalid distances set';
  }
  if (left > 0 && (kind === 'codes' || max !== 1)) {
    return kind === 'codes' ? 'invalid code lengths set' : kind === 'lengths' ? 'invalid literal/lengths set' : 'invalid distances set';
  }
  // First code of each length (canonical order), then each symbol's code reversed into table order.
  const next = new Uint16Array(16);
  let code = 0;
  for (let length = 1; length <= 15; length++) {
    next[length] = code;
    code = (code + (count[length] as number)) << 1;
  }
  const size = 1 << max;
  const entries = new Int32Array(size).fill((INVALID_SYMBOL << 4) | max);
  for (let symbol = 0; symbol < lengths.length; symbol++) {
    const length = lengths[symbol] as number;
    if (length === 0) continue;
    const value = next[length]!++;
    let reversed = 0;
    for (let bit = 0; bit < length; bit++) reversed |= ((value >>> bit) & 1) << (length - 1 - bit);
    const entry = (symbol << 4) | length;
    for (let index = reversed; index < size; index += 1 << length) entries[index] = entry;
  }
  return { entries, bits: max };
}

let fixedTables: { lengths: Table; distances: Table } | undefined;

export function fixed(): { lengths: Table; distances: Table } {
  if (fixedTables === undefined) {
    const lengths = new Uint8Array(288);
    lengths.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    // All 32 distance codes have 5 bits; 30 and 31 are invalid when used.
    const distances = new Uint8Array(32).fill(5);
    fixedTables = { lengths: buildTable(lengths, 'lengths') as Table, distances: buildTable(distances, 'distances') as Table };
  }
  return fixedTables;
}
