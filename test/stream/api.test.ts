import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NpzError } from '../../src/errors.js';
import { loadNpz, openNpz, readNpz, saveNpzStream, streamNpz } from '../../src/index.js';
import { GOOD_DIR } from '../helpers/fixtures.js';
import { localDataStart, zipLayout } from '../helpers/zip-layout.js';
import { pythonArchive } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';
import { describeArray, streamOf, unevenChunks } from '../helpers/streams.js';
import { codeOf } from '../helpers/errors.js';

const fixture = (name: string): Buffer => readFileSync(join(GOOD_DIR, name));

async function keysUntilError(input: Parameters<typeof readNpz>[0]): Promise<{ keys: string[]; outcome: string }> {
  const keys: string[] = [];
  const outcome = await codeOf(async () => {
    for await (const [key] of readNpz(input)) keys.push(key);
  });
  return { keys, outcome };
}

describe('inputs', () => {
  it('openNpz refuses a stream with ERR_INVALID_ARGUMENT that points to readNpz', async () => {
    const error = await openNpz(Readable.from([fixture('pipe.npz')]) as never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NpzError);
    expect((error as NpzError).code).toBe('ERR_INVALID_ARGUMENT');
    expect((error as NpzError).message).toMatch(/readNpz/);
  });

  it('loadNpz takes a stream too', async () => {
    const tree = await loadNpz(streamOf(fixture('paligemma-tiny.npz'), 'web'));
    const fromFile = await loadNpz(join(GOOD_DIR, 'paligemma-tiny.npz'));
    expect(JSON.stringify(tree, (_, v) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : v))).toBe(
      JSON.stringify(fromFile, (_, v) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : v)),
    );
  });

  it('a stream of strings is refused with ERR_INVALID_ARGUMENT', async () => {
    expect(await codeOf(() => readNpz(Readable.from(['PK\u0003\u0004'])).next())).toBe('ERR_INVALID_ARGUMENT');
  });

  it('a failing input stream is ERR_IO', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield fixture('pipe.npz').subarray(0, 100);
      throw new Error('connection reset');
    }
    expect(await codeOf(() => readNpz(failing()).next())).toBe('ERR_IO');
  });

  it('leaving the loop early stops reading the input (a Node stream is destroyed)', async () => {
    const readable = Readable.from(unevenChunks(fixture('paligemma-tiny.npz')), { objectMode: false });
    for await (const _ of readNpz(readable)) break;
    expect(readable.destroyed).toBe(true);
  });
});

describe('the lazy form', () => {
  it('chunks() of every array equals the file reader, big-endian and odd chunk sizes included', async () => {
    const name = 'all-dtypes.npz';
    const file = await openNpz(join(GOOD_DIR, name));
    try {
      let count = 0;
      for await (const entry of streamNpz(streamOf(fixture(name), 'iterable'), { chunkSize: 5 })) {
        if (!entry.isArray) continue;
        const parts: Uint8Array[] = [];
        const elements = entry.shape.reduce((a, b) => a * b, 1);
        const itemsize = elements > 0 ? entry.byteLength / elements : 1;
        for await (const chunk of entry.chunks()) {
          // Whole items, each chunk in a buffer of its own: viewable as the array's type.
          expect(chunk.length % itemsize).toBe(0);
          expect(chunk.length).toBeLessThanOrEqual(Math.max(5 - (5 % itemsize), itemsize));
          expect(chunk.byteOffset).toBe(0);
          parts.push(chunk.slice());
        }
        const expected = await file.get(entry.name);
        expect(Buffer.concat(parts).equals(Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength))).toBe(true);
        expect([entry.dtype, entry.descr, entry.shape, entry.fortranOrder]).toEqual([expected.dtype, expected.descr, expected.shape, expected.fortranOrder]);
        count += 1;
      }
      expect(count).toBe(file.entries.filter((entry) => entry.isArray).length);
    } finally {
      await file.close();
    }
  });

  it('entries not read are skipped, still verified: a corrupt skipped member fails the loop', async () => {
    const bytes = Buffer.from(fixture('pipe.npz'));
    const keys: string[] = [];
    for await (const entry of streamNpz(streamOf(bytes, 'node'))) keys.push(entry.name);
    expect(keys.length).toBeGreaterThan(1);
    // Flip the last data byte of the first member: skipping it must still check its CRC.
    const first = zipLayout(bytes).records[0]!;
    const second = zipLayout(bytes).records[1]!;
    bytes[second.localHeaderOffset - 25] ^= 0x40;
    const seen: string[] = [];
    const outcome = await codeOf(async () => {
      for await (const entry of streamNpz(streamOf(bytes, 'node'))) seen.push(entry.name);
    });
    expect(first.localHeaderOffset).toBe(0);
    expect(outcome).toBe('ERR_ZIP_CRC_MISMATCH');
    expect(seen).toEqual(keys.slice(0, 1));
  });

  it('chunks() and read() work once, and only before the next entry', async () => {
    const entries = streamNpz(streamOf(fixture('paligemma-tiny.npz'), 'iterable'));
    const first = (await entries.next()).value!;
    if (!first.isArray) throw new Error('expected an array');
    const array = await first.read();
    expect(array.data.byteLength).toBe(first.byteLength);
    expect(await codeOf(() => first.read())).toBe('ERR_NPZ_CLOSED');
    const second = (await entries.next()).value!;
    await entries.next();
    expect(await codeOf(async () => {
      for await (const _ of second.chunks());
    })).toBe('ERR_NPZ_CLOSED');
    await entries.return(undefined);
  });

  it('stops with ERR_ABORTED when the signal fires', async () => {
    const controller = new AbortController();
    const outcome = await codeOf(async () => {
      for await (const _ of streamNpz(streamOf(fixture('paligemma-tiny.npz'), 'node'), { signal: controller.signal })) controller.abort();
    });
    expect(outcome).toBe('ERR_ABORTED');
  });
});

describe('where a deflate stream ends', () => {
  // The inflater is fed whole input chunks; what it did not consume goes back to the reader. One-byte chunks and
  // splits at every position around the end of each member's deflate data cover "ended exactly at a chunk
  // boundary" (the rest of the stream is in the next chunk) and "ended inside a chunk" (the tail is put back).
  for (const name of ['pipe-compressed.npz', 'compressed.npz', 'deflate-and-stored.npz']) {
    it(`${name}: the same arrays from one-byte chunks and from every split around each deflate end`, async () => {
      const bytes = fixture(name);
      const expected = (await keysUntilError(bytes)).keys;
      const reference: string[] = [];
      for await (const [k, v] of readNpz(bytes)) reference.push(k + describeArray(v));
      async function* oneByte(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < bytes.length; at++) yield bytes.subarray(at, at + 1);
      }
      const fromBytes: string[] = [];
      for await (const [k, v] of readNpz(oneByte())) fromBytes.push(k + describeArray(v));
      expect(fromBytes).toEqual(reference);
      const ends = zipLayout(bytes).records.filter((r) => r.method === 8).map((r) => localDataStart(bytes, r) + r.compressedSize);
      expect(ends.length).toBeGreaterThan(0);
      for (const end of ends) {
        for (let split = end - 3; split <= end + 5; split++) {
          const got: string[] = [];
          for await (const [k, v] of readNpz(Readable.from([bytes.subarray(0, split), bytes.subarray(split)]))) got.push(k + describeArray(v));
          expect(got, `split at ${split}`).toEqual(reference);
        }
      }
      expect(expected.length).toBe(reference.length);
    });
  }
});

describe('the central directory, checked at the end', () => {
  it('a CRC changed only in the directory: every array is yielded (each verified by its own header), then ERR_ZIP_CRC_MISMATCH', async () => {
    const bytes = Buffer.from(fixture('compressed.npz'));
    const layout = zipLayout(bytes);
    const last = layout.records.at(-1)!;
    bytes.writeUInt32LE((last.crc ^ 1) >>> 0, last.at + 16);
    const { keys, outcome } = await keysUntilError(streamOf(bytes, 'iterable'));
    expect(keys.length).toBe(layout.records.length);
    expect(outcome).toBe('ERR_ZIP_CRC_MISMATCH');
  });

  it('a member the directory does not list: ERR_ZIP_CENTRAL_DIRECTORY after the arrays', async () => {
    const bytes = Buffer.from(fixture('compressed.npz'));
    const layout = zipLayout(bytes);
    const last = layout.records.at(-1)!;
    // Drop the last directory entry and fix the end record, so only the cross-check can notice.
    const cdEnd = layout.cdOffset + layout.cdSize;
    const trimmed = Buffer.concat([bytes.subarray(0, last.at), bytes.subarray(cdEnd)]);
    const eocd = trimmed.length - 22;
    trimmed.writeUInt16LE(layout.records.length - 1, eocd + 8);
    trimmed.writeUInt16LE(layout.records.length - 1, eocd + 10);
    trimmed.writeUInt32LE(layout.cdSize - (cdEnd - last.at), eocd + 12);
    expect((await keysUntilError(trimmed)).outcome).toBe('resolved');
    const { keys, outcome } = await keysUntilError(streamOf(trimmed, 'node'));
    expect(keys.length).toBe(layout.records.length);
    expect(outcome).toBe('ERR_ZIP_CENTRAL_DIRECTORY');
  });

  it('a renamed local header: the array comes out under the local name, and the end check refuses the archive', async () => {
    const bytes = Buffer.from(fixture('pipe.npz'));
    const first = zipLayout(bytes).records[0]!;
    bytes[first.localHeaderOffset + 30] ^= 0x20;
    const { keys, outcome } = await keysUntilError(streamOf(bytes, 'web'));
    expect(keys[0]).not.toBe(first.name.replace(/\.npy$/, ''));
    expect(outcome).toBe('ERR_ZIP_NAME_MISMATCH');
  });

  it('bytes after the end record: ERR_ZIP_EOCD', async () => {
    const bytes = Buffer.concat([fixture('pipe.npz'), Buffer.from('trailing')]);
    expect((await keysUntilError(streamOf(bytes, 'iterable'))).outcome).toBe('ERR_ZIP_EOCD');
  });

  it('the same bytes as a file and as a stream give the same arrays (describeArray)', async () => {
    const bytes = fixture('deflate-and-stored.npz');
    const a: string[] = [];
    const b: string[] = [];
    for await (const [k, v] of readNpz(bytes)) a.push(k + describeArray(v));
    for await (const [k, v] of readNpz(streamOf(bytes, 'web'))) b.push(k + describeArray(v));
    expect(b).toEqual(a);
  });
});

describe('an abort while the producer is slow or stalls', () => {
  async function bigArchive(): Promise<Uint8Array> {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (part: Buffer) => parts.push(part));
    await saveNpzStream({ big: new Float32Array(4 << 20).map((_, i) => i) }, out);
    return new Uint8Array(Buffer.concat(parts));
  }

  /** The outcome of `work`, or 'hung' when it has not settled within a generous deadline (a hang guard only). */
  function settled(work: Promise<unknown>): Promise<string> {
    const outcome = codeOf(() => work);
    return Promise.race([outcome, new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref())]);
  }

  it('rejects at once with ERR_ABORTED while a read waits on a stalled producer, and stops the producer', async () => {
    const bytes = await bigArchive();
    const first = bytes.subarray(0, 1 << 20);
    const stopped: Record<string, () => boolean> = {};
    const producers: Record<string, () => AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>> = {
      node: () => {
        const readable = new PassThrough();
        readable.write(first);
        stopped['node'] = () => readable.destroyed;
        return readable;
      },
      web: () => {
        let cancelled = false;
        stopped['web'] = () => cancelled;
        return new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(first);
          },
          cancel() {
            cancelled = true;
          },
        });
      },
      // A plain async generator cannot be stopped while it waits in its own body; the read must not wait for it.
      iterable: () => (async function* () {
          yield first;
          await new Promise(() => undefined);
        })(),
    };
    for (const [kind, make] of Object.entries(producers)) {
      const controller = new AbortController();
      let received = 0;
      const work = (async () => {
        for await (const entry of streamNpz(make(), { signal: controller.signal })) {
          if (!entry.isArray) continue;
          for await (const chunk of entry.chunks({ chunkSize: 64 * 1024 })) {
            received += chunk.length;
            // Everything the producer gave is consumed; the next read waits on it.
            if (received >= (1 << 20) - 64 * 1024) setTimeout(() => controller.abort(), 20);
          }
        }
      })();
      expect(await settled(work), kind).toBe('ERR_ABORTED');
      if (kind !== 'iterable') expect(stopped[kind]?.(), `${kind} producer stopped`).toBe(true);
    }
  });

  it('read() of a large array stops at the next chunk, not at the end of the array', async () => {
    const bytes = await bigArchive();
    const controller = new AbortController();
    let pulled = 0;
    const pieces = Math.ceil(bytes.length / 65536);
    async function* slow(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 65536) {
        pulled++;
        if (pulled === 20) controller.abort();
        await new Promise((resolve) => setImmediate(resolve));
        yield bytes.subarray(at, at + 65536);
      }
    }
    expect(await settled((async () => {
      for await (const _ of readNpz(slow(), { signal: controller.signal }));
    })())).toBe('ERR_ABORTED');
    expect(pulled).toBeLessThan(25);
    expect(pieces).toBeGreaterThan(200);
  });
});

describe('members whose local header or end records lie', () => {
  /** zipfile's own writer (sizes in the local header, no descriptor, no zip64 extras): a deflated 1 MiB of zeros, then an array. */
  function zipfileArchive(): Buffer {
    const dir = makeTempDir('stream-lies');
    try {
      return Buffer.from(
        pythonArchive(
          dir.file('lies.zip'),
          "buf = io.BytesIO()\nnp.save(buf, np.arange(3))\nwith zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as zf:\n    zf.writestr('notes.bin', bytes(1 << 20))\n    zf.writestr('x.npy', buf.getvalue())",
        ),
      );
    } finally {
      dir.remove();
    }
  }
  const streamed = (bytes: Uint8Array) => keysUntilError(streamOf(bytes, 'iterable'));

  it('a skipped member that inflates past the size its local header states: ERR_ZIP_BOMB, not a full inflation', async () => {
    const bytes = zipfileArchive();
    const notes = zipLayout(bytes).records[0]!;
    bytes.writeUInt32LE(1000, notes.localHeaderOffset + 22);
    expect((await streamed(bytes)).outcome).toBe('ERR_ZIP_BOMB');
  });

  it('a deflate stream shorter than the compressed size its local header states: ERR_ZIP_SIZE_MISMATCH', async () => {
    const bytes = zipfileArchive();
    expect((await streamed(bytes)).outcome).toBe('resolved');
    const notes = zipLayout(bytes).records[0]!;
    bytes.writeUInt32LE(notes.compressedSize + 1, notes.localHeaderOffset + 18);
    expect((await streamed(bytes)).outcome).toBe('ERR_ZIP_SIZE_MISMATCH');
  });

  it('a deflate stream longer than the compressed size its local header states is not read past that size: ERR_ZIP_INFLATE', async () => {
    const bytes = zipfileArchive();
    const notes = zipLayout(bytes).records[0]!;
    bytes.writeUInt32LE(notes.compressedSize - 1, notes.localHeaderOffset + 18);
    expect((await streamed(bytes)).outcome).toBe('ERR_ZIP_INFLATE');
  });

  it('a stream that ends inside a deflate stream: ERR_ZIP_TRUNCATED, wherever it is cut', async () => {
    const bytes = zipfileArchive();
    const notes = zipLayout(bytes).records[0]!;
    const dataStart = localDataStart(bytes, notes);
    for (const cut of [dataStart + 1, dataStart + (notes.compressedSize >> 1), dataStart + notes.compressedSize - 1]) {
      expect((await streamed(bytes.subarray(0, cut))).outcome, `cut at ${cut}`).toBe('ERR_ZIP_TRUNCATED');
    }
  });

  it('a 0xFFFFFFFF size in the directory without a zip64 extra: ERR_ZIP_ZIP64', async () => {
    const bytes = zipfileArchive();
    const notes = zipLayout(bytes).records[0]!;
    bytes.writeUInt32LE(0xffffffff, notes.at + 20);
    expect((await streamed(bytes)).outcome).toBe('ERR_ZIP_ZIP64');
  });

  it('a zip64 end record claiming fewer bytes than its fixed fields: ERR_ZIP_ZIP64', async () => {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (part: Buffer) => parts.push(part));
    await saveNpzStream({ a: Float32Array.of(1, 2) }, out, { forceZip64: true });
    const bytes = Buffer.concat(parts);
    const record = bytes.length - 22 - 20 - 56;
    expect(bytes.readUInt32LE(record)).toBe(0x06064b50);
    expect((await streamed(bytes)).outcome).toBe('resolved');
    bytes.writeBigUInt64LE(10n, record + 4);
    expect((await streamed(bytes)).outcome).toBe('ERR_ZIP_ZIP64');
  });

  it('end records that misstate the directory: a zip64 locator pointing elsewhere, a wrong directory size', async () => {
    const out = new PassThrough();
    const parts: Buffer[] = [];
    out.on('data', (part: Buffer) => parts.push(part));
    await saveNpzStream({ a: Float32Array.of(1, 2) }, out, { forceZip64: true });
    const zip64 = Buffer.concat(parts);
    const locator = zip64.length - 22 - 20;
    expect(zip64.readUInt32LE(locator)).toBe(0x07064b50);
    zip64.writeBigUInt64LE(zip64.readBigUInt64LE(locator + 8) - 1n, locator + 8);
    expect((await streamed(zip64)).outcome).toBe('ERR_ZIP_ZIP64');

    const plain = zipfileArchive();
    const eocd = plain.length - 22;
    plain.writeUInt32LE(plain.readUInt32LE(eocd + 12) + 1, eocd + 12);
    expect((await streamed(plain)).outcome).toBe('ERR_ZIP_CENTRAL_DIRECTORY');
  });

  it('a directory that names another compression method than the local header: ERR_ZIP_CENTRAL_DIRECTORY', async () => {
    const bytes = zipfileArchive();
    const notes = zipLayout(bytes).records[0]!;
    expect(notes.method).toBe(8);
    // Deflated to stored in the directory: its two sizes now disagree, which both readers refuse first.
    bytes.writeUInt16LE(0, notes.at + 10);
    expect((await streamed(bytes)).outcome).toBe('ERR_ZIP_SIZE_MISMATCH');
    expect(await codeOf(() => openNpz(bytes))).toBe('ERR_ZIP_SIZE_MISMATCH');
    // Stored to deflated in the directory, sizes still equal: only the stream compares the method with the local header.
    const stored = Buffer.from(fixture('pipe.npz'));
    const array = zipLayout(stored).records[0]!;
    expect(array.method).toBe(0);
    stored.writeUInt16LE(8, array.at + 10);
    expect((await streamed(stored)).outcome).toBe('ERR_ZIP_CENTRAL_DIRECTORY');
  });

  it('a zip64-sized descriptor after a local header without zip64 extra: the layout followed by a record wins', async () => {
    // One empty deflated member ('\x03\x00') whose descriptor has 8-byte sizes: read with 4-byte sizes it also
    // repeats CRC 0, size 2, size 0, so only what follows it tells the two layouts apart.
    const name = Buffer.from('notes.txt');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0008, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(name.length, 26);
    const data = Buffer.from([0x03, 0x00]);
    const descriptor = Buffer.alloc(24);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeBigUInt64LE(2n, 8);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0008, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(2, 20);
    central.writeUInt16LE(name.length, 28);
    const directoryOffset = local.length + name.length + data.length + descriptor.length;
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(1, 8);
    end.writeUInt16LE(1, 10);
    end.writeUInt32LE(central.length + name.length, 12);
    end.writeUInt32LE(directoryOffset, 16);
    const bytes = Buffer.concat([local, name, data, descriptor, central, name, end]);
    const names: string[] = [];
    const outcome = await codeOf(async () => {
      for await (const entry of streamNpz(streamOf(bytes, 'iterable'))) names.push(entry.name);
    });
    expect(outcome).toBe('resolved');
    expect(names).toEqual(['notes.txt']);
  });
});
