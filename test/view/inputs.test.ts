import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, saveSafetensors } from '../../src/index.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startSendServer, type RunningServer } from '../helpers/servers.js';
import { startView, type RunningView } from '../helpers/view.js';

/** `view` opens what every reading command opens: an http(s) URL (ranged reads) and a safetensors file. */

interface OverviewRow {
  name: string;
  dtype: string;
  shape: number[];
}

async function overviewNames(view: RunningView): Promise<OverviewRow[]> {
  const response = await fetch(`http://127.0.0.1:${view.port}/api/overview?file=0&token=${view.token}`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { tensors: OverviewRow[] };
  return body.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
}

describe('npz-stream view inputs', () => {
  let dir: TempDir;
  let server: RunningServer;
  let expected: OverviewRow[];

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('view-inputs');
    copyFileSync(PALIGEMMA, dir.file('ckpt.npz'));
    server = await startSendServer(dir.path);
    const file = await openNpz(PALIGEMMA);
    try {
      expected = file.entries.filter((entry) => entry.isArray).map((entry) => ({ name: entry.name, dtype: entry.dtype, shape: [...entry.shape] }));
      const leaves: [string, Awaited<ReturnType<typeof file.get>>][] = [];
      for (const entry of expected) leaves.push([entry.name, await file.get(entry.name)]);
      await saveSafetensors(dir.file('ckpt.safetensors'), leaves.values());
    } finally {
      await file.close();
    }
    expect(expected.length).toBeGreaterThan(10);
  });
  afterAll(async () => {
    await server?.close();
    dir?.remove();
  });

  it('lists every tensor of a checkpoint at an http:// URL, read by range requests, and never prints the query', async () => {
    const view = await startView([`${server.origin}/ckpt.npz?X-Amz-Signature=secret`]);
    try {
      expect(await overviewNames(view)).toEqual(expected);
      // Ranged reads only (send refuses a suffix range longer than this small file with 416; the source then asks
      // by offset): never a 200 with the whole body.
      expect(server.log.some((request) => request.status === 206)).toBe(true);
      expect(server.log.filter((request) => request.status !== 206 && request.status !== 416)).toEqual([]);
      expect(view.stderr()).not.toContain('secret');
      const files = (await (await fetch(`http://127.0.0.1:${view.port}/api/files?token=${view.token}`)).json()) as { files: { path: string }[] };
      expect(files.files[0]?.path).not.toContain('secret');
    } finally {
      expect(await view.stop()).toBe(0);
    }
  });

  it('lists every tensor of a safetensors file', async () => {
    const view = await startView([dir.file('ckpt.safetensors')]);
    try {
      const rows = await overviewNames(view);
      expect(rows.map((row) => row.name).sort()).toEqual(expected.map((row) => row.name).sort());
      expect(rows).toEqual(expect.arrayContaining(expected));
    } finally {
      expect(await view.stop()).toBe(0);
    }
  });
});
