/**
 * The Hugging Face Hub on Node: the endpoint (HF_ENDPOINT) and the token as huggingface_hub finds it: HF_TOKEN, else
 * the file `hf auth login` writes (HF_TOKEN_PATH, else HF_HOME/token, HF_HOME defaulting to
 * $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface). HF_HUB_DISABLE_IMPLICIT_TOKEN turns the implicit token off.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Authorize } from '../../http/authorize.js';
import { HUB_ENDPOINT } from '../../objectstore/hub.js';
import type { HubOptions } from '../../objectstore/options.js';
import { Secrets } from './secrets.js';

type Environment = Readonly<Record<string, string | undefined>>;

export interface HubAccess {
  endpoint: string;
  /** Adds the bearer token to requests to the Hub; undefined when there is no token. */
  authorize: Authorize | undefined;
  secrets: Secrets;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());
}

/** huggingface_hub's token file. */
export function hubTokenPath(env: Environment): string {
  const home = env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'huggingface');
  return env['HF_TOKEN_PATH'] ?? join(home, 'token');
}

async function implicitToken(env: Environment): Promise<string | undefined> {
  if (truthy(env['HF_HUB_DISABLE_IMPLICIT_TOKEN'])) return undefined;
  const fromEnv = env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv.trim();
  const text = await readFile(hubTokenPath(env), 'utf8').catch(() => undefined);
  const token = text?.trim();
  return token === undefined || token === '' ? undefined : token;
}

export async function hubAccess(options: HubOptions = {}, env: Environment = process.env): Promise<HubAccess> {
  const endpoint = options.endpoint ?? env['HF_ENDPOINT'] ?? HUB_ENDPOINT;
  const secrets = new Secrets();
  const given = options.token;
  let source: (() => Promise<string>) | undefined;
  if (given === false) source = undefined;
  else if (typeof given === 'string') source = async () => given;
  else if (typeof given === 'function') source = given;
  else {
    const token = await implicitToken(env);
    source = token === undefined ? undefined : async () => token;
  }
  if (source === undefined) return { endpoint, authorize: undefined, secrets };
  const token = source;
  const authorize: Authorize = async (request) => {
    const value = await token();
    secrets.add(value);
    return [...request.headers.map(([name, value]) => [name, value] as [string, string]), ['authorization', `Bearer ${value}`]];
  };
  // Known from the start, so a message can never quote it.
  secrets.add(await token());
  return { endpoint, authorize, secrets };
}
