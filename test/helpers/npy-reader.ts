import type { NpyByteReader } from '../../src/npy/read.js';

export interface MemoryReader extends NpyByteReader {
  /** The length of every view `readInto` filled. */
  readonly filled: number[];
  finished: boolean;
}

/**
 * An NpyByteReader over bytes in memory, for the npy layer alone: `chunks()` hands out pieces of `piece` bytes
 * whatever size is asked (as a zip member's inflater may), and `finish()` runs `onFinish` (a failed CRC, say).
 */
export function memoryReader(bytes: Uint8Array, options: { piece?: number; onFinish?: () => void } = {}): MemoryReader {
  let at = 0;
  const filled: number[] = [];
  const reader: MemoryReader = {
    size: bytes.length,
    get remaining() {
      return bytes.length - at;
    },
    filled,
    finished: false,
    async read(length: number) {
      const out = bytes.slice(at, at + length);
      at += out.length;
      return out;
    },
    async readInto(dest: Uint8Array) {
      if (at + dest.length > bytes.length) throw new Error(`readInto past the end (${at} + ${dest.length} > ${bytes.length})`);
      filled.push(dest.length);
      dest.set(bytes.subarray(at, at + dest.length));
      at += dest.length;
    },
    async *chunks(chunkSize: number) {
      const piece = options.piece ?? chunkSize;
      // A request for empty chunks would never end: fail instead of hanging the test.
      if (!(piece > 0)) throw new Error(`chunks of ${piece} bytes asked for`);
      while (at < bytes.length) {
        const out = bytes.slice(at, at + piece);
        at += out.length;
        yield out;
      }
      await reader.finish();
    },
    async finish() {
      if (at !== bytes.length) throw new Error(`finish() with ${bytes.length - at} bytes unread`);
      reader.finished = true;
      options.onFinish?.();
    },
  };
  return reader;
}

/** `bytes` with every `unit`-byte group reversed: a reference byte swap, independent of the code under test. */
export function reversedGroups(bytes: Uint8Array, unit: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i - (i % unit) + (unit - 1 - (i % unit))]!;
  return out;
}
