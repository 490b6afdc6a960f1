import { open, type FileHandle } from 'node:fs/promises';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { writeFileAtomically } from '../../src/node/files.js';
import { openFdCount } from '../helpers/fds.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { recordingCalls, type Recording } from '../helpers/recording-fs.js';
import { saveNpz, saveSafetensors } from '../../src/index.js';
import { rejectionOf } from '../helpers/errors.js';

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
        rejectionOf(
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
    const error = await rejectionOf(
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
        () => rejectionOf(save(target, { a: new Float32Array(1024).fill(1) }, { signal: controller.signal })),
      );
      expect(isNpzError(error, 'ERR_ABORTED'), String(error)).toBe(true);
      expectUntouched();
    });
  }
});

describe('writeFileAtomically: the order durability depends on', () => {
  const write = (recording: Recording, options: { fsync?: boolean; mode?: number; signal?: AbortSignal } = {}) =>
    writeFileAtomically(target, async (handle) => (await handle.write(Buffer.from('new'))).bytesWritten, { ...options, calls: recording.calls });

  it('with fsync: the temp file is synced, then closed, then renamed, then its directory synced', async () => {
    const recording = recordingCalls();
    expect(await write(recording, { fsync: true })).toBe(3);
    // A rename before the close could publish a file whose last writes are still in flight; without the directory
    // fsync the rename itself can be lost in a crash, leaving the old file after a save that reported success.
    expect(recording.steps).toEqual(['open temp wx 666', 'sync temp', 'close temp', 'rename temp ckpt.bin', 'open dir r', 'sync dir', 'close dir']);
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(readdirSync(dir.path)).toEqual(['ckpt.bin']);
  });

  it('without fsync: closed before the rename, and nothing synced', async () => {
    const recording = recordingCalls();
    await write(recording);
    expect(recording.steps).toEqual(['open temp wx 666', 'close temp', 'rename temp ckpt.bin']);
  });

  it('the temp file is new (wx), hidden, and beside the target, so the rename stays in one file system', async () => {
    const recording = recordingCalls();
    await write(recording);
    const [temp] = recording.temps;
    expect(dirname(temp!)).toBe(dir.path);
    expect(basename(temp!)).toMatch(/^\.ckpt\.bin\.[0-9a-f]{12}\.tmp$/);
  });

  it('the new file gets the mode asked for', async () => {
    const recording = recordingCalls();
    await write(recording, { mode: 0o600 });
    expect(recording.steps[0]).toBe('open temp wx 600');
    expect(statSync(target).mode & 0o777).toBe(0o600);
  });

  it('a directory that cannot be synced only weakens durability: the write succeeds and the handle is closed', async () => {
    const recording = recordingCalls({ failOn: 'sync dir', error: Object.assign(new Error('EINVAL'), { code: 'EINVAL' }) });
    expect(await write(recording, { fsync: true })).toBe(3);
    expect(recording.steps.slice(-3)).toEqual(['open dir r', 'sync dir', 'close dir']);
    expect(readFileSync(target, 'utf8')).toBe('new');
  });

  it('an abort while the temp file is being closed still backs out: no rename, temp removed, ERR_ABORTED', async () => {
    const controller = new AbortController();
    const recording = recordingCalls({ before: (step) => step === 'close temp' && controller.abort(new Error('late')) });
    const error = await rejectionOf(write(recording, { fsync: true, signal: controller.signal }));
    expect(isNpzError(error, 'ERR_ABORTED'), String(error)).toBe(true);
    expect(recording.steps).toEqual(['open temp wx 666', 'sync temp', 'close temp', 'rm temp']);
    expectUntouched();
  });

  // Every step that can fail leaves the target as it was, closes the temp file and removes it.
  const failures: Array<[string, string[]]> = [
    ['open temp', ['open temp wx 666', 'rm temp']],
    ['sync temp', ['open temp wx 666', 'sync temp', 'close temp', 'rm temp']],
    ['close temp', ['open temp wx 666', 'sync temp', 'close temp', 'rm temp']],
    ['rename', ['open temp wx 666', 'sync temp', 'close temp', 'rename temp ckpt.bin', 'rm temp']],
  ];
  for (const [failOn, steps] of failures) {
    it(`a failing ${failOn}: the error comes back, the temp file is closed and removed, the target untouched`, async () => {
      const recording = recordingCalls({ failOn });
      const error = await rejectionOf(write(recording, { fsync: true }));
      expect(String(error)).toContain(`injected failure: ${failOn}`);
      expect(recording.steps).toEqual(steps);
      expectUntouched();
    });
  }

  it('a failing producer: its error comes back, the temp file is closed once and removed, the target untouched', async () => {
    const recording = recordingCalls();
    const before = process.platform === 'linux' ? openFdCount() : 0;
    const failure = new Error('producer failed');
    const error = await rejectionOf(
      writeFileAtomically(
        target,
        async (handle) => {
          await handle.write(Buffer.from('partial'));
          throw failure;
        },
        { fsync: true, calls: recording.calls },
      ),
    );
    expect(error).toBe(failure);
    expect(recording.steps).toEqual(['open temp wx 666', 'close temp', 'rm temp']);
    expectUntouched();
    if (process.platform === 'linux') expect(openFdCount()).toBe(before);
  });
});
