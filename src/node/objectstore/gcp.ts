/**
 * Google Cloud Storage on Node: the endpoint (STORAGE_EMULATOR_HOST, as Google's clients honour it) and an OAuth
 * token from Application Default Credentials through Google's own `google-auth-library`, loaded on the first `gs://`
 * URL only (a dynamic import).
 */
import { NpzError } from '../../errors.js';
import type { Authorize } from '../../http/authorize.js';
import { GCS_ENDPOINT } from '../../objectstore/gcs.js';
import type { GcsOptions } from '../../objectstore/options.js';
import { Secrets } from './secrets.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** Read and write: the scope a token needs for an upload (a read needs less, but one token serves both). */
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';

export interface GcsAccess {
  endpoint: string;
  authorize: Authorize | undefined;
  secrets: Secrets;
}

let googleAuth: Promise<typeof import('google-auth-library')> | undefined;

function credentialsError(label: string, detail: string): NpzError {
  return new NpzError(
    'ERR_REMOTE_CREDENTIALS',
    `${label}: no usable Google credentials (${detail}); set up Application Default Credentials ` +
      '(GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, or the metadata server), or pass gcs.token',
  );
}

/**
 * The endpoint and token source of a `gs://` URL: the caller's token, else none under STORAGE_EMULATOR_HOST, else
 * ADC (also with another `endpoint`, as Google's clients authenticate to a custom API endpoint). The token is fetched
 * once here, so missing credentials fail now.
 */
export async function gcsAccess(label: string, options: GcsOptions = {}, env: Environment = process.env): Promise<GcsAccess> {
  const emulator = env['STORAGE_EMULATOR_HOST'];
  const endpoint = options.endpoint ?? (emulator === undefined || emulator === '' ? GCS_ENDPOINT : /^https?:\/\//i.test(emulator) ? emulator : `http://${emulator}`);
  const secrets = new Secrets();
  let source: (() => Promise<string>) | undefined;
  if (options.token !== undefined) {
    const given = options.token;
    source = typeof given === 'string' ? async () => given : given;
  } else if (emulator === undefined || emulator === '') {
    googleAuth ??= import('google-auth-library');
    const { GoogleAuth } = await googleAuth;
    const auth = new GoogleAuth({ scopes: SCOPE });
    source = async () => (await auth.getAccessToken()) ?? '';
  }
  if (source === undefined) return { endpoint, authorize: undefined, secrets };
  const token = async (): Promise<string> => {
    let value: string;
    try {
      value = await (source as () => Promise<string>)();
    } catch (cause) {
      throw credentialsError(label, secrets.scrub((cause as Error)?.message ?? String(cause)).slice(0, 300));
    }
    if (typeof value !== 'string' || value === '') throw credentialsError(label, 'no access token was returned');
    secrets.add(value);
    return value;
  };
  await token();
  const authorize: Authorize = async (request) => [...request.headers.map(([name, value]) => [name, value] as [string, string]), ['authorization', `Bearer ${await token()}`]];
  return { endpoint, authorize, secrets };
}
