/**
 * Every save to a path (saveNpz, saveSafetensors, saveSafetensorsShards, saveNpy) reaches the disk through the
 * platform's atomic write with the save options it was given: durable by default (file fsync, close, rename,
 * directory fsync, in that order), `fsync: false` and `mode` honoured, its signal checked right before the rename,
 * and on any failure the target as it was and no temp file. Checked by recording the file-system calls of a Node
 * platform built for the test.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import type { Platform } from '../../src/io/platform.js';
import type { LazyArray } from '../../src/npy/write.js';
import { nodePlatformWith } from '../../src/node/platform.js';
import { saveNpy } from '../../src/npz/save-npy.js';
import { saveNpz } from '../../src/npz/save.js';
import { saveSafetensors } from '../../src/safetensors/save.js';
import { saveSafetensorsShards } from '../../src/safetensors/shards.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { recordingCalls, type Faults } from '../helpers/recording-fs.js';

let dir: TempDir;
let target: string;
beforeEach(() => {
  dir = makeTempDir('atomic-saves');
  target = dir.file('out.bin');
  writeFileSync(target, 'original');
});
afterEach(() => dir.remove());

interface SaveOptionsUnderTest {
  signal?: AbortSignal;
  mode?: number;
  fsync?: boolean;
}

const float32 = (n: number): Float32Array => new Float32Array(n).fill(1.5);
/** A lazy leaf of `n` float32 values whose chunks() fails after its first chunk when `fail` is set. */
function lazyLeaf(n: number, fail = false): LazyArray {
  return {
    dtype: 'float32',
    shape: [n],
    async *chunks() {
      yield new Uint8Array(4 * Math.min(n, 16));
      if (fail) throw new Error('upstream failed');
      if (n > 16) yield new Uint8Array(4 * (n - 16));
    },
  };
}

type Save = (platform: Platform, options: SaveOptionsUnderTest, fail?: boolean) => Promise<unknown>;

const saves: Record<string, Save> = {
  saveNpz: (platform, options, fail) => saveNpz(platform, target, { a: float32(8), b: lazyLeaf(64, fail) }, options),
  saveSafetensors: (platform, options, fail) => saveSafetensors(platform, target, { a: float32(8), b: lazyLeaf(64, fail) }, options),
  saveNpy: (platform, options, fail) => saveNpy(platform, target, lazyLeaf(64, fail), options),
  // One shard: the file is named as the target, like save_pretrained does.
  saveSafetensorsShards: (platform, options, fail) => saveSafetensorsShards(platform, target, { a: float32(8), b: lazyLeaf(64, fail) }, { ...options, maxShardSize: 1 << 20 }),
};

const DURABLE = ['open temp wx 666', 'sync temp', 'close temp', 'rename temp out.bin', 'open dir r', 'sync dir', 'close dir'];

function run(save: Save, options: SaveOptionsUnderTest = {}, faults: Faults = {}, fail = false) {
  const recording = recordingCalls(faults);
  return { recording, done: save(nodePlatformWith(recording.calls), options, fail).then(() => undefined, (error: unknown) => error) };
}

function expectUntouched(): void {
  expect(readFileSync(target, 'utf8')).toBe('original');
  expect(readdirSync(dir.path)).toEqual(['out.bin']);
}

for (const [label, save] of Object.entries(saves)) {
  describe(`${label} writes through the atomic write`, () => {
    it('durable by default: fsync, close, rename, directory fsync, in that order', async () => {
      const { recording, done } = run(save);
      expect(await done).toBeUndefined();
      expect(recording.steps).toEqual(DURABLE);
      expect(readFileSync(target).byteLength).toBeGreaterThan(256);
    });

    it('fsync: false is honoured (nothing synced, still closed before the rename)', async () => {
      const { recording, done } = run(save, { fsync: false });
      expect(await done).toBeUndefined();
      expect(recording.steps).toEqual(['open temp wx 666', 'close temp', 'rename temp out.bin']);
    });

    it('mode reaches the new file', async () => {
      const { recording, done } = run(save, { mode: 0o640 });
      expect(await done).toBeUndefined();
      expect(recording.steps[0]).toBe('open temp wx 640');
    });

    it('its signal is checked right before the rename: an abort while closing leaves the target as it was', async () => {
      const controller = new AbortController();
      const { recording, done } = run(save, { signal: controller.signal }, { before: (step) => step === 'close temp' && controller.abort() });
      const error = await done;
      expect(isNpzError(error, 'ERR_ABORTED'), String(error)).toBe(true);
      expect(recording.steps).toEqual(['open temp wx 666', 'sync temp', 'close temp', 'rm temp']);
      expectUntouched();
    });

    it('a failing data source: its error, the temp file closed and removed, the target untouched', async () => {
      const { recording, done } = run(save, {}, {}, true);
      const error = await done;
      expect(isNpzError(error, 'ERR_SOURCE'), String(error)).toBe(true);
      expect(recording.steps).toEqual(['open temp wx 666', 'close temp', 'rm temp']);
      expectUntouched();
    });

    it('a failing rename: ERR_IO naming the target, the temp file removed, the target untouched', async () => {
      const { recording, done } = run(save, {}, { failOn: 'rename' });
      const error = await done;
      expect(isNpzError(error, 'ERR_IO'), String(error)).toBe(true);
      expect((error as Error).message).toContain(target);
      expect(recording.steps.at(-1)).toBe('rm temp');
      expectUntouched();
    });
  });
}

describe('saveSafetensorsShards over several files', () => {
  it('each shard is durable before the next starts, and the index is renamed into place last', async () => {
    const recording = recordingCalls();
    const out = join(dir.path, 'model.safetensors');
    const summary = await saveSafetensorsShards(nodePlatformWith(recording.calls), out, { a: float32(64), b: float32(64), c: float32(64) }, { maxShardSize: 300 });
    expect(summary.files.map((file) => file.slice(dir.path.length + 1))).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const perFile = (name: string): string[] => ['open temp wx 666', 'sync temp', 'close temp', `rename temp ${name}`, 'open dir r', 'sync dir', 'close dir'];
    expect(recording.steps).toEqual(summary.files.flatMap((file) => perFile(file.slice(dir.path.length + 1))));
  });
});
