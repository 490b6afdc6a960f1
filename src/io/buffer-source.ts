import { checkInto, checkRange, type RandomAccessSource } from './random-access.js';

/** The bytes of a Buffer or Uint8Array, read without copying unless a destination is given. */
export function bufferSource(bytes: Uint8Array): RandomAccessSource {
  return {
    size: bytes.length,
    read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
      try {
        checkRange(offset, length);
        checkInto(into, length);
      } catch (error) {
        return Promise.reject(error);
      }
      const available = bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
      if (into === undefined) return Promise.resolve(available);
      into.set(available);
      return Promise.resolve(into.subarray(0, available.length));
    },
    close: () => Promise.resolve(),
  };
}
