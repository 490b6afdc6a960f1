/**
 * What slices cost over HTTP, counted by the server: requests and body bytes, never wall-clock time. The matrix
 * is the issue's: (2048, 16384) bfloat16, 64 MiB, as safetensors and as a stored npz member, served from memory
 * by a node:http server on 127.0.0.1, with or without 20 ms before every response.
 *
 * - A row slice costs its own bytes (plus at most 64 KiB) after the open.
 * - With 20 ms per request, a 1/8 column shard (`shard(axis 1, count 8)`) costs no more requests and no more bytes
 *   than `get` of the whole matrix: the measured round trip makes its 28 KiB gaps worth reading through. (This
 *   one rests on the loopback throughput the source measures: the gap is read through while 20 ms × throughput /
 *   16 reads in flight exceeds 28 KiB, i.e. above about 23 MB/s; a machine loaded far past its cores can measure
 *   less, and the planner then rightly reads more, smaller requests.)
 * - Without added latency it costs less than half the matrix: on loopback a round trip is cheaper than 28 KiB.
 *   (This one rests on the time to first byte the source measures while opening: on a machine loaded far past
 *   its cores, loopback requests wait milliseconds too, and the planner rightly reads through.)
 * - The file's `readStats` agree with what the server counted.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, openSafetensors, saveNpz, saveSafetensors, type ArrayFile, type NpyArray } from '../../src/index.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { startFaultServer, type RunningServer } from '../helpers/servers.js';

const ROWS = 2048;
const COLS = 16384;
const MATRIX_BYTES = ROWS * COLS * 2;
const KIB = 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function bytesOf(array: NpyArray): Buffer {
  return Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

interface Served {
  server: RunningServer;
  url: string;
}

/** What one call cost, counted by the server and by the file. */
interface Cost {
  requests: number;
  bytes: number;
  reads: number;
  readBytes: number;
}

async function costOf(served: Served, file: ArrayFile, work: () => Promise<unknown>): Promise<Cost> {
  const { server } = served;
  const requests = server.log.length;
  const bytes = server.bytes();
  const { reads, bytes: readBytes } = file.readStats;
  await work();
  return {
    requests: server.log.length - requests,
    bytes: server.bytes() - bytes,
    reads: file.readStats.reads - reads,
    readBytes: file.readStats.bytes - readBytes,
  };
}

describe('slices over HTTP, counted by the server', () => {
  let dir: TempDir;
  let matrix: NpyArray;
  const files = { safetensors: '', npz: '' };
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    dir = makeTempDir('slice-remote');
    const data = new Uint16Array(ROWS * COLS);
    for (let i = 0; i < data.length; i++) data[i] = Math.imul(i, 2654435761) >>> 16;
    matrix = { dtype: 'bfloat16', descr: '<V2', shape: [ROWS, COLS], fortranOrder: false, data };
    files.safetensors = dir.file('m.safetensors');
    files.npz = dir.file('m.npz');
    await saveSafetensors(files.safetensors, { w: matrix });
    await saveNpz(files.npz, { w: matrix });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    dir?.remove();
  });

  async function serve(path: string, latencyMs: number): Promise<Served> {
    const server = await startFaultServer(readFileSync(path), async (req, res, context) => {
      if (latencyMs > 0) await sleep(latencyMs);
      context.serve(req, res);
    });
    servers.push(server);
    return { server, url: `${server.origin}/${path.endsWith('.npz') ? 'm.npz' : 'm.safetensors'}` };
  }

  const formats = [
    ['safetensors', (url: string) => openSafetensors(url)],
    ['npz', (url: string) => openNpz(url)],
  ] as const;

  /** The expected bytes of rows [from, to) and columns [c0, c1), from the matrix in memory. */
  function expected(rows: [number, number], cols: [number, number]): Buffer {
    const out = Buffer.alloc((rows[1] - rows[0]) * (cols[1] - cols[0]) * 2);
    const source = Buffer.from(matrix.data.buffer, matrix.data.byteOffset, matrix.data.byteLength);
    let at = 0;
    for (let r = rows[0]; r < rows[1]; r++) at += source.copy(out, at, (r * COLS + cols[0]) * 2, (r * COLS + cols[1]) * 2);
    return out;
  }

  for (const [format, open] of formats) {
    it(`${format}: a row slice transfers its own bytes (plus at most 64 KiB) after the open`, async () => {
      const served = await serve(files[format], 0);
      const file = await open(served.url);
      try {
        let rows: NpyArray | undefined;
        const cost = await costOf(served, file, async () => (rows = await file.get('w', { slice: [[100, 164]] })));
        const own = 64 * COLS * 2;
        expect(cost.bytes).toBeGreaterThanOrEqual(own);
        expect(cost.bytes).toBeLessThanOrEqual(own + 64 * KIB);
        expect(bytesOf(rows as NpyArray).equals(expected([100, 164], [0, COLS]))).toBe(true);
        // The file's own statistics say the same as the server.
        expect({ reads: cost.reads, bytes: cost.readBytes }).toEqual({ reads: cost.requests, bytes: cost.bytes });
        // One row, by index: its 32 KiB only.
        const one = await costOf(served, file, () => file.get('w', { slice: [-1] }));
        expect(one.bytes).toBeLessThanOrEqual(COLS * 2 + 64 * KIB);
      } finally {
        await file.close();
      }
    });

    it(`${format}: with 20 ms per request, a 1/8 column shard costs no more requests or bytes than get of the matrix`, async () => {
      const served = await serve(files[format], 20);
      const sharded = await open(served.url);
      let shard: NpyArray | undefined;
      let shardCost: Cost;
      try {
        shardCost = await costOf(served, sharded, async () => (shard = await sharded.shard('w', { axis: 1, index: 3, count: 8 })));
      } finally {
        await sharded.close();
      }
      const whole = await open(served.url);
      let getCost: Cost;
      try {
        getCost = await costOf(served, whole, () => whole.get('w'));
      } finally {
        await whole.close();
      }
      expect((shard as NpyArray).shape).toEqual([ROWS, COLS / 8]);
      expect(bytesOf(shard as NpyArray).equals(expected([0, ROWS], [3 * 2048, 4 * 2048]))).toBe(true);
      expect(shardCost.bytes).toBeLessThanOrEqual(getCost.bytes);
      expect(shardCost.requests).toBeLessThanOrEqual(getCost.requests);
      // Not 2048 round trips: a few exact reads while the link is measured, then merged reads of up to 4 MiB.
      expect(shardCost.requests).toBeLessThan(64);
    });

    it(`${format}: without added latency, a 1/8 column shard transfers less than half of the matrix`, async () => {
      const served = await serve(files[format], 0);
      const file = await open(served.url);
      try {
        let shard: NpyArray | undefined;
        const cost = await costOf(served, file, async () => (shard = await file.shard('w', { axis: 1, index: 7, count: 8 })));
        expect(cost.bytes).toBeLessThan(MATRIX_BYTES / 2);
        expect(bytesOf(shard as NpyArray).equals(expected([0, ROWS], [7 * 2048, 8 * 2048]))).toBe(true);
        expect({ reads: cost.reads, bytes: cost.readBytes }).toEqual({ reads: cost.requests, bytes: cost.bytes });
      } finally {
        await file.close();
      }
    });
  }
});
