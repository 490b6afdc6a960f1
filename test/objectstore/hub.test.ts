/**
 * hf:// against a local Hub whose resolve/ answers large files with a 302 to a CDN on another origin: the token
 * (from HF_TOKEN, huggingface_hub's token file, or the option) goes to the Hub and never to the CDN; revisions,
 * datasets and shard indexes resolve as huggingface_hub resolves them; gated, private and missing repos and files
 * are clear errors naming the repo and never the token.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isNpzError, openNpz, openSafetensors, openSafetensorsIndex, saveNpz, saveSafetensors, saveSafetensorsShards, type NpzError } from '../../src/index.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { everythingOf, ramp } from './helpers.js';
import { startHubServers, type HubServers } from './hub-server.js';

const TOKEN = 'hf_TestTokenThatMustNeverBePrinted';
let hub: HubServers;
let dir: TempDir;
let npz: Uint8Array;
let small: Uint8Array;

async function rejection(work: Promise<unknown>): Promise<NpzError> {
  try {
    await work;
  } catch (error) {
    if (isNpzError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  dir = makeTempDir('hub');
  await saveNpz(dir.file('ckpt.npz'), { params: { w: ramp(600_000), b: ramp(10, 5) } });
  npz = readFileSync(dir.file('ckpt.npz'));
  await saveSafetensors(dir.file('small.safetensors'), { x: ramp(100, 1) });
  small = readFileSync(dir.file('small.safetensors'));
  await saveSafetensorsShards(dir.file('shards/model.safetensors'), { a: ramp(300_000), b: ramp(300_000, 2) }, { maxShardSize: 1_000_000 });
  const shard = (name: string): Uint8Array => readFileSync(dir.file(`shards/${name}`));
  hub = await startHubServers(
    {
      'google/paligemma': { revisions: { main: { 'ckpt.npz': npz, 'sub dir/small.safetensors': small }, v1: { 'ckpt.npz': small } } },
      'google/gated': { gated: true, revisions: { main: { 'ckpt.npz': npz } } },
      'someone/private': { private: true, revisions: { main: { 'ckpt.npz': npz } } },
      'datasets/org/data': {
        revisions: {
          main: {
            'model.safetensors.index.json': shard('model.safetensors.index.json'),
            'model-00001-of-00002.safetensors': shard('model-00001-of-00002.safetensors'),
            'model-00002-of-00002.safetensors': shard('model-00002-of-00002.safetensors'),
          },
        },
      },
    },
    { tokens: [TOKEN] },
  );
});
afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await hub.close();
  dir.remove();
});

/** No token from the machine running the tests. */
function noImplicitToken(): void {
  vi.stubEnv('HF_TOKEN', undefined);
  vi.stubEnv('HUGGING_FACE_HUB_TOKEN', undefined);
  vi.stubEnv('HF_TOKEN_PATH', dir.file('no-token'));
  vi.stubEnv('HF_ENDPOINT', hub.endpoint);
}

describe('reading hf:// URLs', () => {
  it('follows the 302 to the CDN with ranges, sending the token to the Hub only', async () => {
    noImplicitToken();
    vi.stubEnv('HF_TOKEN', TOKEN);
    const [hubBefore, cdnBefore] = [hub.hubLog.length, hub.cdnLog.length];
    const file = await openNpz('hf://google/paligemma/ckpt.npz');
    try {
      const b = await file.get('params/b');
      expect(Array.from(b.data as Float32Array)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    } finally {
      await file.close();
    }
    const hubRequests = hub.hubLog.slice(hubBefore);
    const cdnRequests = hub.cdnLog.slice(cdnBefore);
    expect(hubRequests[0]!.url).toBe('/google/paligemma/resolve/main/ckpt.npz');
    expect(hubRequests.every((request) => request.headers.authorization === `Bearer ${TOKEN}` && request.status === 302)).toBe(true);
    // After the first redirect, later reads go straight to the CDN URL; none of them carries a credential.
    expect(cdnRequests.length).toBeGreaterThan(1);
    expect(cdnRequests.every((request) => request.status === 206 && request.url.includes('X-Amz-Signature='))).toBe(true);
    expect(cdnRequests.every((request) => request.headers.authorization === undefined && !JSON.stringify(request.headers).includes(TOKEN))).toBe(true);
  });

  it("reads a revision, a file in a folder, and the token file huggingface_hub's login writes", async () => {
    noImplicitToken();
    const home = dir.file('hf-home');
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'token'), `${TOKEN}\n`);
    vi.stubEnv('HF_TOKEN_PATH', undefined);
    vi.stubEnv('HF_HOME', home);
    const before = hub.hubLog.length;
    const revision = await openSafetensors('hf://google/paligemma@v1/ckpt.npz');
    expect(revision.entries.map((entry) => entry.name)).toEqual(['x']);
    await revision.close();
    const nested = await openSafetensors('hf://google/paligemma/sub dir/small.safetensors');
    await nested.close();
    expect(hub.hubLog.slice(before).map((request) => request.url)).toEqual(['/google/paligemma/resolve/v1/ckpt.npz', '/google/paligemma/resolve/main/sub%20dir/small.safetensors']);
    expect(hub.hubLog.slice(before).every((request) => request.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('opens a sharded checkpoint of a dataset repo through its index', async () => {
    noImplicitToken();
    const index = await openSafetensorsIndex('hf://datasets/org/data/model.safetensors.index.json');
    try {
      expect(index.entries.map((entry) => entry.shard)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      expect(Array.from((await index.get('b')).data as Float32Array).slice(0, 2)).toEqual([2, 3]);
    } finally {
      await index.close();
    }
  });

  it('explains gated, private and missing repos, a missing revision and file, naming the repo, never the token', async () => {
    noImplicitToken();
    const anonymous: Array<[string, number, RegExp]> = [
      ['hf://google/gated/ckpt.npz', 401, /^hf:\/\/google\/gated\/ckpt\.npz: repo google\/gated is gated: accept its conditions on the Hub .* \(HTTP 401 GatedRepo: .*\); no token was sent \(set HF_TOKEN/],
      ['hf://someone/private/ckpt.npz', 401, /repo someone\/private was not found, or it is private and the token has no access \(HTTP 401 RepoNotFound/],
      ['hf://nobody/nothing/ckpt.npz', 401, /repo nobody\/nothing was not found/],
      ['hf://google/paligemma@v9/ckpt.npz', 404, /^hf:\/\/google\/paligemma@v9\/ckpt\.npz: repo google\/paligemma has no revision v9/],
      ['hf://google/paligemma/missing.npz', 404, /repo google\/paligemma has no file missing\.npz at revision main \(HTTP 404 EntryNotFound/],
    ];
    for (const [url, status, message] of anonymous) {
      const error = await rejection(openNpz(url));
      expect(error.code, url).toBe('ERR_REMOTE_STATUS');
      expect(error.actual).toBe(status);
      expect(error.message).toMatch(message);
    }
    const wrong = await rejection(openNpz('hf://google/gated/ckpt.npz', { remote: { hf: { token: 'hf_SomeOtherTokenValue' } } }));
    expect(wrong.message).toMatch(/^hf:\/\/google\/gated\/ckpt\.npz: repo google\/gated was not found, or it is private and the token has no access \(HTTP 401 RepoNotFound/);
    expect(everythingOf(wrong)).not.toContain('hf_SomeOtherTokenValue');
    const withToken = await openNpz('hf://google/gated/ckpt.npz', { remote: { hf: { token: TOKEN } } });
    await withToken.close();
  });

  it('refuses to write hf:// URLs', async () => {
    const error = await rejection(saveNpz('hf://google/paligemma/out.npz', { a: ramp(3) }));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(/hf:\/\/ URLs are read-only/);
  });
});
