import { NpzError } from '../errors.js';
import { DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_MS, DEFAULT_TIMEOUT_MS } from '../http/options.js';

/** What a caller may say about object stores: credentials and endpoints per store, and how uploads are cut and sent. */

/** AWS credentials, as the AWS SDK's credential providers resolve them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** When they stop working; a provider is asked again shortly before. */
  expiration?: Date | undefined;
}

export interface S3Options {
  /**
   * Credentials, or a function that returns them: any AWS SDK credential provider fits (`fromSSO()`,
   * `fromTemporaryCredentials(…)`, `fromInstanceMetadata()` of `@aws-sdk/credential-providers`), and is asked
   * before each request (it caches and refreshes them itself). Default: the AWS SDK's default Node chain.
   */
  credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
  /** Send requests unsigned, for a public bucket (as `aws --no-sign-request`). */
  anonymous?: boolean;
  /** The bucket's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1). */
  region?: string;
  /** Another S3-compatible endpoint (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url). */
  endpoint?: string;
  /** The shared config and credentials files' profile (default: AWS_PROFILE, else `default`). */
  profile?: string;
  /**
   * Address buckets in the path (`https://s3.REGION.amazonaws.com/BUCKET/KEY`) rather than the host name. Default:
   * true with a custom endpoint (as MinIO and local servers need), else only for bucket names a host name cannot carry.
   */
  forcePathStyle?: boolean;
}

/** A bearer token, or a function that returns a fresh one (asked before each request; cache it yourself). */
export type BearerToken = string | (() => Promise<string>);

export interface GcsOptions {
  /**
   * An OAuth access token, or a function that returns one (e.g. from an auth client of your own). Default:
   * Application Default Credentials through google-auth-library, none with STORAGE_EMULATOR_HOST.
   */
  token?: BearerToken;
  /** Another endpoint (default: STORAGE_EMULATOR_HOST, which also turns the token off, else https://storage.googleapis.com). */
  endpoint?: string;
}

export interface HubOptions {
  /** A Hub token, a function returning one, or false for none. Default: HF_TOKEN, else huggingface_hub's token file. */
  token?: BearerToken | false;
  /** Another Hub endpoint (default: HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
}

/** Object store settings: per store, and for uploads (`saveNpz('s3://…')` and the other savers). */
export interface RemoteOptions {
  s3?: S3Options;
  gcs?: GcsOptions;
  hf?: HubOptions;
  /**
   * Upload part size in bytes: 8 MiB by default, at least 5 MiB (S3's minimum); grown when the writer knows its total
   * so that an object needs at most 10 000 parts. Memory held by an upload is about (partsInFlight + 2) × partSize.
   */
  partSize?: number;
  /** Parts being sent at once (default 4). A GCS resumable upload takes its parts one at a time, in order. */
  partsInFlight?: number;
  /** Attempts after the first for a failed upload request (default 5), as for reads: reset, timeout, 429, 5xx. */
  retries?: number;
  /** First backoff delay of an upload request (default 250 ms, doubling up to 30 s; `Retry-After` overrides it). */
  retryDelayMs?: number;
  /** An upload request with no progress for this long is aborted and retried (default 30 000). */
  timeoutMs?: number;
  /** The undici Dispatcher upload requests go through (e.g. a ProxyAgent); reads take theirs from `http.dispatcher`. */
  dispatcher?: unknown;
}

export const MIB = 1 << 20;
export const DEFAULT_PART_SIZE = 8 * MIB;
/** S3's smallest part (but the last). */
export const MIN_PART_SIZE = 5 * MIB;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * MIB;
/** S3's most parts per upload. */
export const MAX_PARTS = 10_000;
export const DEFAULT_PARTS_IN_FLIGHT = 4;
/** With the total unknown, the part size doubles every this many parts (8 MiB parts reach 8 TB within 10 000). */
export const PARTS_PER_DOUBLING = 1_000;

export interface UploadSettings {
  partSize: number;
  partsInFlight: number;
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
}

function integer(name: string, value: number | undefined, fallback: number, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < minimum || value > maximum) {
    throw new NpzError('ERR_INVALID_ARGUMENT', `option ${name} must be an integer from ${minimum} to ${maximum}, got ${value}`, { actual: value });
  }
  return value;
}

export function uploadSettings(options: RemoteOptions = {}): UploadSettings {
  return {
    partSize: integer('partSize', options.partSize, DEFAULT_PART_SIZE, MIN_PART_SIZE, MAX_PART_SIZE),
    partsInFlight: integer('partsInFlight', options.partsInFlight, DEFAULT_PARTS_IN_FLIGHT, 1, 64),
    retries: integer('retries', options.retries, DEFAULT_RETRIES, 0),
    retryDelayMs: integer('retryDelayMs', options.retryDelayMs, DEFAULT_RETRY_DELAY_MS, 0),
    timeoutMs: integer('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS, 1),
  };
}

/**
 * How parts are cut: every part `size` bytes when the total is known (the configured size, grown to a whole MiB so
 * that `total` fits in 10 000 parts), else the configured size doubling every 1 000 parts.
 */
export class PartPlan {
  #base: number;
  #fixed = false;

  constructor(base: number) {
    this.#base = base;
  }

  /** Fixes the part size for an object of `total` bytes; refuses an object S3 cannot hold in 10 000 parts. */
  expect(total: number, label: string): void {
    const needed = Math.ceil(Math.ceil(total / MAX_PARTS) / MIB) * MIB;
    if (needed > MAX_PART_SIZE) {
      throw new NpzError('ERR_INVALID_ARGUMENT', `${label}: ${total} bytes do not fit in ${MAX_PARTS} parts of at most 5 GiB`, { actual: total });
    }
    this.#base = Math.max(this.#base, needed);
    this.#fixed = true;
  }

  /** Bytes of part `number` (1-based). */
  sizeOf(number: number): number {
    if (this.#fixed) return this.#base;
    const doublings = Math.floor((number - 1) / PARTS_PER_DOUBLING);
    return Math.min(MAX_PART_SIZE, this.#base * 2 ** doublings);
  }
}
