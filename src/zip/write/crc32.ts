import { crc32 as zlibCrc32 } from 'node:zlib';
import { MAX_VIEW_BYTES } from '../../util/views.js';

// zlib's crc32 takes a 32-bit length: a 4 GiB view silently hashes as if empty, so large views go in slices.

/** CRC-32 (ZIP polynomial) of `data`, continuing from `previous`. */
export function crc32(data: Uint8Array, previous = 0): number {
  let crc = previous;
  const length = data.byteLength;
  // Node 20 returns 0 for a zero-length view over a zero-byte ArrayBuffer, whatever `previous` is.
  if (length === 0) return crc;
  if (length <= MAX_VIEW_BYTES) return zlibCrc32(data, crc);
  for (let start = 0; start < length; start += MAX_VIEW_BYTES) {
    crc = zlibCrc32(data.subarray(start, Math.min(length, start + MAX_VIEW_BYTES)), crc);
  }
  return crc;
}

/** Running CRC-32 and byte count over a sequence of chunks. */
export class Crc32 {
  value = 0;
  length = 0;

  update(chunk: Uint8Array): this {
    this.value = crc32(chunk, this.value);
    this.length += chunk.byteLength;
    return this;
  }
}
