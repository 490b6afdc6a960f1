/**
 * The project's own central directory reader: end records found and checked before the directory is trusted,
 * the directory fetched in one read, every record decoded by the same decoders the writer's tests pin against
 * CPython. Cases the failure fixtures do not cover: comments, zip64 end records that lie, and read counts.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource, saveNpzStream } from '../../src/index.js';
import { readCentralDirectory, type ZipEntry } from '../../src/zip/random/central-directory.js';
import { hasNumpy, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { countingSource } from '../helpers/sources.js';
import { setU16, setU32 } from '../helpers/zip-layout.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { codeOf } from '../helpers/errors.js';

/** An archive with zip64 end records (forced), as bytes: the records sit right before the 22-byte EOCD. */
async function zip64Archive(): Promise<Uint8Array> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (part: Buffer) => parts.push(part));
  await saveNpzStream({ a: Float32Array.of(1, 2), b: Int8Array.of(3) }, out, { forceZip64: true });
  return new Uint8Array(Buffer.concat(parts));
}

const LOCATOR_FROM_END = 22 + 20;
const RECORD_FROM_END = 22 + 20 + 56;

describe('central directory reader', () => {
  it('follows forced zip64 end records to the directory, in a single read for a small archive', async () => {
    const bytes = await zip64Archive();
    const { source, stats } = countingSource(bytes);
    const directory = await readCentralDirectory(source);
    expect(directory.entries.map((entry) => entry.name)).toEqual(['a.npy', 'b.npy']);
    expect(directory.end).toBe(bytes.length - RECORD_FROM_END);
    expect(stats.reads).toBe(1);
  });

  it('zip64 end records that lie: locator past its record, wrong signature, other disks, offsets past 2^53', async () => {
    const base = await zip64Archive();
    const locator = base.length - LOCATOR_FROM_END;
    const record = base.length - RECORD_FROM_END;
    const patched = (patch: (bytes: Uint8Array, view: DataView) => void): Uint8Array => {
      const bytes = base.slice();
      patch(bytes, new DataView(bytes.buffer));
      return bytes;
    };
    const open = (bytes: Uint8Array) => codeOf(readCentralDirectory(bufferSource(bytes)));
    expect(await open(patched((_, v) => v.setBigUint64(locator + 8, BigInt(base.length), true)))).toBe('ERR_ZIP_ZIP64');
    expect(await open(patched((b) => setU32(b, record, 0x12345678)))).toBe('ERR_ZIP_ZIP64');
    expect(await open(patched((b) => setU32(b, record + 16, 1)))).toBe('ERR_ZIP_MULTIDISK');
    expect(await open(patched((b) => setU32(b, locator + 16, 2)))).toBe('ERR_ZIP_MULTIDISK');
    expect(await open(patched((_, v) => v.setBigUint64(record + 48, 2n ** 60n, true)))).toBe('ERR_ZIP_BOUNDS');
    // A total that disagrees with the count for this disk; both raised: the directory holds fewer records.
    expect(await open(patched((_, v) => v.setBigUint64(record + 32, 3n, true)))).toBe('ERR_ZIP_EOCD');
    expect(await open(patched((_, v) => (v.setBigUint64(record + 24, 3n, true), v.setBigUint64(record + 32, 3n, true))))).toBe('ERR_ZIP_BOUNDS');
    expect(await open(base)).toBe('resolved');
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'central directory reader against zipfile'), () => {
  let dir: TempDir;
  beforeAll(() => {
    dir = makeTempDir('central-directory');
  });
  afterAll(() => dir.remove());

  it('accepts an archive comment (a signature in its last 22 bytes is not taken for the record) and refuses one cut short', async () => {
    const bytes = pythonArchive(
      dir.file('comment.zip'),
      "with zipfile.ZipFile(out, 'w') as zf:\n    zf.writestr('a.npy', b'x' * 10)\n    zf.comment = b'note PK\\x05\\x06 inside'",
    );
    const directory = await readCentralDirectory(bufferSource(bytes));
    expect(directory.entries.map((entry) => entry.name)).toEqual(['a.npy']);
    const cut = bytes.subarray(0, bytes.length - 3);
    expect(await codeOf(readCentralDirectory(bufferSource(cut)))).toBe('ERR_ZIP_EOCD');
  });

  it('reads a 70 000-record directory (zip64 end records) in at most three reads', async () => {
    const bytes = pythonArchive(
      dir.file('many.zip'),
      "with zipfile.ZipFile(out, 'w') as zf:\n    for i in range(70000):\n        zf.writestr(f'm{i}', b'')",
    );
    const { source, stats } = countingSource(bytes);
    const directory = await readCentralDirectory(source);
    expect(directory.entries).toHaveLength(70_000);
    expect(directory.entries[69_999]!.name).toBe('m69999');
    expect(stats.reads).toBeLessThanOrEqual(3);
  }, 60_000);

  it('a record whose name length runs past the directory: ERR_ZIP_BOUNDS, not a read past it', async () => {
    const bytes = pythonArchive(dir.file('two.zip'), "with zipfile.ZipFile(out, 'w') as zf:\n    zf.writestr('a', b'1')\n    zf.writestr('b', b'2')");
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const eocd = bytes.length - 22;
    const second = view.getUint32(eocd + 16, true) + 46 + 1;
    setU16(bytes, second + 28, 500);
    expect(await codeOf(readCentralDirectory(bufferSource(bytes)))).toBe('ERR_ZIP_BOUNDS');
  });

  it('an empty archive whose directory offset lies past its end record: ERR_ZIP_BOUNDS, not an empty listing', async () => {
    const eocd = new Uint8Array(22);
    setU32(eocd, 0, 0x06054b50);
    expect((await readCentralDirectory(bufferSource(eocd))).entries).toEqual([]);
    for (const offset of [1, 22, 0xfffffffe]) {
      setU32(eocd, 16, offset);
      expect(await codeOf(readCentralDirectory(bufferSource(eocd))), `offset ${offset}`).toBe('ERR_ZIP_BOUNDS');
    }
  });

  it('a directory listing members out of file order: each member is bounded by the next one in the file', async () => {
    const bytes = Buffer.from(await zip64Archive());
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const eocd = bytes.length - 22;
    const records: Buffer[] = [];
    const cdOffset = Number(view.getBigUint64(bytes.length - RECORD_FROM_END + 48, true));
    for (let at = cdOffset; view.getUint32(at, true) === 0x02014b50; ) {
      const length = 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
      records.push(bytes.subarray(at, at + length));
      at += length;
    }
    expect(records).toHaveLength(2);
    const reversed = Buffer.concat(records.slice().reverse());
    reversed.copy(bytes, cdOffset);
    const directory = await readCentralDirectory(bufferSource(bytes));
    expect(directory.entries.map((entry) => entry.name)).toEqual(['b.npy', 'a.npy']);
    const [b, a] = directory.entries as [ZipEntry, ZipEntry];
    expect(a.regionEnd).toBe(b.localHeaderOffset);
    expect(b.regionEnd).toBe(cdOffset);
    expect(eocd).toBeGreaterThan(cdOffset);
  });

  it('a directory over 1 GiB is refused from the end records, before it is read', async () => {
    const size = 2 ** 31;
    const tail = new Uint8Array(22);
    setU32(tail, 0, 0x06054b50);
    tail.set([1, 0, 1, 0], 8);
    setU32(tail, 12, size - 22);
    setU32(tail, 16, 0);
    let largest = 0;
    const source = {
      size,
      async read(offset: number, length: number) {
        largest = Math.max(largest, length);
        const out = new Uint8Array(Math.min(length, size - offset));
        const from = Math.max(offset, size - 22);
        if (from < offset + out.length) out.set(tail.subarray(from - (size - 22), offset + out.length - (size - 22)), from - offset);
        return out;
      },
      close: async () => undefined,
    };
    expect(await codeOf(readCentralDirectory(source))).toBe('ERR_ZIP_TOO_LARGE');
    expect(largest).toBeLessThan(1 << 20);
  });
});
