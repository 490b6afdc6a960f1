import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import send from 'send';
import { makeTempDir } from './tmp.js';

/**
 * Real HTTP servers on 127.0.0.1 for the remote tests, each counting what it served from its own side: a static
 * server on `send`, nginx when installed, and a node:http server whose faults each test scripts.
 */

export interface ServedRequest {
  method: string;
  url: string;
  range: string | undefined;
  ifMatch: string | undefined;
  authorization: string | undefined;
  acceptEncoding: string | undefined;
  /** Every request header as received (empty for nginx, whose log records only a few). */
  headers: IncomingHttpHeaders;
  status: number;
  /** Body bytes written. */
  bytes: number;
  /** performance.now() when the request arrived. */
  at: number;
  /** True once the response finished or its connection closed. */
  closed: boolean;
  /** performance.now() when the response finished or its connection closed; undefined until then. */
  doneAt?: number;
}

export interface RunningServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  log: ServedRequest[];
  /** Sum of body bytes written. */
  bytes(): number;
  /** Client connections open right now (keep-alive ones included); node:http servers only. */
  openConnections(): number;
  close(): Promise<void>;
}

async function listen(server: Server, sockets: Set<Socket>): Promise<{ origin: string; close: () => Promise<void> }> {
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Counts the body bytes a response writes, and records the request once it finishes. */
function record(req: IncomingMessage, res: ServerResponse, log: ServedRequest[]): void {
  const entry: ServedRequest = {
    method: req.method ?? 'GET',
    url: req.url ?? '',
    range: req.headers.range,
    ifMatch: req.headers['if-match'],
    authorization: req.headers.authorization,
    acceptEncoding: req.headers['accept-encoding'],
    headers: req.headers,
    status: 0,
    bytes: 0,
    at: performance.now(),
    closed: false,
  };
  log.push(entry);
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const count = (chunk: unknown): void => {
    if (typeof chunk === 'string') entry.bytes += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) entry.bytes += chunk.length;
  };
  res.write = ((...args: unknown[]) => {
    count(args[0]);
    return write(...args);
  }) as typeof res.write;
  res.end = ((...args: unknown[]) => {
    if (typeof args[0] !== 'function') count(args[0]);
    return end(...args);
  }) as typeof res.end;
  entry.status = res.statusCode;
  res.on('close', () => {
    entry.status = res.statusCode;
    entry.closed = true;
    entry.doneAt = performance.now();
  });
}

export interface StaticServerOptions {
  /** Milliseconds added before each response. */
  latencyMs?: number;
  /** Send a strong ETag (default true); `send`'s own is weak. */
  strongEtag?: boolean;
}

/** Serves the files of `root` with `send` (Express's static file engine): Range, suffix ranges, If-Match. */
export async function startSendServer(root: string, options: StaticServerOptions = {}): Promise<RunningServer> {
  const log: ServedRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    record(req, res, log);
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const respond = (): void => {
      const stream = send(req, path, { root, etag: options.strongEtag === false, lastModified: true, acceptRanges: true });
      if (options.strongEtag !== false) {
        stream.on('headers', (response: ServerResponse, file: string) => {
          const stats = statSync(file);
          const tag = createHash('sha1').update(`${stats.size}-${stats.mtimeMs}-${stats.ino}`).digest('hex').slice(0, 16);
          response.setHeader('ETag', `"${tag}"`);
        });
      }
      stream.on('error', (error: { status?: number }) => {
        res.statusCode = error.status ?? 500;
        res.end();
      });
      stream.pipe(res);
    };
    if (options.latencyMs === undefined) respond();
    else setTimeout(respond, options.latencyMs);
  });
  const { origin, close } = await listen(server, sockets);
  return { origin, log, bytes: () => log.reduce((sum, entry) => sum + entry.bytes, 0), openConnections: () => sockets.size, close };
}

/** The most requests the server was handling at once: each counts from its arrival until its response closed. */
export function maxInFlight(log: readonly ServedRequest[]): number {
  let most = 0;
  for (const request of log) {
    const overlapping = log.filter((other) => other.at <= request.at && (other.doneAt ?? Number.POSITIVE_INFINITY) > request.at);
    most = Math.max(most, overlapping.length);
  }
  return most;
}

/** A range request as the fault server sees it: `[start, end)` within a `size`-byte object, or why not. */
export type ParsedRange = { start: number; end: number } | 'none' | 'unsatisfiable';

export function parseRange(header: string | undefined, size: number): ParsedRange {
  if (header === undefined) return 'none';
  const match = /^bytes=(\d*)-(\d*)$/.exec(header);
  if (match === null) return 'none';
  const [, from, to] = match as unknown as [string, string, string];
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(from);
  const end = to === '' ? size : Math.min(size, Number(to) + 1);
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export interface ServeOverrides {
  /** The ETag to send; '' sends none. */
  etag?: string;
  bytes?: Uint8Array;
  lastModified?: string;
  /** Answer as if If-Match had matched (a server that does not check it). */
  ignoreIfMatch?: boolean;
}

export interface FaultContext {
  /** 1-based count of requests so far, this one included. */
  count: number;
  bytes: Uint8Array;
  etag: string;
  /** Answers the request correctly (206 with the range, or 416). */
  serve(req: IncomingMessage, res: ServerResponse, overrides?: ServeOverrides): void;
}

export type FaultHandler = (req: IncomingMessage, res: ServerResponse, context: FaultContext) => void | Promise<void>;

const FIXED_LAST_MODIFIED = 'Wed, 01 Jan 2025 00:00:00 GMT';

/** A node:http server for one file whose behaviour each test scripts; `handler` decides per request. */
export async function startFaultServer(bytes: Uint8Array, handler: FaultHandler, etag = '"v1"'): Promise<RunningServer> {
  const log: ServedRequest[] = [];
  const sockets = new Set<Socket>();
  let count = 0;
  const serve: FaultContext['serve'] = (req, res, overrides = {}) => {
    const body = overrides.bytes ?? bytes;
    const tag = overrides.etag ?? etag;
    if (tag !== '') res.setHeader('ETag', tag);
    res.setHeader('Last-Modified', overrides.lastModified ?? FIXED_LAST_MODIFIED);
    res.setHeader('Accept-Ranges', 'bytes');
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && ifMatch !== tag && overrides.ignoreIfMatch !== true) {
      res.writeHead(412).end();
      return;
    }
    const range = parseRange(req.headers.range, body.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
      return;
    }
    if (range === 'none') {
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
      return;
    }
    res.writeHead(206, {
      'Content-Range': `bytes ${range.start}-${range.end - 1}/${body.length}`,
      'Content-Length': range.end - range.start,
    });
    res.end(body.subarray(range.start, range.end));
  };
  const server = createServer((req, res) => {
    record(req, res, log);
    count++;
    void Promise.resolve(handler(req, res, { count, bytes, etag, serve })).catch(() => res.destroy());
  });
  const { origin, close } = await listen(server, sockets);
  return { origin, log, bytes: () => log.reduce((sum, entry) => sum + entry.bytes, 0), openConnections: () => sockets.size, close };
}

export interface NginxServer extends RunningServer {
  /** The directory nginx serves and stores PUT uploads in. */
  root: string;
}

/** The nginx binary, or undefined when it is not installed. */
export function nginxBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx']) {
    if (spawnSync(candidate, ['-v'], { encoding: 'utf8' }).status === 0) return candidate;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * nginx in the foreground, unprivileged paths under a temp prefix, serving `root` with ranges and WebDAV PUT.
 * Requests are counted from its access log.
 */
export async function startNginx(binary: string): Promise<NginxServer> {
  const scratch = makeTempDir('nginx');
  const prefix = scratch.path;
  const root = join(prefix, 'root');
  mkdirSync(root);
  mkdirSync(join(prefix, 'logs'));
  const port = await freePort();
  const temp = (name: string): string => `${name}_temp_path ${join(prefix, `${name}-temp`)};`;
  const config = [
    'daemon off;',
    'master_process off;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'logs', 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    `  log_format counted '$request_method $status $body_bytes_sent "$http_range"';`,
    `  access_log ${join(prefix, 'logs', 'access.log')} counted;`,
    `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
    '  types { application/octet-stream npz; }',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    `    root ${root};`,
    '    location / {',
    '      dav_methods PUT;',
    '      create_full_put_path on;',
    '      client_max_body_size 0;',
    '    }',
    '  }',
    '}',
  ].join('\n');
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, config);
  const child: ChildProcess = spawn(binary, ['-c', configPath, '-p', prefix], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const origin = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(`${origin}/`, { method: 'HEAD' });
      break;
    } catch {
      if (child.exitCode !== null || attempt > 100) {
        scratch.remove();
        throw new Error(`nginx did not start: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const readLog = (): ServedRequest[] => {
    let text = '';
    try {
      text = spawnSync('cat', [join(prefix, 'logs', 'access.log')], { encoding: 'utf8' }).stdout;
    } catch {
      text = '';
    }
    return text
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => {
        const [method, status, bytes] = line.split(' ');
        const range = /"(.*)"$/.exec(line)?.[1];
        return {
          method: method ?? '',
          url: '',
          range: range === '-' ? undefined : range,
          ifMatch: undefined,
          authorization: undefined,
          acceptEncoding: undefined,
          headers: {},
          status: Number(status),
          bytes: Number(bytes),
          at: 0,
          closed: true,
        };
      });
  };
  const server: NginxServer = {
    origin,
    root,
    get log() {
      return readLog();
    },
    bytes: () => readLog().reduce((sum, entry) => sum + entry.bytes, 0),
    openConnections: () => {
      throw new Error('nginx does not report its connections');
    },
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      scratch.remove();
    },
  };
  return server;
}

