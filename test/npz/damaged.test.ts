/**
 * A damaged member does not hide the intact ones: with its central directory intact, an npz opens, the damaged
 * member is an entry of its own kind (`damaged: true`, `isArray: false`, its `error`), and reading it throws that
 * error; `damaged: 'error'` keeps the strict open. Errors of the outside world (I/O, abort) still end the open.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  NpzError,
  isDamagedEntry,
  isNpzError,
  openNpz,
  saveNpz,
  type NpzArrayEntry,
  type NpzDamagedEntry,
  type RandomAccessSource,
} from '../../src/index.js';
import { isMemberDamage } from '../../src/io/array-file.js';
import { makeTempDir } from '../helpers/tmp.js';

const dir = makeTempDir('npz-damaged');
afterAll(() => dir.remove());

const tree = {
  a: new Float32Array([1, 2, 3, 4]),
  b: new Int16Array([5, 6, 7]),
  c: new Float64Array([8, 9]),
};

/** Where each member's npy header starts, and its local header. */
async function layout(path: string): Promise<Map<string, { local: number; npy: number; data: number }>> {
  const file = await openNpz(path);
  try {
    const out = new Map<string, { local: number; npy: number; data: number }>();
    for (const entry of file.entries as NpzArrayEntry[]) {
      out.set(entry.name, { local: entry.localHeaderOffset, npy: entry.dataOffset! - (entry.memberSize - entry.byteLength), data: entry.dataOffset! });
    }
    return out;
  } finally {
    await file.close();
  }
}

/** The tree saved, then changed by `mutate` (given the bytes and the members' offsets). */
async function damaged(name: string, mutate: (bytes: Buffer, at: Map<string, { local: number; npy: number; data: number }>) => void, options = {}): Promise<string> {
  const path = dir.file(name);
  await saveNpz(path, tree, options);
  const at = await layout(path);
  const bytes = readFileSync(path);
  mutate(bytes, at);
  writeFileSync(path, bytes);
  return path;
}

async function rejection(work: () => Promise<unknown>): Promise<NpzError> {
  const caught = await work().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(NpzError);
  return caught as NpzError;
}

describe('openNpz with damaged members', () => {
  it("lists a member with a bad npy header as damaged, in its place; the others read as usual; reading it throws its error", async () => {
    const path = await damaged('bad-magic.npz', (bytes, at) => bytes.write('XXXXX', at.get('b')!.npy + 1, 'latin1'));
    const file = await openNpz(path);
    try {
      expect(file.entries.map((entry) => [entry.name, entry.isArray, isDamagedEntry(entry)])).toEqual([
        ['a', true, false],
        ['b', false, true],
        ['c', true, false],
      ]);
      const b = file.entries[1] as NpzDamagedEntry;
      expect(b).toMatchObject({ format: 'npz', memberName: 'b.npy', damaged: true, compression: 'stored', error: { code: 'ERR_NPY_MAGIC' } });
      expect(b.error.message).toContain('b.npy');
      // Only code and message: an entry stays plain data (JSON, structured clone).
      expect(Object.keys(b.error).sort()).toEqual(['code', 'message']);
      expect(file.has('b')).toBe(true);
      expect([...(await file.get('a')).data]).toEqual([1, 2, 3, 4]);
      expect([...(await file.get('c')).data]).toEqual([8, 9]);
      for (const read of [() => file.get('b'), () => file.get('b.npy'), async () => file.chunks('b')]) {
        const error = await rejection(read);
        expect(error.code).toBe('ERR_NPY_MAGIC');
        expect(error.message).toBe(b.error.message);
      }
    } finally {
      await file.close();
    }
  });

  it("damaged: 'error' keeps the strict open: the first damaged member's error", async () => {
    const path = dir.file('bad-magic.npz');
    const error = await rejection(() => openNpz(path, { damaged: 'error' }));
    expect(error.code).toBe('ERR_NPY_MAGIC');
    expect(error.message).toContain('b.npy');
  });

  it('a local header that disagrees with the central directory makes that member damaged, not the file', async () => {
    // The local header's name (after the 30 fixed bytes) no longer matches the directory's.
    const path = await damaged('bad-local-name.npz', (bytes, at) => bytes.write('q', at.get('c')!.local + 30, 'latin1'));
    const file = await openNpz(path);
    try {
      const c = file.entries.find((entry) => entry.name === 'c')!;
      expect(c).toMatchObject({ damaged: true, isArray: false, error: { code: 'ERR_ZIP_NAME_MISMATCH' } });
      expect((await rejection(() => file.get('c'))).code).toBe('ERR_ZIP_NAME_MISMATCH');
      expect([...(await file.get('b')).data]).toEqual([5, 6, 7]);
    } finally {
      await file.close();
    }
    expect((await rejection(() => openNpz(path, { damaged: 'error' }))).code).toBe('ERR_ZIP_NAME_MISMATCH');
  });

  it('a deflated member whose npy header cannot be read is damaged too (the header found by inflating)', async () => {
    // Flip bytes inside the deflate stream of b, right where its header is compressed.
    const path = await damaged('bad-deflate.npz', (bytes, at) => {
      const start = at.get('b')!.local + 30 + 'b.npy'.length + 20;
      for (let i = 0; i < 8; i++) bytes[start + i]! ^= 0xa5;
    }, { compress: true });
    const file = await openNpz(path);
    try {
      const b = file.entries.find((entry) => entry.name === 'b')!;
      expect(isDamagedEntry(b)).toBe(true);
      expect(file.entries.filter((entry) => entry.isArray).map((entry) => entry.name)).toEqual(['a', 'c']);
    } finally {
      await file.close();
    }
  });

  it('a CRC-32 mismatch is found by reading, in both modes: the entry is an array, get throws', async () => {
    const path = await damaged('bad-crc.npz', (bytes, at) => void (bytes[at.get('a')!.data]! ^= 0xff));
    for (const mode of ['list', 'error'] as const) {
      const file = await openNpz(path, { damaged: mode });
      try {
        expect(file.entries.every((entry) => entry.isArray)).toBe(true);
        expect((await rejection(() => file.get('a'))).code).toBe('ERR_ZIP_CRC_MISMATCH');
      } finally {
        await file.close();
      }
    }
  });

  it('an I/O failure or an abort while the headers are read ends the open: they say nothing about a member', async () => {
    const bytes = readFileSync(dir.file('bad-crc.npz'));
    const at = await layout(dir.file('bad-crc.npz'));
    const failAt = at.get('b')!.local;
    const failing: RandomAccessSource = {
      size: bytes.length,
      async read(offset, length) {
        if (offset <= failAt && failAt < offset + length) throw new Error('the disk went away');
        return bytes.subarray(offset, offset + length);
      },
      async close() {},
    };
    const error = await openNpz(failing).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeDefined();
    expect(isNpzError(error) && error.code.startsWith('ERR_NPY')).toBe(false);

    const controller = new AbortController();
    controller.abort();
    expect((await rejection(() => openNpz(dir.file('bad-magic.npz'), { signal: controller.signal }))).code).toBe('ERR_ABORTED');
  });

  it('no error of the outside world marks a member damaged: I/O, remote, credentials, abort, caller', async () => {
    for (const code of ['ERR_IO', 'ERR_REMOTE_RANGE', 'ERR_REMOTE_CHANGED', 'ERR_REMOTE_STATUS', 'ERR_REMOTE_NETWORK', 'ERR_REMOTE_CREDENTIALS', 'ERR_ABORTED', 'ERR_INVALID_ARGUMENT', 'ERR_NPZ_CLOSED'] as const) {
      expect(isMemberDamage(new NpzError(code, 'x')), code).toBe(false);
    }
    for (const code of ['ERR_NPY_MAGIC', 'ERR_ZIP_CRC_MISMATCH', 'ERR_ZIP_LOCAL_HEADER', 'ERR_ZIP_BOUNDS'] as const) {
      expect(isMemberDamage(new NpzError(code, 'x')), code).toBe(true);
    }
    // Expired credentials while a member's header is read end the open rather than listing intact members.
    const bytes = readFileSync(dir.file('bad-crc.npz'));
    const reads: number[] = [];
    const expiring: RandomAccessSource = {
      size: bytes.length,
      async read(offset, length) {
        reads.push(offset);
        if (reads.length > 1) throw new NpzError('ERR_REMOTE_CREDENTIALS', 'the token expired');
        return bytes.subarray(offset, offset + length);
      },
      async close() {},
    };
    expect((await rejection(() => openNpz(expiring))).code).toBe('ERR_REMOTE_CREDENTIALS');
  });
});
