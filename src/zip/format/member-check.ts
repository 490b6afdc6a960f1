/**
 * The one check of a member's bytes, used by both member readers (random/member-reader.ts against the central
 * directory, stream/stream-member.ts against the local header or data descriptor): a running CRC-32 and count of
 * the bytes handed out, a cap on inflated output at the size the archive records (the zip bomb limit), and at the
 * member's end its CRC-32 and both sizes compared with what the archive records. Messages name the member and the
 * values, not the record they came from, so the same damage reads the same through either reader.
 */
import { NpzError, type NpzErrorCode } from '../../errors.js';
import type { Codecs } from '../../io/codecs.js';
import { METHOD_STORED, type MemberSizes } from './records.js';

export function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** A member whose bytes hash to `actual` where the archive records `recorded`. */
export function crcMismatch(name: string, actual: number, recorded: number): NpzError {
  return new NpzError('ERR_ZIP_CRC_MISMATCH', `member ${JSON.stringify(name)} is corrupt: its bytes have CRC-32 ${hex(actual)}, the archive records ${hex(recorded)}`, {
    entry: name,
    expected: recorded,
    actual,
  });
}

export class MemberCheck {
  /** CRC-32 of the bytes counted so far (0 when CRC is not verified). */
  crc = 0;
  /** Uncompressed bytes counted so far. */
  length = 0;

  /** `crc32` undefined: the CRC is not computed or compared (sizes still are). */
  constructor(
    readonly name: string,
    readonly method: number,
    private readonly crc32: Codecs['crc32'] | undefined,
  ) {}

  /** Counts (and hashes) bytes about to be handed out. */
  update(piece: Uint8Array): void {
    if (this.crc32 !== undefined) this.crc = this.crc32(piece, this.crc);
    this.length += piece.length;
  }

  /** Inflation must stop at the recorded size: `inflated` bytes produced so far must not pass `limit`. */
  limitInflation(inflated: number, limit: number): void {
    if (inflated <= limit) return;
    throw new NpzError('ERR_ZIP_BOMB', `member ${JSON.stringify(this.name)} inflates past the ${limit} bytes the archive records`, {
      entry: this.name,
      expected: limit,
      actual: inflated,
    });
  }

  /**
   * At the member's end: what was read (`compressedSize` bytes of member data, and the bytes counted here) must be
   * what the archive records, sizes first, then the CRC-32. `sizeCode` replaces ERR_ZIP_SIZE_MISMATCH where the
   * recorded length came from the member's own contents (an npy header) rather than the zip records.
   */
  verify(recorded: MemberSizes, compressedSize: number, sizeCode: NpzErrorCode = 'ERR_ZIP_SIZE_MISMATCH'): void {
    const error = this.mismatch(recorded, compressedSize, sizeCode);
    if (error !== undefined) throw error;
  }

  /** What `verify` would throw, or undefined. */
  mismatch(recorded: MemberSizes, compressedSize: number, sizeCode: NpzErrorCode = 'ERR_ZIP_SIZE_MISMATCH'): NpzError | undefined {
    const { name } = this;
    const stored = this.method === METHOD_STORED;
    if (recorded.uncompressedSize !== this.length) {
      return new NpzError(
        sizeCode,
        `member ${JSON.stringify(name)} ${stored ? 'holds' : 'inflates to'} ${this.length} bytes, the archive records ${recorded.uncompressedSize}`,
        { entry: name, expected: recorded.uncompressedSize, actual: this.length },
      );
    }
    if (recorded.compressedSize !== compressedSize) {
      return new NpzError(
        sizeCode,
        `member ${JSON.stringify(name)} takes ${compressedSize} bytes ${stored ? 'stored' : 'compressed'}, the archive records ${recorded.compressedSize}`,
        { entry: name, expected: recorded.compressedSize, actual: compressedSize },
      );
    }
    if (this.crc32 !== undefined && (this.crc >>> 0) !== (recorded.crc32 >>> 0)) return crcMismatch(name, this.crc >>> 0, recorded.crc32 >>> 0);
    return undefined;
  }
}
