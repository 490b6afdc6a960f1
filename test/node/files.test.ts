import { open, type FileHandle } from 'node:fs/promises';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { writeFileAtomically } from '../../src/node/files.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { saveNpz, saveSafetensors } from '../../src/index.js';

// An abort that arrives after the producer's last write (too late for it to notice) but before the rename must
// still back out: old file untouched, no temp file, ERR_ABORTED. The window is hit deterministically by aborting
// from inside FileHandle.sync (the fsync that follows the last write) and, without fsync, from the producer's
// final step after its last write has settled.

let dir: TempDir;
let target: string;
beforeEach(() => {
  dir = makeTempDir('atomic');
  target = dir.file('ckpt.bin');
  writeFileSync(target, 'original');
});
afterEach(() => dir.remove());

/** Runs `work` with FileHandle.prototype.sync calling `onSync` first; restored afterwards whatever happens. */
async function withSyncHook<T>(onSync: () => void, work: () => Promise<T>): Promise<T> {
  // FileHandle is not exported; its prototype comes from a handle on the target, closed straight away.
  const probe = await open(target, 'r');
  const prototype = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const original = prototype.sync;
  prototype.sync = function (this: FileHandle) {
    onSync();
    return original.call(this);
  };
  try {
    return await work();
  } finally {
    prototype.sync = original;
  }
}

async function rejection(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => new Error('resolved'),
    (error: unknown) => error,
  );
}

function expectUntouched(): void {
  expect(readFileSync(target, 'utf8')).toBe('original');
  expect(readdirSync(dir.path)).toEqual(['ckpt.bin']);
}

describe('writeFileAtomically: an abort before the rename backs out', () => {
  it('abort during the fsync after the last write: rejects ERR_ABORTED, old file kept, no temp file', async () => {
    const controller = new AbortController();
    let wrote = false;
    const error = await withSyncHook(
      () => controller.abort(new Error('late')),
      () =>
        rejection(
          writeFileAtomically(
            target,
            async (handle) => {
              await handle.write(new Uint8Array(4096).fill(7));
              wrote = true;
            },
            { fsync: true, signal: controller.signal },
          ),
        ),
    );
    expect(wrote).toBe(true);
    expect(isNpzError(error, 'ERR_ABORTED'), String(error)).toBe(true);
    expect((error as Error).cause).toMatchObject({ message: 'late' });
    expectUntouched();
  });

  it('abort once the last write settled, without fsync: the same', async () => {
    const controller = new AbortController();
    const error = await rejection(
      writeFileAtomically(
        target,
        async (handle) => {
          await handle.write(new Uint8Array(10));
          controller.abort();
          return 'done';
        },
        { signal: controller.signal },
      ),
    );
    expect(isNpzError(error, 'ERR_ABORTED'), String(error)).toBe(true);
    expectUntouched();
  });

  it('a signal that never aborts changes nothing: the new file replaces the old, the result comes back', async () => {
    const controller = new AbortController();
    const result = await writeFileAtomically(target, async (handle) => (await handle.write(Buffer.from('new'))).bytesWritten, {
      fsync: true,
      signal: controller.signal,
    });
    expect(result).toBe(3);
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(readdirSync(dir.path)).toEqual(['ckpt.bin']);
  });
});

describe('save functions pass their signal down to the rename', () => {
  const saves = { saveNpz, saveSafetensors };
  for (const [label, save] of Object.entries(saves)) {
    // saveNpz, saveSafetensors and the shard writer all reach the rename through save.ts `writeAtomically`.
    it(`${label}: an abort during the final fsync rejects ERR_ABORTED and keeps the old file`, async () => {
      const controller = new AbortController();
      const error = await withSyncHook(
        () => controller.abort(),
        () => rejection(save(target, { a: new Float32Array(1024).fill(1) }, { signal: controller.signal })),
      );
      expect(isNpzError(error, 'ERR_ABORTED'), String(error)).toBe(true);
      expectUntouched();
    });
  }
});
