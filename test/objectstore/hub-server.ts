/**
 * The Hugging Face Hub's `resolve/` endpoint as the tests need it, with a CDN on another origin: a small file is
 * served by the Hub itself (ranges), a large one answered `302` to the CDN with a signed, expiring query (the CDN
 * checks the signature, and records whether any credential reached it). Public, private and gated repos; the Hub's
 * refusals carry `X-Error-Code` and `X-Error-Message` as huggingface.co sends them.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseRange } from '../helpers/servers.js';

export interface HubRepo {
  /** revision → path → bytes ('main' at least). */
  revisions: Record<string, Record<string, Uint8Array>>;
  private?: boolean;
  gated?: boolean;
}

export interface HubRequest {
  method: string;
  url: string;
  status: number;
  headers: IncomingMessage['headers'];
  bytes: number;
}

export interface HubServers {
  endpoint: string;
  cdnOrigin: string;
  hubLog: HubRequest[];
  cdnLog: HubRequest[];
  /** Tokens with access to private and gated repos. */
  tokens: Set<string>;
  /** Files at least this large go through the CDN. */
  lfsThreshold: number;
  close(): Promise<void>;
}

function serveBytes(request: IncomingMessage, res: ServerResponse, bytes: Uint8Array, headers: Record<string, string>): void {
  const range = parseRange(request.headers.range, bytes.length);
  if (request.headers['if-match'] !== undefined && request.headers['if-match'] !== headers['etag']) {
    res.writeHead(412).end();
    return;
  }
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${bytes.length}` }).end();
    return;
  }
  if (range === 'none') {
    res.writeHead(200, { ...headers, 'content-length': bytes.length }).end(bytes);
    return;
  }
  res.writeHead(206, { ...headers, 'content-length': range.end - range.start, 'content-range': `bytes ${range.start}-${range.end - 1}/${bytes.length}` });
  res.end(bytes.subarray(range.start, range.end));
}

function logged(log: HubRequest[], handler: (request: IncomingMessage, res: ServerResponse) => void): Server {
  return createServer((request, res) => {
    const entry: HubRequest = { method: request.method ?? 'GET', url: request.url ?? '', status: 0, headers: request.headers, bytes: 0 };
    log.push(entry);
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      if (args[0] instanceof Uint8Array) entry.bytes += args[0].length;
      return end(...args);
    }) as typeof res.end;
    res.on('close', () => (entry.status = res.statusCode));
    handler(request, res);
  });
}

async function listen(server: Server, sockets: Set<Socket>): Promise<string> {
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startHubServers(repos: Record<string, HubRepo>, options: { tokens?: string[]; lfsThreshold?: number } = {}): Promise<HubServers> {
  const signingKey = randomBytes(16);
  const blobs = new Map<string, Uint8Array>();
  const hubLog: HubRequest[] = [];
  const cdnLog: HubRequest[] = [];
  const sockets = new Set<Socket>();
  const servers: HubServers = {
    endpoint: '',
    cdnOrigin: '',
    hubLog,
    cdnLog,
    tokens: new Set(options.tokens ?? []),
    lfsThreshold: options.lfsThreshold ?? 64 * 1024,
    close: async () => undefined,
  };
  const sign = (path: string, expires: number): string => createHmac('sha256', signingKey).update(`${path}\n${expires}`).digest('hex');

  const refuse = (res: ServerResponse, status: number, code: string, message: string): void => {
    res.writeHead(status, { 'x-error-code': code, 'x-error-message': message, 'content-type': 'application/json' }).end(JSON.stringify({ error: message }));
  };

  const hub = logged(hubLog, (request, res) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const match = /^\/(?:(datasets|spaces)\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (match === null) return refuse(res, 404, 'EntryNotFound', 'not a resolve URL');
    const [, kind, repoId, revision, path] = match as unknown as [string, string | undefined, string, string, string];
    const name = `${kind === undefined ? '' : `${kind}/`}${repoId}`;
    const repo = repos[name];
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const authorized = bearer !== undefined && servers.tokens.has(bearer);
    if (bearer !== undefined && !authorized) return refuse(res, 401, 'RepoNotFound', 'Invalid credentials in Authorization header');
    if (repo === undefined || (repo.private === true && !authorized)) {
      return refuse(res, bearer === undefined ? 401 : 404, 'RepoNotFound', 'Repository not found');
    }
    if (repo.gated === true && !authorized) {
      return refuse(res, bearer === undefined ? 401 : 403, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    const files = repo.revisions[decodeURIComponent(revision)];
    if (files === undefined) return refuse(res, 404, 'RevisionNotFound', `Invalid rev id: ${decodeURIComponent(revision)}`);
    const file = files[decodeURIComponent(path)];
    if (file === undefined) return refuse(res, 404, 'EntryNotFound', `${decodeURIComponent(path)} does not exist on "${decodeURIComponent(revision)}"`);
    const sha = createHash('sha256').update(file).digest('hex');
    const etag = `"${sha}"`;
    if (file.length < servers.lfsThreshold) {
      serveBytes(request, res, file, { etag, 'x-repo-commit': 'c0ffee' });
      return;
    }
    blobs.set(sha, file);
    const blobPath = `/repos/ab/${sha}`;
    const expires = Math.floor(Date.now() / 1000) + 3600;
    const location = `${servers.cdnOrigin}${blobPath}?X-Amz-Expires=${expires}&X-Amz-Signature=${sign(blobPath, expires)}`;
    res.writeHead(302, { location, 'x-linked-size': String(file.length), 'x-linked-etag': etag, etag, 'content-length': 0 }).end();
  });

  const cdn = logged(cdnLog, (request, res) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const expires = Number(url.searchParams.get('X-Amz-Expires'));
    const signature = url.searchParams.get('X-Amz-Signature');
    if (signature !== sign(url.pathname, expires) || expires * 1000 < Date.now()) {
      res.writeHead(403, { 'content-type': 'application/xml' }).end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    const sha = url.pathname.split('/').at(-1)!;
    const blob = blobs.get(sha);
    if (blob === undefined) {
      res.writeHead(404).end();
      return;
    }
    serveBytes(request, res, blob, { etag: `"${sha}"` });
  });

  servers.endpoint = await listen(hub, sockets);
  servers.cdnOrigin = await listen(cdn, sockets);
  servers.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      let open = 2;
      const done = (): void => {
        if (--open === 0) resolve();
      };
      hub.close(done);
      cdn.close(done);
    });
  return servers;
}
