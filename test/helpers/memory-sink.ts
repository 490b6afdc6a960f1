import type { ZipSink } from '../../src/io/sink.js';

/** Collects what a ZipWriter writes. Seekable when `seekable` is true (positional patches applied at the end). */
export class MemorySink implements ZipSink {
  readonly batches: Uint8Array[][] = [];
  readonly patches: { data: Uint8Array; position: number }[] = [];
  writeAt?: (data: Uint8Array, position: number) => Promise<void>;
  private length = 0;

  constructor(seekable: boolean) {
    if (seekable) {
      this.writeAt = async (data, position) => {
        if (position + data.byteLength > this.length) throw new Error('patch past the end of what was written');
        this.patches.push({ data: data.slice(), position });
      };
    }
  }

  async write(chunks: readonly Uint8Array[]): Promise<void> {
    // Copies here only so later mutation by the writer would be caught by the byte comparisons.
    this.batches.push(chunks.map((chunk) => chunk.slice()));
    for (const chunk of chunks) this.length += chunk.byteLength;
  }

  bytes(): Uint8Array {
    const out = Buffer.concat(this.batches.flat());
    for (const { data, position } of this.patches) out.set(data, position);
    return out;
  }
}
