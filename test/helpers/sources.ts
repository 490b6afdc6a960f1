import { checkInto, checkRange, type RandomAccessSource } from '../../src/io/random-access.js';
import { setU16, setU32 } from './zip-layout.js';

/** RandomAccessSource doubles: sources that count what is asked of them, come up short, or hold virtual bytes. */

export interface ReadStats {
  reads: number;
  bytesRead: number;
  closed: number;
  /** The largest length asked for: a hostile length must never become a large read. */
  maxRead: number;
}

/**
 * Bytes whose reads are counted and can be made to come up short from some offset on (`cut`), as a file that
 * shrinks or a server that drops the connection would. Read ranges are checked as every real source checks them,
 * and each read returns a copy, so a reader cannot lean on sharing the caller's buffer.
 */
export function countingSource(bytes: Uint8Array): { stats: ReadStats; cut(offset: number): void; source: RandomAccessSource } {
  const stats: ReadStats = { reads: 0, bytesRead: 0, closed: 0, maxRead: 0 };
  let shortAfter = bytes.length;
  return {
    stats,
    cut(offset: number): void {
      shortAfter = offset;
    },
    source: {
      size: bytes.length,
      async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
        stats.reads++;
        stats.maxRead = Math.max(stats.maxRead, length);
        checkRange(offset, length);
        checkInto(into, length);
        const end = Math.min(offset + length, shortAfter, bytes.length);
        const available = bytes.subarray(Math.min(offset, end), end);
        stats.bytesRead += available.length;
        if (into === undefined) return available.slice();
        into.set(available);
        return into.subarray(0, available.length);
      },
      async close(): Promise<void> {
        stats.closed++;
      },
    },
  };
}

/**
 * Byte `index` of a virtual archive's data region: a period of 251 (prime), so a read from any offset that is off by
 * anything but a multiple of 251 shows up in the bytes.
 */
export function virtualDataByte(index: number): number {
  return index % 251;
}

/**
 * A stored single-member archive whose data region is virtual (patterned bytes served on demand), so members past
 * 4 GiB can be exercised without writing them: ZIP64 extras in both headers, a ZIP64 end record and locator. The
 * CRC is left at 0, so only code paths that stop before verifying can succeed on it.
 */
export function virtualZip64Archive(name: string, npyHeader: Uint8Array, dataBytes: number) {
  const nameBytes = new TextEncoder().encode(name);
  const memberSize = npyHeader.length + dataBytes;
  const local = new Uint8Array(30 + nameBytes.length + 20);
  setU32(local, 0, 0x04034b50);
  setU16(local, 4, 45);
  setU32(local, 18, 0xffffffff);
  setU32(local, 22, 0xffffffff);
  setU16(local, 26, nameBytes.length);
  setU16(local, 28, 20);
  local.set(nameBytes, 30);
  const view = new DataView(local.buffer);
  setU16(local, 30 + nameBytes.length, 1);
  setU16(local, 32 + nameBytes.length, 16);
  view.setBigUint64(34 + nameBytes.length, BigInt(memberSize), true);
  view.setBigUint64(42 + nameBytes.length, BigInt(memberSize), true);
  const head = Buffer.concat([local, npyHeader]);
  const cdOffset = head.length + dataBytes;

  const cd = new Uint8Array(46 + nameBytes.length + 20);
  const cdView = new DataView(cd.buffer);
  setU32(cd, 0, 0x02014b50);
  setU16(cd, 4, 45);
  setU16(cd, 6, 45);
  setU32(cd, 20, 0xffffffff);
  setU32(cd, 24, 0xffffffff);
  setU16(cd, 28, nameBytes.length);
  setU16(cd, 30, 20);
  cd.set(nameBytes, 46);
  setU16(cd, 46 + nameBytes.length, 1);
  setU16(cd, 48 + nameBytes.length, 16);
  cdView.setBigUint64(50 + nameBytes.length, BigInt(memberSize), true);
  cdView.setBigUint64(58 + nameBytes.length, BigInt(memberSize), true);

  const end = new Uint8Array(56 + 20 + 22);
  const endView = new DataView(end.buffer);
  setU32(end, 0, 0x06064b50);
  endView.setBigUint64(4, 44n, true);
  setU16(end, 12, 45);
  setU16(end, 14, 45);
  endView.setBigUint64(24, 1n, true);
  endView.setBigUint64(32, 1n, true);
  endView.setBigUint64(40, BigInt(cd.length), true);
  endView.setBigUint64(48, BigInt(cdOffset), true);
  setU32(end, 56, 0x07064b50);
  endView.setBigUint64(64, BigInt(cdOffset + cd.length), true);
  setU32(end, 72, 1);
  setU32(end, 76, 0x06054b50);
  setU16(end, 84, 0xffff);
  setU16(end, 86, 0xffff);
  setU32(end, 88, cd.length);
  setU32(end, 92, 0xffffffff);
  const tail = Buffer.concat([cd, end]);

  const size = cdOffset + tail.length;
  const stats = { bytesRead: 0 };
  const source = {
    size,
    async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
      const n = Math.max(0, Math.min(length, size - offset));
      const out = into ?? new Uint8Array(n);
      const dataStart = head.length;
      for (let i = 0; i < n; i++) out[i] = virtualDataByte(offset + i - dataStart);
      // Copy whichever real regions overlap [offset, offset + n); the rest is the patterned data region.
      for (const [start, bytes] of [[0, head], [cdOffset, tail]] as const) {
        const from = Math.max(offset, start);
        const to = Math.min(offset + n, start + bytes.length);
        if (from < to) out.set(bytes.subarray(from - start, to - start), from - offset);
      }
      stats.bytesRead += n;
      return out.subarray(0, n);
    },
    async close(): Promise<void> {},
  };
  return { source, stats, dataStart: head.length };
}
