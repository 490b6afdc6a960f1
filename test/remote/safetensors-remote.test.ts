import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, openSafetensors, readSafetensors, saveSafetensors, type NpyArray } from '../../src/index.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCliAsync } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startSendServer, type RunningServer } from '../helpers/servers.js';
import { bytesOf } from '../helpers/bytes.js';

/** The Hub serves safetensors: the same ranged reads open one at a URL, header first, one tensor at a time. */

describe('safetensors at an http:// URL', () => {
  let dir: TempDir;
  let server: RunningServer;
  let url: string;
  let names: string[];

  beforeAll(async () => {
    dir = makeTempDir('remote-safetensors');
    const npz = await openNpz(PALIGEMMA);
    const pairs: [string, NpyArray][] = [];
    try {
      for (const entry of npz.entries) if (entry.isArray) pairs.push([entry.name, await npz.get(entry.name)]);
    } finally {
      await npz.close();
    }
    names = pairs.map(([name]) => name);
    await saveSafetensors(dir.file('model.safetensors'), pairs.values());
    server = await startSendServer(dir.path);
    url = `${server.origin}/model.safetensors`;
  });
  afterAll(async () => {
    await server?.close();
    dir?.remove();
  });

  it('opens from the header alone, then reads each tensor as the local file gives it', async () => {
    const local = await openSafetensors(dir.file('model.safetensors'));
    const before = server.log.length;
    const remote = await openSafetensors(url);
    try {
      expect(remote.entries).toEqual(local.entries);
      // The header sits in the first request's range (a suffix range, or by offset after a 416 on a small file).
      const opening = server.log.slice(before);
      expect(opening.length).toBeLessThanOrEqual(2);
      expect(opening.filter((request) => request.status === 200)).toEqual([]);
      for (const name of names) expect(bytesOf((await remote.get(name)).data)).toEqual(bytesOf((await local.get(name)).data));
    } finally {
      await remote.close();
      await local.close();
    }
    const seen: string[] = [];
    for await (const [name, array] of readSafetensors(url)) {
      seen.push(name);
      expect(array.shape.reduce((a, b) => a * b, 1) * (array.data.BYTES_PER_ELEMENT ?? 1)).toBe(array.data.byteLength);
    }
    expect(seen.sort()).toEqual([...names].sort());
    expect(server.log.every((request) => request.status === 206 || request.status === 416)).toBe(true);
    const served = statSync(dir.file('model.safetensors')).size;
    expect(readFileSync(dir.file('model.safetensors')).byteLength).toBe(served);
  });

  it('the CLI verifies and lists a safetensors URL', async () => {
    ensureBuilt();
    const ls = await runCliAsync(['ls', url, '--json']);
    expect(ls.stderr).toBe('');
    expect(ls.status).toBe(0);
    const listed = JSON.parse(ls.stdout) as { entries?: { name: string }[] } | { name: string }[];
    const entries = Array.isArray(listed) ? listed : (listed.entries ?? []);
    expect(entries.map((entry) => entry.name).sort()).toEqual([...names].sort());
    const verify = await runCliAsync(['verify', url]);
    expect(verify.stderr).not.toContain('ERR_');
    expect(verify.status).toBe(0);
  });

  it('a shard index URL is refused with a clear error (its shards are named relative to a local path)', async () => {
    const result = await runCliAsync(['ls', `${server.origin}/model.safetensors.index.json?sig=secret`]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('a shard index is read from a local path');
    expect(result.stderr).not.toContain('secret');
  });
});
