import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { encodeNpyHeader } from '../../src/npy/header.js';
import type { NpyArray } from '../../src/npy/array.js';
import { openNpz, readNpz } from '../../src/index.js';
import { nodeCodecs } from '../../src/node/codecs.js';
import { FileHandleSink } from '../../src/node/sinks.js';
import { ZipWriter } from '../../src/zip/write/writer.js';
import { openFdCount } from '../helpers/fds.js';
import { makeTempDir } from '../helpers/tmp.js';
import { GOOD_DIR } from '../helpers/fixtures.js';
import { record, zipLayout } from '../helpers/zip-layout.js';
import { seededRandom } from '../helpers/bytes.js';
import { WEIGHTS_STEP } from '../helpers/writer-child.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('../helpers/writer-child.ts', import.meta.url));
const scratch = makeTempDir('concurrency');
const dir = scratch.path;
afterAll(() => scratch.remove());

function fingerprint(array: NpyArray): string {
  const data = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return `${array.dtype} ${JSON.stringify(array.descr)} [${array.shape.join(',')}] ${array.fortranOrder} ${data.toString('base64')}`;
}

async function baseline(path: string): Promise<Map<string, string>> {
  const arrays = new Map<string, string>();
  for await (const [key, array] of readNpz(path)) arrays.set(key, fingerprint(array));
  return arrays;
}

describe('many concurrent readers of one file', () => {
  it.each(['paligemma-tiny.npz', 'compressed.npz', 'all-dtypes.npz'])('%s: 40 concurrent opens and 400 concurrent get/chunks calls agree with a sequential read', async (name) => {
    const path = join(GOOD_DIR, name);
    const expected = await baseline(path);
    const keys = [...expected.keys()];
    const fds = openFdCount();

    // Many independent opens, each reading every array at once.
    const opens = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const file = await openNpz(path);
        try {
          const arrays = await Promise.all(keys.map(async (key) => [key, fingerprint(await file.get(key))] as const));
          return new Map(arrays);
        } finally {
          await file.close();
        }
      }),
    );
    for (const arrays of opens) expect(arrays).toEqual(expected);

    // One shared handle hammered with overlapping get() and chunks() calls on seeded keys.
    const random = seededRandom(0xc0c0);
    const file = await openNpz(path);
    try {
      const calls = Array.from({ length: 400 }, async (_, index) => {
        const key = keys[Math.floor(random() * keys.length)]!;
        if (index % 4 !== 0) return [key, fingerprint(await file.get(key))] as const;
        const pieces: Buffer[] = [];
        for await (const chunk of file.chunks(key, { chunkSize: 1024 })) pieces.push(Buffer.from(chunk));
        const whole = Buffer.concat(pieces).toString('base64');
        return [key, expected.get(key)!.endsWith(` ${whole}`) ? expected.get(key)! : `chunks differ: ${whole.slice(0, 40)}`] as const;
      });
      for (const [key, seen] of await Promise.all(calls)) expect(seen, key).toBe(expected.get(key));
    } finally {
      await file.close();
    }
    expect(openFdCount()).toBe(fds);
  });
});

interface LoopChild {
  child: ChildProcess;
  written: () => number;
  /** Settles on 'close': the child has exited and its stdio pipes are closed, so their descriptors are gone too. */
  exited: Promise<void>;
}

function startRewriter(target: string, versions: number): Promise<LoopChild> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'loop', target, String(versions)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let written = 0;
    let stderr = '';
    let resolved = false;
    const exited = new Promise<void>((done, fail) => {
      child.on('close', (code) => (code === 0 ? done() : fail(new Error(`rewriter exited ${code}: ${stderr}`))));
    });
    exited.catch(reject);
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      written += chunk.toString().split('\n').filter((line) => line.startsWith('wrote')).length;
      if (!resolved && written > 0) {
        resolved = true;
        resolve({ child, written: () => written, exited });
      }
    });
  });
}

/** A child that writes version k when told to, so a test can place reads between rewrites exactly. */
function startStepWriter(target: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'step', target], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting = new Map<number, () => void>();
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const [version, done] of waiting) {
      if (stdout.split('\n').includes(`wrote ${version}`)) {
        waiting.delete(version);
        done();
      }
    }
  });
  const closed = new Promise<void>((done, fail) => child.on('close', (code) => (code === 0 ? done() : fail(new Error(`step writer exited ${code}: ${stderr}`)))));
  return {
    write(version: number): Promise<void> {
      return new Promise((done, fail) => {
        waiting.set(version, done);
        closed.then(() => fail(new Error(`step writer closed before writing ${version}`)), fail);
        child.stdin.write(`write ${version}\n`);
      });
    },
    close(): Promise<void> {
      child.stdin.end();
      return closed;
    },
  };
}

/** Reads one opened version completely; throws if its arrays do not all belong to the same version. */
async function readVersion(path: string, hold?: () => Promise<void>): Promise<number> {
  const file = await openNpz(path);
  try {
    const listed = file.entries.find((entry) => entry.name === 'weights');
    // Keep the file open while the writer replaces it: the opened inode must keep serving the old version.
    await hold?.();
    const version = Number((await file.get('version')).data[0]);
    const weights = await file.get('weights');
    const bias = await file.get('bias');
    const consistent =
      listed !== undefined &&
      listed.isArray &&
      listed.shape[0] === WEIGHTS_STEP * (1 + (version % 3)) &&
      weights.shape[0] === WEIGHTS_STEP * (1 + (version % 3)) &&
      (weights.data as Int32Array).every((value) => value === version) &&
      bias.shape[0] === 10 + (version % 7) &&
      (bias.data as Int32Array).every((value) => value === -version);
    // A plain Error, not an NpzError: the reader loop lets it through and the test fails.
    if (!consistent) throw new Error(`MIXED: version ${version} with arrays of another version`);
    return version;
  } finally {
    await file.close();
  }
}

describe('readers while another process rewrites the file with saveNpz', () => {
  it('in lockstep: each read sees the version just written, and a file held open keeps its version across rewrites', async () => {
    const target = join(dir, 'stepped.npz');
    const fds = openFdCount();
    const writer = startStepWriter(target);
    try {
      await writer.write(1);
      for (let version = 1; version <= 12; version += 3) {
        // Opened at `version`, then two more versions are renamed over the path before its arrays are read.
        const held = await readVersion(target, async () => {
          await writer.write(version + 1);
          await writer.write(version + 2);
        });
        expect(held, 'the opened inode still serves the version it was opened at').toBe(version);
        expect(await readVersion(target), 'a fresh open sees the newest version').toBe(version + 2);
        const streamed = new Map<string, number>();
        for await (const [key, array] of readNpz(target)) streamed.set(key, Math.abs(Number(array.data[0])));
        expect([...streamed.values()]).toEqual([version + 2, version + 2, version + 2]);
        await writer.write(version + 3);
      }
    } finally {
      await writer.close();
    }
    expect(openFdCount()).toBe(fds);
  });

  it('free running: every opened file reads as one whole version (old or new), never a mix', async () => {
    const target = join(dir, 'rewritten.npz');
    const fds = openFdCount();
    const versions = 300;
    const rewriter = await startRewriter(target, versions);
    const seen = new Set<number>();
    const outcomes: Record<string, number> = {};
    const note = (what: string): void => {
      outcomes[what] = (outcomes[what] ?? 0) + 1;
    };
    let running = true;
    rewriter.exited.then(() => (running = false), () => (running = false));

    // Rename is atomic, so whatever the interleaving every read must succeed with one whole version: any error,
    // NpzError or not, fails the test. Each reader keeps going until the writer is done, then reads once more,
    // which must see the last version.
    const reader = async (id: number): Promise<number> => {
      let last = 0;
      for (let writerDone = !running; ; writerDone = !running) {
        if (id === 0) {
          const before = rewriter.written();
          last = await readVersion(target, async () => {
            while (running && rewriter.written() < before + 2) await new Promise((resolve) => setTimeout(resolve, 2));
          });
          note('held open while the writer went on');
        } else if (id === 1) {
          const found = new Set<number>();
          const lengths = new Map<string, number>();
          for await (const [key, array] of readNpz(target)) {
            lengths.set(key, array.shape[0] ?? 0);
            found.add(key === 'version' ? Number(array.data[0]) : Math.abs((array.data as Int32Array)[0] ?? 0));
          }
          const [version] = found;
          if (found.size !== 1 || lengths.get('weights') !== WEIGHTS_STEP * (1 + (version! % 3))) throw new Error(`MIXED stream read: ${[...found].join(',')}`);
          last = version!;
          note('readNpz pass: one version');
        } else {
          last = await readVersion(target);
          note('openNpz + get: one version');
        }
        seen.add(last);
        if (writerDone) return last;
      }
    };
    let finals: number[];
    try {
      finals = await Promise.all([reader(0), reader(1), reader(2), reader(3)]);
    } catch (error) {
      // Stop the writer before the test's directory is removed under it.
      rewriter.child.kill('SIGKILL');
      await rewriter.exited.catch(() => undefined);
      throw error;
    }
    await rewriter.exited;
    console.log(`concurrent rewrite: ${rewriter.written()} versions written, ${seen.size} distinct versions read; ${JSON.stringify(outcomes)}`);
    expect(rewriter.written()).toBe(versions);
    expect(finals).toEqual([versions, versions, versions, versions]);
    expect([...seen].every((version) => version >= 1 && version <= versions)).toBe(true);
    expect(openFdCount()).toBe(fds);
  });

  it('a writer that does not rename (truncates or overwrites in place) gives an NpzError, never other data', async () => {
    // Large enough that the big member is read from the file, not from the small-read window cached at open.
    const path = join(dir, 'in-place.npz');
    const fixture = join(GOOD_DIR, 'all-dtypes.npz');
    const layout = zipLayout(readFileSync(fixture));
    const big = record(layout, 'img/embedding/kernel.npy');
    const expected = await baseline(fixture);

    const outcomesAfter = async (damage: () => void): Promise<string[]> => {
      copyFileSync(fixture, path);
      const file = await openNpz(path);
      damage();
      const outcomes = new Set<string>();
      try {
        for (const key of expected.keys()) {
          try {
            expect(fingerprint(await file.get(key)), key).toBe(expected.get(key));
            outcomes.add('identical');
          } catch (error) {
            if (!isNpzError(error)) throw error;
            outcomes.add(error.code);
          }
        }
      } finally {
        await file.close();
      }
      return [...outcomes].sort();
    };

    const truncated = await outcomesAfter(() => truncateSync(path, big.localHeaderOffset + 1000));
    expect(truncated).toContain('ERR_ZIP_TRUNCATED');
    expect(truncated.every((outcome) => outcome === 'identical' || outcome === 'ERR_ZIP_TRUNCATED')).toBe(true);

    const overwritten = await outcomesAfter(() => {
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, big.localHeaderOffset + 20_000);
      closeSync(fd);
    });
    expect(overwritten).toEqual(['ERR_ZIP_CRC_MISMATCH', 'identical']);
  });
});

describe('a 70,000-entry archive', () => {
  const MEMBERS = 70_000;

  it('opens and lists in bounded memory (time and memory are printed, not asserted as times)', async () => {
    // The same bytes np.savez writes for 70,000 0-d uint16 arrays (the writer is byte-identical to numpy), made
    // with the zip writer directly because np.savez needs several seconds for it.
    const path = join(dir, 'many.npz');
    const handle = await open(path, 'w');
    const writer = new ZipWriter(new FileHandleSink(handle), { codecs: nodeCodecs });
    const head = encodeNpyHeader({ dtype: 'uint16', shape: [] });
    for (let index = 0; index < MEMBERS; index++) await writer.add({ name: `m/${index}.npy`, head, data: Uint16Array.of(index % 65_536) });
    const { bytes } = await writer.finish();
    await handle.close();

    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage();
    const started = performance.now();
    const file = await openNpz(path);
    const openMs = performance.now() - started;
    const peak = process.memoryUsage();
    let listed = 0;
    for (const entry of file.entries) if (entry.isArray && entry.shape.length === 0 && entry.dtype === 'uint16') listed++;
    const listMs = performance.now() - started;
    gc();
    const retained = process.memoryUsage();
    const values = await Promise.all([0, 65_535, 65_536, MEMBERS - 1].map(async (index) => (await file.get(`m/${index}`)).data[0]));
    await file.close();
    const mb = (value: number): string => (value / 2 ** 20).toFixed(0);
    console.log(
      `${MEMBERS} entries (${mb(bytes)} MiB file): openNpz ${openMs.toFixed(0)} ms, listed in ${listMs.toFixed(0)} ms; ` +
        `RSS +${mb(peak.rss - before.rss)} MiB, heap +${mb(peak.heapUsed - before.heapUsed)} MiB at open, ` +
        `+${mb(retained.heapUsed - before.heapUsed)} MiB retained by the open file`,
    );
    expect(listed).toBe(MEMBERS);
    expect(values).toEqual([0, 65_535, 0, (MEMBERS - 1) % 65_536]);
    // Generous bounds: about 1 KiB per entry is retained today; these catch a per-entry leak of whole buffers.
    expect(retained.heapUsed - before.heapUsed).toBeLessThan(256 * 2 ** 20);
    expect(peak.rss - before.rss).toBeLessThan(1024 * 2 ** 20);
  });
});
