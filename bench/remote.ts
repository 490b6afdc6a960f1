/**
 * `npm run build && node --import tsx bench/remote.ts [--scale 0.03] [--file F] [--throttle-mbps 50] [--latency-ms 20]
 *    [--request-mib N] [--concurrency N] [--only read]`
 *
 * Remote reads over loopback, against a range server in a child process that counts what it sends:
 *  1. `ls` (openNpz) with LATENCY added to every request: wall time, requests, bytes.
 *  2. A full remote read, CRC on, against one single-stream download of the file (curl -o /dev/null): readNpz
 *     (every array in fresh memory, as a loop that keeps arrays gets them) and the streamed read `verify URL`
 *     does (openNpz + chunks({ reuseBuffers }) per member: like curl, no fresh memory per byte).
 *  3. With each connection limited to THROTTLE MB/s: concurrency 8 against concurrency 1.
 *  4. Python fsspec (HTTP file + np.load), where it is installed: requests and bytes for ls and one tensor.
 * `--request-mib` and `--concurrency` set the httpSource options of the full read (2) and of the throttled
 * concurrency-8 read (3), to compare settings; `--only read` runs section 2 alone.
 * One run; on a shared machine the wall times are indicative only.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { HttpSourceOptions } from '../dist/index.js';

/**
 * The library and undici are loaded by the measuring process only, never by the serving child: a server process
 * that had loaded them served curl 25-40 % slower here (same code, measured), which skewed the curl baseline.
 * NPZ_BENCH_LIB points the client at another build (e.g. main's dist) so two builds share one harness.
 */
async function library(): Promise<typeof import('../dist/index.js')> {
  return (await import(process.env['NPZ_BENCH_LIB'] ?? '../dist/index.js')) as typeof import('../dist/index.js');
}

interface ServerStats {
  requests: number;
  bytes: number;
}

/** The child: serves one file with single byte ranges, a strong ETag, optional latency and per-connection pacing. */
function serve(file: string, latencyMs: number, bytesPerSecond: number): void {
  const size = statSync(file).size;
  const etag = `"${createHash('sha1').update(`${size}-${statSync(file).mtimeMs}`).digest('hex').slice(0, 16)}"`;
  const stats: ServerStats = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/__stats') return void res.end(JSON.stringify(stats));
    if (req.url === '/__reset') {
      stats.requests = 0;
      stats.bytes = 0;
      return void res.end('{}');
    }
    stats.requests++;
    const respond = (): void => {
      const match = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      let start = 0;
      let end = size;
      let status = 200;
      if (match !== null) {
        status = 206;
        if (match[1] === '') start = Math.max(0, size - Number(match[2]));
        else {
          start = Number(match[1]);
          end = match[2] === '' ? size : Math.min(size, Number(match[2]) + 1);
        }
      }
      if (req.headers['if-match'] !== undefined && req.headers['if-match'] !== etag) return void res.writeHead(412).end();
      res.writeHead(status, {
        'Content-Length': end - start,
        ETag: etag,
        'Accept-Ranges': 'bytes',
        ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end - 1}/${size}` } : {}),
      });
      const body = createReadStream(file, { start, end: end - 1, highWaterMark: 256 * 1024 });
      body.on('data', (chunk) => (stats.bytes += chunk.length));
      const socket = req.socket as typeof req.socket & { paced?: { due: number } };
      if (bytesPerSecond > 0) {
        // Pacing lives on the socket, so keep-alive requests on one connection share its budget.
        socket.paced ??= { due: performance.now() };
        const pace = socket.paced;
        const throttle = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            pace.due = Math.max(pace.due, performance.now()) + (chunk.length / bytesPerSecond) * 1000;
            setTimeout(() => done(null, chunk), Math.max(0, pace.due - performance.now()));
          },
        });
        body.pipe(throttle).pipe(res);
      } else body.pipe(res);
      res.on('close', () => body.destroy());
    };
    if (latencyMs > 0) setTimeout(respond, latencyMs);
    else respond();
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`);
  });
}

interface Child {
  origin: string;
  process: ChildProcess;
  stats(): Promise<ServerStats>;
  reset(): Promise<void>;
  stop(): void;
}

async function startChild(file: string, latencyMs: number, bytesPerSecond: number): Promise<Child> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', file, String(latencyMs), String(bytesPerSecond)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    process: child,
    stats: async () => (await (await fetch(`${origin}/__stats`)).json()) as ServerStats,
    reset: async () => void (await (await fetch(`${origin}/__reset`)).text()),
    stop: () => child.kill(),
  };
}

const MB = 1e6;

async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { seconds: (performance.now() - started) / 1000, value };
}

async function fullRead(url: string, http: HttpSourceOptions): Promise<number> {
  const { readNpz } = await library();
  let bytes = 0;
  for await (const [, array] of readNpz(url, { http })) bytes += array.data.byteLength;
  return bytes;
}

/** What `npz-stream verify URL` does: every member streamed through reused buffers, its CRC-32 checked. */
async function streamedRead(url: string, http: HttpSourceOptions): Promise<number> {
  const { openNpz } = await library();
  const npz = await openNpz(url, { http });
  let bytes = 0;
  try {
    for (const entry of npz.entries) {
      for await (const chunk of npz.chunks(entry.name, { reuseBuffers: true })) bytes += chunk.length;
    }
  } finally {
    await npz.close();
  }
  return bytes;
}

/** The options a read ran with, as printed: what was set, else "defaults". */
function settings(options: HttpSourceOptions): string {
  const parts = [
    ...(options.concurrency === undefined ? [] : [`concurrency ${options.concurrency}`]),
    ...(options.requestSize === undefined ? [] : [`requestSize ${options.requestSize / 2 ** 20} MiB`]),
  ];
  return parts.length === 0 ? 'default options' : parts.join(', ');
}

async function main(): Promise<void> {
  const { openNpz } = await library();
  const { request } = await import('undici');
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '0.03' },
      file: { type: 'string' },
      'latency-ms': { type: 'string', default: '20' },
      'throttle-mbps': { type: 'string', default: '50' },
      'skip-python': { type: 'boolean', default: false },
      'request-mib': { type: 'string' },
      concurrency: { type: 'string' },
      only: { type: 'string' },
    },
    strict: true,
  });
  let file = values.file;
  if (file === undefined) {
    file = join(tmpdir(), `npz-remote-bench-${values.scale}.npz`);
    if (!existsSync(file)) {
      const { writeFixture } = await import('./lib/fixture.js');
      await writeFixture({ out: file, model: 'paligemma-3b', precision: 'bfloat16', scale: Number(values.scale), seed: 0 });
    }
  }
  const size = statSync(file).size;
  const latency = Number(values['latency-ms']);
  const throttle = Number(values['throttle-mbps']) * MB;
  const lines: string[] = [`file: ${(size / MB).toFixed(1)} MB`];
  const say = (line: string): void => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  say(lines[0] as string);
  // Unset options stay unset, so the library's defaults are what gets measured.
  const tuned: HttpSourceOptions = {
    ...(values['request-mib'] === undefined ? {} : { requestSize: Math.round(Number(values['request-mib']) * 2 ** 20) }),
    ...(values.concurrency === undefined ? {} : { concurrency: Number(values.concurrency) }),
  };
  const only = values.only;
  if (only !== undefined && only !== 'read') throw new Error(`--only takes 'read', got ${only}`);

  // 1. ls with added latency.
  if (only === undefined) {
    const slow = await startChild(file, latency, 0);
    try {
      const url = `${slow.origin}/ckpt.npz`;
      const { seconds, value: members } = await timed(async () => {
        const npz = await openNpz(url);
        await npz.close();
        return npz.entries.length;
      });
      const stats = await slow.stats();
      say(`ls, +${latency} ms per request: ${members} members, ${seconds.toFixed(2)} s, ${stats.requests} requests, ${(stats.bytes / 1024).toFixed(0)} KiB`);
    } finally {
      slow.stop();
    }
  }

  // 2. Full remote read vs one single-stream download.
  const fast = await startChild(file, 0, 0);
  try {
    const url = `${fast.origin}/ckpt.npz`;
    const curl = spawnSync('curl', ['--version']).status === 0;
    const download = await timed(async () => {
      if (curl) {
        const result = spawnSync('curl', ['-sS', '-o', '/dev/null', url]);
        if (result.status !== 0) throw new Error(`curl failed: ${result.stderr}`);
      } else {
        const response = await fetch(url);
        for await (const _ of response.body as AsyncIterable<Uint8Array>);
      }
    });
    // What one fetch stream reaches in this process: the ceiling of any fetch-based client here.
    const fetchOnly = await timed(async () => {
      const response = await fetch(url);
      for await (const _ of response.body as AsyncIterable<Uint8Array>);
    });
    // The same for one undici `request` body, read the way httpSource reads it ('data' events), the chunks dropped
    // like the fetch line's: the transport's ceiling, before copying into place.
    const undiciOnly = await timed(async () => {
      const { body } = await request(url);
      await new Promise<void>((resolve, reject) => {
        body.on('data', () => undefined);
        body.once('end', resolve);
        body.once('error', reject);
      });
    });
    await fast.reset();
    const read = await timed(() => fullRead(url, tuned));
    const stats = await fast.stats();
    await fast.reset();
    const streamed = await timed(() => streamedRead(url, tuned));
    const streamedStats = await fast.stats();
    say(
      `full read (readNpz, CRC on, ${settings(tuned)}): ${read.seconds.toFixed(2)} s = ${(size / MB / read.seconds).toFixed(0)} MB/s, ${stats.requests} requests; ` +
        `single-stream download (${curl ? 'curl' : 'fetch'}): ${download.seconds.toFixed(2)} s = ${(size / MB / download.seconds).toFixed(0)} MB/s; ` +
        `ratio ${(download.seconds / read.seconds).toFixed(2)}x; one Node fetch stream: ${(size / MB / fetchOnly.seconds).toFixed(0)} MB/s; ` +
        `one undici stream: ${(size / MB / undiciOnly.seconds).toFixed(0)} MB/s`,
    );
    say(
      `streamed full read (openNpz + chunks({ reuseBuffers }), CRC on, as verify URL): ${streamed.seconds.toFixed(2)} s = ` +
        `${(size / MB / streamed.seconds).toFixed(0)} MB/s, ${streamedStats.requests} requests; ratio to the download ${(download.seconds / streamed.seconds).toFixed(2)}x`,
    );
  } finally {
    fast.stop();
  }

  if (only === 'read') return;

  // 3. Per-connection throttle: concurrency 8 vs 1.
  const paced = await startChild(file, 0, throttle);
  try {
    const url = `${paced.origin}/ckpt.npz`;
    const sized = tuned.requestSize === undefined ? {} : { requestSize: tuned.requestSize };
    const one = await timed(() => fullRead(url, { ...sized, concurrency: 1 }));
    const eight = await timed(() => fullRead(url, { ...sized, concurrency: 8 }));
    say(
      `throttled to ${values['throttle-mbps']} MB/s per connection: concurrency 1 ${(size / MB / one.seconds).toFixed(0)} MB/s, ` +
        `concurrency 8 ${(size / MB / eight.seconds).toFixed(0)} MB/s, speed-up ${(one.seconds / eight.seconds).toFixed(2)}x`,
    );
  } finally {
    paced.stop();
  }

  // 4. fsspec + np.load, where installed.
  const python = process.env['PYTHON'] ?? 'python3';
  if (!values['skip-python'] && spawnSync(python, ['-c', 'import fsspec, aiohttp, numpy']).status === 0) {
    const server = await startChild(file, 0, 0);
    try {
      const url = `${server.origin}/ckpt.npz`;
      const script = `
import sys, fsspec, numpy as np
fs = fsspec.filesystem('http')
with fs.open(sys.argv[1], 'rb') as f:
    z = np.load(f)
    names = z.files
    if sys.argv[2] == 'get':
        z[names[len(names) // 2]]
`;
      for (const mode of ['ls', 'get']) {
        await server.reset();
        const result = spawnSync(python, ['-c', script, url, mode], { encoding: 'utf8' });
        if (result.status !== 0) throw new Error(result.stderr);
        const stats = await server.stats();
        say(`fsspec + np.load, ${mode === 'ls' ? 'list the members' : 'read one tensor'}: ${stats.requests} requests, ${(stats.bytes / 1024).toFixed(0)} KiB`);
      }
      await server.reset();
      const npz = await openNpz(url);
      const middle = npz.entries[Math.floor(npz.entries.length / 2)];
      const opened = await server.stats();
      if (middle !== undefined) await npz.get(middle.name);
      await npz.close();
      const after = await server.stats();
      say(
        `npz-stream, same two: ls ${opened.requests} requests, ${(opened.bytes / 1024).toFixed(0)} KiB; ` +
          `one tensor ${after.requests - opened.requests} requests, ${((after.bytes - opened.bytes) / 1024).toFixed(0)} KiB`,
      );
    } finally {
      server.stop();
    }
  } else say('fsspec comparison skipped: python3 with fsspec, aiohttp and numpy not found (set PYTHON=...)');
}

if (process.argv[2] === '--serve') serve(process.argv[3] as string, Number(process.argv[4]), Number(process.argv[5]));
else await main();
