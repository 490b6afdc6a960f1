/**
 * Google Cloud Storage's JSON API as the tests need it, on 127.0.0.1: media downloads with one range
 * (`/storage/v1/b/B/o/O?alt=media`, `ifGenerationMatch`), resumable uploads (a session per upload, chunks in order
 * and in multiples of 256 KiB but the last, `308` with the `Range` kept, status queries with `bytes *\/…`, DELETE
 * to cancel with 499), JSON error documents, and a bearer token checked on every request unless started as an
 * emulator. Also a GCE metadata server that hands out that token, which google-auth-library's Application Default
 * Credentials find through GCE_METADATA_HOST.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseRange } from '../helpers/servers.js';

const UNIT = 256 * 1024;

export interface GcsRequest {
  method: string;
  url: string;
  status: number;
  headers: IncomingMessage['headers'];
  received: number;
  bytes: number;
}

interface GcsObject {
  bytes: Buffer;
  generation: string;
}

interface Session {
  bucket: string;
  name: string;
  pieces: Buffer[];
  size: number;
}

export type GcsFault = { status: number } | 'reset';

export interface GcsServer {
  origin: string;
  log: GcsRequest[];
  /** The token every request must carry (none checked for an emulator). */
  token: string | undefined;
  fault: ((request: { method: string; kind: 'media' | 'start' | 'chunk' | 'query' | 'cancel' | 'other'; count: number }) => GcsFault | undefined) | undefined;
  beforeMedia: ((count: number) => void) | undefined;
  putObject(bucket: string, name: string, bytes: Uint8Array): void;
  getObject(bucket: string, name: string): Buffer | undefined;
  openSessions(): number;
  /** Restarts the per-kind request counts the fault hooks see. */
  resetCounts(): void;
  close(): Promise<void>;
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of request as AsyncIterable<Buffer>) pieces.push(piece);
  return Buffer.concat(pieces);
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function error(res: ServerResponse, status: number, message: string): void {
  json(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason: 'test' }] } });
}

async function listen(server: Server, sockets: Set<Socket>): Promise<string> {
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

export async function startGcsServer(options: { token?: string; buckets?: string[] } = {}): Promise<GcsServer> {
  const buckets = new Set(options.buckets ?? ['bucket']);
  const objects = new Map<string, GcsObject>();
  const sessions = new Map<string, Session>();
  const log: GcsRequest[] = [];
  const sockets = new Set<Socket>();
  const counts = new Map<string, number>();
  let generation = 1_700_000_000_000_000;
  const key = (bucket: string, name: string): string => `${bucket}\u0000${name}`;

  const gcs: GcsServer = {
    origin: '',
    log,
    token: options.token,
    fault: undefined,
    beforeMedia: undefined,
    putObject(bucket, name, bytes) {
      objects.set(key(bucket, name), { bytes: Buffer.from(bytes), generation: String(++generation) });
    },
    getObject(bucket, name) {
      return objects.get(key(bucket, name))?.bytes;
    },
    openSessions: () => sessions.size,
    resetCounts: () => counts.clear(),
    close: async () => undefined,
  };

  async function handle(request: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://x');
    const method = request.method ?? 'GET';
    const media = /^\/storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    const uploadId = url.searchParams.get('upload_id');
    const kind =
      media !== null && method === 'GET'
        ? 'media'
        : upload !== null && method === 'POST'
          ? 'start'
          : upload !== null && uploadId !== null && method === 'PUT'
            ? String(request.headers['content-range']).startsWith('bytes */') && request.headers['content-length'] === '0'
              ? 'query'
              : 'chunk'
            : upload !== null && uploadId !== null && method === 'DELETE'
              ? 'cancel'
              : 'other';
    const count = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, count);
    if (gcs.token !== undefined && request.headers.authorization !== `Bearer ${gcs.token}`) {
      await body(request);
      error(res, 401, 'Invalid Credentials');
      return;
    }
    const fault = gcs.fault?.({ method, kind, count });
    if (fault === 'reset') {
      request.socket.destroy();
      return;
    }
    if (fault !== undefined) {
      await body(request);
      error(res, fault.status, 'scripted fault');
      return;
    }
    if (kind === 'media') {
      gcs.beforeMedia?.(count);
      const [bucket, name] = [decodeURIComponent(media![1]!), decodeURIComponent(media![2]!)];
      if (url.searchParams.get('alt') !== 'media') return error(res, 400, 'only alt=media here');
      if (!buckets.has(bucket)) return error(res, 404, 'The specified bucket does not exist.');
      const object = objects.get(key(bucket, name));
      if (object === undefined) return error(res, 404, `No such object: ${bucket}/${name}`);
      const wanted = url.searchParams.get('ifGenerationMatch');
      if (wanted !== null && wanted !== object.generation) return error(res, 412, 'At least one of the pre-conditions you specified did not hold.');
      const headers = { 'x-goog-generation': object.generation, 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT', 'content-type': 'application/octet-stream' };
      const range = parseRange(request.headers.range, object.bytes.length);
      if (range === 'unsatisfiable') {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${object.bytes.length}` }).end();
        return;
      }
      if (range === 'none') {
        res.writeHead(200, { ...headers, 'content-length': object.bytes.length }).end(object.bytes);
        return;
      }
      res.writeHead(206, { ...headers, 'content-length': range.end - range.start, 'content-range': `bytes ${range.start}-${range.end - 1}/${object.bytes.length}` });
      res.end(object.bytes.subarray(range.start, range.end));
      return;
    }
    if (kind === 'start') {
      await body(request);
      const bucket = decodeURIComponent(upload![1]!);
      const name = url.searchParams.get('name');
      if (url.searchParams.get('uploadType') !== 'resumable' || name === null) return error(res, 400, 'expected uploadType=resumable&name=');
      if (!buckets.has(bucket)) return error(res, 404, 'The specified bucket does not exist.');
      const id = randomBytes(12).toString('base64url');
      sessions.set(id, { bucket, name, pieces: [], size: 0 });
      res.writeHead(200, { location: `${gcs.origin}${url.pathname}?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`, 'content-length': 0 }).end();
      return;
    }
    if (kind === 'chunk' || kind === 'query' || kind === 'cancel') {
      const data = await body(request);
      const session = sessions.get(uploadId!);
      if (session === undefined) return error(res, 404, 'No such upload session');
      if (kind === 'cancel') {
        sessions.delete(uploadId!);
        res.writeHead(499, { 'content-length': 0 }).end();
        return;
      }
      const kept = (): Record<string, string> => (session.size === 0 ? {} : { range: `bytes=0-${session.size - 1}` });
      const contentRange = String(request.headers['content-range'] ?? '');
      if (kind === 'query') {
        res.writeHead(308, { ...kept(), 'content-length': 0 }).end();
        return;
      }
      const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange) ?? /^bytes \*\/(\d+)$/.exec(contentRange);
      if (match === null) return error(res, 400, `bad Content-Range ${contentRange}`);
      const full = match.length === 4;
      const start = full ? Number(match[1]) : session.size;
      const total = full ? match[3] : match[1];
      if (full && Number(match[2]) - start + 1 !== data.length) return error(res, 400, 'Content-Range and body disagree');
      if (start !== session.size) {
        // Bytes the session already has are not taken again.
        res.writeHead(308, { ...kept(), 'content-length': 0 }).end();
        return;
      }
      const last = total !== '*';
      if (!last && data.length % UNIT !== 0) return error(res, 400, 'a chunk but the last must be a multiple of 256 KiB');
      session.pieces.push(data);
      session.size += data.length;
      if (!last) {
        res.writeHead(308, { ...kept(), 'content-length': 0 }).end();
        return;
      }
      if (Number(total) !== session.size) return error(res, 400, `the upload holds ${session.size} bytes, the last chunk says ${total}`);
      sessions.delete(uploadId!);
      gcs.putObject(session.bucket, session.name, Buffer.concat(session.pieces));
      json(res, 200, { bucket: session.bucket, name: session.name, size: String(session.size), generation: objects.get(key(session.bucket, session.name))!.generation });
      return;
    }
    await body(request);
    error(res, 501, `not implemented here: ${method} ${url.pathname}`);
  }

  const server = createServer((request, res) => {
    const entry: GcsRequest = { method: request.method ?? 'GET', url: request.url ?? '', status: 0, headers: request.headers, received: Number(request.headers['content-length'] ?? 0), bytes: 0 };
    log.push(entry);
    const write = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      if (args[0] instanceof Uint8Array) entry.bytes += args[0].length;
      return write(...args);
    }) as typeof res.end;
    res.on('close', () => (entry.status = res.statusCode));
    handle(request, res).catch(() => res.destroy());
  });
  gcs.origin = await listen(server, sockets);
  gcs.close = closer(server, sockets);
  return gcs;
}

/** A GCE metadata server whose default service account's token is `token` (what ADC asks for on Compute Engine). */
export async function startMetadataServer(token: string): Promise<{ host: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((request, res) => {
    requests++;
    if (request.headers['metadata-flavor'] !== 'Google') {
      res.writeHead(403).end();
      return;
    }
    const url = new URL(request.url ?? '/', 'http://x');
    res.setHeader('Metadata-Flavor', 'Google');
    if (url.pathname === '/computeMetadata/v1/instance/service-accounts/default/token') {
      json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' }, { 'Metadata-Flavor': 'Google' });
      return;
    }
    if (url.pathname === '/computeMetadata/v1/project/project-id') {
      res.writeHead(200, { 'content-type': 'application/text' }).end('test-project');
      return;
    }
    if (url.pathname === '/computeMetadata/v1/instance' || url.pathname === '/computeMetadata/v1/') {
      res.writeHead(200).end('{}');
      return;
    }
    res.writeHead(404).end();
  });
  const origin = await listen(server, sockets);
  return { host: origin.slice('http://'.length), requests: () => requests, close: closer(server, sockets) };
}
