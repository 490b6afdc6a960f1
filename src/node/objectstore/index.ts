/**
 * `s3://`, `gs://` and `hf://` on Node: each URL becomes the HTTPS URL its store serves it from, read by the same
 * range source as any `http(s):` URL (pinning, retries, the read planner) with each request authorized for its
 * store, or written by an upload by parts. Credentials come from the environment as each store's own tools find
 * them (aws.ts, gcp.ts, hub.ts) or from `RemoteOptions`, and never appear in a message.
 */
import type { Dispatcher } from 'undici';
import { NpzError, isNpzError } from '../../errors.js';
import { AuthorizingTransport, type Authorize } from '../../http/authorize.js';
import { httpSettings, type HttpReadOptions } from '../../http/options.js';
import { openHttpSource, type HttpSource } from '../../http/source.js';
import type { RangeTransport } from '../../http/transport.js';
import type { Upload } from '../../io/platform.js';
import { authorizedExchange, RefusalRecorder, type Refusal } from '../../objectstore/exchange.js';
import { GcsGenerationPin, gcsMediaUrl, gcsRefusalError, gcsUploadUrl, GcsResumableUpload } from '../../objectstore/gcs.js';
import { hubRefusalError, hubResolveUrl } from '../../objectstore/hub.js';
import { uploadSettings, type RemoteOptions } from '../../objectstore/options.js';
import { s3ObjectUrl, s3RefusalError, S3MultipartUpload } from '../../objectstore/s3.js';
import { PartUpload, type PartProtocol } from '../../objectstore/upload.js';
import { formatObjectUrl, parseObjectUrl, type ObjectLocation } from '../../objectstore/url.js';
import { UndiciTransport } from '../http-transport.js';
import { s3Access } from './aws.js';
import { UndiciExchange } from './exchange.js';
import { gcsAccess } from './gcp.js';
import { hubAccess } from './hub.js';
import type { Secrets } from './secrets.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** How one object is reached for reading: its URL, how requests to it are authorized, how a refusal is explained. */
interface ReadAccess {
  url: URL;
  authorize: Authorize | undefined;
  explain(refusal: Refusal): NpzError;
  /** Wraps the transport with a store's own pinning (GCS generations). */
  pin?: (transport: RangeTransport) => RangeTransport;
}

async function readAccess(location: ObjectLocation, label: string, remote: RemoteOptions, env: Environment): Promise<ReadAccess> {
  switch (location.store) {
    case 's3': {
      const access = await s3Access(label, remote.s3, env);
      return {
        url: s3ObjectUrl(access.address, location.bucket, location.key),
        authorize: access.authorize,
        explain: (refusal) => s3RefusalError(label, location.bucket, access.region, refusal, 'reading', scrubber(access.secrets)),
      };
    }
    case 'gs': {
      const access = await gcsAccess(label, remote.gcs, env);
      return {
        url: gcsMediaUrl(access.endpoint, location.bucket, location.key),
        authorize: access.authorize,
        explain: (refusal) => gcsRefusalError(label, location.bucket, refusal, 'reading', scrubber(access.secrets)),
        pin: (transport) => new GcsGenerationPin(transport),
      };
    }
    case 'hf': {
      const access = await hubAccess(remote.hf, env);
      const tokenSent = access.authorize !== undefined;
      return {
        url: hubResolveUrl(access.endpoint, location),
        authorize: access.authorize,
        explain: (refusal) => hubRefusalError(label, location, refusal, tokenSent, scrubber(access.secrets)),
      };
    }
  }
}

function scrubber(secrets: Secrets): (text: string) => string {
  return (text) => secrets.scrub(text);
}

export interface ObjectSourceOptions {
  http?: HttpReadOptions | undefined;
  remote?: RemoteOptions | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Opens an `s3://`, `gs://` or `hf://` URL as a range source: the same rules as `httpSource` (one suffix request
 * learns the size and pins the object; later requests must match it), every request to the store authorized, and
 * a refusal of the opening request explained in the store's terms (no such key, the bucket's region, a gated repo).
 */
export async function openObjectSource(input: string | URL, options: ObjectSourceOptions = {}, env: Environment = process.env): Promise<HttpSource> {
  const location = parseObjectUrl(input);
  const label = formatObjectUrl(location);
  const access = await readAccess(location, label, options.remote ?? {}, env);
  const http = options.http ?? {};
  const settings = httpSettings({ ...http, ...(http.signal === undefined && options.signal !== undefined ? { signal: options.signal } : {}) });
  const recorder = new RefusalRecorder(new UndiciTransport({ connections: settings.concurrency, dispatcher: http.dispatcher as Dispatcher | undefined }));
  const pinned = access.pin === undefined ? recorder : access.pin(recorder);
  const transport = access.authorize === undefined ? pinned : new AuthorizingTransport(pinned, access.url.origin, access.authorize);
  try {
    return await openHttpSource(transport, access.url, settings, label);
  } catch (error) {
    const refusal = recorder.last;
    if (isNpzError(error, 'ERR_REMOTE_STATUS') && refusal !== undefined && refusal.status === error.actual) throw access.explain(refusal);
    throw error;
  }
}

export interface ObjectUploadOptions {
  remote?: RemoteOptions | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Starts an upload to an `s3://` (multipart) or `gs://` (resumable) URL: credentials and permission are checked by
 * starting it, before any data is produced. `hf://` is read-only here.
 */
export async function openObjectUpload(target: string, options: ObjectUploadOptions = {}, env: Environment = process.env): Promise<Upload> {
  const location = parseObjectUrl(target);
  const label = formatObjectUrl(location);
  if (location.store === 'hf') {
    throw new NpzError('ERR_INVALID_ARGUMENT', `${label}: hf:// URLs are read-only; upload to the Hub with huggingface_hub (hf upload) and read back through hf://`);
  }
  const remote = options.remote ?? {};
  const settings = uploadSettings(remote);
  const exchange = new UndiciExchange({ connections: settings.partsInFlight + 1, timeoutMs: settings.timeoutMs, dispatcher: remote.dispatcher as Dispatcher | undefined });
  let protocol: PartProtocol;
  try {
    if (location.store === 's3') {
      const access = await s3Access(label, remote.s3, env);
      const url = s3ObjectUrl(access.address, location.bucket, location.key);
      protocol = new S3MultipartUpload(authorizedExchange(exchange, url.origin, access.authorize), url, label, location.bucket, access.region, scrubber(access.secrets));
    } else {
      const access = await gcsAccess(label, remote.gcs, env);
      const url = gcsUploadUrl(access.endpoint, location.bucket, location.key);
      protocol = new GcsResumableUpload(authorizedExchange(exchange, url.origin, access.authorize), url, label, location.bucket, scrubber(access.secrets));
    }
  } catch (error) {
    await exchange.close();
    throw error;
  }
  const upload = new PartUpload(protocol, settings, options.signal);
  try {
    await upload.begin();
  } catch (error) {
    await protocol.close();
    throw error;
  }
  return {
    sink: upload.sink,
    label,
    complete: () => upload.complete(),
    abort: (reason) => upload.abort(reason),
  };
}
