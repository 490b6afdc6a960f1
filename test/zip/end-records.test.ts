/**
 * End records that disagree with each other or with where they lie, read through every kind of input: a file, a
 * URL, bytes in memory and a stream must all refuse them with the same code and message (the few messages a
 * stream words differently are listed in docs/ERRORS.md and below). CPython's zipfile and np.load are asked too,
 * so where this library is stricter than they are, the table says so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { readNpz, saveNpzStream } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startSendServer, type RunningServer } from '../helpers/servers.js';
import { unevenChunks } from '../helpers/streams.js';

async function archive(tree: Record<string, Int8Array | Float32Array>, forceZip64: boolean): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (part: Buffer) => parts.push(part));
  await saveNpzStream(tree, out, { forceZip64 });
  return Buffer.concat(parts);
}

const TREE = { a: Float32Array.of(1, 2, 3), b: Int8Array.of(4) };
/** From the end of an archive written with forceZip64: the end record (22), the locator (20), the zip64 record (56). */
const END = 22;
const LOCATOR = 22 + 20;
const RECORD = 22 + 20 + 56;

interface Damage {
  name: string;
  zip64: boolean;
  /** An archive without members. */
  empty?: boolean;
  /** Damages the bytes in place, or returns the damaged archive. */
  patch: (bytes: Buffer) => unknown;
  code: string;
  /** Words the message must hold (where another check would raise the same code). */
  words?: RegExp;
  /** CPython 3.11's zipfile.ZipFile opens it / np.load reads every array: 'ok' or 'error'. */
  zipfile: 'ok' | 'error';
  npLoad: 'ok' | 'error';
  /** The stream words this damage differently (same code): it cannot see what a random-access reader sees. */
  streamWords?: true;
}

const DAMAGES: Damage[] = [
  // The bug this file was written for: the directory's stated size was never compared with anything.
  { name: 'an empty archive whose end record claims a 4 GiB directory', zip64: false, empty: true, patch: (b) => b.writeUInt32LE(0xfffffff0, b.length - END + 12), code: 'ERR_ZIP_BOUNDS', zipfile: 'error', npLoad: 'error' },
  { name: 'an end record claiming a 4 GiB directory', zip64: false, patch: (b) => b.writeUInt32LE(0xfffffff0, b.length - END + 12), code: 'ERR_ZIP_BOUNDS', zipfile: 'error', npLoad: 'error' },
  { name: 'a directory size one byte too large', zip64: false, patch: (b) => b.writeUInt32LE(b.readUInt32LE(b.length - END + 12) + 1, b.length - END + 12), code: 'ERR_ZIP_CENTRAL_DIRECTORY', zipfile: 'error', npLoad: 'error' },
  { name: 'a directory size one byte too small', zip64: false, patch: (b) => b.writeUInt32LE(b.readUInt32LE(b.length - END + 12) - 1, b.length - END + 12), code: 'ERR_ZIP_CENTRAL_DIRECTORY', zipfile: 'error', npLoad: 'error' },
  // zipfile takes the shift for bytes prepended to the archive and opens it; reading a member then fails.
  { name: 'a directory offset one byte too small', zip64: false, patch: (b) => b.writeUInt32LE(b.readUInt32LE(b.length - END + 16) - 1, b.length - END + 16), code: 'ERR_ZIP_CENTRAL_DIRECTORY', zipfile: 'ok', npLoad: 'error' },
  // zipfile never reads the entry counts: it walks the directory by its size.
  { name: 'an entry count for this disk below the total', zip64: false, patch: (b) => b.writeUInt16LE(1, b.length - END + 8), code: 'ERR_ZIP_EOCD', zipfile: 'ok', npLoad: 'ok' },
  { name: 'both entry counts one too many', zip64: false, patch: (b) => (b.writeUInt16LE(3, b.length - END + 8), b.writeUInt16LE(3, b.length - END + 10)), code: 'ERR_ZIP_BOUNDS', words: /counts 3 entries but the central directory holds only 2/, zipfile: 'ok', npLoad: 'ok' },
  { name: 'both entry counts one too few', zip64: false, patch: (b) => (b.writeUInt16LE(1, b.length - END + 8), b.writeUInt16LE(1, b.length - END + 10)), code: 'ERR_ZIP_CENTRAL_DIRECTORY', zipfile: 'ok', npLoad: 'ok' },
  { name: 'the directory on disk 1', zip64: false, patch: (b) => b.writeUInt16LE(1, b.length - END + 6), code: 'ERR_ZIP_MULTIDISK', zipfile: 'ok', npLoad: 'ok' },
  // zip64 end records (forced): the end record holds sentinels, the zip64 record the values.
  { name: 'a zip64 record claiming a 4 GiB directory', zip64: true, patch: (b) => b.writeBigUInt64LE(2n ** 32n, b.length - RECORD + 40), code: 'ERR_ZIP_BOUNDS', zipfile: 'error', npLoad: 'error' },
  { name: 'a zip64 record whose directory size is one byte too small', zip64: true, patch: (b) => b.writeBigUInt64LE(b.readBigUInt64LE(b.length - RECORD + 40) - 1n, b.length - RECORD + 40), code: 'ERR_ZIP_CENTRAL_DIRECTORY', zipfile: 'error', npLoad: 'error' },
  { name: 'a zip64 record whose entry count for this disk is below the total', zip64: true, patch: (b) => b.writeBigUInt64LE(1n, b.length - RECORD + 24), code: 'ERR_ZIP_EOCD', zipfile: 'ok', npLoad: 'ok' },
  { name: 'a zip64 record counting one entry too many', zip64: true, patch: (b) => (b.writeBigUInt64LE(3n, b.length - RECORD + 24), b.writeBigUInt64LE(3n, b.length - RECORD + 32)), code: 'ERR_ZIP_BOUNDS', zipfile: 'ok', npLoad: 'ok' },
  { name: 'an end record count that is neither the zip64 count nor the sentinel', zip64: true, patch: (b) => b.writeUInt16LE(1, b.length - END + 10), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok' },
  { name: 'an end record directory offset that is neither the zip64 offset nor the sentinel', zip64: true, patch: (b) => b.writeUInt32LE(7, b.length - END + 16), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok' },
  { name: 'an end record count for this disk that is neither the zip64 count nor the sentinel', zip64: true, patch: (b) => b.writeUInt16LE(1, b.length - END + 8), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok' },
  { name: 'an end record directory size that is neither the zip64 size nor the sentinel', zip64: true, patch: (b) => b.writeUInt32LE(7, b.length - END + 12), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok' },
  { name: 'an end record on disk 1 beside a zip64 record', zip64: true, patch: (b) => b.writeUInt16LE(1, b.length - END + 4), code: 'ERR_ZIP_MULTIDISK', zipfile: 'ok', npLoad: 'ok' },
  { name: 'a zip64 record stating too small a size', zip64: true, patch: (b) => b.writeBigUInt64LE(43n, b.length - RECORD + 4), code: 'ERR_ZIP_ZIP64', words: /less than its 44 bytes of fields/, zipfile: 'ok', npLoad: 'ok' },
  // A stream reads through an extensible data sector of up to 1 MiB; a random-access reader sees it cannot end at the locator.
  { name: 'a zip64 record stating 2 MiB of extensible data', zip64: true, patch: (b) => b.writeBigUInt64LE(44n + 2n ** 21n, b.length - RECORD + 4), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok', streamWords: true },
  { name: 'a zip64 record stating a size that does not end at its locator', zip64: true, patch: (b) => b.writeBigUInt64LE(45n, b.length - RECORD + 4), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok', streamWords: true },
  { name: 'a zip64 record on disk 1', zip64: true, patch: (b) => b.writeUInt32LE(1, b.length - RECORD + 16), code: 'ERR_ZIP_MULTIDISK', zipfile: 'ok', npLoad: 'ok' },
  { name: 'a zip64 record placing the directory on disk 1', zip64: true, patch: (b) => b.writeUInt32LE(1, b.length - RECORD + 20), code: 'ERR_ZIP_MULTIDISK', zipfile: 'ok', npLoad: 'ok' },
  { name: 'a zip64 locator placing the record on disk 1', zip64: true, patch: (b) => b.writeUInt32LE(1, b.length - LOCATOR + 4), code: 'ERR_ZIP_MULTIDISK', zipfile: 'error', npLoad: 'error' },
  { name: 'a zip64 locator counting 2 disks', zip64: true, patch: (b) => b.writeUInt32LE(2, b.length - LOCATOR + 16), code: 'ERR_ZIP_MULTIDISK', zipfile: 'error', npLoad: 'error' },
  { name: 'a zip64 locator pointing one byte before its record', zip64: true, patch: (b) => b.writeBigUInt64LE(b.readBigUInt64LE(b.length - LOCATOR + 8) - 1n, b.length - LOCATOR + 8), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok', streamWords: true },
  { name: 'a zip64 locator pointing past its record', zip64: true, patch: (b) => b.writeBigUInt64LE(b.readBigUInt64LE(b.length - LOCATOR + 8) + 1n, b.length - LOCATOR + 8), code: 'ERR_ZIP_ZIP64', zipfile: 'ok', npLoad: 'ok', streamWords: true },
  // Bytes after the end record: counted up to where a random-access reader stops looking for it.
  { name: '10 bytes after the end record', zip64: false, patch: (b) => Buffer.concat([b, Buffer.alloc(10)]), code: 'ERR_ZIP_EOCD', zipfile: 'ok', npLoad: 'ok' },
  { name: '100 KiB after the end record', zip64: false, patch: (b) => Buffer.concat([b, Buffer.alloc(100 * 1024)]), code: 'ERR_ZIP_TRUNCATED', zipfile: 'error', npLoad: 'error' },
];

/** 'ok' or the NpzError as `CODE: message`. */
async function outcome(input: Parameters<typeof readNpz>[0]): Promise<string> {
  try {
    for await (const _ of readNpz(input)) void _;
    return 'ok';
  } catch (error) {
    if (!isNpzError(error)) throw error;
    return `${error.code}: ${error.message}`;
  }
}

describe('end records that disagree, through every reader', () => {
  let dir: TempDir;
  let server: RunningServer;
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    dir = makeTempDir('end-records');
    server = await startSendServer(dir.path);
    const bases = { plain: await archive(TREE, false), zip64: await archive(TREE, true), empty: await archive({}, false) };
    // The offsets above assume these layouts.
    expect(bases.zip64.readUInt32LE(bases.zip64.length - RECORD)).toBe(0x06064b50);
    expect(bases.empty.length).toBe(END);
    DAMAGES.forEach((damage, i) => {
      const base = Buffer.from(damage.empty === true ? bases.empty : damage.zip64 ? bases.zip64 : bases.plain);
      const patched = damage.patch(base);
      const bytes = patched instanceof Buffer ? patched : base;
      const name = `damage-${i}.npz`;
      writeFileSync(dir.file(name), bytes);
      files.set(name, bytes);
    });
  });
  afterAll(async () => {
    await server?.close();
    dir?.remove();
  });

  it('the undamaged archives read through every reader', async () => {
    for (const zip64 of [false, true]) {
      const bytes = await archive(TREE, zip64);
      expect(await outcome(bytes)).toBe('ok');
      expect(await outcome(unevenChunks(bytes))).toBe('ok');
    }
  });

  it.each(DAMAGES.map((damage, i) => [damage.name, i] as const))('%s: one code and message from a file, a URL, bytes and a stream', async (_, i) => {
    const damage = DAMAGES[i] as Damage;
    const name = `damage-${i}.npz`;
    const bytes = files.get(name) as Buffer;
    const fromFile = await outcome(join(dir.path, name));
    expect(fromFile.split(':')[0]).toBe(damage.code);
    if (damage.words !== undefined) expect(fromFile).toMatch(damage.words);
    expect(await outcome(`${server.origin}/${name}`)).toBe(fromFile);
    expect(await outcome(new Uint8Array(bytes))).toBe(fromFile);
    const fromStream = await outcome(unevenChunks(bytes));
    if (damage.streamWords === true) expect(fromStream.split(':')[0]).toBe(damage.code);
    else expect(fromStream).toBe(fromFile);
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, "CPython's zipfile and np.load verdicts are the ones the table records"), () => {
    const script = [
      'import sys, zipfile, numpy as np',
      'for path in sys.argv[1:]:',
      '    try:',
      '        zipfile.ZipFile(path).close(); z = "ok"',
      '    except Exception:',
      '        z = "error"',
      '    try:',
      '        with np.load(path) as f:',
      '            [f[k] for k in f.files]',
      '        n = "ok"',
      '    except Exception:',
      '        n = "error"',
      '    print(z, n)',
    ].join('\n');
    const lines = runPython(script, DAMAGES.map((_, i) => join(dir.path, `damage-${i}.npz`))).trim().split('\n');
    expect(lines.map((line, i) => `${DAMAGES[i]!.name}: ${line}`)).toEqual(DAMAGES.map((damage) => `${damage.name}: ${damage.zipfile} ${damage.npLoad}`));
  });
});
