import { NpzError } from '../errors.js';
import type { ExchangeResult, HttpExchange, Refusal } from './exchange.js';
import { exchangeOutcome, type Outcome, type PartProtocol, type PartToSend } from './upload.js';
import { encodeKeyPath } from './url.js';

/**
 * S3's rules: where a bucket and key are reached, what its error documents say, and the multipart upload
 * (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload). Requests are signed by the host
 * (see src/node/objectstore/aws.ts); nothing here knows credentials.
 */

export interface S3Address {
  region: string;
  /** A custom endpoint (MinIO, a local server, another provider's S3 API); AWS's own when absent. */
  endpoint: URL | undefined;
  /** Bucket in the path rather than the host name. */
  pathStyle: boolean;
}

/** A bucket name a TLS certificate for `*.s3.REGION.amazonaws.com` covers: no dots, no capitals, no underscores. */
export function hostCompatibleBucket(bucket: string): boolean {
  return /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket);
}

/** The HTTPS (or the endpoint's) URL of a key: virtual-hosted on AWS when the bucket allows it, else path-style. */
export function s3ObjectUrl(address: S3Address, bucket: string, key: string): URL {
  const path = encodeKeyPath(key);
  const { endpoint } = address;
  if (endpoint !== undefined) {
    const base = endpoint.pathname.replace(/\/+$/, '');
    if (address.pathStyle || !hostCompatibleBucket(bucket)) return new URL(`${endpoint.protocol}//${endpoint.host}${base}/${bucket}/${path}`);
    return new URL(`${endpoint.protocol}//${bucket}.${endpoint.host}${base}/${path}`);
  }
  const domain = address.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  if (address.pathStyle || !hostCompatibleBucket(bucket)) return new URL(`https://s3.${address.region}.${domain}/${bucket}/${path}`);
  return new URL(`https://${bucket}.s3.${address.region}.${domain}/${path}`);
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (entity, name: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
    if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return named[name.toLowerCase()] ?? entity;
  });
}

/**
 * The text of the first `<tag>` element of a small, known S3 document (an error, an upload id). These documents are
 * flat and machine-written, so a pattern reads them; an XML parser would be a dependency for three fields.
 */
export function xmlField(text: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(text);
  return match === null ? undefined : unescapeXml(match[1]!);
}

export interface S3ErrorDocument {
  code: string | undefined;
  message: string | undefined;
  /** The bucket's region, from the document or the x-amz-bucket-region header. */
  region: string | undefined;
}

export function s3ErrorOf(refusal: Pick<Refusal, 'header' | 'text'>): S3ErrorDocument {
  return {
    code: xmlField(refusal.text, 'Code'),
    message: xmlField(refusal.text, 'Message'),
    region: xmlField(refusal.text, 'Region') ?? refusal.header('x-amz-bucket-region') ?? undefined,
  };
}

/** Codes S3 answers a request signed for the wrong region with. */
const REGION_CODES = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException', 'AuthorizationQueryParametersError']);

/**
 * A refusal as an ERR_REMOTE_STATUS that names the object and says what to do: the bucket's real region, a missing
 * bucket or key, denied access. `scrub` removes anything secret from the server's own words before they are quoted.
 */
export function s3RefusalError(label: string, bucket: string, region: string, refusal: Refusal, what: string, scrub: (text: string) => string = (text) => text): NpzError {
  const { status } = refusal;
  const document = s3ErrorOf(refusal);
  const code = document.code;
  const quoted = code === undefined ? '' : ` ${code}${document.message === undefined ? '' : `: ${scrub(document.message).slice(0, 300)}`}`;
  let message: string;
  if (document.region !== undefined && document.region !== region && (REGION_CODES.has(code ?? '') || status === 301 || status === 400)) {
    message =
      `${label}: bucket ${bucket} is in region ${document.region}, but the request was signed for ${region}; ` +
      `set AWS_REGION=${document.region} (or the profile's region, or the s3.region option) (HTTP ${status}${code === undefined ? '' : ` ${code}`})`;
  } else if (status === 404 && code === 'NoSuchBucket') {
    message = `${label}: bucket ${bucket} does not exist (HTTP 404 NoSuchBucket)`;
  } else if (status === 404 && code === 'NoSuchKey') {
    message = `${label}: no such key in bucket ${bucket} (HTTP 404 NoSuchKey)`;
  } else if (status === 403) {
    const hint =
      code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'ExpiredToken' || code === 'InvalidToken'
        ? '; check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the s3.credentials option)'
        : '';
    message = `${label}: access denied while ${what} (HTTP 403${quoted})${hint}`;
  } else {
    message = `${label}: ${what} answered HTTP ${status}${quoted}`;
  }
  return new NpzError('ERR_REMOTE_STATUS', message, { actual: status });
}

function refusalOf(result: Extract<ExchangeResult, { ok: true }>): Refusal {
  return { status: result.status, header: (name) => result.header(name), text: result.text };
}

/** An S3 multipart upload of one key: parts in any order, several at once, assembled by number on completion. */
export class S3MultipartUpload implements PartProtocol {
  readonly sequential = false;
  readonly partAlignment = 1;
  readonly label: string;
  readonly #exchange: HttpExchange;
  readonly #url: URL;
  readonly #bucket: string;
  readonly #region: string;
  readonly #scrub: (text: string) => string;
  #uploadId: string | undefined;
  readonly #etags = new Map<number, string>();

  constructor(exchange: HttpExchange, url: URL, label: string, bucket: string, region: string, scrub?: (text: string) => string) {
    this.#exchange = exchange;
    this.#url = url;
    this.label = label;
    this.#bucket = bucket;
    this.#region = region;
    this.#scrub = scrub ?? ((text) => text);
  }

  /** The upload id S3 gave, once begun. */
  get uploadId(): string | undefined {
    return this.#uploadId;
  }

  #at(query: string): string {
    return `${this.#url.origin}${this.#url.pathname}?${query}`;
  }

  #refuse(what: string): (result: Extract<ExchangeResult, { ok: true }>) => NpzError {
    return (result) => s3RefusalError(this.label, this.#bucket, this.#region, refusalOf(result), what, this.#scrub);
  }

  async begin(signal: AbortSignal): Promise<Outcome> {
    const what = 'starting the upload';
    const result = await this.#exchange.send({ method: 'POST', url: this.#at('uploads'), headers: [['content-type', 'application/octet-stream']] }, signal);
    const outcome = exchangeOutcome(this.label, what, result, (status) => status === 200, this.#refuse(what));
    if (outcome.kind !== 'done' || !result.ok) return outcome;
    const id = xmlField(result.text, 'UploadId');
    if (id === undefined || id === '') return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: ${what}: the answer holds no UploadId`, { actual: result.status }) };
    this.#uploadId = id;
    return outcome;
  }

  async sendPart(part: PartToSend, _attempt: number, signal: AbortSignal): Promise<Outcome> {
    const what = `sending part ${part.number}`;
    const url = this.#at(`partNumber=${part.number}&uploadId=${encodeURIComponent(this.#uploadId as string)}`);
    const result = await this.#exchange.send({ method: 'PUT', url, headers: [['content-length', String(part.bytes.byteLength)]], body: part.bytes }, signal);
    if (result.ok && result.status === 400 && s3ErrorOf(refusalOf(result)).code === 'RequestTimeout') {
      // S3 gave up waiting for the part's bytes (a slow or stalled link): a new attempt may go through.
      return { kind: 'retry', message: `${what}: HTTP 400 RequestTimeout` };
    }
    const outcome = exchangeOutcome(this.label, what, result, (status) => status === 200, this.#refuse(what));
    if (outcome.kind !== 'done' || !result.ok) return outcome;
    const etag = result.header('etag');
    if (etag === null) return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: ${what}: the answer has no ETag`, { actual: result.status }) };
    this.#etags.set(part.number, etag);
    return outcome;
  }

  /** The CompleteMultipartUpload document: every part by number, with the ETag S3 gave it. */
  completionDocument(): string {
    const parts = [...this.#etags.entries()].sort(([a], [b]) => a - b);
    const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    const body = parts.map(([number, etag]) => `<Part><PartNumber>${number}</PartNumber><ETag>${escape(etag)}</ETag></Part>`).join('');
    return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</CompleteMultipartUpload>`;
  }

  async complete(_total: number, attempt: number, signal: AbortSignal): Promise<Outcome> {
    const what = 'completing the upload';
    const body = new TextEncoder().encode(this.completionDocument());
    const url = this.#at(`uploadId=${encodeURIComponent(this.#uploadId as string)}`);
    const result = await this.#exchange.send(
      { method: 'POST', url, headers: [['content-type', 'application/xml'], ['content-length', String(body.byteLength)]], body },
      signal,
    );
    if (result.ok && result.status === 404 && attempt > 0 && s3ErrorOf(refusalOf(result)).code === 'NoSuchUpload') {
      // An earlier attempt may have completed it before its answer was lost: the upload is gone either way.
      return {
        kind: 'fatal',
        error: new NpzError('ERR_REMOTE_NETWORK', `${this.label}: the answer to completing the upload was lost and the upload is gone; check whether the object is there`),
      };
    }
    if (result.ok && result.status === 409 && s3ErrorOf(refusalOf(result)).code === 'OperationAborted') {
      // Another completion of this upload is under way (an earlier attempt whose answer was lost): ask again later.
      return { kind: 'retry', message: `${what}: HTTP 409 OperationAborted`, delayMs: undefined };
    }
    const outcome = exchangeOutcome(this.label, what, result, (status) => status === 200, this.#refuse(what));
    if (outcome.kind !== 'done' || !result.ok) return outcome;
    // S3 may answer 200 and report a failure in the body, even after the headers went out.
    if (/<Error>/.test(result.text)) {
      const document = s3ErrorOf(refusalOf(result));
      if (document.code === 'InternalError' || document.code === 'SlowDown') return { kind: 'retry', message: `${what}: ${document.code}` };
      return { kind: 'fatal', error: s3RefusalError(this.label, this.#bucket, this.#region, refusalOf(result), what, this.#scrub) };
    }
    if (!/<CompleteMultipartUploadResult/.test(result.text)) {
      return { kind: 'retry', message: `${what}: the answer was cut before its result` };
    }
    return outcome;
  }

  async abort(signal: AbortSignal): Promise<Outcome> {
    if (this.#uploadId === undefined) return { kind: 'done' };
    const what = 'aborting the upload';
    const url = this.#at(`uploadId=${encodeURIComponent(this.#uploadId)}`);
    const result = await this.#exchange.send({ method: 'DELETE', url, headers: [] }, signal);
    // 404 NoSuchUpload: already gone.
    return exchangeOutcome(this.label, what, result, (status) => status === 204 || status === 200 || status === 404, this.#refuse(what));
  }

  close(): Promise<void> {
    return this.#exchange.close();
  }
}
