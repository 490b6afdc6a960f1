/**
 * One benchmark case in a process of its own (spawned by bench/run.ts): setup, warm-up, timed repetitions, then
 * the result as JSON in `args.resultFile`. Uses the built package, exactly what users import.
 */
import { randomFillSync } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { finished } from 'node:stream/promises';
import yauzl from 'yauzl';
import yazl from 'yazl';
import { encodeNpyHeader, loadNpz, openNpz, readNpz, saveNpz, type LazyArray, type NpyArray } from '../../dist/index.js';
// Type-only: bench/run.ts transpiles this file alone and runs it without tsx, whose loader thread would add
// ~40 MB to every peak RSS measured here.
import type { ChildArgs, ChildResult } from '../lib/cases.js';

const POOL_BYTES = 64 << 20;
const LAZY_CHUNK_BYTES = 4 << 20;
const RAW_CHUNK_BYTES = 16 << 20;
const PLAIN_WRITE_BYTES = 1 << 20;
/** Positional reads stay under the 2 GiB a single read(2) call may move. */
const PLAIN_READ_MAX = 1 << 30;

interface Repetition {
  /** Runs the timed work once; resolves with the bytes it wrote or read. */
  run(): Promise<void>;
  /** Untimed work before each repetition (deleting the previous output). */
  before?(): Promise<void>;
  /** Bytes the case moves per repetition (measured after the first repetition for writes). */
  bytes(): Promise<number>;
  cleanup?(): Promise<void>;
  largestArrayBytes?: number;
}

interface ArraySpec {
  name: string;
  dtype: LazyArray['dtype'];
  descr: NonNullable<LazyArray['descr']>;
  shape: number[];
  byteLength: number;
}

function randomPool(bytes: number): Buffer {
  const pool = Buffer.allocUnsafeSlow(bytes);
  // randomFillSync is capped at 2^31-1 bytes per call; the pool is far smaller.
  randomFillSync(pool);
  return pool;
}

/** `byteLength` bytes as views of the pool, cycling through it: the source costs (almost) nothing. */
function* poolChunks(pool: Buffer, byteLength: number): Generator<Buffer> {
  let offset = 0;
  for (let done = 0; done < byteLength; ) {
    const size = Math.min(LAZY_CHUNK_BYTES, byteLength - done, pool.length - offset);
    yield pool.subarray(offset, offset + size);
    done += size;
    offset = (offset + size) % pool.length;
  }
}

async function fixtureSpecs(fixture: string): Promise<ArraySpec[]> {
  const npz = await openNpz(fixture);
  try {
    return npz.entries.flatMap((entry) =>
      entry.isArray ? [{ name: entry.name, dtype: entry.dtype, descr: entry.descr, shape: entry.shape, byteLength: entry.byteLength }] : [],
    );
  } finally {
    await npz.close();
  }
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function writeCase(out: string, run: () => Promise<void>): Repetition {
  return {
    run,
    before: () => rm(out, { force: true }),
    bytes: () => fileSize(out),
    cleanup: () => rm(out, { force: true }),
  };
}

/** `options` undefined: saveNpz's defaults (fsync on), the like-for-like peer of np.savez + os.fsync. */
async function saveMemory(args: ChildArgs, out: string, defaults = false): Promise<Repetition> {
  const pairs: [string, NpyArray][] = [];
  let largest = 0;
  for await (const pair of readNpz(args.fixture)) {
    pairs.push(pair);
    largest = Math.max(largest, pair[1].data.byteLength);
  }
  // values() is an iterator, not an Array, so saveNpz takes it as flat [name, leaf] pairs in this order.
  const rep = writeCase(out, async () => void (await (defaults ? saveNpz(out, pairs.values()) : saveNpz(out, pairs.values(), { fsync: args.fsync }))));
  rep.largestArrayBytes = largest;
  return rep;
}

async function saveLazy(args: ChildArgs, out: string): Promise<Repetition> {
  const specs = await fixtureSpecs(args.fixture);
  const pool = randomPool(POOL_BYTES);
  const leaves = (): Iterable<[string, LazyArray]> =>
    specs
      .map((spec): [string, LazyArray] => [
        spec.name,
        {
          dtype: spec.dtype,
          descr: spec.descr,
          shape: spec.shape,
          async *chunks() {
            yield* poolChunks(pool, spec.byteLength);
          },
        },
      ])
      .values();
  return writeCase(out, async () => void (await saveNpz(out, leaves(), { fsync: args.fsync })));
}

async function stockYazl(args: ChildArgs, out: string): Promise<Repetition> {
  const specs = await fixtureSpecs(args.fixture);
  const pool = randomPool(POOL_BYTES);
  return writeCase(out, async () => {
    const zip = new yazl.ZipFile();
    const failed = new Promise<never>((_, reject) => zip.on('error', reject));
    for (const spec of specs) {
      const header = Buffer.from(encodeNpyHeader({ descr: spec.descr, shape: spec.shape }));
      zip.addReadStreamLazy(`${spec.name}.npy`, { compress: false, size: header.length + spec.byteLength }, (callback) => {
        callback(null, Readable.from([header, ...poolChunks(pool, spec.byteLength)]));
      });
    }
    const sink = createWriteStream(out);
    zip.outputStream.pipe(sink);
    zip.end();
    await Promise.race([finished(sink), failed]);
    if (args.fsync) await fsyncPath(out);
  });
}

async function rawWrite(args: ChildArgs, out: string, withCrc: boolean): Promise<Repetition> {
  const total = await fileSize(args.fixture);
  const pool = randomPool(RAW_CHUNK_BYTES);
  return writeCase(out, async () => {
    const handle = await open(out, 'w');
    let crc = 0;
    try {
      for (let done = 0; done < total; ) {
        const length = Math.min(pool.length, total - done);
        const writing = handle.write(pool, 0, length, done);
        if (withCrc) crc = zlibCrc32(pool.subarray(0, length), crc);
        done += (await writing).bytesWritten;
      }
      if (args.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    if (withCrc && crc === 0) throw new Error('CRC of random data came out 0');
  });
}

/**
 * The same-run baseline for saveNpz: the fixture's own bytes (what saveNpz of its arrays writes), resident in
 * memory, written by the plainest loop: sequential 1 MiB async writes, one in flight.
 */
async function plainWrite(args: ChildArgs, out: string): Promise<Repetition> {
  // In pieces of 1 GiB: readFile stops at 2 GiB, and the full fixture is 5.85 GB.
  const pieces: Buffer[] = [];
  const source = await open(args.fixture, 'r');
  try {
    const size = (await source.stat()).size;
    for (let at = 0; at < size; ) {
      const piece = Buffer.allocUnsafeSlow(Math.min(PLAIN_READ_MAX, size - at));
      for (let filled = 0; filled < piece.length; ) {
        const { bytesRead } = await source.read(piece, filled, piece.length - filled, at + filled);
        if (bytesRead === 0) throw new Error(`${args.fixture} ended early`);
        filled += bytesRead;
      }
      pieces.push(piece);
      at += piece.length;
    }
  } finally {
    await source.close();
  }
  return writeCase(out, async () => {
    const handle = await open(out, 'w');
    try {
      let position = 0;
      for (const piece of pieces) {
        for (let done = 0; done < piece.length; ) {
          const { bytesWritten } = await handle.write(piece, done, Math.min(PLAIN_WRITE_BYTES, piece.length - done), position);
          done += bytesWritten;
          position += bytesWritten;
        }
      }
      if (args.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

function readCase(args: ChildArgs, run: () => Promise<void>): Repetition {
  return { run, bytes: () => fileSize(args.fixture) };
}

async function readAll(args: ChildArgs, reuse = false): Promise<Repetition> {
  const rep = readCase(args, async () => {
    let largest = 0;
    for await (const [, array] of readNpz(args.fixture, { reuse })) largest = Math.max(largest, array.data.byteLength);
    rep.largestArrayBytes = largest;
  });
  return rep;
}

async function loadAll(args: ChildArgs): Promise<Repetition> {
  return readCase(args, async () => {
    const tree = await loadNpz(args.fixture);
    if (Object.keys(tree).length === 0) throw new Error('loadNpz returned an empty tree');
  });
}

/**
 * The same-run baseline for readNpz: every array's bytes into a fresh buffer of its own, with positional reads
 * issued one at a time. It pays the same page faults as any reader that allocates per array, and nothing else.
 */
async function plainRead(args: ChildArgs): Promise<Repetition> {
  const npz = await openNpz(args.fixture);
  const spans = npz.entries.flatMap((e) => (e.isArray && e.dataOffset !== undefined ? [{ offset: e.dataOffset, length: e.byteLength }] : []));
  await npz.close();
  if (spans.length === 0) throw new Error('plain-read needs stored members');
  const rep = readCase(args, async () => {
    const handle = await open(args.fixture, 'r');
    try {
      for (const { offset, length } of spans) {
        const buffer = Buffer.allocUnsafeSlow(length);
        for (let done = 0; done < length; ) {
          const { bytesRead } = await handle.read(buffer, done, Math.min(PLAIN_READ_MAX, length - done), offset + done);
          if (bytesRead === 0) throw new Error(`${args.fixture} ended early`);
          done += bytesRead;
        }
      }
    } finally {
      await handle.close();
    }
  });
  rep.largestArrayBytes = Math.max(...spans.map((s) => s.length));
  return rep;
}

async function readChunks(args: ChildArgs, reuseBuffers: boolean): Promise<Repetition> {
  return readCase(args, async () => {
    const npz = await openNpz(args.fixture);
    try {
      for (const entry of npz.entries) {
        if (!entry.isArray) continue;
        let seen = 0;
        for await (const chunk of npz.chunks(entry.name, { reuseBuffers })) seen += chunk.byteLength;
        if (seen !== entry.byteLength) throw new Error(`${entry.name}: streamed ${seen} bytes, expected ${entry.byteLength}`);
      }
    } finally {
      await npz.close();
    }
  });
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (error, zip) => (error ? reject(error) : resolve(zip)));
  });
}

function entryStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => (error ? reject(error) : resolve(stream)));
  });
}

async function stockYauzl(args: ChildArgs): Promise<Repetition> {
  return readCase(args, async () => {
    const zip = await openZip(args.fixture);
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: yauzl.Entry) => {
        entryStream(zip, entry)
          .then(async (stream) => {
            let seen = 0;
            for await (const chunk of stream) seen += (chunk as Buffer).length;
            if (seen !== entry.uncompressedSize) throw new Error(`${entry.fileName}: ${seen} bytes, expected ${entry.uncompressedSize}`);
            zip.readEntry();
          })
          .catch(reject);
      });
      zip.readEntry();
    });
  });
}

async function rawRead(args: ChildArgs, withCrc: boolean): Promise<Repetition> {
  const buffers = [Buffer.allocUnsafeSlow(RAW_CHUNK_BYTES), Buffer.allocUnsafeSlow(RAW_CHUNK_BYTES)];
  return readCase(args, async () => {
    const handle = await open(args.fixture, 'r');
    try {
      if (!withCrc) {
        for (let position = 0; ; ) {
          const { bytesRead } = await handle.read(buffers[0]!, 0, RAW_CHUNK_BYTES, position);
          if (bytesRead === 0) break;
          position += bytesRead;
        }
        return;
      }
      // Hash one buffer while the next read fills the other.
      const size = (await handle.stat()).size;
      let crc = 0;
      let pending = handle.read(buffers[0]!, 0, RAW_CHUNK_BYTES, 0);
      for (let position = 0, turn = 0; position < size; turn ^= 1) {
        const { bytesRead, buffer } = await pending;
        if (bytesRead === 0) throw new Error(`${args.fixture} ended early`);
        position += bytesRead;
        if (position < size) pending = handle.read(buffers[turn ^ 1]!, 0, RAW_CHUNK_BYTES, position);
        crc = zlibCrc32(buffer.subarray(0, bytesRead), crc);
      }
    } finally {
      await handle.close();
    }
  });
}

/**
 * Peak RSS of this process. Linux carries ru_maxrss (resourceUsage().maxRSS) over from the parent across
 * fork + exec, so a child spawned by a 100 MB parent reports at least 100 MB; VmHWM belongs to this process's
 * own address space.
 */
function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // no procfs: fall back to getrusage
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function prepare(args: ChildArgs): Promise<Repetition> {
  const out = join(args.outDir, `${args.case}.npz`);
  switch (args.case) {
    case 'save-memory':
      return saveMemory(args, out);
    case 'save-default':
      return saveMemory(args, out, true);
    case 'save-lazy':
      return saveLazy(args, out);
    case 'plain-write':
      return plainWrite(args, out);
    case 'yazl':
      return stockYazl(args, out);
    case 'raw-write':
      return rawWrite(args, out, false);
    case 'raw-write-crc':
      return rawWrite(args, out, true);
    case 'read-npz':
      return readAll(args);
    case 'read-npz-reuse':
      return readAll(args, true);
    case 'load-npz':
      return loadAll(args);
    case 'plain-read':
      return plainRead(args);
    case 'chunks':
      return readChunks(args, false);
    case 'chunks-reuse':
      return readChunks(args, true);
    case 'yauzl':
      return stockYauzl(args);
    case 'raw-read':
      return rawRead(args, false);
    case 'raw-read-crc':
      return rawRead(args, true);
    default:
      throw new Error(`case ${args.case} does not run in node`);
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as ChildArgs;
  const outDirEntriesAtStart = readdirSync(args.outDir).length;
  const setupStart = performance.now();
  const rep = await prepare(args);
  const setupSeconds = (performance.now() - setupStart) / 1000;
  // Profiling starts after setup, so a profile shows the repetitions only (not loading the fixture, say).
  const session = args.cpuProfileFile === undefined ? undefined : new Session();
  if (session !== undefined) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const warmupSeconds: number[] = [];
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  let bytes = 0;
  try {
    for (let i = 0; i < args.warmup + args.repeats; i++) {
      await rep.before?.();
      const cpu = process.cpuUsage();
      const start = performance.now();
      await rep.run();
      const wall = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      bytes = await rep.bytes();
      if (i < args.warmup) {
        warmupSeconds.push(wall);
      } else {
        seconds.push(wall);
        cpuSeconds.push((used.user + used.system) / 1e6);
      }
    }
  } finally {
    await rep.cleanup?.();
  }
  if (session !== undefined && args.cpuProfileFile !== undefined) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(args.cpuProfileFile, JSON.stringify(profile));
    session.disconnect();
  }
  const result: ChildResult = {
    case: args.case,
    bytes,
    warmupSeconds,
    seconds,
    cpuSeconds,
    maxRssBytes: peakRssBytes(),
    setupSeconds,
    glibcTunables: process.env['GLIBC_TUNABLES'] ?? null,
    outDirEntriesAtStart,
    ...(rep.largestArrayBytes === undefined ? {} : { largestArrayBytes: rep.largestArrayBytes }),
  };
  await writeFile(args.resultFile, JSON.stringify(result));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
