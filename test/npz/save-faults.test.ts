import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { openFdCount } from '../helpers/fds.js';
import { makeTempDir } from '../helpers/tmp.js';
import { withSkipReason } from '../helpers/python.js';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type NpzErrorCode } from '../../src/errors.js';
import { type SaveOptions } from '../../src/npz/save.js';
import { saveNpz, saveNpzStream } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';
import { expectCode } from '../helpers/errors.js';

const rootDir = makeTempDir('faults');
const root = rootDir.path;
afterAll(() => rootDir.remove());
let dir = '';
let target = '';
beforeEach(() => {
  dir = makeTempDir('case', root).path;
  target = join(dir, 'ckpt.npz');
  writeFileSync(target, 'original');
});

const linux = process.platform === 'linux';

/** 2 MiB in memory first, so part of the archive is already on disk when the lazy leaf fails. */
function treeWith(lazy: Partial<LazyArray> & { chunks: LazyArray['chunks'] }): Record<string, unknown> {
  return { a: new Float32Array(512 << 10).fill(1), b: { dtype: 'float32', shape: [1024], ...lazy } };
}

async function* bytes(total: number, chunk = 1000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < total; at += chunk) yield new Uint8Array(Math.min(chunk, total - at));
}

/** The target keeps its old content and nothing else is left in its directory. */
function expectUntouched(): void {
  expect(readFileSync(target, 'utf8')).toBe('original');
  expect(readdirSync(dir)).toEqual(['ckpt.npz']);
}

async function saveFails(tree: unknown, code: NpzErrorCode, options: SaveOptions = {}): Promise<Error> {
  const before = linux ? openFdCount() : 0;
  const error = await expectCode(saveNpz(target, tree as Record<string, never>, options), code);
  expectUntouched();
  if (linux) expect(openFdCount()).toBe(before);
  return error;
}

describe('saveNpz failures leave the target untouched and no temp file', () => {
  it('a lazy leaf that throws: ERR_SOURCE with the cause', async () => {
    const cause = new Error('upstream read failed');
    const error = await saveFails(
      treeWith({
        chunks: async function* () {
          yield new Uint8Array(100);
          throw cause;
        },
      }),
      'ERR_SOURCE',
    );
    expect(error.cause).toBe(cause);
    expect(error).toMatchObject({ entry: 'b' });
  });

  it('a lazy leaf whose chunks() throws synchronously: ERR_SOURCE', async () => {
    await saveFails(
      treeWith({
        chunks: () => {
          throw new Error('no');
        },
      }),
      'ERR_SOURCE',
    );
  });

  it('a lazy leaf with too many or too few bytes: ERR_SOURCE_LENGTH', async () => {
    const many = await saveFails(treeWith({ chunks: () => bytes(4097) }), 'ERR_SOURCE_LENGTH');
    expect(many).toMatchObject({ entry: 'b', expected: 4096 });
    const few = await saveFails(treeWith({ chunks: () => bytes(4095) }), 'ERR_SOURCE_LENGTH');
    expect(few).toMatchObject({ entry: 'b', expected: 4096, actual: 4095 });
  });

  it('an abort while a leaf is streaming, and one before anything starts: ERR_ABORTED', async () => {
    const controller = new AbortController();
    const slow = treeWith({
      chunks: async function* () {
        for (;;) {
          yield new Uint8Array(4);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
    });
    setTimeout(() => controller.abort(), 30);
    await saveFails(slow, 'ERR_ABORTED', { signal: controller.signal });
    await saveFails({ a: Int8Array.of(1) }, 'ERR_ABORTED', { signal: AbortSignal.abort() });
  });

  it('bad leaves are rejected before any byte is written', async () => {
    const data = new Float32Array(4);
    await saveFails({ a: data, b: { dtype: 'float128', shape: [4], data } }, 'ERR_NPY_DTYPE');
    await saveFails({ a: data, b: { dtype: 'float32', shape: [-4], data } }, 'ERR_NPY_SHAPE');
    await saveFails({ a: data, b: { dtype: 'float32', shape: [1.5], data } }, 'ERR_NPY_SHAPE');
    await saveFails({ a: data, b: { dtype: 'float32', shape: [5], data } }, 'ERR_NPY_SIZE_MISMATCH');
    // A flat tree is a non-array iterable of pairs (an array would be a list of leaves).
    await saveFails(new Set([['a', data], ['a', data]]), 'ERR_TREE_DUPLICATE_NAME');
  });

  it('a flat iterable that throws: ERR_SOURCE', async () => {
    function* pairs(): Generator<[string, Float32Array]> {
      yield ['a', new Float32Array(4)];
      throw new Error('iterator broke');
    }
    const error = await saveFails(pairs(), 'ERR_SOURCE');
    expect((error.cause as Error).message).toBe('iterator broke');
  });

  it('a rename that fails (target is a non-empty directory): ERR_IO, directory intact, temp removed', async () => {
    const blocked = join(dir, 'blocked.npz');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'keep'), 'x');
    rmSync(target);
    const error = await expectCode(saveNpz(blocked, { a: Int8Array.of(1) }), 'ERR_IO');
    expect(error.message).toMatch(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir)).toEqual(['blocked.npz']);
    expect(readdirSync(blocked)).toEqual(['keep']);
  });

  it('a missing directory: ERR_IO', async () => {
    await expectCode(saveNpz(join(dir, 'missing', 'x.npz'), { a: Int8Array.of(1) }), 'ERR_IO');
    expectUntouched();
  });
});

/** A destination that fails after accepting `okWrites` writes. */
class FailingWritable extends Writable {
  writes = 0;
  constructor(
    private readonly okWrites: number,
    private readonly code: string,
  ) {
    super({ highWaterMark: 1 << 16 });
  }
  override _write(_chunk: Buffer, _encoding: string, callback: (err?: Error | null) => void): void {
    this.writes += 1;
    if (this.writes > this.okWrites) callback(Object.assign(new Error(`write ${this.code}`), { code: this.code }));
    else setImmediate(callback);
  }
}

describe('saveNpzStream failures destroy the destination and reject with an NpzError', () => {
  const big = { a: new Float32Array(2 << 20).fill(1), b: new Float32Array(2 << 20).fill(2) };

  for (const code of ['EPIPE', 'ENOSPC']) {
    it(`a destination that errors with ${code}: ERR_IO with the cause`, async () => {
      const out = new FailingWritable(2, code);
      const error = await expectCode(saveNpzStream(big, out), 'ERR_IO');
      expect(error.message).toContain(code);
      expect((error.cause as { code: string }).code).toBe(code);
      expect(out.destroyed).toBe(true);
    });
  }

  it('a real pipe whose reader exits (EPIPE)', async () => {
    const child = spawn('head', ['-c', '100'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const error = await expectCode(saveNpzStream(big, child.stdin), 'ERR_IO');
    expect(error.message).toMatch(/EPIPE|ECONNRESET|closed/);
    expect(child.stdin.destroyed).toBe(true);
  });

  // /dev/full is Linux's always-full device; other systems have none, so the case is skipped there by name.
  const noDevFull = !existsSync('/dev/full');
  it.skipIf(noDevFull)(withSkipReason(noDevFull, 'no /dev/full on this system', 'a full device (ENOSPC)'), async () => {
    const out = createWriteStream('/dev/full');
    const error = await expectCode(saveNpzStream(big, out), 'ERR_IO');
    expect(error.message).toContain('ENOSPC');
    expect(out.destroyed).toBe(true);
  });

  it('an abort while the destination never drains, and bad input up front', async () => {
    const stuck = new Writable({ highWaterMark: 1, write: () => undefined });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await expectCode(saveNpzStream(big, stuck, { signal: controller.signal }), 'ERR_ABORTED');
    expect(stuck.destroyed).toBe(true);

    const out = new PassThrough();
    const received: Buffer[] = [];
    out.on('data', (chunk: Buffer) => received.push(chunk));
    out.on('error', () => undefined);
    const unknownDtype = { a: new Float32Array(4), b: { dtype: 'nope', shape: [1], data: new Float32Array(1) } };
    await expectCode(saveNpzStream(unknownDtype as never, out), 'ERR_NPY_DTYPE');
    expect(Buffer.concat(received).byteLength).toBe(0);
    expect(out.destroyed).toBe(true);
  });

  it('a bad leaf from a flat iterable fails before that entry is written', async () => {
    const out = new PassThrough();
    const received: Buffer[] = [];
    out.on('data', (chunk: Buffer) => received.push(chunk));
    out.on('error', () => undefined);
    const pairs = new Set([
      ['good', new Float32Array(1 << 19)],
      ['bad', { dtype: 'float32', shape: [3], data: new Float32Array(4) }],
    ] as const);
    await expectCode(saveNpzStream(pairs as never, out), 'ERR_NPY_SIZE_MISMATCH');
    await new Promise((resolve) => setImmediate(resolve));
    // The 2 MiB good member went out; the bad one never started.
    expect(Buffer.concat(received).includes('good.npy')).toBe(true);
    expect(Buffer.concat(received).includes('bad.npy')).toBe(false);
  });

  it('rejects a destination that is not a Writable', async () => {
    await expectCode(saveNpzStream({ a: Int8Array.of(1) }, {} as Writable), 'ERR_INVALID_ARGUMENT');
  });
});
