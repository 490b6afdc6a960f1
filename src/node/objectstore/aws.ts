/**
 * S3 on Node: the region, endpoint and credentials resolved as the AWS CLI and SDKs do, and each request signed
 * with AWS Signature V4 by the SDK's own signer (`@smithy/signature-v4`). The AWS packages are loaded on the first
 * `s3://` URL only (a dynamic import), so nothing of them is paid by a program that never uses one.
 */
import { createHash, createHmac, type Hash as NodeHash, type Hmac } from 'node:crypto';
import { NpzError } from '../../errors.js';
import type { Authorize } from '../../http/authorize.js';
import type { AwsCredentials, S3Options } from '../../objectstore/options.js';
import type { S3Address } from '../../objectstore/s3.js';
import { Secrets } from './secrets.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** What an S3 request needs: where the bucket is reached, for which region it is signed, and how. */
export interface S3Access {
  address: S3Address;
  region: string;
  /** Signs a request; undefined for unsigned (anonymous) requests. */
  authorize: Authorize | undefined;
  secrets: Secrets;
}

let sdkConfig: Promise<typeof import('@smithy/core/config')> | undefined;
let sdkCredentials: Promise<typeof import('@aws-sdk/credential-provider-node')> | undefined;
let sdkSigner: Promise<typeof import('@smithy/signature-v4')> | undefined;

/** A profile's settings from the shared config and credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE). */
async function profileSettings(profile: string): Promise<Record<string, string | undefined>> {
  sdkConfig ??= import('@smithy/core/config');
  const { loadSharedConfigFiles } = await sdkConfig;
  const files = await loadSharedConfigFiles({ ignoreCache: true });
  return { ...files.credentialsFile[profile], ...files.configFile[profile] };
}

function endpointUrl(text: string, from: string): URL {
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // below
  }
  throw new NpzError('ERR_INVALID_ARGUMENT', `${from} must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

/**
 * Region and endpoint as the AWS CLI resolves them: the option, then AWS_REGION / AWS_DEFAULT_REGION, then the
 * profile's `region` (us-east-1 when none says); the option, then AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then the
 * profile's `endpoint_url` (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS). A custom endpoint is addressed path-style.
 */
export async function s3Address(options: S3Options, env: Environment): Promise<{ address: S3Address; profile: string }> {
  const profile = options.profile ?? env['AWS_PROFILE'] ?? 'default';
  const ignoreConfigured = truthy(env['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS']);
  let region = options.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  let endpointText = options.endpoint ?? (ignoreConfigured ? undefined : (env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL']));
  let endpointFrom = options.endpoint !== undefined ? 'the s3.endpoint option' : env['AWS_ENDPOINT_URL_S3'] !== undefined ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  if (region === undefined || (endpointText === undefined && !ignoreConfigured)) {
    const settings = await profileSettings(profile).catch(() => ({}) as Record<string, string | undefined>);
    region ??= settings['region'];
    if (endpointText === undefined && !ignoreConfigured && settings['endpoint_url'] !== undefined) {
      endpointText = settings['endpoint_url'];
      endpointFrom = `the endpoint_url of profile ${profile}`;
    }
  }
  region ??= 'us-east-1';
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new NpzError('ERR_INVALID_ARGUMENT', `the S3 region must look like us-east-1, got ${JSON.stringify(region)}`);
  const endpoint = endpointText === undefined ? undefined : endpointUrl(endpointText, endpointFrom);
  return { address: { region, endpoint, pathStyle: options.forcePathStyle ?? endpoint !== undefined }, profile };
}

/** The SHA-256 hashes and HMACs the signer asks for, by node:crypto (the signer's own JS fallback is slower). */
class NodeSha256 {
  readonly #hash: NodeHash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(toBytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

function toBytes(data: string | ArrayBuffer | ArrayBufferView): Uint8Array | string {
  if (typeof data === 'string') return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

function credentialsError(label: string, detail: string): NpzError {
  return new NpzError(
    'ERR_REMOTE_CREDENTIALS',
    `${label}: no usable AWS credentials (${detail}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE with the shared credentials or config file, ` +
      'or another source of the AWS default chain; or pass s3.credentials, or s3.anonymous for a public bucket',
  );
}

/** The credentials provider: the caller's, else the AWS SDK's default Node chain for `profile`. */
async function credentialProvider(options: S3Options, profile: string | undefined): Promise<() => Promise<AwsCredentials>> {
  const given = options.credentials;
  if (typeof given === 'function') return given;
  if (given !== undefined) return async () => given;
  sdkCredentials ??= import('@aws-sdk/credential-provider-node');
  const { defaultProvider } = await sdkCredentials;
  // Only a profile named explicitly is passed on: the SDK then skips the environment's keys, as it does for AWS_PROFILE.
  return defaultProvider(profile === undefined ? {} : { profile });
}

/**
 * Everything an `s3://` request needs. Credentials are asked for once here, so a missing or broken configuration
 * fails now with ERR_REMOTE_CREDENTIALS, before any request; the signer asks the provider again for each request
 * (the SDK's providers cache, and refresh credentials that are about to expire).
 */
export async function s3Access(label: string, options: S3Options = {}, env: Environment = process.env): Promise<S3Access> {
  const { address } = await s3Address(options, env);
  const secrets = new Secrets();
  if (options.anonymous === true) return { address, region: address.region, authorize: undefined, secrets };
  const provider = await credentialProvider(options, options.profile);
  const credentials = async (): Promise<AwsCredentials> => {
    let found: AwsCredentials;
    try {
      found = await provider();
    } catch (cause) {
      throw credentialsError(label, secrets.scrub((cause as Error)?.message ?? String(cause)));
    }
    if (typeof found?.accessKeyId !== 'string' || typeof found.secretAccessKey !== 'string' || found.accessKeyId === '' || found.secretAccessKey === '') {
      throw credentialsError(label, 'the provider returned no access key');
    }
    secrets.add(found.secretAccessKey, found.sessionToken, found.accessKeyId);
    return found;
  };
  const signingCredentials = async (): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }> => {
    const { accessKeyId, secretAccessKey, sessionToken } = await credentials();
    return sessionToken === undefined || sessionToken === '' ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken };
  };
  await credentials();
  sdkSigner ??= import('@smithy/signature-v4');
  const { SignatureV4 } = await sdkSigner;
  const signer = new SignatureV4({ credentials: signingCredentials, region: address.region, service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  const authorize: Authorize = async (request) => {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    for (const [name, value] of request.headers) {
      const key = name.toLowerCase();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    headers['host'] = url.host;
    headers['x-amz-content-sha256'] = request.body === undefined ? EMPTY_SHA256 : createHash('sha256').update(request.body).digest('hex');
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) query[key] = value;
    const signed = await signer.sign({
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port === '' ? {} : { port: Number(url.port) }),
      path: url.pathname,
      query,
      headers,
      body: request.body,
    });
    // The transport sends Host itself, from the URL the signature covers.
    return Object.entries(signed.headers).filter(([name]) => name.toLowerCase() !== 'host');
  };
  return { address, region: address.region, authorize, secrets };
}
