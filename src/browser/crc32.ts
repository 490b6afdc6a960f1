/**
 * CRC-32 (the ZIP polynomial, reflected 0xEDB88320) in plain TypeScript, table-driven "slicing-by-16": sixteen
 * 256-entry tables let one step fold 16 input bytes with 16 lookups, where the classic byte-at-a-time loop needs a
 * dependent lookup per byte. The bulk of a chunk is read as 32-bit words through an aligned Int32Array view of
 * its buffer (every browser runs little-endian; a big-endian host falls back to bytes). WebAssembly would not do
 * better here: it has no carry-less multiply, so it runs the same tables, and its memory would need the data
 * copied in first.
 */

const TABLES = 16;

function makeTables(): Int32Array {
  const table = new Int32Array(TABLES * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    table[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    let crc = table[byte] as number;
    for (let slice = 1; slice < TABLES; slice++) {
      crc = (table[crc & 0xff] as number) ^ (crc >>> 8);
      table[slice * 256 + byte] = crc;
    }
  }
  return table;
}

let tables: Int32Array | undefined;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Byte at a time, for the unaligned head and tail of a view. */
function bytewise(t: Int32Array, crc: number, data: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) crc = (t[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return crc;
}

/** 16 bytes a step over `words` (little-endian 32-bit words), `count` words, a multiple of 4. */
function sliced(t: Int32Array, crc: number, words: Int32Array, count: number): number {
  for (let i = 0; i < count; i += 4) {
    const a = (words[i] as number) ^ crc;
    const b = words[i + 1] as number;
    const c = words[i + 2] as number;
    const d = words[i + 3] as number;
    crc =
      (t[3840 + (a & 0xff)] as number) ^
      (t[3584 + ((a >>> 8) & 0xff)] as number) ^
      (t[3328 + ((a >>> 16) & 0xff)] as number) ^
      (t[3072 + (a >>> 24)] as number) ^
      (t[2816 + (b & 0xff)] as number) ^
      (t[2560 + ((b >>> 8) & 0xff)] as number) ^
      (t[2304 + ((b >>> 16) & 0xff)] as number) ^
      (t[2048 + (b >>> 24)] as number) ^
      (t[1792 + (c & 0xff)] as number) ^
      (t[1536 + ((c >>> 8) & 0xff)] as number) ^
      (t[1280 + ((c >>> 16) & 0xff)] as number) ^
      (t[1024 + (c >>> 24)] as number) ^
      (t[768 + (d & 0xff)] as number) ^
      (t[512 + ((d >>> 8) & 0xff)] as number) ^
      (t[256 + ((d >>> 16) & 0xff)] as number) ^
      (t[d >>> 24] as number);
  }
  return crc;
}

/** The CRC-32 of `data` continuing from `previous` (0 to start), as zlib's crc32 computes it. */
export function crc32(data: Uint8Array, previous = 0): number {
  const t = (tables ??= makeTables());
  let crc = ~previous;
  const length = data.length;
  if (!LITTLE_ENDIAN || length < 64) return ~bytewise(t, crc, data, 0, length) >>> 0;
  // Bytes up to a 4-byte boundary of the buffer, then whole 16-byte steps as words, then the rest.
  const head = (4 - (data.byteOffset & 3)) & 3;
  crc = bytewise(t, crc, data, 0, head);
  const steps = Math.floor((length - head) / 16);
  // A view of at most 2^28 words at a time keeps the index arithmetic small for views of any size.
  const maxWords = 1 << 28;
  let done = head;
  let words = steps * 4;
  while (words > 0) {
    const count = Math.min(words, maxWords);
    crc = sliced(t, crc, new Int32Array(data.buffer, data.byteOffset + done, count), count);
    done += count * 4;
    words -= count;
  }
  return ~bytewise(t, crc, data, done, length) >>> 0;
}
