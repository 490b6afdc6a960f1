import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { encodeNpyHeader } from '../../src/npy/header.js';
import { openNpz, readNpz, saveNpzStream, streamNpz } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { encodeEndRecords } from '../../src/zip/format/end-records.js';
import { encodeCentralDirectoryEntry, encodeLocalHeader, FLAG_DATA_DESCRIPTOR, METHOD_STORED } from '../../src/zip/format/records.js';
import { hasNumpy, NO_NUMPY, withSkipReason } from '../helpers/python.js';
import { randomBytes } from '../helpers/bytes.js';
import { describeArray, collect } from '../helpers/streams.js';
import { codeOf } from '../helpers/errors.js';

/** Runs python with numpy; its stdout is a real pipe read by the stream reader while python is still writing. */
function pythonPipe(script: string): Readable {
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return child.stdout;
}

const SAVE_TO_PIPE = (fn: string) => String.raw`
import sys, numpy as np
rng = np.random.default_rng(7)
arrays = {
  'w': rng.standard_normal((64, 33), dtype=np.float32),
  'b/bias': np.arange(-5, 12, dtype='>i8'),
  'empty': np.zeros((0, 3), dtype=np.float16),
  'scalar': np.float64(2.5),
  'f': np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
  'big': np.tile(np.arange(250, dtype=np.uint8), 4000),
  'c': np.array([1+2j, -3j], dtype=np.complex64),
}
np.${fn}(sys.stdout.buffer, **arrays)
sys.stdout.buffer.flush()
`;

describe.runIf(hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'numpy writing to a pipe'), () => {
  for (const fn of ['savez', 'savez_compressed']) {
    it(`np.${fn}(sys.stdout.buffer) read from the live pipe equals the same bytes read as a file`, async () => {
      const chunks: Uint8Array[] = [];
      const child = pythonPipe(SAVE_TO_PIPE(fn));
      const tee = new PassThrough();
      child.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.pipe(tee);
      const fromPipe = new Map(await collect(readNpz(tee)));
      const bytes = Buffer.concat(chunks);
      // numpy to a pipe: every member has flag bit 3 and a zip64 data descriptor.
      const file = await openNpz(bytes);
      try {
        expect(file.entries.length).toBe(7);
      } finally {
        await file.close();
      }
      expect(bytes.readUInt16LE(6) & FLAG_DATA_DESCRIPTOR).toBe(FLAG_DATA_DESCRIPTOR);
      const fromFile = new Map(await collect(readNpz(bytes)));
      expect([...fromPipe.keys()]).toEqual(['w', 'b/bias', 'empty', 'scalar', 'f', 'big', 'c']);
      expect([...fromPipe].map(([k, a]) => [k, describeArray(a)])).toEqual([...fromFile].map(([k, a]) => [k, describeArray(a)]));
      const bias = fromPipe.get('b/bias')!;
      expect(bias.descr).toBe('<i8');
      expect(Array.from(bias.data as BigInt64Array, Number)).toEqual(Array.from({ length: 17 }, (_, i) => i - 5));
      expect(fromPipe.get('f')!.fortranOrder).toBe(true);
      expect(fromPipe.get('big')!.data.length).toBe(1_000_000);
    });
  }
});

function npyBytes(data: Uint8Array, shape: number[], descr = '|u1'): Uint8Array {
  return Buffer.concat([encodeNpyHeader({ descr, shape, fortranOrder: false }), data]);
}

function yazlArchive(add: (zip: yazl.ZipFile) => void): Readable {
  const zip = new yazl.ZipFile();
  add(zip);
  zip.end();
  return zip.outputStream as Readable;
}

describe('yazl archives', () => {
  const a = randomBytes(100_003, 1);
  const b = randomBytes(70_000, 2);
  const variants: Array<[string, (zip: yazl.ZipFile) => void]> = [
    ['buffers, stored and deflated (sizes in the local header)', (zip) => {
      zip.addBuffer(Buffer.from(npyBytes(a, [a.length])), 'a.npy', { compress: false });
      zip.addBuffer(Buffer.from(npyBytes(b, [b.length])), 'b.npy', { compress: true });
    }],
    ['read streams, stored and deflated (bit 3, signed 32-bit descriptors)', (zip) => {
      zip.addReadStream(Readable.from([Buffer.from(npyBytes(a, [a.length]))]), 'a.npy', { compress: false });
      zip.addReadStream(Readable.from([Buffer.from(npyBytes(b, [b.length]))]), 'b.npy', { compress: true });
    }],
    ['read streams forced to zip64 (signed 64-bit descriptors)', (zip) => {
      zip.addReadStream(Readable.from([Buffer.from(npyBytes(a, [a.length]))]), 'a.npy', { compress: false, forceZip64Format: true });
      zip.addReadStream(Readable.from([Buffer.from(npyBytes(b, [b.length]))]), 'b.npy', { compress: true, forceZip64Format: true });
    }],
  ];
  it.each(variants)('%s', async (_, add) => {
    const arrays = new Map(await collect(readNpz(yazlArchive(add))));
    expect([...arrays.keys()]).toEqual(['a', 'b']);
    expect(Buffer.from(arrays.get('a')!.data as Uint8Array).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(arrays.get('b')!.data as Uint8Array).equals(Buffer.from(b))).toBe(true);
  });

  it('a stored non-npy member with a data descriptor cannot be delimited: ERR_ZIP_STREAM_UNDELIMITED, after the arrays before it', async () => {
    const seen: string[] = [];
    const outcome = await codeOf(async () => {
      for await (const [key] of readNpz(
        yazlArchive((zip) => {
          zip.addBuffer(Buffer.from(npyBytes(a, [a.length])), 'a.npy', { compress: false });
          zip.addReadStream(Readable.from([Buffer.from('some notes')]), 'notes.txt', { compress: false });
          zip.addBuffer(Buffer.from(npyBytes(b, [b.length])), 'b.npy', { compress: false });
        }),
      )) {
        seen.push(key);
      }
    });
    expect(seen).toEqual(['a']);
    expect(outcome).toBe('ERR_ZIP_STREAM_UNDELIMITED');
  });

  it('a deflated non-npy member with a data descriptor is skipped (its deflate stream ends by itself)', async () => {
    const arrays = new Map(await collect(readNpz(
      yazlArchive((zip) => {
        zip.addReadStream(Readable.from([Buffer.from('some notes '.repeat(100))]), 'notes.txt', { compress: true });
        zip.addReadStream(Readable.from([Buffer.from(npyBytes(b, [b.length]))]), 'b.npy', { compress: false });
      }),
    )));
    expect([...arrays.keys()]).toEqual(['b']);
  });
});

/** A one-member zip with a stored bit-3 member and the data descriptor in the given layout. */
function descriptorArchive(layout: { signature: boolean; zip64: boolean }, member: Uint8Array): Uint8Array {
  const name = Buffer.from('x.npy');
  const crc = nodeCodecs.crc32(member, 0);
  const local = encodeLocalHeader({ name, flags: FLAG_DATA_DESCRIPTOR, method: METHOD_STORED, crc32: 0, compressedSize: 0, uncompressedSize: 0 });
  const descriptor = Buffer.alloc((layout.signature ? 4 : 0) + (layout.zip64 ? 20 : 12));
  let at = 0;
  if (layout.signature) at = descriptor.writeUInt32LE(0x08074b50, 0);
  at = descriptor.writeUInt32LE(crc, at);
  for (let i = 0; i < 2; i++) {
    if (layout.zip64) at = descriptor.writeBigUInt64LE(BigInt(member.length), at);
    else at = descriptor.writeUInt32LE(member.length, at);
  }
  const central = encodeCentralDirectoryEntry({ name, flags: FLAG_DATA_DESCRIPTOR, method: METHOD_STORED, crc32: crc, compressedSize: member.length, uncompressedSize: member.length, localHeaderOffset: 0 });
  const cdOffset = local.length + member.length + descriptor.length;
  return Buffer.concat([local, member, descriptor, central, encodeEndRecords({ entries: 1, centralDirectoryOffset: cdOffset, centralDirectorySize: central.length })]);
}

describe('data descriptor layouts', () => {
  const data = randomBytes(1000, 3);
  const member = npyBytes(data, [1000]);
  for (const signature of [true, false]) {
    for (const zip64 of [true, false]) {
      it(`${signature ? 'with' : 'without'} signature, ${zip64 ? '8' : '4'}-byte sizes: read exactly, file and stream alike`, async () => {
        const bytes = descriptorArchive({ signature, zip64 }, member);
        const fromFile = new Map(await collect(readNpz(bytes)));
        const fromStream = new Map(await collect(readNpz(Readable.from([bytes.subarray(0, 77), bytes.subarray(77)]))));
        expect(Buffer.from(fromStream.get('x')!.data as Uint8Array).equals(Buffer.from(data))).toBe(true);
        expect(describeArray(fromStream.get('x')!)).toBe(describeArray(fromFile.get('x')!));
      });
    }
  }

  it('a descriptor whose CRC disagrees with the data: ERR_ZIP_CRC_MISMATCH, no array', async () => {
    const bytes = Buffer.from(descriptorArchive({ signature: true, zip64: true }, member));
    bytes[bytes.indexOf(Buffer.from([0x50, 0x4b, 0x07, 0x08])) + 4] ^= 1;
    const got: string[] = [];
    const outcome = await codeOf(async () => {
      for await (const [key] of readNpz(Readable.from([bytes]))) got.push(key);
    });
    expect(outcome).toBe('ERR_ZIP_CRC_MISMATCH');
    expect(got).toEqual([]);
  });
});

describe("the project's own pipe output", () => {
  it('saveNpzStream into a pipe, read by streamNpz while it is written: every array exactly, lazy and in-memory leaves', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 5, 9);
    const lazy: LazyArray = {
      dtype: 'uint8',
      shape: [big.length],
      async *chunks() {
        for (let at = 0; at < big.length; at += 100_000) yield big.slice(at, at + 100_000);
      },
    };
    const small = Float32Array.from({ length: 999 }, (_, i) => i / 7);
    for (const compress of [false, true]) {
      const pipe = new PassThrough({ highWaterMark: 16 * 1024 });
      const writing = saveNpzStream(new Map<string, unknown>([['lazy', lazy], ['small', small]]) as never, pipe, { compress });
      const seen: Array<[string, string]> = [];
      for await (const entry of streamNpz(pipe)) {
        expect(entry.isArray).toBe(true);
        if (!entry.isArray) continue;
        const parts: Uint8Array[] = [];
        for await (const chunk of entry.chunks({ chunkSize: 65536 })) parts.push(chunk);
        seen.push([entry.name, Buffer.concat(parts).toString('base64')]);
      }
      await writing;
      expect(seen).toEqual([
        ['lazy', Buffer.from(big).toString('base64')],
        ['small', Buffer.from(small.buffer).toString('base64')],
      ]);
    }
  });
});
