/**
 * A sharded checkpoint at a URL, as the Hugging Face Hub serves one: the index is read through the platform's
 * source for its URL, each shard is resolved against it and read with the same HTTP options (headers included),
 * by the API and by every reading command.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpzError, openSafetensorsIndex, saveSafetensorsShards, type NpyArray } from '../../src/index.js';
import { ensureBuilt, runCliAsync } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startSendServer, type RunningServer } from '../helpers/servers.js';

function bytesOf(array: NpyArray): number[] {
  return [...new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength)];
}

describe('a shard index at an http:// URL', () => {
  let dir: TempDir;
  let server: RunningServer;
  let indexUrl: string;
  const tree = {
    embed: new Float32Array(64).map((_, i) => i / 8),
    layers: { '0': { w: new Float32Array(48).fill(2), b: new Int32Array([1, 2, 3]) }, '1': { w: new Float32Array(48).fill(3) } },
  };

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('index-http');
    await saveSafetensorsShards(dir.file('org/model/model.safetensors'), tree, { maxShardSize: 200 });
    server = await startSendServer(dir.path);
    indexUrl = `${server.origin}/org/model/model.safetensors.index.json`;
  });
  afterAll(async () => {
    await server?.close();
    dir?.remove();
  });

  it('opens the index and its shards over HTTP, every request with the headers given; tensors read as from disk', async () => {
    const local = await openSafetensorsIndex(dir.file('org/model/model.safetensors.index.json'));
    server.log.length = 0;
    const remote = await openSafetensorsIndex(indexUrl, { http: { headers: [['Authorization', 'Bearer secret-token']] } });
    try {
      expect(remote.entries.map((entry) => [entry.name, entry.shard])).toEqual(local.entries.map((entry) => [entry.name, entry.shard]));
      expect(new Set(remote.entries.map((entry) => entry.shard)).size).toBeGreaterThan(1);
      for (const entry of remote.entries) expect(bytesOf(await remote.get(entry.name))).toEqual(bytesOf(await local.get(entry.name)));
    } finally {
      await Promise.all([remote.close(), local.close()]);
    }
    const paths = new Set(server.log.map((request) => new URL(request.url, server.origin).pathname));
    const shards = JSON.parse(readFileSync(dir.file('org/model/model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    expect([...paths].sort()).toEqual(['/org/model/model.safetensors.index.json', ...new Set(Object.values(shards.weight_map).map((shard) => `/org/model/${shard}`))].sort());
    expect(server.log.every((request) => request.authorization === 'Bearer secret-token')).toBe(true);
  });

  it("shards resolve against the index's URL without its query string; an index that is not there fails with the HTTP status", async () => {
    const withQuery = await openSafetensorsIndex(new URL(`${indexUrl}?download=true`));
    await withQuery.close();
    const missing = await openSafetensorsIndex(`${server.origin}/nowhere/model.safetensors.index.json`).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(missing).toBeInstanceOf(NpzError);
    expect((missing as NpzError).code).toBe('ERR_REMOTE_STATUS');
  });

  it('ls, stats and verify take the index URL', async () => {
    const ls = await runCliAsync(['ls', '--json', indexUrl]);
    expect(ls.status, ls.stderr).toBe(0);
    expect((JSON.parse(ls.stdout) as { entries: { name: string }[] }).entries.map((entry) => entry.name).sort()).toEqual(['embed', 'layers/0/b', 'layers/0/w', 'layers/1/w']);
    const stats = await runCliAsync(['stats', '--json', indexUrl, 'layers/1/w']);
    expect(stats.status, stats.stderr).toBe(0);
    expect((JSON.parse(stats.stdout) as { arrays: { min: number; max: number }[] }).arrays[0]).toMatchObject({ min: 3, max: 3 });
    const verify = await runCliAsync(['verify', indexUrl]);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^OK {4}4 arrays/m);
  });
});
