/** Little-endian field helpers shared by the ZIP record codecs. */
import { NpzError } from '../../errors.js';

export function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % 2 ** 32, true);
  view.setUint32(at + 4, Math.floor(value / 2 ** 32), true);
}

export function getU64(view: DataView, at: number, what: string): number {
  const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) {
    throw new NpzError('ERR_ZIP_TOO_LARGE', `${what} does not fit in a safe integer`, { offset: at });
  }
  return value;
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function need(bytes: Uint8Array, offset: number, length: number, what: string): void {
  if (offset < 0 || offset + length > bytes.byteLength) {
    throw new NpzError('ERR_ZIP_TRUNCATED', `${what} is truncated`, {
      offset,
      expected: length,
      actual: Math.max(0, bytes.byteLength - offset),
    });
  }
}
