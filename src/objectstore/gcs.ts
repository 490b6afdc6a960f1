import { NpzError } from '../errors.js';
import type { RangeRequest, RangeTransport, TransportResponse } from '../http/transport.js';
import type { ExchangeResult, HttpExchange, Refusal } from './exchange.js';
import { exchangeOutcome, type Outcome, type PartProtocol, type PartToSend } from './upload.js';

/**
 * Google Cloud Storage through its JSON API: objects read by range from `…/o/OBJECT?alt=media`, written by a
 * resumable upload (a session URL, chunks in order whose sizes are multiples of 256 KiB but the last, cancelled by a
 * DELETE). The bearer token comes from the host (Application Default Credentials on Node).
 */

export const GCS_ENDPOINT = 'https://storage.googleapis.com';
/** Every chunk of a resumable upload but the last is a multiple of this. */
export const GCS_CHUNK_UNIT = 256 * 1024;

function base(endpoint: string): string {
  return endpoint.replace(/\/+$/, '');
}

/** The media URL of an object: the JSON API's download, which honours Range. */
export function gcsMediaUrl(endpoint: string, bucket: string, object: string): URL {
  return new URL(`${base(endpoint)}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(object)}?alt=media`);
}

/** Where a resumable upload of `object` is started. */
export function gcsUploadUrl(endpoint: string, bucket: string, object: string): URL {
  return new URL(`${base(endpoint)}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(object)}`);
}

/** The message of a JSON API error document (`{"error": {"code", "message"}}`), if the body is one. */
function errorMessage(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    return typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
  } catch {
    return undefined;
  }
}

/** A refusal as an ERR_REMOTE_STATUS naming the bucket and object. */
export function gcsRefusalError(label: string, bucket: string, refusal: Refusal, what: string, scrub: (text: string) => string = (text) => text): NpzError {
  const { status } = refusal;
  const detail = errorMessage(refusal.text);
  const quoted = detail === undefined ? '' : `: ${scrub(detail).slice(0, 300)}`;
  let message: string;
  if (status === 404) message = `${label}: no such object, or no bucket ${bucket} (HTTP 404${quoted})`;
  else if (status === 401 || status === 403) {
    message = `${label}: access denied while ${what} (HTTP ${status}${quoted}); check Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login) or the gcs.token option`;
  } else message = `${label}: ${what} answered HTTP ${status}${quoted}`;
  return new NpzError('ERR_REMOTE_STATUS', message, { actual: status });
}

function refusalOf(result: Extract<ExchangeResult, { ok: true }>): Refusal {
  return { status: result.status, header: (name) => result.header(name), text: result.text };
}

/** The end (exclusive) of what a 308 says the store kept: `Range: bytes=0-N` → N + 1, none → 0. */
function persistedEnd(result: Extract<ExchangeResult, { ok: true }>): number | undefined {
  const range = result.header('range');
  if (range === null) return 0;
  const match = /^bytes=0-(\d+)$/.exec(range.trim());
  return match === null ? undefined : Number(match[1]) + 1;
}

/** A resumable upload: one session, chunks sent in order, one at a time. */
export class GcsResumableUpload implements PartProtocol {
  readonly sequential = true;
  readonly partAlignment = GCS_CHUNK_UNIT;
  readonly label: string;
  readonly #exchange: HttpExchange;
  readonly #startUrl: URL;
  readonly #bucket: string;
  readonly #scrub: (text: string) => string;
  #session: string | undefined;
  /** Bytes the store has confirmed. */
  #persisted = 0;
  #finished = false;

  constructor(exchange: HttpExchange, startUrl: URL, label: string, bucket: string, scrub?: (text: string) => string) {
    this.#exchange = exchange;
    this.#startUrl = startUrl;
    this.label = label;
    this.#bucket = bucket;
    this.#scrub = scrub ?? ((text) => text);
  }

  get sessionUrl(): string | undefined {
    return this.#session;
  }

  #refuse(what: string): (result: Extract<ExchangeResult, { ok: true }>) => NpzError {
    return (result) => gcsRefusalError(this.label, this.#bucket, refusalOf(result), what, this.#scrub);
  }

  async begin(signal: AbortSignal): Promise<Outcome> {
    const what = 'starting the upload';
    const body = new TextEncoder().encode('{}');
    const result = await this.#exchange.send(
      {
        method: 'POST',
        url: this.#startUrl.href,
        headers: [
          ['content-type', 'application/json; charset=UTF-8'],
          ['x-upload-content-type', 'application/octet-stream'],
          ['content-length', String(body.byteLength)],
        ],
        body,
      },
      signal,
    );
    const outcome = exchangeOutcome(this.label, what, result, (status) => status === 200 || status === 201, this.#refuse(what));
    if (outcome.kind !== 'done' || !result.ok) return outcome;
    const location = result.header('location');
    if (location === null) return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: ${what}: the answer names no session`, { actual: result.status }) };
    this.#session = new URL(location, this.#startUrl).href;
    return outcome;
  }

  /** Asks the session how many bytes it kept (after a failed chunk); true once the object is complete. */
  async #query(total: number | undefined, signal: AbortSignal): Promise<Outcome | 'complete'> {
    const what = 'asking what the upload kept';
    const result = await this.#exchange.send(
      { method: 'PUT', url: this.#session as string, headers: [['content-range', `bytes */${total ?? '*'}`], ['content-length', '0']] },
      signal,
    );
    if (result.ok && (result.status === 200 || result.status === 201)) return 'complete';
    const outcome = exchangeOutcome(this.label, what, result, (status) => status === 308, this.#refuse(what));
    if (outcome.kind !== 'done' || !result.ok) return outcome;
    const end = persistedEnd(result);
    if (end === undefined) return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: ${what}: an unreadable Range ${result.header('range')}`) };
    this.#persisted = end;
    return outcome;
  }

  async sendPart(part: PartToSend, attempt: number, signal: AbortSignal): Promise<Outcome> {
    const end = part.offset + part.bytes.byteLength;
    const total = part.last ? end : undefined;
    if (attempt > 0) {
      const state = await this.#query(total, signal);
      if (state === 'complete') {
        this.#persisted = end;
        this.#finished = part.last;
        return { kind: 'done' };
      }
      if (state.kind !== 'done') return state;
    }
    const from = Math.max(this.#persisted, part.offset);
    if (from > end || this.#persisted < part.offset) {
      return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: the upload kept ${this.#persisted} bytes, expected ${part.offset}`) };
    }
    const what = `sending bytes ${part.offset}-${end - 1}`;
    const range = from === end ? `bytes */${total ?? '*'}` : `bytes ${from}-${end - 1}/${total ?? '*'}`;
    const body = part.bytes.subarray(from - part.offset);
    const result = await this.#exchange.send(
      { method: 'PUT', url: this.#session as string, headers: [['content-range', range], ['content-length', String(body.byteLength)]], body },
      signal,
    );
    const outcome = exchangeOutcome(this.label, what, result, (status) => (part.last ? status === 200 || status === 201 : status === 308), this.#refuse(what));
    if (outcome.kind !== 'done' || !result.ok) return outcome;
    if (part.last) {
      this.#persisted = end;
      this.#finished = true;
      return outcome;
    }
    const kept = persistedEnd(result);
    if (kept === undefined || kept > end) return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: ${what}: the store reports ${result.header('range')}`) };
    this.#persisted = kept;
    // A chunk kept in part is sent again from where it stopped.
    if (kept < end) return { kind: 'retry', message: `${what}: the store kept ${kept - part.offset} of ${end - part.offset} bytes` };
    return outcome;
  }

  async complete(total: number): Promise<Outcome> {
    // The last chunk, which carried the total, completed the object.
    if (!this.#finished || this.#persisted !== total) {
      return { kind: 'fatal', error: new NpzError('ERR_REMOTE_STATUS', `${this.label}: the upload ended at ${this.#persisted} of ${total} bytes`) };
    }
    return { kind: 'done' };
  }

  async abort(signal: AbortSignal): Promise<Outcome> {
    if (this.#session === undefined || this.#finished) return { kind: 'done' };
    const what = 'cancelling the upload';
    const result = await this.#exchange.send({ method: 'DELETE', url: this.#session, headers: [['content-length', '0']] }, signal);
    // 499 is GCS's answer to a cancelled session; 404/410, a session already gone.
    return exchangeOutcome(this.label, what, result, (status) => status === 499 || status === 204 || status === 200 || status === 404 || status === 410, this.#refuse(what));
  }

  close(): Promise<void> {
    return this.#exchange.close();
  }
}

/**
 * Pins a GCS read to the generation its first answer came from: later requests carry `ifGenerationMatch`, so an
 * object overwritten mid-read answers 412 (ERR_REMOTE_CHANGED) instead of bytes of the new one.
 */
export class GcsGenerationPin implements RangeTransport {
  readonly #inner: RangeTransport;
  #generation: string | undefined;

  constructor(inner: RangeTransport) {
    this.#inner = inner;
  }

  async send(request: RangeRequest, signal: AbortSignal): Promise<TransportResponse> {
    let url = request.url;
    if (this.#generation !== undefined) {
      const pinned = new URL(url);
      pinned.searchParams.set('ifGenerationMatch', this.#generation);
      url = pinned.href;
    }
    const response = await this.#inner.send({ url, headers: request.headers }, signal);
    if (!response.ok) return response;
    if (this.#generation === undefined && (response.status === 206 || response.status === 200)) {
      this.#generation = response.header('x-goog-generation') ?? undefined;
    }
    // The source goes on naming the URL it asked for; the pin is added to each request anew.
    return url === request.url || response.url !== url ? response : { ...response, url: request.url };
  }

  allocate(length: number): Uint8Array {
    return this.#inner.allocate(length);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
