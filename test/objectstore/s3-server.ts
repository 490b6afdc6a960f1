/**
 * A small S3-compatible server for the tests, on 127.0.0.1, path-style: GetObject (one range, suffix ranges,
 * If-Match), PutObject, the multipart upload (Create, UploadPart, Complete, Abort, ListMultipartUploads) and S3's
 * XML errors. Every request must be signed (header or pre-signed query), and the signature is checked by AWS's own
 * signer (`@smithy/signature-v4`) recomputing it from the request as received, along with the credential scope's
 * region (a wrong one gets AuthorizationHeaderMalformed and the bucket's region, as S3 answers) and the payload hash.
 *
 * Why not s3rver: its 3.x line does not check signatures, and the maintained fork lets unsigned requests through,
 * answers suffix ranges wrongly, ignores If-Match, has no AbortMultipartUpload and cannot read aws-chunked bodies, so
 * what these tests rely on would all live in a proxy in front of it. Objects and parts are kept on disk, so the slow
 * suite can upload more than memory holds. `test/objectstore/s3-server.test.ts` drives this server with the official
 * AWS SDK client, so its answers are the ones the SDK expects.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { parseRange } from '../helpers/servers.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What the server is asked to do instead of answering normally (set per test). */
export type S3Fault = { status: number; code?: string; retryAfter?: string } | 'reset' | 'hang';

export interface S3Operation {
  method: string;
  /** 'GetObject', 'PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', … */
  name: string;
  bucket: string;
  key: string;
  partNumber?: number;
  /** Count of requests of this name so far, this one included. */
  count: number;
}

export interface S3Request {
  method: string;
  url: string;
  name: string;
  status: number;
  headers: IncomingMessage['headers'];
  /** Response body bytes. */
  bytes: number;
  /** Request body bytes. */
  received: number;
  /** performance.now() at arrival, and when the response closed. */
  at: number;
  doneAt?: number;
}

interface StoredObject {
  file: string;
  size: number;
  etag: string;
  lastModified: string;
}

interface OpenUpload {
  bucket: string;
  key: string;
  directory: string;
  parts: Map<number, { file: string; size: number; etag: string }>;
  /** A CompleteMultipartUpload is assembling the object. */
  completing?: boolean;
}

export interface S3Server {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  log: S3Request[];
  /** Scripts a fault for an operation (return undefined to answer normally). */
  fault: ((operation: S3Operation) => S3Fault | undefined) | undefined;
  /** Called when a GetObject is about to be answered (a test may overwrite the object here). */
  beforeGet: ((operation: S3Operation) => void) | undefined;
  putObject(bucket: string, key: string, bytes: Uint8Array): void;
  getObject(bucket: string, key: string): Buffer | undefined;
  objectFile(bucket: string, key: string): string | undefined;
  hasObject(bucket: string, key: string): boolean;
  /** Uploads started and neither completed nor aborted. */
  openUploads(): Array<{ bucket: string; key: string; uploadId: string; parts: number }>;
  close(): Promise<void>;
}

export interface S3ServerOptions {
  region?: string;
  credentials?: S3Credentials[];
  buckets?: string[];
  /** Where objects are kept; a temp directory removed on close by default. */
  directory?: string;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const MIN_PART = 5 * 1024 * 1024;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendError(res: ServerResponse, error: S3Error, resource: string): void {
  const fields = Object.entries(error.extra)
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`)
    .join('');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${fields}<Resource>${escapeXml(resource)}</Resource><RequestId>${randomBytes(8).toString('hex')}</RequestId></Error>`;
  res.writeHead(error.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...error.headers });
  res.end(req(res).method === 'HEAD' ? undefined : body);
}

const requests = new WeakMap<ServerResponse, IncomingMessage>();
const entries = new WeakMap<IncomingMessage, S3Request>();
function req(res: ServerResponse): IncomingMessage {
  return requests.get(res)!;
}

function sendXml(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The request's body, written to `file` (and hashed) or returned. */
async function receive(request: IncomingMessage, file?: string): Promise<{ sha256: string; md5: string; size: number; bytes?: Buffer }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  const pieces: Buffer[] = [];
  const out = file === undefined ? undefined : createWriteStream(file);
  for await (const piece of request as AsyncIterable<Buffer>) {
    sha.update(piece);
    md5.update(piece);
    size += piece.length;
    const entry = entries.get(request);
    if (entry !== undefined) entry.received += piece.length;
    if (out === undefined) pieces.push(piece);
    else if (!out.write(piece)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  if (out !== undefined) await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size, ...(out === undefined ? { bytes: Buffer.concat(pieces) } : {}) };
}

/** Splits `/bucket/key…` (path-style) into its decoded bucket and key. */
function splitPath(pathname: string): { bucket: string; key: string } {
  const rest = pathname.slice(1);
  const slash = rest.indexOf('/');
  const bucket = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
  const key = slash < 0 ? '' : decodeURIComponent(rest.slice(slash + 1));
  return { bucket, key };
}

function operationName(method: string, query: URLSearchParams, key: string): string {
  if (key === '') return method === 'GET' && query.has('uploads') ? 'ListMultipartUploads' : `${method}Bucket`;
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && query.has('uploadId')) return 'UploadPart';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && query.has('uploadId')) return 'ListParts';
  if (method === 'PUT') return 'PutObject';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return 'DeleteObject';
  return `${method}Object`;
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials ?? [{ accessKeyId: 'AKIDTESTSERVER', secretAccessKey: 'test-secret-key-for-the-server' }];
  const scratch: TempDir | undefined = options.directory === undefined ? makeTempDir('s3') : undefined;
  const root = options.directory ?? scratch!.path;
  mkdirSync(join(root, 'objects'), { recursive: true });
  mkdirSync(join(root, 'uploads'), { recursive: true });
  const buckets = new Set(options.buckets ?? ['bucket']);
  const objects = new Map<string, StoredObject>();
  const uploads = new Map<string, OpenUpload>();
  const counts = new Map<string, number>();
  const log: S3Request[] = [];
  const sockets = new Set<Socket>();
  let objectSerial = 0;

  const objectKey = (bucket: string, key: string): string => `${bucket}\u0000${key}`;

  function store(bucket: string, key: string, file: string, etag: string): void {
    const target = join(root, 'objects', `${++objectSerial}`);
    renameSync(file, target);
    const previous = objects.get(objectKey(bucket, key));
    if (previous !== undefined) rmSync(previous.file, { force: true });
    // A new Last-Modified each time (a second is too coarse for a test that overwrites at once).
    const lastModified = new Date(Date.UTC(2025, 0, 1) + objectSerial * 1000).toUTCString();
    objects.set(objectKey(bucket, key), { file: target, size: statSync(target).size, etag, lastModified });
  }

  /** Checks the request's SigV4 signature (header or pre-signed query) with AWS's signer; returns the caller's key id. */
  async function authenticate(request: IncomingMessage, url: URL): Promise<void> {
    const headers = request.headers;
    const presigned = url.searchParams.get('X-Amz-Signature');
    let scope: string[];
    let signedHeaders: string[];
    let signature: string;
    let amzDate: string;
    if (presigned !== null) {
      scope = (url.searchParams.get('X-Amz-Credential') ?? '').split('/');
      signedHeaders = (url.searchParams.get('X-Amz-SignedHeaders') ?? '').split(';');
      signature = presigned;
      amzDate = url.searchParams.get('X-Amz-Date') ?? '';
    } else {
      const authorization = headers.authorization;
      if (authorization === undefined) throw new S3Error(403, 'AccessDenied', 'Anonymous access is forbidden for this operation');
      const match = /^AWS4-HMAC-SHA256 Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/.exec(authorization);
      if (match === null) throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed');
      scope = match[1]!.split('/');
      signedHeaders = match[2]!.split(';');
      signature = match[3]!;
      amzDate = String(headers['x-amz-date'] ?? '');
    }
    const [accessKeyId, , scopeRegion, service] = scope;
    const identity = credentials.find((candidate) => candidate.accessKeyId === accessKeyId);
    if (identity === undefined) throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    if (scopeRegion !== region) {
      throw new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${scopeRegion}' is wrong; expecting '${region}'`, { Region: region }, { 'x-amz-bucket-region': region });
    }
    if (service !== 's3') throw new S3Error(400, 'AuthorizationHeaderMalformed', `wrong service ${service}`);
    if (!signedHeaders.includes('host')) throw new S3Error(403, 'AccessDenied', 'host must be signed');
    if (identity.sessionToken !== undefined) {
      const token = presigned !== null ? url.searchParams.get('X-Amz-Security-Token') : headers['x-amz-security-token'];
      if (token !== identity.sessionToken) throw new S3Error(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
    }
    const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    if (Number.isNaN(signingDate.getTime())) throw new S3Error(403, 'AccessDenied', 'X-Amz-Date is missing or malformed');
    // The request as received: only the headers it says it signed, the path exactly as sent, the query decoded.
    const signed: Record<string, string> = {};
    for (const name of signedHeaders) {
      const value = headers[name];
      if (value === undefined) throw new S3Error(403, 'SignatureDoesNotMatch', `signed header ${name} is missing`);
      signed[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const query: Record<string, string> = {};
    for (const [name, value] of url.searchParams) if (name !== 'X-Amz-Signature') query[name] = value;
    const signer = new SignatureV4({
      credentials: { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey, ...(identity.sessionToken === undefined ? {} : { sessionToken: identity.sessionToken }) },
      region,
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    const [host, port] = String(headers.host).split(':');
    const httpRequest = {
      method: request.method ?? 'GET',
      protocol: 'http:',
      hostname: host!,
      ...(port === undefined ? {} : { port: Number(port) }),
      path: url.pathname,
      query,
      headers: signed,
    };
    let expected: string;
    if (presigned !== null) {
      const { ['X-Amz-Algorithm']: _a, ['X-Amz-Credential']: _c, ['X-Amz-Date']: _d, ['X-Amz-Expires']: expires, ['X-Amz-SignedHeaders']: _s, ['X-Amz-Security-Token']: _t, ...rest } = query;
      const result = await signer.presign({ ...httpRequest, query: rest }, { signingDate, expiresIn: Number(expires) });
      expected = String(result.query?.['X-Amz-Signature']);
    } else {
      const result = await signer.sign(httpRequest, { signingDate, signableHeaders: new Set(signedHeaders) });
      expected = /Signature=([0-9a-f]{64})/.exec(String(result.headers['authorization']))?.[1] ?? '';
    }
    if (expected !== signature) {
      throw new S3Error(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    }
  }

  function counted(name: string): number {
    const count = (counts.get(name) ?? 0) + 1;
    counts.set(name, count);
    return count;
  }

  const server: S3Server = {
    endpoint: '',
    region,
    log,
    fault: undefined,
    beforeGet: undefined,
    putObject(bucket, key, bytes) {
      const temp = join(root, 'objects', `incoming-${randomBytes(6).toString('hex')}`);
      writeFileSync(temp, bytes);
      store(bucket, key, temp, `"${createHash('md5').update(bytes).digest('hex')}"`);
    },
    getObject(bucket, key) {
      const object = objects.get(objectKey(bucket, key));
      return object === undefined ? undefined : readFileSync(object.file);
    },
    objectFile(bucket, key) {
      return objects.get(objectKey(bucket, key))?.file;
    },
    hasObject(bucket, key) {
      return objects.has(objectKey(bucket, key));
    },
    openUploads() {
      return [...uploads.entries()].map(([uploadId, upload]) => ({ bucket: upload.bucket, key: upload.key, uploadId, parts: upload.parts.size }));
    },
    close: async () => undefined,
  };

  async function handle(request: IncomingMessage, res: ServerResponse, entry: S3Request): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const { bucket, key } = splitPath(url.pathname);
    const method = request.method ?? 'GET';
    const name = operationName(method, url.searchParams, key);
    entry.name = name;
    const partNumber = url.searchParams.has('partNumber') ? Number(url.searchParams.get('partNumber')) : undefined;
    const operation: S3Operation = { method, name, bucket, key, count: counted(name), ...(partNumber === undefined ? {} : { partNumber }) };
    await authenticate(request, url);
    const fault = server.fault?.(operation);
    if (fault === 'reset') {
      request.socket.destroy();
      return;
    }
    if (fault === 'hang') return;
    if (fault !== undefined) {
      // Drain the body first, as S3 does, so the client sees the answer rather than a reset.
      await receive(request).catch(() => undefined);
      throw new S3Error(fault.status, fault.code ?? 'ServiceUnavailable', 'scripted fault', {}, fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter });
    }
    if (!buckets.has(bucket)) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    const contentSha = String(request.headers['x-amz-content-sha256'] ?? '');
    if (contentSha.startsWith('STREAMING-')) throw new S3Error(501, 'NotImplemented', 'aws-chunked bodies are not implemented by this test server');
    const checkPayload = (sha256: string): void => {
      if (url.searchParams.has('X-Amz-Signature') || contentSha === 'UNSIGNED-PAYLOAD') return;
      if (contentSha !== sha256) throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { ClientComputedContentSHA256: contentSha, S3ComputedContentSHA256: sha256 });
    };

    switch (name) {
      case 'GetObject':
      case 'HeadObject': {
        server.beforeGet?.(operation);
        const object = objects.get(objectKey(bucket, key));
        if (object === undefined) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
        const ifMatch = request.headers['if-match'];
        if (ifMatch !== undefined && ifMatch !== object.etag && ifMatch !== '*') throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
        const headers = { etag: object.etag, 'last-modified': object.lastModified, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
        // S3 serves one range; several get the whole object.
        const range = parseRange(request.headers.range, object.size);
        if (range === 'unsatisfiable') throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', { ActualObjectSize: String(object.size) }, { 'content-range': `bytes */${object.size}` });
        const { start, end, status } = range === 'none' ? { start: 0, end: object.size, status: 200 } : { ...range, status: 206 };
        res.writeHead(status, { ...headers, 'content-length': end - start, ...(status === 206 ? { 'content-range': `bytes ${start}-${end - 1}/${object.size}` } : {}) });
        if (method === 'HEAD' || end === start) {
          res.end();
          return;
        }
        await pipeline(createReadStream(object.file, { start, end: end - 1 }), res);
        return;
      }
      case 'PutObject': {
        const temp = join(root, 'objects', `incoming-${randomBytes(6).toString('hex')}`);
        const body = await receive(request, temp);
        try {
          checkPayload(body.sha256);
        } catch (error) {
          rmSync(temp, { force: true });
          throw error;
        }
        store(bucket, key, temp, `"${body.md5}"`);
        res.writeHead(200, { etag: `"${body.md5}"`, 'content-length': 0 }).end();
        return;
      }
      case 'CreateMultipartUpload': {
        await receive(request);
        const uploadId = randomBytes(12).toString('base64url');
        const directory = join(root, 'uploads', uploadId);
        mkdirSync(directory);
        uploads.set(uploadId, { bucket, key, directory, parts: new Map() });
        sendXml(res, 200, `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${escapeXml(bucket)}</Bucket><Key>${escapeXml(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`);
        return;
      }
      case 'UploadPart': {
        const uploadId = url.searchParams.get('uploadId') ?? '';
        const upload = uploads.get(uploadId);
        if (upload === undefined || upload.bucket !== bucket || upload.key !== key) {
          await receive(request);
          throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
        }
        if (!Number.isInteger(partNumber) || partNumber! < 1 || partNumber! > 10_000) throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
        const file = join(upload.directory, `part-${partNumber}-${randomBytes(4).toString('hex')}`);
        const body = await receive(request, file);
        try {
          checkPayload(body.sha256);
        } catch (error) {
          rmSync(file, { force: true });
          throw error;
        }
        if (!uploads.has(uploadId)) {
          rmSync(file, { force: true });
          throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
        }
        const previous = upload.parts.get(partNumber!);
        if (previous !== undefined) rmSync(previous.file, { force: true });
        upload.parts.set(partNumber!, { file, size: body.size, etag: `"${body.md5}"` });
        res.writeHead(200, { etag: `"${body.md5}"`, 'content-length': 0 }).end();
        return;
      }
      case 'CompleteMultipartUpload': {
        const uploadId = url.searchParams.get('uploadId') ?? '';
        const body = await receive(request);
        checkPayload(body.sha256);
        const upload = uploads.get(uploadId);
        if (upload === undefined || upload.bucket !== bucket || upload.key !== key) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
        const text = body.bytes!.toString('utf8');
        // Each <Part> holds its PartNumber and ETag in either order (the SDK writes the ETag first).
        const listed = [...text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((match) => ({
          number: Number(/<PartNumber>(\d+)<\/PartNumber>/.exec(match[1]!)?.[1]),
          etag: (/<ETag>([^<]*)<\/ETag>/.exec(match[1]!)?.[1] ?? '').replace(/&quot;/g, '"').replace(/&amp;/g, '&'),
        }));
        if (listed.length === 0) throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
        for (let i = 0; i < listed.length; i++) {
          const part = upload.parts.get(listed[i]!.number);
          if (i > 0 && listed[i]!.number <= listed[i - 1]!.number) throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
          if (part === undefined || part.etag !== listed[i]!.etag) throw new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found.');
          if (i < listed.length - 1 && part.size < MIN_PART) throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', { PartNumber: String(listed[i]!.number) });
        }
        // A second completion while one assembles the object (a client retrying a slow one) is refused, as S3 does.
        if (upload.completing) throw new S3Error(409, 'OperationAborted', 'A conflicting conditional operation is currently in progress against this resource. Please try again.');
        upload.completing = true;
        // As S3 does: 200 and the XML declaration at once, then a space every second while the parts are assembled
        // (so a long completion keeps the connection alive), then the result, or an <Error> document in the 200 body.
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.write('<?xml version="1.0" encoding="UTF-8"?>\n');
        const keepAlive = setInterval(() => res.write(' '), 1000);
        const temp = join(root, 'objects', `assembling-${uploadId}`);
        const md5 = createHash('md5');
        try {
          const out = await open(temp, 'w');
          try {
            for (const { number } of listed) {
              const part = upload.parts.get(number)!;
              md5.update(Buffer.from(part.etag.slice(1, -1), 'hex'));
              for await (const piece of createReadStream(part.file, { highWaterMark: 1 << 20 })) await out.write(piece as Buffer);
            }
          } finally {
            await out.close();
          }
        } catch {
          clearInterval(keepAlive);
          upload.completing = false;
          rmSync(temp, { force: true });
          res.end(`<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`);
          return;
        }
        clearInterval(keepAlive);
        uploads.delete(uploadId);
        const etag = `"${md5.digest('hex')}-${listed.length}"`;
        store(bucket, key, temp, etag);
        rmSync(upload.directory, { recursive: true, force: true });
        res.end(`<CompleteMultipartUploadResult xmlns="${XMLNS}"><Bucket>${escapeXml(bucket)}</Bucket><Key>${escapeXml(key)}</Key><ETag>${escapeXml(etag)}</ETag></CompleteMultipartUploadResult>`);
        return;
      }
      case 'AbortMultipartUpload': {
        await receive(request);
        const uploadId = url.searchParams.get('uploadId') ?? '';
        const upload = uploads.get(uploadId);
        if (upload === undefined) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
        uploads.delete(uploadId);
        rmSync(upload.directory, { recursive: true, force: true });
        res.writeHead(204).end();
        return;
      }
      case 'ListMultipartUploads': {
        const items = [...uploads.entries()]
          .filter(([, upload]) => upload.bucket === bucket)
          .map(([uploadId, upload]) => `<Upload><Key>${escapeXml(upload.key)}</Key><UploadId>${uploadId}</UploadId></Upload>`)
          .join('');
        sendXml(res, 200, `<ListMultipartUploadsResult xmlns="${XMLNS}"><Bucket>${escapeXml(bucket)}</Bucket><IsTruncated>false</IsTruncated>${items}</ListMultipartUploadsResult>`);
        return;
      }
      case 'DeleteObject': {
        const object = objects.get(objectKey(bucket, key));
        if (object !== undefined) rmSync(object.file, { force: true });
        objects.delete(objectKey(bucket, key));
        res.writeHead(204).end();
        return;
      }
      default:
        await receive(request);
        throw new S3Error(501, 'NotImplemented', `${name} is not implemented by this test server`);
    }
  }

  const http = createServer((request, res) => {
    requests.set(res, request);
    const entry: S3Request = { method: request.method ?? 'GET', url: request.url ?? '', name: '', status: 0, headers: request.headers, bytes: 0, received: 0, at: performance.now() };
    log.push(entry);
    entries.set(request, entry);
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((...args: unknown[]) => {
      if (args[0] instanceof Uint8Array) entry.bytes += args[0].length;
      return write(...args);
    }) as typeof res.write;
    res.on('close', () => {
      entry.status = res.statusCode;
      entry.doneAt = performance.now();
    });
    handle(request, res, entry).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const failure = error instanceof S3Error ? error : new S3Error(500, 'InternalError', String((error as Error)?.message ?? error));
      const drain = request.readableEnded ? Promise.resolve() : receive(request).then(() => undefined, () => undefined);
      void drain.then(() => sendError(res, failure, new URL(request.url ?? '/', 'http://x').pathname));
    });
  });
  http.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  server.endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  server.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      http.close(() => {
        scratch?.remove();
        resolve();
      });
    });
  return server;
}

/** The most requests named `name` that were being handled at once. */
export function maxConcurrent(log: readonly S3Request[], name: string): number {
  const requests = log.filter((entry) => entry.name === name);
  let most = 0;
  for (const request of requests) {
    const overlapping = requests.filter((other) => other.at <= request.at && (other.doneAt ?? Number.POSITIVE_INFINITY) > request.at);
    most = Math.max(most, overlapping.length);
  }
  return most;
}
