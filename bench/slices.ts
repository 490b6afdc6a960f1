/**
 * `npm run build && node --import tsx bench/slices.ts [--scale 0.03] [--file F] [--latency-ms 20] [--count 8] [--json OUT]`
 *
 * Slices against whole reads, on the PaliGemma-shaped npz fixture (the one bench/remote.ts uses), through three
 * sources: the local file, a loopback range server, and the same server with LATENCY ms added to every request.
 * For each source, each tensor is read twice, each time from a freshly opened file:
 *  - `llm/embedder/input_embedding` (vocab × width): `get` of the whole tensor against `shard(axis 0, count N)`,
 *    one Nth of the rows, as tensor-parallel loaders split embeddings (the first ⌊rows/N⌋ rows by `slice` when
 *    the rows do not divide by N, as at tiny scales);
 *  - the largest tensor (a stacked matrix): `get` against `shard(axis -1, count N)`, a column shard, which is one
 *    byte run per row of every layer.
 * Each line gives wall time, requests and bytes after the open: over HTTP as the server counted them, for the
 * local file as the file's `readStats` counted them. Shard results are checked against the whole tensor's bytes.
 * The range server is bench/remote.ts's, in a child process. One run; on a shared machine the wall times are
 * indicative only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ArrayFile, NpyArray } from '../dist/index.js';

interface ServerStats {
  requests: number;
  bytes: number;
}

interface Server {
  url: string;
  process: ChildProcess;
  stats(): Promise<ServerStats>;
  stop(): void;
}

/** bench/remote.ts's range server (single ranges, ETag, optional latency), counting requests and body bytes. */
async function startServer(file: string, latencyMs: number): Promise<Server> {
  const remote = fileURLToPath(new URL('./remote.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', remote, '--serve', file, String(latencyMs), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`range server exited ${code}`)));
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/ckpt.npz`,
    process: child,
    stats: async () => (await (await fetch(`${origin}/__stats`)).json()) as ServerStats,
    stop: () => void child.kill(),
  };
}

interface Measure {
  source: string;
  tensor: string;
  read: string;
  shape: number[];
  seconds: number;
  requests: number;
  bytes: number;
}

interface Cost {
  requests: number;
  bytes: number;
}

function bytesOf(array: NpyArray): Uint8Array {
  return new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Fails loudly when a shard is not the part of the whole tensor it stands for. */
function checkShard(whole: NpyArray, part: NpyArray, axis: 'rows' | 'columns', index: number, count: number): void {
  const all = bytesOf(whole);
  const got = bytesOf(part);
  const items = whole.shape.reduce((a, b) => a * b, 1);
  const rowBytes = (whole.shape[whole.shape.length - 1] as number) * (all.length / items);
  const rows = all.length / rowBytes;
  if (axis === 'rows') {
    if (!equalBytes(got, all.subarray(index * got.length, (index + 1) * got.length))) throw new Error('the row shard differs from the rows of the whole tensor');
    return;
  }
  const width = rowBytes / count;
  for (const row of [0, Math.floor(rows / 2), rows - 1]) {
    const want = all.subarray(row * rowBytes + index * width, row * rowBytes + (index + 1) * width);
    if (!equalBytes(got.subarray(row * width, (row + 1) * width), want)) throw new Error(`row ${row} of the column shard differs from the whole tensor`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '0.03' },
      file: { type: 'string' },
      'latency-ms': { type: 'string', default: '20' },
      count: { type: 'string', default: '8' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const { openNpz } = (await import('../dist/index.js')) as typeof import('../dist/index.js');
  let file = values.file;
  if (file === undefined) {
    file = join(tmpdir(), `npz-remote-bench-${values.scale}.npz`);
    if (!existsSync(file)) {
      const { writeFixture } = await import('./lib/fixture.js');
      await writeFixture({ out: file, model: 'paligemma-3b', precision: 'bfloat16', scale: Number(values.scale), seed: 0 });
    }
  }
  const latency = Number(values['latency-ms']);
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be an integer ≥ 1; got ${values.count}`);

  const probe = await openNpz(file);
  const arrays = probe.entries.filter((entry) => entry.isArray);
  await probe.close();
  const embedding = arrays.find((entry) => entry.name === 'llm/embedder/input_embedding');
  const largest = arrays.reduce((a, b) => (b.byteLength > a.byteLength ? b : a));
  if (embedding === undefined) throw new Error(`${file} has no llm/embedder/input_embedding`);
  const index = Math.floor(count / 2);
  const rows = embedding.shape[0] as number;
  const rowsDivide = rows % count === 0;
  const columns = largest.shape[largest.shape.length - 1] as number;
  if (columns % count !== 0) throw new Error(`the last axis of ${largest.name} (${columns}) does not divide by ${count}`);

  const measures: Measure[] = [];
  const say = (m: Measure): void => {
    measures.push(m);
    process.stdout.write(
      `${m.source.padEnd(22)} ${m.tensor.padEnd(10)} ${m.read.padEnd(34)} ${m.seconds.toFixed(3).padStart(8)} s ${String(m.requests).padStart(6)} req ${(m.bytes / 2 ** 20).toFixed(2).padStart(9)} MiB\n`,
    );
  };

  const sources: Array<{ label: string; latency: number | undefined }> = [
    { label: 'local file', latency: undefined },
    { label: 'HTTP loopback', latency: 0 },
    ...(latency > 0 ? [{ label: `HTTP +${latency} ms/request`, latency }] : []),
  ];
  for (const source of sources) {
    const server = source.latency === undefined ? undefined : await startServer(file, source.latency);
    try {
      /** Opens afresh, then times `read` and counts what it cost after the open. */
      const measure = async (tensor: string, read: string, work: (npz: ArrayFile) => Promise<NpyArray>): Promise<NpyArray> => {
        const npz = await openNpz(server?.url ?? file);
        try {
          const before: Cost = server === undefined ? { requests: npz.readStats.reads, bytes: npz.readStats.bytes } : await server.stats();
          const started = performance.now();
          const array = await work(npz);
          const seconds = (performance.now() - started) / 1000;
          const after: Cost = server === undefined ? { requests: npz.readStats.reads, bytes: npz.readStats.bytes } : await server.stats();
          say({ source: source.label, tensor, read, shape: array.shape, seconds, requests: after.requests - before.requests, bytes: after.bytes - before.bytes });
          return array;
        } finally {
          await npz.close();
        }
      };
      const wholeEmbedding = await measure('embedding', `get ${JSON.stringify(embedding.shape)}`, (npz) => npz.get(embedding.name));
      const rowShard = rowsDivide
        ? await measure('embedding', `shard(axis 0, ${index} of ${count})`, (npz) => npz.shard(embedding.name, { axis: 0, index, count }))
        : await measure('embedding', `slice [0, ${Math.floor(rows / count)})`, (npz) => npz.get(embedding.name, { slice: [[0, Math.floor(rows / count)]] }));
      checkShard(wholeEmbedding, rowShard, 'rows', rowsDivide ? index : 0, count);
      const wholeLargest = await measure('largest', `get ${JSON.stringify(largest.shape)}`, (npz) => npz.get(largest.name));
      const columnShard = await measure('largest', `shard(axis -1, ${index} of ${count})`, (npz) => npz.shard(largest.name, { axis: -1, index, count }));
      checkShard(wholeLargest, columnShard, 'columns', index, count);
    } finally {
      server?.stop();
    }
  }
  process.stdout.write(`\nembedding: ${embedding.name}, largest: ${largest.name} ${JSON.stringify(largest.shape)} ${largest.dtype}\n\n`);
  process.stdout.write('| source | tensor | read | time (s) | requests | MiB |\n| --- | --- | --- | ---: | ---: | ---: |\n');
  for (const m of measures) {
    process.stdout.write(`| ${m.source} | ${m.tensor} | ${m.read} | ${m.seconds.toFixed(3)} | ${m.requests} | ${(m.bytes / 2 ** 20).toFixed(2)} |\n`);
  }
  if (values.json !== undefined) {
    await writeFile(values.json, JSON.stringify({ file, embedding: embedding.name, largest: largest.name, count, latencyMs: latency, measures }, null, 2));
  }
}

await main();
