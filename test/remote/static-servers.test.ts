import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpSource, loadNpz, openNpz, readNpz, saveNpzStream, type NpyArray, type NpzFile } from '../../src/index.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { headerRegion, headerWindows, writeCheckpoint, type Checkpoint, type HeaderWindow } from '../helpers/checkpoint.js';
import { zipLayout, type ZipLayout } from '../helpers/zip-layout.js';
import { maxInFlight, nginxBinary, startNginx, startSendServer, type NginxServer, type RunningServer } from '../helpers/servers.js';

/**
 * Reading a numpy-written checkpoint from real static servers (send, as Express serves files, and nginx) must give
 * exactly what reading the local file gives, at a cost the servers themselves count. nginx is also the target of a
 * streamed PUT upload that numpy then loads.
 */

const NAME = 'paligemma-shaped.npz';
/** httpSource's first request: a suffix range this long (its default). */
const TAIL = 256 * 1024;

function sameArray(remote: NpyArray, local: NpyArray): void {
  expect(remote.dtype).toBe(local.dtype);
  expect(remote.shape).toEqual(local.shape);
  expect(Buffer.from(remote.data.buffer, remote.data.byteOffset, remote.data.byteLength).equals(
    Buffer.from(local.data.buffer, local.data.byteOffset, local.data.byteLength),
  )).toBe(true);
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'a numpy-written checkpoint over send (strong ETags)'), () => {
  let checkpoint: Checkpoint;
  let server: RunningServer;
  let url: string;
  let local: NpzFile;
  let layout: ZipLayout;

  beforeAll(async () => {
    checkpoint = writeCheckpoint(NAME);
    layout = zipLayout(checkpoint.path);
    server = await startSendServer(checkpoint.dir);
    url = `${server.origin}/${NAME}`;
    local = await openNpz(checkpoint.path);
  });
  afterAll(async () => {
    await local?.close();
    await server?.close();
    checkpoint?.remove();
  });

  it('lists the same entries and reads every array byte-identical to the local file', async () => {
    const remote = await openNpz(url);
    try {
      expect(remote.entries).toEqual(local.entries);
      for (const entry of local.entries) sameArray(await remote.get(entry.name), await local.get(entry.name));
    } finally {
      await remote.close();
    }
  });

  it('loadNpz and readNpz take the URL as a string or a URL object', async () => {
    const pairs: string[] = [];
    for await (const [name, array] of readNpz(new URL(url))) {
      sameArray(array, await local.get(name));
      pairs.push(name);
    }
    expect(pairs).toEqual(local.entries.map((entry) => entry.name));
    const tree = await loadNpz(url);
    const kernel = (((tree['img'] as Record<string, unknown>)['head'] as Record<string, unknown>)['kernel']) as NpyArray;
    sameArray(kernel, await local.get('img/head/kernel'));
  });

  it('a central directory larger than the first request: the tail grows down to it, the listing is the same', async () => {
    const before = server.log.length;
    const remote = await openNpz(url, { http: { tailSize: 1024 } });
    try {
      expect(remote.entries).toEqual(local.entries);
    } finally {
      await remote.close();
    }
    const ranges = server.log.slice(before).map((request) => request.range);
    expect(ranges[0]).toBe('bytes=-1024');
  });

  it('pins the object: every request after the first carries If-Match with the strong ETag', async () => {
    const first = server.log.length;
    const remote = await openNpz(url);
    await remote.get('img/head/kernel');
    await remote.close();
    const requests = server.log.slice(first);
    expect(requests.length).toBeGreaterThan(1);
    expect(requests[0]?.range).toBe('bytes=-262144');
    expect(requests[0]?.ifMatch).toBeUndefined();
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag');
    expect(etag).toMatch(/^"/);
    for (const request of requests.slice(1)) expect(request.ifMatch).toBe(etag);
  });

  it('get(name) of one tensor transfers at most its size + 256 KiB', async () => {
    const remote = await openNpz(url);
    try {
      for (const name of ['img/head/kernel', 'llm/embedder/input_embedding', 'llm/final_norm/scale']) {
        const entry = remote.entries.find((candidate) => candidate.name === name);
        if (entry === undefined || !entry.isArray) throw new Error(`fixture lacks ${name}`);
        const before = server.bytes();
        await remote.get(name);
        expect(server.bytes() - before, name).toBeLessThanOrEqual(entry.byteLength + 256 * 1024);
        // The last member lies inside the tail fetched on open, so it costs nothing more.
        if (name !== 'llm/final_norm/scale') expect(server.bytes() - before, name).toBeGreaterThanOrEqual(entry.byteLength);
        else expect(server.bytes() - before, name).toBe(0);
      }
    } finally {
      await remote.close();
    }
  });

  it('a large read is split into parallel ranged requests that land in order', async () => {
    const source = await httpSource(url, { concurrency: 4, requestSize: 64 * 1024 });
    try {
      const start = 1000;
      const length = 1_000_000;
      const before = server.log.length;
      const bytes = await source.read(start, length);
      expect(Buffer.from(bytes).equals(readFileSync(checkpoint.path).subarray(start, start + length))).toBe(true);
      expect(server.log.length - before).toBe(Math.ceil(length / (64 * 1024)));
      expect(source.stats.bytes).toBe(262144 + length);
    } finally {
      await source.close();
    }
  });

  it('small reads issued together are merged into one request', async () => {
    const source = await httpSource(url, { mergeGap: 4096 });
    try {
      const file = readFileSync(checkpoint.path);
      const before = server.log.length;
      const offsets = [5000, 100, 9000, 2000];
      const reads = await Promise.all(offsets.map((offset) => source.read(offset, 64)));
      reads.forEach((bytes, i) => expect(Buffer.from(bytes).equals(file.subarray(offsets[i]!, offsets[i]! + 64))).toBe(true));
      // Slices of a merged response are handed out as aligned copies, so typed-array views of them work.
      reads.forEach((bytes) => expect(bytes.byteOffset % 8).toBe(0));
      const cached = await source.read(source.size - 1001, 24);
      expect(cached.byteOffset % 8).toBe(0);
      expect(Buffer.from(cached).equals(file.subarray(source.size - 1001, source.size - 977))).toBe(true);
      expect(server.log.slice(before).map((request) => request.range)).toEqual(['bytes=100-9063']);
      // Empty reads and reads past the end cost nothing.
      const quiet = server.log.length;
      expect((await source.read(1000, 0)).length).toBe(0);
      expect((await source.read(source.size + 10, 5)).length).toBe(0);
      expect(Buffer.from(await source.read(source.size - 3, 10)).equals(file.subarray(source.size - 3))).toBe(true);
      expect(server.log.length).toBe(quiet);
      // Too far apart to merge: two requests.
      const apart = server.log.length;
      await Promise.all([source.read(0, 16), source.read(200_000, 16)]);
      expect(server.log.length - apart).toBe(2);
    } finally {
      await source.close();
    }
  });

  /** Header windows that cost a request: those not wholly inside the tail fetched by the first request. */
  function windowsBelowTail(gap: number): HeaderWindow[] {
    return headerWindows(layout, gap).filter((window) => window.start < layout.size - TAIL);
  }

  for (const gap of [64 * 1024, 300 * 1024]) {
    it(`opening with a ${gap / 1024} KiB merge gap: the tail, then one request per header window, never a body`, async () => {
      const windows = windowsBelowTail(gap);
      // The bound must be able to fail: one request per member, or one read swallowing every body, exceeds it.
      expect(windows.length).toBeLessThan(checkpoint.members - 5);
      const before = server.log.length;
      const bytesBefore = server.bytes();
      const remote = await openNpz(url, { http: { mergeGap: gap } });
      await remote.close();
      const requests = server.log.slice(before);
      expect(requests[0]?.range).toBe(`bytes=-${TAIL}`);
      expect(requests.every((request) => request.status === 206)).toBe(true);
      expect(requests.length).toBeLessThanOrEqual(1 + windows.length);
      // Each window is its header regions and the gaps between them; a window next to the tail may grow the
      // cached tail down to itself instead, reading at most one more gap.
      const windowBytes = windows.reduce((sum, window) => sum + window.end - window.start, 0);
      expect(server.bytes() - bytesBefore).toBeLessThanOrEqual(TAIL + windowBytes + gap);
      // No request holds the whole body of a member larger than the gap.
      for (const request of requests.slice(1)) {
        const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(request.range ?? '') ?? [];
        const [start, end] = [Number(from), Number(to) + 1];
        const swallowed = layout.records.filter((member) => {
          const data = headerRegion(member).start + 30 + member.nameLength + 20;
          return member.compressedSize > gap && start <= data && data + member.compressedSize <= end;
        });
        expect(swallowed.map((member) => member.name), request.range).toEqual([]);
      }
    });
  }

  it('a merge gap larger than mid-sized members trades bytes for requests: fewer windows, as planned', () => {
    // The two plans above differ, so the two tests pin the gap the scan was given, not a fixed policy.
    expect(windowsBelowTail(300 * 1024).length).toBeLessThan(windowsBelowTail(64 * 1024).length);
  });

  it('opening keeps up to `concurrency` header requests in flight (seen by a server that answers slowly)', async () => {
    const slow = await startSendServer(checkpoint.dir, { latencyMs: 100 });
    try {
      const concurrency = 4;
      const windows = windowsBelowTail(64 * 1024);
      expect(windows.length).toBeGreaterThan(2 * concurrency);
      const remote = await openNpz(`${slow.origin}/${NAME}`, { http: { concurrency, mergeGap: 64 * 1024 } });
      try {
        expect(remote.entries).toEqual(local.entries);
      } finally {
        await remote.close();
      }
      expect(slow.log.length).toBeLessThanOrEqual(1 + windows.length);
      // Windows one after another would never overlap at the server; reads ahead do, up to the limit.
      const scanRequests = slow.log.slice(1);
      expect(maxInFlight(scanRequests)).toBe(concurrency);
      expect(maxInFlight(slow.log)).toBeLessThanOrEqual(concurrency);
    } finally {
      await slow.close();
    }
  });
});

const nginx = nginxBinary();
if (nginx === undefined) {
  console.warn('\n*** nginx is not installed: the nginx range and WebDAV PUT tests are SKIPPED (apt-get install -y nginx-light) ***\n');
}
const nginxSkip = nginx === undefined ? 'nginx is not installed (apt-get install -y nginx-light)' : hasNumpy() ? undefined : NO_NUMPY;

describe.skipIf(nginxSkip !== undefined)(withSkipReason(nginxSkip !== undefined, nginxSkip ?? '', 'nginx: ranges against its strong ETag, and a streamed WebDAV PUT upload'), () => {
  let checkpoint: Checkpoint;
  let server: NginxServer;

  beforeAll(async () => {
    checkpoint = writeCheckpoint(NAME);
    server = await startNginx(nginx as string);
    copyFileSync(checkpoint.path, join(server.root, NAME));
  });
  afterAll(async () => {
    await server?.close();
    checkpoint?.remove();
  });

  it('reads every array byte-identical to the local file', async () => {
    const local = await openNpz(checkpoint.path);
    const remote = await openNpz(`${server.origin}/${NAME}`);
    try {
      expect(remote.entries).toEqual(local.entries);
      for (const entry of local.entries) sameArray(await remote.get(entry.name), await local.get(entry.name));
      const source = await httpSource(`${server.origin}/${NAME}`);
      expect(source.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
      await source.close();
    } finally {
      await remote.close();
      await local.close();
    }
    expect(server.log.every((request) => request.method !== 'GET' || request.status === 206)).toBe(true);
  });

  it('saveNpzStream into a chunked HTTP PUT body: nginx stores it, np.load reads it, and it reads back remotely', async () => {
    const tree = {
      params: {
        img: { head: { kernel: Float32Array.from({ length: 3000 }, (_, i) => i / 7), bias: new Float32Array(10).fill(0.5) } },
        llm: { embedder: { input_embedding: { dtype: 'float16' as const, shape: [64, 32], data: new Uint16Array(2048).fill(0x3c00) } } },
      },
    };
    // A pass-through stream as the PUT body: saveNpzStream writes into it while fetch sends it, chunked.
    const { PassThrough } = await import('node:stream');
    const body = new PassThrough();
    const upload = fetch(`${server.origin}/uploads/ckpt.npz`, {
      method: 'PUT',
      body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
      duplex: 'half',
    } as RequestInit);
    await saveNpzStream(tree, body);
    const response = await upload;
    expect(response.status).toBe(201);
    const putRequest = server.log.find((request) => request.method === 'PUT');
    expect(putRequest?.status).toBe(201);
    const stored = join(server.root, 'uploads', 'ckpt.npz');
    const report = JSON.parse(
      runPython(
        `
import sys, json, numpy as np
z = np.load(sys.argv[1])
print(json.dumps({k: [str(z[k].dtype), list(z[k].shape), float(z[k].astype(np.float64).sum())] for k in sorted(z.files)}))
`,
        [stored],
      ),
    ) as Record<string, [string, number[], number]>;
    expect(Object.keys(report)).toEqual(['params/img/head/bias', 'params/img/head/kernel', 'params/llm/embedder/input_embedding']);
    expect(report['params/img/head/kernel']?.[0]).toBe('float32');
    expect(report['params/img/head/kernel']?.[2]).toBeCloseTo(tree.params.img.head.kernel.reduce((a, b) => a + b, 0), 0);
    expect(report['params/img/head/bias']).toEqual(['float32', [10], 5]);
    expect(report['params/llm/embedder/input_embedding']).toEqual(['float16', [64, 32], 2048]);
    const back = await loadNpz(`${server.origin}/uploads/ckpt.npz`, { unwrapParams: true });
    const kernel = ((back['img'] as Record<string, unknown>)['head'] as Record<string, NpyArray>)['kernel'] as NpyArray;
    expect(Array.from(kernel.data as Float32Array)).toEqual(Array.from(tree.params.img.head.kernel));
  });
});
