/** Progress reporting shared by every writer (npz, safetensors, shards, single .npy files). */
import { NpzError } from '../errors.js';

export interface SaveProgress {
  entriesDone: number;
  /** Known when the tree is a nested object (all leaves are visible up front), not for a flat iterable. */
  entriesTotal?: number;
  /** Archive bytes accepted by the destination so far. */
  bytesDone: number;
  /** Exact archive size, when `entriesTotal` is known and members are stored (not compressed). */
  bytesTotal?: number;
  /** The leaf being written, or last written. */
  entry?: string;
}

/**
 * Hands the caller a snapshot of `progress` (so a kept object never changes under it); a callback that throws
 * fails the save with a clear code instead of an error from deep inside the writer.
 */
export function progressReporter(progress: SaveProgress, onProgress: ((progress: SaveProgress) => void) | undefined): () => void {
  return () => {
    if (!onProgress) return;
    try {
      onProgress({ ...progress });
    } catch (err) {
      throw new NpzError('ERR_INVALID_ARGUMENT', 'the onProgress callback threw', { cause: err });
    }
  };
}
