/**
 * The shared ZIP rules (src/zip/format/rules.ts) and member check (src/zip/format/member-check.ts), each through
 * both readers: the random-access one (bytes in memory) and the front-to-back one (a stream in uneven chunks).
 * Archives are built here record by record, so each case damages exactly one field. Rules met in the end
 * records are in end-records.test.ts; the committed failure fixtures cover the rest (test/stream/fixtures.test.ts).
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { encodeNpyHeader } from '../../src/npy/header.js';
import { openNpz, readNpz } from '../../src/index.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { encodeEndRecords } from '../../src/zip/format/end-records.js';
import {
  FLAG_DATA_DESCRIPTOR,
  FLAG_UTF8_NAME,
  METHOD_DEFLATED,
  METHOD_STORED,
  encodeCentralDirectoryEntry,
  encodeLocalHeader,
} from '../../src/zip/format/records.js';
import { codeOf } from '../helpers/errors.js';
import { unevenChunks } from '../helpers/streams.js';

interface MemberSpec {
  name: string;
  /** Uncompressed member bytes. */
  content: Uint8Array;
  deflate?: boolean;
  /** Sizes and CRC in a signed zip64 data descriptor after the data (zeros in the local header). */
  descriptor?: boolean;
  /** Bytes after the compressed data, counted in the member's compressed size. */
  junk?: Uint8Array;
  local?: (header: Buffer) => void;
  central?: (entry: Buffer) => void;
  after?: (descriptor: Buffer) => void;
}

/** An archive of `members`, then `beforeEnd` (counted in the directory size when `counted`), then the end record. */
function buildZip(members: MemberSpec[], beforeEnd?: { bytes: Buffer; counted: boolean }): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name);
    const crc = nodeCodecs.crc32(member.content, 0);
    const data = Buffer.concat([member.deflate === true ? deflateRawSync(member.content) : Buffer.from(member.content), member.junk ?? Buffer.alloc(0)]);
    const method = member.deflate === true ? METHOD_DEFLATED : METHOD_STORED;
    const flags = member.descriptor === true ? FLAG_DATA_DESCRIPTOR : 0;
    const fields = { name, flags, method, crc32: crc, compressedSize: data.length, uncompressedSize: member.content.length };
    const local = Buffer.from(encodeLocalHeader(fields));
    member.local?.(local);
    const descriptor = Buffer.alloc(member.descriptor === true ? 24 : 0);
    if (member.descriptor === true) {
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(crc, 4);
      descriptor.writeBigUInt64LE(BigInt(data.length), 8);
      descriptor.writeBigUInt64LE(BigInt(member.content.length), 16);
      member.after?.(descriptor);
    }
    const entry = Buffer.from(encodeCentralDirectoryEntry({ ...fields, localHeaderOffset: offset }));
    member.central?.(entry);
    central.push(entry);
    parts.push(local, data, descriptor);
    offset += local.length + data.length + descriptor.length;
  }
  const directory = Buffer.concat(central);
  const tail = beforeEnd?.bytes ?? Buffer.alloc(0);
  const size = directory.length + (beforeEnd?.counted === true ? tail.length : 0);
  parts.push(directory, tail, Buffer.from(encodeEndRecords({ entries: members.length, centralDirectoryOffset: offset, centralDirectorySize: size })));
  return Buffer.concat(parts);
}

function npy(values: number[]): Uint8Array {
  return Buffer.concat([encodeNpyHeader({ descr: '<f8', shape: [values.length], fortranOrder: false }), Buffer.from(Float64Array.from(values).buffer)]);
}

const A = npy([1, 2, 3, 4, 5, 6, 7, 8]);
const B = npy(Array.from({ length: 300 }, (_, i) => i % 7));

/** 'ok: keys' or the NpzError as `CODE: message`. */
async function outcome(input: Parameters<typeof readNpz>[0]): Promise<string> {
  const keys: string[] = [];
  try {
    for await (const [key] of readNpz(input)) keys.push(key);
    return `ok: ${keys.join(',')}`;
  } catch (error) {
    if (!isNpzError(error)) throw error;
    return `${error.code}: ${error.message}`;
  }
}

const fromFile = (bytes: Buffer): Promise<string> => outcome(new Uint8Array(bytes));
const fromStream = (bytes: Buffer): Promise<string> => outcome(unevenChunks(bytes));
const code = (result: string): string => result.split(':')[0] as string;

describe('the shared rules, through both readers', () => {
  it('an undamaged built archive reads through both, stored, deflated and with descriptors', async () => {
    const bytes = buildZip([
      { name: 'a.npy', content: A },
      { name: 'b.npy', content: B, deflate: true, descriptor: true },
    ]);
    expect(await fromFile(bytes)).toBe('ok: a,b');
    expect(await fromStream(bytes)).toBe('ok: a,b');
  });

  it('a digital signature after the last directory record is part of the directory: read when counted in its size, refused when not', async () => {
    const signature = Buffer.alloc(6 + 5);
    signature.writeUInt32LE(0x05054b50, 0);
    signature.writeUInt16LE(5, 4);
    const counted = buildZip([{ name: 'a.npy', content: A }], { bytes: signature, counted: true });
    expect(await fromFile(counted)).toBe('ok: a');
    expect(await fromStream(counted)).toBe('ok: a');
    const outside = buildZip([{ name: 'a.npy', content: A }], { bytes: signature, counted: false });
    const refused = await fromFile(outside);
    expect(code(refused)).toBe('ERR_ZIP_CENTRAL_DIRECTORY');
    expect(await fromStream(outside)).toBe(refused);
  });

  it('a directory record naming another disk: ERR_ZIP_MULTIDISK from both, in the same words', async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A }, { name: 'b.npy', content: B, central: (entry) => entry.writeUInt16LE(1, 34) }]);
    const file = await fromFile(bytes);
    expect(code(file)).toBe('ERR_ZIP_MULTIDISK');
    expect(await fromStream(bytes)).toBe(file);
  });

  it('a local header whose name is flagged UTF-8 but is not: ERR_ZIP_LOCAL_HEADER from both, in the same words', async () => {
    const bytes = buildZip([
      {
        name: 'a.npy',
        content: A,
        local: (header) => {
          header.writeUInt16LE(header.readUInt16LE(6) | FLAG_UTF8_NAME, 6);
          header[30] = 0xff;
        },
      },
    ]);
    const file = await fromFile(bytes);
    expect(code(file)).toBe('ERR_ZIP_LOCAL_HEADER');
    expect(await fromStream(bytes)).toBe(file);
  });

  it('a stored member whose two sizes differ in the directory: ERR_ZIP_SIZE_MISMATCH from both, in the same words', async () => {
    // The local header keeps equal sizes (the stream delimits the member by them); only the directory lies.
    const bytes = buildZip([{ name: 'a.npy', content: A, central: (entry) => entry.writeUInt32LE(A.length + 1, 20) }]);
    const file = await fromFile(bytes);
    expect(code(file)).toBe('ERR_ZIP_SIZE_MISMATCH');
    expect(file).toMatch(/stored member "a.npy" has compressed size/);
  });

  it("a stored member whose local header sizes differ: the stream refuses it with the directory's rule (the file reader takes the directory's sizes)", async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A, local: (header) => header.writeBigUInt64LE(BigInt(A.length + 1), 30 + 5 + 12) }]);
    expect(await fromFile(bytes)).toBe('ok: a');
    const stream = await fromStream(bytes);
    expect(code(stream)).toBe('ERR_ZIP_SIZE_MISMATCH');
    expect(stream).toMatch(/stored member "a.npy" has compressed size/);
  });

  it('an encrypted member: ERR_ZIP_ENCRYPTED; strong encryption: refused from the directory; another method: ERR_ZIP_UNSUPPORTED_METHOD', async () => {
    const flag = (bit: number) => (header: Buffer) => header.writeUInt16LE(header.readUInt16LE(6) | bit, 6);
    const centralFlag = (bit: number) => (entry: Buffer) => entry.writeUInt16LE(entry.readUInt16LE(8) | bit, 8);
    for (const [bit, words] of [[0x0001, 'is encrypted'], [0x0040, 'uses strong encryption']] as const) {
      const bytes = buildZip([{ name: 'a.npy', content: A, deflate: true, local: flag(bit), central: centralFlag(bit) }]);
      const file = await fromFile(bytes);
      expect(file).toBe(`ERR_ZIP_ENCRYPTED: member "a.npy" ${words}`);
      expect(await fromStream(bytes)).toBe(file);
    }
    // Strong encryption is refused when the directory is read, whatever the member; traditional encryption only
    // when the member is read (or, for an array, its header is).
    const strong = buildZip([{ name: 'notes.txt', content: A, deflate: true, local: flag(0x0040), central: centralFlag(0x0040) }]);
    expect(await codeOf(() => openNpz(new Uint8Array(strong)))).toBe('ERR_ZIP_ENCRYPTED');
    const traditional = buildZip([{ name: 'notes.txt', content: A, deflate: true, local: flag(0x0001), central: centralFlag(0x0001) }]);
    const file = await openNpz(new Uint8Array(traditional));
    expect(file.entries.map((entry) => entry.name)).toEqual(['notes.txt']);
    await file.close();
    const method = buildZip([{ name: 'a.npy', content: A, local: (header) => header.writeUInt16LE(12, 8), central: (entry) => entry.writeUInt16LE(12, 10) }]);
    const unsupported = await fromFile(method);
    expect(code(unsupported)).toBe('ERR_ZIP_UNSUPPORTED_METHOD');
    expect(await fromStream(method)).toBe(unsupported);
  });

  it('an end record placing the directory one byte early with a size one byte larger: ERR_ZIP_CENTRAL_DIRECTORY from both', async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A }]);
    const end = bytes.length - 22;
    bytes.writeUInt32LE(bytes.readUInt32LE(end + 12) + 1, end + 12);
    bytes.writeUInt32LE(bytes.readUInt32LE(end + 16) - 1, end + 16);
    // The file reader meets a record that is not one; the stream, a directory that is not where the end record says.
    expect(code(await fromFile(bytes))).toBe('ERR_ZIP_CENTRAL_DIRECTORY');
    expect(await fromStream(bytes)).toMatch(/^ERR_ZIP_CENTRAL_DIRECTORY: the end record puts the central directory at \d+, but in the stream it starts at/);
  });
});

describe('what only one reader sees', () => {
  it('strong encryption flagged in the local header only: the stream refuses the member, the file reader takes the directory', async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A, local: (header) => header.writeUInt16LE(header.readUInt16LE(6) | 0x0040, 6) }]);
    expect(await fromFile(bytes)).toBe('ok: a');
    expect(await fromStream(bytes)).toBe('ERR_ZIP_ENCRYPTED: member "a.npy" uses strong encryption');
  });

  it('a directory recording a stored member 8 bytes shorter than the stream held: ERR_ZIP_SIZE_MISMATCH from the stream', async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A, central: (entry) => (entry.writeUInt32LE(A.length - 8, 20), entry.writeUInt32LE(A.length - 8, 24)) }]);
    // The file reader believes the directory, and its npy layer finds the member too short for its header.
    expect(code(await fromFile(bytes))).toBe('ERR_NPY_SIZE_MISMATCH');
    expect(await fromStream(bytes)).toMatch(/^ERR_ZIP_SIZE_MISMATCH: the central directory disagrees with the stream about member "a.npy": sizes/);
  });

  it('a directory whose two entries swap their local header offsets: the stream compares offsets, the file reader names', async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A }, { name: 'b.npy', content: A }]);
    const directory = bytes.readUInt32LE(bytes.length - 22 + 16);
    const second = directory + 46 + 5;
    const [first, other] = [bytes.readUInt32LE(directory + 42), bytes.readUInt32LE(second + 42)];
    bytes.writeUInt32LE(other, directory + 42);
    bytes.writeUInt32LE(first, second + 42);
    expect(code(await fromFile(bytes))).toBe('ERR_ZIP_NAME_MISMATCH');
    expect(await fromStream(bytes)).toMatch(/^ERR_ZIP_CENTRAL_DIRECTORY: the central directory disagrees with the stream about member "a.npy": local header offset/);
  });

  it('a local extra field that pushes the last member\'s data past the end of the file: ERR_ZIP_BOUNDS from the file reader', async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A }]);
    bytes.writeUInt16LE(bytes.length - (30 + 5), 28);
    expect(await fromFile(bytes)).toMatch(/^ERR_ZIP_BOUNDS: member "a.npy" data ends at \d+, past the \d+-byte file/);
  });

  it("a local extra field that pushes a member's data into the next member: ERR_ZIP_OVERLAP from the file reader", async () => {
    const bytes = buildZip([{ name: 'a.npy', content: A }, { name: 'b.npy', content: B }]);
    bytes.writeUInt16LE(bytes.readUInt16LE(28) + 10, 28);
    expect(await fromFile(bytes)).toMatch(/^ERR_ZIP_OVERLAP: member "a.npy" data \(\d+\.\.\d+\) overlaps the next record/);
  });
});

describe('the shared member check, through both readers', () => {
  it('bytes after the end of a deflate stream, inside the compressed size: ERR_ZIP_SIZE_MISMATCH from both, in the same words', async () => {
    const bytes = buildZip([{ name: 'b.npy', content: B, deflate: true, junk: Buffer.from('trailing junk') }]);
    const file = await fromFile(bytes);
    expect(file).toMatch(/^ERR_ZIP_SIZE_MISMATCH: member "b.npy" takes \d+ bytes compressed, the archive records \d+$/);
    expect(await fromStream(bytes)).toBe(file);
  });

  // The npy header agrees with the records (301 or 299 items) while the data holds 300: the zip layer finds it.
  const claiming = (items: number): Uint8Array => Buffer.concat([encodeNpyHeader({ descr: '<f8', shape: [items], fortranOrder: false }), B.subarray(B.length - 2400)]);
  const recordedAs = (size: number) => ({
    // numpy-style zip64 extras: the uncompressed size is the first value in the local one; the directory has none.
    local: (header: Buffer) => header.writeBigUInt64LE(BigInt(size), 30 + 5 + 4),
    central: (entry: Buffer) => entry.writeUInt32LE(size, 24),
  });

  it('a deflated member recorded longer than it inflates to: ERR_ZIP_SIZE_MISMATCH from both, in the same words', async () => {
    const content = claiming(301);
    const bytes = buildZip([{ name: 'b.npy', content, deflate: true, ...recordedAs(content.length + 8) }]);
    const file = await fromFile(bytes);
    expect(file).toBe(`ERR_ZIP_SIZE_MISMATCH: member "b.npy" inflates to ${content.length} bytes, the archive records ${content.length + 8}`);
    expect(await fromStream(bytes)).toBe(file);
  });

  it('a deflated member recorded shorter than it inflates to: ERR_ZIP_BOMB from both, in the same words', async () => {
    const content = claiming(299);
    const bytes = buildZip([{ name: 'b.npy', content, deflate: true, ...recordedAs(content.length - 8) }]);
    const file = await fromFile(bytes);
    expect(file).toBe(`ERR_ZIP_BOMB: member "b.npy" inflates past the ${content.length - 8} bytes the archive records`);
    expect(await fromStream(bytes)).toBe(file);
  });

  it('a data byte flipped: ERR_ZIP_CRC_MISMATCH from both, in the same words', async () => {
    for (const deflate of [false, true]) {
      const bytes = buildZip([{ name: 'b.npy', content: B, deflate }]);
      const text = Buffer.from(B);
      text[text.length - 1] ^= 1;
      const damaged = deflate ? buildZip([{ name: 'b.npy', content: text, deflate }]) : Buffer.from(bytes);
      if (deflate) {
        // The same CRC-32 as before in both headers: the data changed, the records did not.
        const crc = nodeCodecs.crc32(B, 0);
        damaged.writeUInt32LE(crc, 14);
        damaged.writeUInt32LE(crc, damaged.readUInt32LE(damaged.length - 22 + 16) + 16);
      } else {
        damaged[30 + 5 + 20 + B.length - 1] ^= 1;
      }
      const file = await fromFile(damaged);
      expect(file).toMatch(/^ERR_ZIP_CRC_MISMATCH: member "b.npy" is corrupt: its bytes have CRC-32 0x[0-9a-f]{8}, the archive records 0x[0-9a-f]{8}$/);
      expect(await fromStream(damaged)).toBe(file);
    }
  });
});

describe('data descriptors (stream only: the file reader takes the directory and never reads them)', () => {
  const deflated = (after: (descriptor: Buffer) => void): Buffer => buildZip([{ name: 'b.npy', content: B, deflate: true, descriptor: true, after }]);

  it('a descriptor whose compressed size disagrees with the bytes read: ERR_ZIP_SIZE_MISMATCH', async () => {
    const bytes = deflated((d) => d.writeBigUInt64LE(d.readBigUInt64LE(8) + 1n, 8));
    expect(await fromFile(bytes)).toBe('ok: b');
    expect(await fromStream(bytes)).toMatch(/^ERR_ZIP_SIZE_MISMATCH: member "b.npy" takes \d+ bytes compressed, the archive records \d+$/);
  });

  it('a descriptor whose uncompressed size disagrees with the bytes read: ERR_ZIP_SIZE_MISMATCH', async () => {
    const bytes = deflated((d) => d.writeBigUInt64LE(d.readBigUInt64LE(16) - 1n, 16));
    expect(await fromFile(bytes)).toBe('ok: b');
    expect(await fromStream(bytes)).toBe(`ERR_ZIP_SIZE_MISMATCH: member "b.npy" inflates to ${B.length} bytes, the archive records ${B.length - 1}`);
  });

  it('a descriptor whose CRC-32 disagrees with the bytes read: ERR_ZIP_CRC_MISMATCH', async () => {
    const bytes = deflated((d) => d.writeUInt32LE((d.readUInt32LE(4) ^ 1) >>> 0, 4));
    expect(await fromFile(bytes)).toBe('ok: b');
    expect(code(await fromStream(bytes))).toBe('ERR_ZIP_CRC_MISMATCH');
  });

  it('a descriptor in 4-byte form after a local header with a zip64 extra is still found by what follows it', async () => {
    const bytes = buildZip([{ name: 'b.npy', content: B, deflate: true, descriptor: true }, { name: 'a.npy', content: A }]);
    // Rewrite the 24-byte zip64 descriptor as a signed 16-byte one and shift what follows.
    const at = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x07, 0x08]));
    const short = Buffer.alloc(16);
    bytes.copy(short, 0, at, at + 8);
    short.writeUInt32LE(Number(bytes.readBigUInt64LE(at + 8)), 8);
    short.writeUInt32LE(Number(bytes.readBigUInt64LE(at + 16)), 12);
    const rebuilt = Buffer.concat([bytes.subarray(0, at), short, bytes.subarray(at + 24)]);
    const end = rebuilt.length - 22;
    const directory = rebuilt.readUInt32LE(end + 16) - 8;
    rebuilt.writeUInt32LE(directory, end + 16);
    // The second member's local header moved back by 8 bytes too.
    const second = directory + 46 + 5;
    rebuilt.writeUInt32LE(rebuilt.readUInt32LE(second + 42) - 8, second + 42);
    expect(await fromStream(rebuilt)).toBe('ok: b,a');
  });

  it('a zip64 descriptor is not read as a 4-byte one whose CRC-32 matches and that a record signature seems to follow', async () => {
    // 0x04034b50 zeros: the descriptor's 8-byte uncompressed size starts with a local header signature, so read
    // with 4-byte sizes it repeats the CRC-32 and looks followed by a record; only its sizes tell it is not that.
    const content = new Uint8Array(0x04034b50);
    const compressed = deflateRawSync(content, { level: 1 });
    const name = Buffer.from('zeros.bin');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(FLAG_DATA_DESCRIPTOR, 6);
    local.writeUInt16LE(METHOD_DEFLATED, 8);
    local.writeUInt16LE(name.length, 26);
    const descriptor = Buffer.alloc(24);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(nodeCodecs.crc32(content, 0), 4);
    descriptor.writeBigUInt64LE(BigInt(compressed.length), 8);
    descriptor.writeBigUInt64LE(BigInt(content.length), 16);
    const head = Buffer.concat([local, name, compressed, descriptor]);
    const rest = buildZip([{ name: 'a.npy', content: A }]);
    // Prepend the member: shift the directory's offsets and add its record.
    const end = rest.length - 22;
    const directory = rest.readUInt32LE(end + 16);
    const entry = Buffer.from(encodeCentralDirectoryEntry({ name, flags: FLAG_DATA_DESCRIPTOR, method: METHOD_DEFLATED, crc32: nodeCodecs.crc32(content, 0), compressedSize: compressed.length, uncompressedSize: content.length, localHeaderOffset: 0 }));
    const oldEntry = Buffer.from(rest.subarray(directory, end));
    oldEntry.writeUInt32LE(head.length, 42);
    const eocd = Buffer.from(rest.subarray(end));
    eocd.writeUInt16LE(2, 8);
    eocd.writeUInt16LE(2, 10);
    eocd.writeUInt32LE(entry.length + oldEntry.length, 12);
    eocd.writeUInt32LE(head.length + directory, 16);
    const bytes = Buffer.concat([head, rest.subarray(0, directory), entry, oldEntry, eocd]);
    expect(await fromStream(bytes)).toBe('ok: a');
  });
});
