import type { Codecs } from '../../io/codecs.js';

/** Running CRC-32 and byte count over a sequence of chunks, with the host's CRC-32. */
export class Crc32 {
  value = 0;
  length = 0;

  constructor(private readonly crc32: Codecs['crc32']) {}

  update(chunk: Uint8Array): this {
    this.value = this.crc32(chunk, this.value);
    this.length += chunk.byteLength;
    return this;
  }
}
