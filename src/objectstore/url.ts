import { NpzError } from '../errors.js';

/**
 * Object store URLs: `s3://bucket/key`, `gs://bucket/object` and `hf://[datasets/|spaces/]owner/repo[@revision]/path`
 * (huggingface_hub's form). The text after the bucket is the key exactly as written (no percent-decoding), as the
 * AWS and gcloud command lines take it; an `hf://` revision may be percent-encoded (`@refs%2Fpr%2F1`).
 */

export type ObjectLocation =
  | { store: 's3' | 'gs'; bucket: string; key: string }
  | { store: 'hf'; kind: 'model' | 'dataset' | 'space'; repo: string; revision: string; path: string };

const SCHEME = /^(s3|gs|hf):\/\//i;

/** True for an `s3://`, `gs://` or `hf://` URL (string or URL object). */
export function isObjectStoreUrl(input: unknown): input is string | URL {
  if (input instanceof URL) return /^(s3|gs|hf):$/i.test(input.protocol);
  return typeof input === 'string' && SCHEME.test(input);
}

function invalid(text: string, why: string): NpzError {
  return new NpzError('ERR_INVALID_ARGUMENT', `${text}: ${why}`);
}

/** A key or path: no empty name, no `.` or `..` segment (an HTTP path would collapse them into another key). */
function checkKey(text: string, key: string, what: string): void {
  if (key === '') throw invalid(text, `the URL names no ${what}`);
  if (key.split('/').some((segment) => segment === '.' || segment === '..')) throw invalid(text, `a ${what} with a '.' or '..' segment cannot be addressed over HTTP`);
}

/** Parses an object store URL, or throws ERR_INVALID_ARGUMENT saying what is wrong with it. */
export function parseObjectUrl(input: string | URL): ObjectLocation {
  const text = String(input);
  const scheme = SCHEME.exec(text);
  if (scheme === null) throw invalid(text, 'not an s3://, gs:// or hf:// URL');
  const store = scheme[1]!.toLowerCase() as 's3' | 'gs' | 'hf';
  const rest = text.slice(scheme[0].length);
  if (rest.includes('?') || rest.includes('#')) throw invalid(text, 'an object URL takes no query or fragment');
  if (store === 'hf') return parseHubPath(text, rest);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(bucket)) throw invalid(text, `${JSON.stringify(bucket)} is not a bucket name`);
  checkKey(text, key, store === 's3' ? 'key' : 'object');
  return { store, bucket, key };
}

function parseHubPath(text: string, rest: string): ObjectLocation {
  let kind: 'model' | 'dataset' | 'space' = 'model';
  let path = rest;
  const prefix = /^(datasets|spaces|models)\//.exec(path);
  if (prefix !== null) {
    kind = prefix[1] === 'datasets' ? 'dataset' : prefix[1] === 'spaces' ? 'space' : 'model';
    path = path.slice(prefix[0].length);
  }
  const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)\/([A-Za-z0-9][A-Za-z0-9._-]*)(?:@([^/]+))?\/(.*)$/.exec(path);
  if (match === null) throw invalid(text, 'expected hf://[datasets/|spaces/]owner/repo[@revision]/path');
  let revision = 'main';
  if (match[3] !== undefined) {
    try {
      revision = decodeURIComponent(match[3]);
    } catch {
      throw invalid(text, 'the revision is not valid percent-encoding');
    }
  }
  const file = match[4]!;
  checkKey(text, file, 'file path');
  return { store: 'hf', kind, repo: `${match[1]}/${match[2]}`, revision, path: file };
}

/** The canonical text of a location: what messages name. */
export function formatObjectUrl(location: ObjectLocation): string {
  if (location.store !== 'hf') return `${location.store}://${location.bucket}/${location.key}`;
  const prefix = location.kind === 'dataset' ? 'datasets/' : location.kind === 'space' ? 'spaces/' : '';
  const revision = location.revision === 'main' ? '' : `@${encodeURIComponent(location.revision)}`;
  return `hf://${prefix}${location.repo}${revision}/${location.path}`;
}

/** Where a location lives, for messages: `bucket b, key k` or `repo o/r at revision main, file f`. */
export function describeLocation(location: ObjectLocation): string {
  if (location.store !== 'hf') return `bucket ${location.bucket}, ${location.store === 's3' ? 'key' : 'object'} ${location.key}`;
  return `${location.kind === 'model' ? 'repo' : location.kind} ${location.repo} at revision ${location.revision}, file ${location.path}`;
}

/** The URL of `name` beside the object `url` names (a shard beside its index). */
export function siblingObjectUrl(url: string, name: string): string {
  const cut = url.lastIndexOf('/');
  return `${url.slice(0, cut + 1)}${name}`;
}

/** `s3://b/dir/model.safetensors` → `s3://b/dir`: the object URL with its last segment removed. */
export function objectDirname(url: string): string {
  return url.slice(0, url.lastIndexOf('/'));
}

/** RFC 3986 encoding of one path segment: everything but unreserved characters, as S3 and the Hub sign and route them. */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A key as an URL path, each segment encoded, `/` kept. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeSegment).join('/');
}
