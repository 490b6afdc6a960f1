/**
 * An ordered stream of the pieces of one large range with a bounded number of reads in flight: the consumer gets
 * piece i only after pieces 0…i-1, so it can hash them in order (a CRC-32) while later pieces are still being read.
 */

/** One positional read as the planner serves it. */
export type PieceRead = (offset: number, length: number, into: Uint8Array | undefined) => Promise<Uint8Array>;

export interface PieceStreamOptions {
  /** Bytes per piece (the last one may be shorter). */
  pieceBytes: number;
  /** Reads in flight at most. */
  depth: number;
  /** Each piece lands in its place here (no intermediate copy); pieces are views of it. */
  into?: Uint8Array | undefined;
  /** Pieces land in a ring of depth + 1 reused buffers; a piece is valid until the next one is asked for. */
  recycle?: boolean | undefined;
  /** Called once the read of the last piece has been issued, before it completes. */
  onAllIssued?: (() => void) | undefined;
  /** The error for a source that ended at `end`, before `expectedEnd`. */
  shortRead: (end: number, expectedEnd: number) => Error;
}

/**
 * Reads `[offset, offset + total)` in pieces, keeping `depth` reads in flight, and yields them in order. With
 * `recycle` the ring has depth + 1 buffers: enough that a buffer is reused only after the piece it held was yielded
 * and the consumer asked for the next one. However the loop ends, it returns only once every read it issued has
 * settled, so no read lands in memory the caller has since reused.
 */
export async function* orderedPieces(read: PieceRead, offset: number, total: number, options: PieceStreamOptions): AsyncGenerator<Uint8Array> {
  const { pieceBytes, depth, into: dest, recycle = false, onAllIssued, shortRead } = options;
  const queue: Array<Promise<Uint8Array>> = [];
  const ring: Uint8Array[] = [];
  let issued = 0;
  let reads = 0;
  const issue = (): void => {
    const at = issued;
    const length = Math.min(pieceBytes, total - at);
    issued += length;
    let into = dest?.subarray(at, at + length);
    if (into === undefined && recycle) {
      const slot = reads % (depth + 1);
      ring[slot] ??= new Uint8Array(Math.min(pieceBytes, total));
      into = (ring[slot] as Uint8Array).subarray(0, length);
    }
    reads++;
    const pending = read(offset + at, length, into).then((bytes) => {
      if (bytes.length < length) throw shortRead(offset + at + bytes.length, offset + at + length);
      if (into === undefined) return bytes;
      // A custom source may ignore `into`; the bytes still have to end up in place.
      if (bytes.buffer !== into.buffer || bytes.byteOffset !== into.byteOffset) into.set(bytes);
      return into;
    });
    // Rejections surface when awaited below; reads abandoned by an early exit must not become unhandled.
    pending.catch(() => undefined);
    queue.push(pending);
    if (issued === total) onAllIssued?.();
  };
  try {
    while (queue.length < depth && issued < total) issue();
    while (queue.length > 0) {
      const bytes = await (queue.shift() as Promise<Uint8Array>);
      if (issued < total) issue();
      yield bytes;
    }
  } finally {
    if (queue.length > 0) await Promise.allSettled(queue);
  }
}
