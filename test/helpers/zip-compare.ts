import { inflateRawSync } from 'node:zlib';
import { hex } from './bytes.js';
import { localDataStart, u16, u32, zipLayout } from './zip-layout.js';

/** A copy of `bytes` with the given [start, end) ranges zeroed. */
function masked(bytes: Uint8Array, ranges: [number, number][]): string {
  const copy = Uint8Array.from(bytes);
  for (const [start, end] of ranges) copy.fill(0, start, end);
  return hex(copy);
}

const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Where a record (local header or central directory entry) keeps its compressed size: the 32-bit field, and the
 * zip64 extra's 8-byte field when the 32-bit one holds the sentinel. `layout` gives the record's fixed-part
 * offsets: where the sizes sit, where the name length is, and how long the fixed part is.
 */
function compressedSizeAt(record: Uint8Array, layout: { csize: number; usize: number; nameLength: number; fixed: number }): { ranges: [number, number][]; value: number } {
  const csize = u32(record, layout.csize);
  if (csize !== 0xffffffff) return { ranges: [[layout.csize, layout.csize + 4]], value: csize };
  let at = layout.fixed + u16(record, layout.nameLength);
  const end = at + u16(record, layout.nameLength + 2);
  while (at + 4 <= end) {
    const [tag, size] = [u16(record, at), u16(record, at + 2)];
    if (tag === 1) {
      const field = at + 4 + (u32(record, layout.usize) === 0xffffffff ? 8 : 0);
      return { ranges: [[layout.csize, layout.csize + 4], [field, field + 8]], value: Number(view(record).readBigUInt64LE(field)) };
    }
    at += 4 + size;
  }
  throw new Error('test helper: compressed size sentinel without a zip64 extra');
}
const LOCAL = { csize: 18, usize: 22, nameLength: 26, fixed: 30 };
const CENTRAL = { csize: 20, usize: 24, nameLength: 28, fixed: 46 };

/**
 * Compares two small (non-ZIP64) deflated archives byte for byte everywhere except where the deflate streams
 * themselves differ: the compressed data, the compressed-size fields (in local headers, or in data descriptors for
 * archives written to a pipe), and the offsets those sizes shift. Those are
 * checked instead for what they must be (data that inflates to the same bytes, sizes and offsets that match where
 * things really are). Two zlib builds may deflate differently; every other byte must be the same. Returns a list
 * of differences, empty when the archives agree.
 */
export function differencesButDeflate(ours: Uint8Array, theirs: Uint8Array): string[] {
  const problems: string[] = [];
  const mine = zipLayout(ours);
  const other = zipLayout(theirs);
  if (mine.records.length !== other.records.length) return [`${mine.records.length} members, expected ${other.records.length}`];
  let expectedLocal = 0;
  for (const [index, record] of mine.records.entries()) {
    const reference = other.records[index]!;
    const label = `member ${index} (${record.name})`;
    if (record.localHeaderOffset !== expectedLocal) problems.push(`${label}: local header at ${record.localHeaderOffset}, expected ${expectedLocal}`);
    const dataStart = localDataStart(ours, record);
    const referenceStart = localDataStart(theirs, reference);
    const localHeader = ours.subarray(record.localHeaderOffset, dataStart);
    const referenceHeader = theirs.subarray(reference.localHeaderOffset, referenceStart);
    // With a data descriptor (flag bit 3) the local header's sizes are zero and must match exactly.
    const described = (record.flags & 8) !== 0;
    const localSize = described ? { ranges: [], value: record.compressedSize } : compressedSizeAt(localHeader, LOCAL);
    const referenceSize = described ? { ranges: [] } : compressedSizeAt(referenceHeader, LOCAL);
    if (localHeader.length !== referenceHeader.length || masked(localHeader, localSize.ranges) !== masked(referenceHeader, referenceSize.ranges)) {
      problems.push(`${label}: local header ${hex(localHeader)}, expected ${hex(referenceHeader)} (compressed size aside)`);
    }
    if (localSize.value !== record.compressedSize) problems.push(`${label}: local compressed size ${localSize.value}, CD says ${record.compressedSize}`);
    let descriptorLength = 0;
    if (described) {
      // zipfile writes the signature and, for a zip64 member (numpy forces zip64), 8-byte sizes.
      const zip64 = localHeader.length > 30 + u16(localHeader, 26);
      descriptorLength = zip64 ? 24 : 16;
      const descriptor = ours.subarray(dataStart + record.compressedSize, dataStart + record.compressedSize + descriptorLength);
      const referenceDescriptor = theirs.subarray(referenceStart + reference.compressedSize, referenceStart + reference.compressedSize + descriptorLength);
      const sizeField: [number, number] = zip64 ? [8, 16] : [8, 12];
      if (masked(descriptor, [sizeField]) !== masked(referenceDescriptor, [sizeField])) {
        problems.push(`${label}: data descriptor ${hex(descriptor)}, expected ${hex(referenceDescriptor)} (compressed size aside)`);
      }
      const described64 = zip64 ? Number(view(descriptor).readBigUInt64LE(8)) : u32(descriptor, 8);
      if (described64 !== record.compressedSize) problems.push(`${label}: descriptor compressed size ${described64}, CD says ${record.compressedSize}`);
    }
    const data = ours.subarray(dataStart, dataStart + record.compressedSize);
    const referenceData = theirs.subarray(referenceStart, referenceStart + reference.compressedSize);
    let inflated: Buffer | undefined;
    try {
      inflated = inflateRawSync(data);
    } catch (error) {
      problems.push(`${label}: data does not inflate: ${String(error)}`);
    }
    if (inflated !== undefined && !inflated.equals(inflateRawSync(referenceData))) problems.push(`${label}: inflates to different bytes`);
    expectedLocal = dataStart + record.compressedSize + descriptorLength;

    const entryLength = (bytes: Uint8Array, at: number): number => 46 + u16(bytes, at + 28) + u16(bytes, at + 30) + u16(bytes, at + 32);
    const entry = ours.subarray(record.at, record.at + entryLength(ours, record.at));
    const referenceEntry = theirs.subarray(reference.at, reference.at + entryLength(theirs, reference.at));
    // These archives are small, so the local header offset is the plain 32-bit field (checked above).
    const entrySize = compressedSizeAt(entry, CENTRAL);
    const referenceEntrySize = compressedSizeAt(referenceEntry, CENTRAL);
    if (entrySize.value !== record.compressedSize) problems.push(`${label}: central compressed size ${entrySize.value}, expected ${record.compressedSize}`);
    if (
      entry.length !== referenceEntry.length ||
      masked(entry, [...entrySize.ranges, [42, 46]]) !== masked(referenceEntry, [...referenceEntrySize.ranges, [42, 46]])
    ) {
      problems.push(`${label}: central directory entry ${hex(entry)}, expected ${hex(referenceEntry)} (compressed size and offset aside)`);
    }
  }
  if (mine.cdOffset !== expectedLocal) problems.push(`central directory at ${mine.cdOffset}, expected right after the last member at ${expectedLocal}`);
  if (mine.cdOffset + mine.cdSize !== mine.eocd) problems.push(`end record at ${mine.eocd}, expected right after the central directory`);
  const end = ours.subarray(mine.eocd);
  const referenceEnd = theirs.subarray(other.eocd);
  if (end.length !== referenceEnd.length || masked(end, [[16, 20]]) !== masked(referenceEnd, [[16, 20]])) {
    problems.push(`end record ${hex(end)}, expected ${hex(referenceEnd)} (central directory offset aside)`);
  }
  return problems;
}
