/**
 * The largest view handed to one native call. A Uint8Array cannot span more than 4 GiB, zlib's crc32 takes a
 * 32-bit length, libuv caps one positional read at 2^31-1 bytes and Buffer-based byte swapping stops at 2 GiB:
 * 1 GiB stays under every one of those limits and is a multiple of every typed array's element size and of every
 * byte-swap unit (test/npy/views.test.ts checks both; the npy reader also cuts its views to whole swap units).
 */
export const MAX_VIEW_BYTES = 1 << 30;

/** Uint8Array views of `data` of at most `size` bytes each; `data` itself may be larger than any Uint8Array. */
export function* slices(data: ArrayBufferView, size: number = MAX_VIEW_BYTES): Generator<Uint8Array> {
  for (let start = 0; start < data.byteLength; start += size) {
    yield new Uint8Array(data.buffer, data.byteOffset + start, Math.min(size, data.byteLength - start));
  }
}
