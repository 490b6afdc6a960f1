import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { nodeCodecs as codecs } from '../../src/node/codecs.js';
import {
  decodeEndOfCentralDirectory,
  decodeZip64EndOfCentralDirectory,
  plannedArchiveLength,
} from '../../src/zip/format/end-records.js';
import { decodeCentralDirectoryEntry, encodeEntryName } from '../../src/zip/format/records.js';
import { WritableSink } from '../../src/node/sinks.js';
import { ZipWriter, type ZipEntryInput } from '../../src/zip/write/writer.js';
import { VIEW_SLICE_BYTES } from '../../src/io/output.js';
import { hasPython, withSkipReason, NO_PYTHON } from '../helpers/python.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { pythonInspect, pythonZip } from '../helpers/python-zip.js';
import { hex, randomBytes } from '../helpers/bytes.js';

const crc32 = (data: Uint8Array): number => codecs.crc32(data, 0);

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.byteLength; i += size) yield data.slice(i, i + size);
}

/** Members with a head (like an npy header) and a body; names cover ASCII, '/', and UTF-8. */
const members = [
  { name: 'a/b.npy', head: randomBytes(64, 1), body: randomBytes(1000, 2) },
  { name: 'ü/名前.npy', head: randomBytes(128, 3), body: randomBytes(3 << 20, 4) },
  { name: 'empty.npy', head: randomBytes(64, 5), body: new Uint8Array(0) },
  { name: 'x', head: new Uint8Array(0), body: randomBytes(17, 6) },
];
const joined = members.map((m) => ({ name: m.name, data: Buffer.concat([m.head, m.body]) }));

async function write(
  sink: MemorySink,
  lazy: boolean,
  options: { compress?: boolean; forceZip64?: boolean } = {},
): Promise<Uint8Array> {
  const writer = new ZipWriter(sink, options.forceZip64 ? { codecs, forceZip64: true } : { codecs });
  for (const m of members) {
    const entry: ZipEntryInput = { name: m.name, head: m.head, data: lazy ? chunked(m.body, 4096) : m.body, size: m.body.byteLength };
    if (options.compress) entry.compress = true;
    await writer.add(entry);
  }
  const summary = await writer.finish();
  const bytes = sink.bytes();
  expect(summary).toEqual({ entries: members.length, bytes: bytes.byteLength });
  return bytes;
}

describe.skipIf(!hasPython())(withSkipReason(!hasPython(), NO_PYTHON, 'ZipWriter against CPython zipfile'), () => {
  it('seekable sink: in-memory and lazy members equal zipfile writing a real file, byte for byte', async () => {
    const expected = hex(pythonZip(joined, { seekable: true }));
    expect(hex(await write(new MemorySink(true), false))).toBe(expected);
    expect(hex(await write(new MemorySink(true), true))).toBe(expected);
  });

  it('non-seekable sink: in-memory members still get the seekable layout (CRC computed first)', async () => {
    expect(hex(await write(new MemorySink(false), false))).toBe(hex(pythonZip(joined, { seekable: true })));
  });

  it('non-seekable sink: lazy members get bit 3 and zip64 descriptors exactly as zipfile writes to a pipe', async () => {
    expect(hex(await write(new MemorySink(false), true))).toBe(hex(pythonZip(joined, { seekable: false })));
  });

  it('the planned archive length matches what is written', async () => {
    for (const [seekable, forceZip64] of [[true, false], [false, false], [false, true]] as const) {
      const bytes = await write(new MemorySink(seekable), true, { forceZip64 });
      const planned = plannedArchiveLength(
        joined.map((m) => ({
          nameLength: encodeEntryName(m.name).bytes.byteLength,
          compressedSize: m.data.byteLength,
          uncompressedSize: m.data.byteLength,
          dataDescriptor: !seekable,
        })),
        forceZip64,
      );
      expect(planned).toBe(bytes.byteLength);
    }
  });

  it('deflated members (seekable and piped) read back in zipfile with matching CRCs and content', async () => {
    for (const seekable of [true, false]) {
      for (const lazy of [true, false]) {
        const bytes = await write(new MemorySink(seekable), lazy, { compress: true });
        const { bad, entries } = pythonInspect(bytes);
        expect(bad).toBeNull();
        expect(entries.map((e) => e.name)).toEqual(joined.map((m) => m.name));
        entries.forEach((e, i) => {
          const data = joined[i]!.data;
          expect(e).toMatchObject({ method: 8, crc: crc32(data), size: data.byteLength });
          expect(e.flags & 8).toBe(seekable ? 0 : 8);
        });
        // The 3 MiB random member does not shrink; the pattern is only to prove real deflate ran.
        expect(entries[1]!.csize).toBeGreaterThan(3 << 20);
      }
    }
  });

  it('forced zip64: zipfile reads every record, the CD carries zip64 extras and the EOCD only sentinels', async () => {
    const bytes = await write(new MemorySink(true), false, { forceZip64: true });
    const { bad, entries } = pythonInspect(bytes);
    expect(bad).toBeNull();
    expect(entries.map((e) => [e.name, e.size])).toEqual(joined.map((m) => [m.name, m.data.byteLength]));
    const eocd = decodeEndOfCentralDirectory(bytes, bytes.byteLength - 22);
    expect(eocd).toMatchObject({ entries: 0xffff, centralDirectorySize: 0xffffffff, centralDirectoryOffset: 0xffffffff });
    const zip64 = decodeZip64EndOfCentralDirectory(bytes, bytes.byteLength - 22 - 20 - 56);
    expect(zip64.entries).toBe(members.length);
    const first = decodeCentralDirectoryEntry(bytes, zip64.centralDirectoryOffset);
    expect(first.extra.byteLength).toBe(28);
    expect(first.localHeaderOffset).toBe(0);
    const second = decodeCentralDirectoryEntry(bytes, zip64.centralDirectoryOffset + first.length);
    expect(second.localHeaderOffset).toBe(30 + 7 + 20 + 64 + 1000);
  });

  it('an empty archive is the bare end record, as np.savez with no arrays writes it', async () => {
    const sink = new MemorySink(true);
    await new ZipWriter(sink, { codecs }).finish();
    expect(hex(sink.bytes())).toBe(hex(pythonZip([], { seekable: true })));
  });
});

/** A Writable that accepts slowly and records what it was given. */
class SlowWritable extends Writable {
  readonly received: Buffer[] = [];
  /** The chunks of each write call. */
  readonly writes: Buffer[][] = [];
  calls = 0;
  maxBuffered = 0;
  constructor(private readonly fail?: Error) {
    super({ highWaterMark: 64 << 10 });
  }
  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.calls += 1;
    this.maxBuffered = Math.max(this.maxBuffered, this.writableLength);
    this.writes.push(chunks.map(({ chunk }) => chunk));
    for (const { chunk } of chunks) this.received.push(chunk);
    setTimeout(() => callback(this.fail && this.received.length > 2 ? this.fail : null), 1);
  }
}

describe('ZipWriter into a Writable', () => {
  it('writes in-memory data as views of the caller buffer, batched, and waits for drain', async () => {
    const stream = new SlowWritable();
    const sink = new WritableSink(stream);
    const writer = new ZipWriter(sink, { codecs });
    const big = randomBytes(40 << 20, 9);
    await writer.add({ name: 'big.npy', data: big });
    for (let i = 0; i < 2000; i++) await writer.add({ name: `s${i}.npy`, data: randomBytes(8, i) });
    await writer.finish();
    await sink.end();
    const views = stream.received.filter((chunk) => chunk.buffer === big.buffer);
    expect(views.reduce((n, v) => n + v.byteLength, 0)).toBe(big.byteLength);
    // The big array in slices of VIEW_SLICE_BYTES; 2000 tiny members and their CD entries in a handful of
    // vectored writes, not thousands.
    expect(Math.max(...views.map((view) => view.byteLength))).toBe(VIEW_SLICE_BYTES);
    const small = stream.writes.filter((chunks) => chunks.every((chunk) => chunk.buffer !== big.buffer));
    expect(small.length).toBeGreaterThan(0);
    expect(small.length).toBeLessThan(40);
    // Backpressure: the writer never ran more than one batch (plus one slice) ahead of the stream.
    expect(stream.maxBuffered).toBeLessThanOrEqual((1 << 20) + VIEW_SLICE_BYTES);
  });

  it('reports a failing destination as ERR_IO and stays failed', async () => {
    const failure = Object.assign(new Error('broken pipe'), { code: 'EPIPE' });
    const stream = new SlowWritable(failure);
    const writer = new ZipWriter(new WritableSink(stream), { codecs });
    const error = await (async () => {
      for (let i = 0; i < 100; i++) await writer.add({ name: `m${i}`, data: randomBytes(1 << 20, i) });
    })().catch((err: unknown) => err);
    expect(isNpzError(error, 'ERR_IO')).toBe(true);
    expect((error as Error).message).toContain('EPIPE');
    expect((error as Error).cause).toBe(failure);
    await expect(writer.add({ name: 'late', data: new Uint8Array(1) })).rejects.toBe(error);
  });
});

describe('ZipWriter input checks', () => {
  const run = async (entry: ZipEntryInput, signal?: AbortSignal): Promise<{ error: unknown; sink: MemorySink }> => {
    const sink = new MemorySink(false);
    const writer = new ZipWriter(sink, signal ? { codecs, signal } : { codecs });
    const error = await writer.add(entry).then(() => writer.finish()).then(() => undefined, (err: unknown) => err);
    return { error, sink };
  };

  it('rejects a source that yields too many bytes before the excess reaches the sink', async () => {
    const data = randomBytes(5000, 1);
    const { error, sink } = await run({ name: 'a', data: chunked(data, 1000), size: 4500 });
    expect(isNpzError(error, 'ERR_SOURCE_LENGTH')).toBe(true);
    expect(error).toMatchObject({ entry: 'a', expected: 4500, actual: 5000 });
    expect(sink.bytes().byteLength).toBeLessThanOrEqual(30 + 1 + 20 + 4000);
  });

  it('rejects a source that yields too few bytes, and an in-memory view of the wrong size', async () => {
    const short = await run({ name: 'a', data: chunked(randomBytes(3000, 1), 1000), size: 4500 });
    expect(isNpzError(short.error, 'ERR_SOURCE_LENGTH')).toBe(true);
    expect(short.error).toMatchObject({ expected: 4500, actual: 3000 });
    const view = await run({ name: 'b', data: new Uint8Array(10), size: 11 });
    expect(isNpzError(view.error, 'ERR_SOURCE_LENGTH')).toBe(true);
    expect(view.sink.bytes().byteLength).toBe(0);
  });

  it('wraps a throwing source as ERR_SOURCE with the cause, and closes the source', async () => {
    const cause = new Error('disk read failed');
    let closed = false;
    async function* failing(): AsyncGenerator<Uint8Array> {
      try {
        yield new Uint8Array(10);
        throw cause;
      } finally {
        closed = true;
      }
    }
    const { error } = await run({ name: 'w', data: failing() });
    expect(isNpzError(error, 'ERR_SOURCE')).toBe(true);
    expect((error as Error).cause).toBe(cause);
    expect(closed).toBe(true);
    const notBytes = await run({ name: 'w', data: [new Uint8Array(2), 'text' as unknown as Uint8Array] });
    expect(isNpzError(notBytes.error, 'ERR_SOURCE')).toBe(true);
  });

  it('closes a source when the writer stops early (a length error)', async () => {
    let closed = false;
    async function* endless(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) yield new Uint8Array(100);
      } finally {
        closed = true;
      }
    }
    const { error } = await run({ name: 'e', data: endless(), size: 250 });
    expect(isNpzError(error, 'ERR_SOURCE_LENGTH')).toBe(true);
    expect(closed).toBe(true);
  });

  it('closes a source when the destination fails mid-deflate', async () => {
    let closed = false;
    async function* big(): AsyncGenerator<Uint8Array> {
      try {
        for (let i = 0; i < 1000; i++) yield randomBytes(64 << 10, i);
      } finally {
        closed = true;
      }
    }
    let batches = 0;
    const failing = {
      write: async (): Promise<void> => {
        if (++batches > 2) throw Object.assign(new Error('gone'), { code: 'ECONNRESET' });
      },
    };
    const error = await new ZipWriter(failing, { codecs }).add({ name: 'z', data: big(), compress: true }).catch((err: unknown) => err);
    expect(isNpzError(error, 'ERR_IO')).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(true);
  });

  it('aborts a source that never yields, and a destination that never drains', async () => {
    const controller = new AbortController();
    const never: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) };
    setTimeout(() => controller.abort(new Error('user cancelled')), 20);
    const { error } = await run({ name: 'n', data: never }, controller.signal);
    expect(isNpzError(error, 'ERR_ABORTED')).toBe(true);
    expect(((error as Error).cause as Error).message).toBe('user cancelled');

    const stuck = new Writable({ highWaterMark: 1, write: () => undefined });
    const second = new AbortController();
    const writer = new ZipWriter(new WritableSink(stuck), { codecs, signal: second.signal });
    setTimeout(() => second.abort(), 20);
    await expect(writer.add({ name: 'x', data: randomBytes(2 << 20, 1) })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('rejects names zipfile would mangle and overlapping calls', async () => {
    const { error } = await run({ name: 'a\0b', data: new Uint8Array(1) });
    expect(isNpzError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
    const writer = new ZipWriter(new MemorySink(true), { codecs });
    const first = writer.add({ name: 'a', data: chunked(randomBytes(100, 1), 10) });
    await expect(writer.add({ name: 'b', data: new Uint8Array(1) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await first;
  });
});
