import { Readable } from 'node:stream';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { MemberReader } from '../../src/zip/random/member-reader.js';
import { ZipArchive } from '../../src/zip/random/archive.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { bufferSource, type RandomAccessSource } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY, pythonArchive } from '../helpers/python.js';
import { countingSource } from '../helpers/sources.js';
import { localDataStart, record, setU32, zipLayout } from '../helpers/zip-layout.js';
import { sha256 } from '../helpers/bytes.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { expectCode, rejectionOf } from '../helpers/errors.js';

const MiB = 1024 * 1024;

async function member(source: RandomAccessSource | Uint8Array, name: string, options = {}): Promise<MemberReader> {
  const archive = await ZipArchive.open(source instanceof Uint8Array ? bufferSource(source) : source, nodeCodecs);
  const entry = archive.entries.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no ${name}`);
  return MemberReader.open(archive, entry, options);
}

async function drain(reader: MemberReader, chunkSize?: number): Promise<{ bytes: Uint8Array; sizes: number[] }> {
  const parts: Uint8Array[] = [];
  for await (const chunk of reader.chunks(chunkSize)) parts.push(chunk.slice());
  return { bytes: Buffer.concat(parts), sizes: parts.map((p) => p.length) };
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'member bytes against CPython zipfile'), () => {
  let dir: TempDir;
  let archive: Uint8Array;
  let oracle: Record<string, string>;

  beforeAll(() => {
    dir = makeTempDir('reader-members');
    archive = pythonArchive(
      dir.file('members.zip'),
      [
        'rng = np.random.default_rng(5)',
        'noise = rng.integers(0, 255, 9 * 1024 * 1024 + 3, dtype=np.uint8).tobytes()',
        'zeros = bytes(12 * 1024 * 1024)',
        "with zipfile.ZipFile(out, 'w') as zf:",
        "    zf.writestr(zipfile.ZipInfo('stored.bin'), noise, compress_type=zipfile.ZIP_STORED)",
        "    zf.writestr(zipfile.ZipInfo('deflated.bin'), noise[:3_000_000] + zeros, compress_type=zipfile.ZIP_DEFLATED)",
        "    zf.writestr(zipfile.ZipInfo('zeros.bin'), zeros, compress_type=zipfile.ZIP_DEFLATED)",
        "    zf.writestr(zipfile.ZipInfo('empty.bin'), b'', compress_type=zipfile.ZIP_DEFLATED)",
        "    zf.writestr(zipfile.ZipInfo('empty-stored.bin'), b'', compress_type=zipfile.ZIP_STORED)",
        "    zf.writestr(zipfile.ZipInfo('tail.bin'), b'end', compress_type=zipfile.ZIP_STORED)",
      ].join('\n'),
    );
    oracle = JSON.parse(
      runPython(
        'import sys, json, hashlib, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nprint(json.dumps({n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist()}))',
        [dir.file('members.zip')],
      ),
    ) as Record<string, string>;
  });
  afterAll(() => dir.remove());

  it.each(['stored.bin', 'deflated.bin', 'zeros.bin', 'empty.bin', 'empty-stored.bin', 'tail.bin'])(
    '%s: chunks() gives exactly the bytes zipfile reads',
    async (name) => {
      const { bytes } = await drain(await member(archive, name));
      expect(sha256(bytes)).toBe(oracle[name]);
    },
  );

  it('a partial read, then readInto, then chunks continue where the previous call stopped', async () => {
    for (const name of ['stored.bin', 'deflated.bin']) {
      const reader = await member(archive, name);
      const head = (await reader.read(100)).slice();
      const middle = new Uint8Array(5 * MiB + 1);
      await reader.readInto(middle);
      const { bytes: rest } = await drain(reader);
      expect(sha256(Buffer.concat([head, middle, rest]))).toBe(oracle[name]);
    }
  });

  it('chunks respect chunkSize for stored and deflated members', async () => {
    const stored = await drain(await member(archive, 'stored.bin'), 1_000_000);
    expect(Math.max(...stored.sizes)).toBe(1_000_000);
    const inflated = await drain(await member(archive, 'deflated.bin'), 300_000);
    expect(Math.max(...inflated.sizes)).toBeLessThanOrEqual(300_000);
    expect(sha256(inflated.bytes)).toBe(oracle['deflated.bin']);
  });

  it('stored members are read with large positional reads straight into the destination', async () => {
    const intoBuffers = new Set<ArrayBufferLike>();
    const counting = countingSource(archive);
    const spying: RandomAccessSource = {
      size: counting.source.size,
      read(offset, length, into) {
        if (into !== undefined) intoBuffers.add(into.buffer);
        return counting.source.read(offset, length, into);
      },
      close: counting.source.close,
    };
    const reader = await member(spying, 'stored.bin');
    const dest = new Uint8Array(reader.remaining);
    const readsBefore = counting.stats.reads;
    await reader.readInto(dest);
    expect(sha256(dest)).toBe(oracle['stored.bin']);
    expect([...intoBuffers]).toEqual([dest.buffer]);
    expect(counting.stats.maxRead).toBe(4 * MiB);
    expect(counting.stats.reads - readsBefore).toBe(Math.ceil(dest.length / (4 * MiB)));
  });

  it('a flipped data byte: ERR_ZIP_CRC_MISMATCH before the last chunk, and never with verifyCrc: false', async () => {
    const bytes = archive.slice();
    const stored = record(zipLayout(bytes), 'stored.bin');
    bytes[localDataStart(bytes, stored) + 5_000_000]! ^= 0x01;
    const sizes: number[] = [];
    const error = await rejectionOf(async () => {
      for await (const chunk of (await member(bytes, 'stored.bin')).chunks(MiB)) sizes.push(chunk.length);
    });
    expect(isNpzError(error, 'ERR_ZIP_CRC_MISMATCH')).toBe(true);
    // Every chunk but the final one was handed out; the final one was withheld.
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(stored.uncompressedSize);
    await expectCode(async () => (await member(bytes, 'stored.bin')).readInto(new Uint8Array(stored.uncompressedSize)), 'ERR_ZIP_CRC_MISMATCH');
    const unchecked = await drain(await member(bytes, 'stored.bin', { verifyCrc: false }));
    expect(unchecked.bytes.length).toBe(stored.uncompressedSize);
    expect(sha256(unchecked.bytes)).not.toBe(oracle['stored.bin']);
  });

  it('a wrong CRC for a deflated member: ERR_ZIP_CRC_MISMATCH; damaged deflate data: inflate or CRC error', async () => {
    const wrongCrc = archive.slice();
    const deflated = record(zipLayout(wrongCrc), 'deflated.bin');
    setU32(wrongCrc, deflated.at + 16, deflated.crc ^ 0x80);
    await expectCode(async () => drain(await member(wrongCrc, 'deflated.bin')), 'ERR_ZIP_CRC_MISMATCH');

    const damaged = archive.slice();
    damaged[localDataStart(damaged, deflated) + 1000]! ^= 0xff;
    await expectCode(async () => drain(await member(damaged, 'deflated.bin')), 'ERR_ZIP_CRC_MISMATCH', 'ERR_ZIP_INFLATE');
  });

  it('a deflated member that inflates past its declared size: ERR_ZIP_BOMB', async () => {
    const bytes = archive.slice();
    const zeros = record(zipLayout(bytes), 'zeros.bin');
    setU32(bytes, zeros.at + 24, MiB);
    let handedOut = 0;
    await expectCode(async () => {
      for await (const chunk of (await member(bytes, 'zeros.bin')).chunks()) handedOut += chunk.length;
    }, 'ERR_ZIP_BOMB');
    expect(handedOut).toBeLessThanOrEqual(MiB);
    await expectCode(async () => (await member(bytes, 'zeros.bin')).readInto(new Uint8Array(MiB)), 'ERR_ZIP_BOMB');
  });

  it('a deflated member that inflates to less than declared: ERR_ZIP_SIZE_MISMATCH', async () => {
    const bytes = archive.slice();
    const zeros = record(zipLayout(bytes), 'zeros.bin');
    setU32(bytes, zeros.at + 24, zeros.uncompressedSize + 10);
    await expectCode(async () => drain(await member(bytes, 'zeros.bin')), 'ERR_ZIP_SIZE_MISMATCH');
  });

  it('deflate data cut short by its declared compressed size: ERR_ZIP_INFLATE', async () => {
    const bytes = archive.slice();
    const deflated = record(zipLayout(bytes), 'deflated.bin');
    setU32(bytes, deflated.at + 20, deflated.compressedSize - 500);
    await expectCode(async () => drain(await member(bytes, 'deflated.bin')), 'ERR_ZIP_INFLATE');
  });

  it('a source that ends inside member data: ERR_ZIP_TRUNCATED for stored and deflated members', async () => {
    for (const name of ['stored.bin', 'deflated.bin']) {
      const counting = countingSource(archive);
      const reader = await member(counting.source, name);
      counting.cut(localDataStart(archive, record(zipLayout(archive), name)) + 2 * MiB);
      await expectCode(() => drain(reader), 'ERR_ZIP_TRUNCATED');
    }
  });

  it('leaving chunks() early closes the reader, including a running inflater', async () => {
    for (const name of ['stored.bin', 'deflated.bin']) {
      const { bytes: whole } = await drain(await member(archive, name));
      expect(sha256(whole)).toBe(oracle[name]);
      const reader = await member(archive, name);
      const taken: Uint8Array[] = [];
      for await (const chunk of reader.chunks()) {
        taken.push(chunk.slice());
        if (taken.length === 2) break;
      }
      expect(taken, `${name}: the loop ran to the break`).toHaveLength(2);
      const prefix = Buffer.concat(taken);
      expect(prefix.length).toBeGreaterThan(0);
      expect(prefix.equals(whole.subarray(0, prefix.length)), `${name}: the chunks before the break are the member's first bytes`).toBe(true);
      await expectCode(() => reader.read(10), 'ERR_NPZ_CLOSED');
    }
  });
});

describe('yazl-written archives (data descriptors)', () => {
  async function yazlArchive(): Promise<{ bytes: Uint8Array; contents: Map<string, Uint8Array> }> {
    const contents = new Map<string, Uint8Array>([
      ['buffer-stored.npy', Uint8Array.from({ length: 70_000 }, (_, i) => (i * 13) & 0xff)],
      ['stream-stored.npy', Uint8Array.from({ length: 3 * MiB + 5 }, (_, i) => (i * 7 + (i >> 12)) & 0xff)],
      ['stream-deflated.npy', new Uint8Array(2 * MiB).fill(42)],
      ['ünïcode/名.npy', Uint8Array.of(1, 2, 3)],
    ]);
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(contents.get('buffer-stored.npy')!), 'buffer-stored.npy', { compress: false });
    zip.addReadStream(Readable.from([Buffer.from(contents.get('stream-stored.npy')!)]), 'stream-stored.npy', { compress: false });
    zip.addReadStream(Readable.from([Buffer.from(contents.get('stream-deflated.npy')!)]), 'stream-deflated.npy', { compress: true });
    zip.addReadStream(Readable.from([Buffer.from(contents.get('ünïcode/名.npy')!)]), 'ünïcode/名.npy');
    zip.end();
    const parts: Buffer[] = [];
    for await (const part of zip.outputStream) parts.push(part as Buffer);
    return { bytes: Buffer.concat(parts), contents };
  }

  it('reads every member, stored or deflated, with flag bit 3 set', async () => {
    const { bytes, contents } = await yazlArchive();
    const archive = await ZipArchive.open(bufferSource(bytes), nodeCodecs);
    expect(archive.entries.map((e) => e.name)).toEqual([...contents.keys()]);
    expect(archive.entries.filter((e) => (e.flags & 0x8) !== 0).map((e) => e.name)).toEqual([...contents.keys()].slice(1));
    for (const entry of archive.entries) {
      const reader = await MemberReader.open(archive, entry);
      const out = new Uint8Array(entry.uncompressedSize);
      await reader.readInto(out);
      expect(sha256(out)).toBe(sha256(contents.get(entry.name)!));
    }
  });
});
