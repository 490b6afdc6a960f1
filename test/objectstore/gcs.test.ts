/**
 * gs:// against a local JSON API server that checks the bearer token: the token from Application Default
 * Credentials through google-auth-library (a GCE metadata server found by GCE_METADATA_HOST), or none with
 * STORAGE_EMULATOR_HOST; reads by range pinned to the generation; resumable uploads in 256 KiB multiples that numpy
 * loads, retried from what the session kept, and cancelled on failure.
 */
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isNpzError, openNpz, readNpz, saveNpz, saveNpzStream, type NpzError } from '../../src/index.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { everythingOf, lazyRamp, mixedTree, ramp, VERIFY_MIXED } from './helpers.js';
import { startGcsServer, startMetadataServer, type GcsServer } from './gcs-server.js';

const TOKEN = 'ya29.test-access-token-from-metadata';
const MIB = 1 << 20;
let gcs: GcsServer;
let metadata: Awaited<ReturnType<typeof startMetadataServer>>;
let dir: TempDir;

async function rejection(work: Promise<unknown>): Promise<NpzError> {
  try {
    await work;
  } catch (error) {
    if (isNpzError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** What saveNpzStream writes into a pipe. */
async function piped(tree: Parameters<typeof saveNpzStream>[0]): Promise<Buffer> {
  const out = new PassThrough();
  const pieces: Buffer[] = [];
  out.on('data', (piece: Buffer) => pieces.push(piece));
  await saveNpzStream(tree, out);
  return Buffer.concat(pieces);
}

/** Application Default Credentials resolve to the metadata server, and nothing else is configured. */
function useMetadataServer(): void {
  vi.stubEnv('GCE_METADATA_HOST', metadata.host);
  vi.stubEnv('METADATA_SERVER_DETECTION', 'assume-present');
  vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', undefined);
  vi.stubEnv('CLOUDSDK_CONFIG', dir.file('no-gcloud'));
  vi.stubEnv('STORAGE_EMULATOR_HOST', undefined);
}

beforeAll(async () => {
  gcs = await startGcsServer({ token: TOKEN });
  metadata = await startMetadataServer(TOKEN);
  dir = makeTempDir('gcs');
});
afterEach(() => {
  gcs.resetCounts();
  gcs.fault = undefined;
  gcs.beforeMedia = undefined;
  gcs.token = TOKEN;
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await gcs.close();
  await metadata.close();
  dir.remove();
});

describe('reading gs:// URLs', () => {
  it('reads by range with the token google-auth-library got from the metadata server (ADC)', async () => {
    useMetadataServer();
    await saveNpz(dir.file('read.npz'), { a: ramp(500_000), b: ramp(1000, 3) });
    gcs.putObject('bucket', 'dir/read.npz', readFileSync(dir.file('read.npz')));
    const before = gcs.log.length;
    const file = await openNpz('gs://bucket/dir/read.npz', { remote: { gcs: { endpoint: gcs.origin } } });
    try {
      const b = await file.get('b');
      expect(Array.from((b.data as Float32Array).subarray(0, 2))).toEqual([3, 4]);
    } finally {
      await file.close();
    }
    expect(metadata.requests()).toBeGreaterThan(0);
    const requests = gcs.log.slice(before);
    expect(requests.every((request) => request.status === 206 && request.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(requests.every((request) => request.url.startsWith('/storage/v1/b/bucket/o/dir%2Fread.npz?alt=media'))).toBe(true);
    // 'a' (2 MB) was not fetched.
    expect(requests.reduce((sum, request) => sum + request.bytes, 0)).toBeLessThan(300_000);
  });

  it('talks to STORAGE_EMULATOR_HOST with no token', async () => {
    vi.stubEnv('STORAGE_EMULATOR_HOST', gcs.origin.slice('http://'.length));
    gcs.token = undefined;
    const before = gcs.log.length;
    const file = await openNpz('gs://bucket/dir/read.npz');
    await file.close();
    expect(gcs.log.slice(before).every((request) => request.headers.authorization === undefined)).toBe(true);
  });

  it('refuses a wrong token, a missing object and a missing bucket with clear errors that never show the token', async () => {
    const wrong = await rejection(openNpz('gs://bucket/dir/read.npz', { remote: { gcs: { endpoint: gcs.origin, token: 'ya29.wrong-token-value' } } }));
    expect(wrong.code).toBe('ERR_REMOTE_STATUS');
    expect(wrong.actual).toBe(401);
    expect(wrong.message).toMatch(/^gs:\/\/bucket\/dir\/read\.npz: access denied while reading \(HTTP 401: Invalid Credentials\)/);
    expect(everythingOf(wrong)).not.toContain('wrong-token-value');
    const missing = await rejection(openNpz('gs://bucket/nothing.npz', { remote: { gcs: { endpoint: gcs.origin, token: TOKEN } } }));
    expect(missing.message).toBe('gs://bucket/nothing.npz: no such object, or no bucket bucket (HTTP 404: No such object: bucket/nothing.npz)');
    const noBucket = await rejection(openNpz('gs://other/x.npz', { remote: { gcs: { endpoint: gcs.origin, token: TOKEN } } }));
    expect(noBucket.actual).toBe(404);
  });

  it('pins the generation: an object overwritten mid-read fails with ERR_REMOTE_CHANGED', async () => {
    await saveNpz(dir.file('pin.npz'), { a: ramp(300_000), b: ramp(300_000, 1) });
    const original = readFileSync(dir.file('pin.npz'));
    gcs.putObject('bucket', 'pin.npz', original);
    gcs.beforeMedia = (count) => {
      if (count === 2) gcs.putObject('bucket', 'pin.npz', Buffer.from(original).reverse());
    };
    const before = gcs.log.length;
    const error = await rejection(
      (async () => {
        for await (const _ of readNpz('gs://bucket/pin.npz', { remote: { gcs: { endpoint: gcs.origin, token: TOKEN } }, readAhead: false })) void _;
      })(),
    );
    expect(error.code).toBe('ERR_REMOTE_CHANGED');
    expect(error.message).toContain('gs://bucket/pin.npz');
    expect(gcs.log.slice(before).some((request) => /ifGenerationMatch=\d+/.test(request.url) && request.status === 412)).toBe(true);
  });
});

describe('uploading to gs://', () => {
  it('uploads by a resumable session whose chunks are multiples of 256 KiB; numpy loads the object', async () => {
    useMetadataServer();
    const before = gcs.log.length;
    const summary = await saveNpz('gs://bucket/out/mixed.npz', mixedTree(), { remote: { gcs: { endpoint: gcs.origin }, partSize: 5 * MIB + 1 } });
    const object = gcs.getObject('bucket', 'out/mixed.npz')!;
    expect(object.length).toBe(summary.bytesWritten);
    // Chunks go one at a time, in order: lazy members get data descriptors, as np.savez writes into a pipe.
    expect(object.equals(await piped(mixedTree()))).toBe(true);
    const chunks = gcs.log.slice(before).filter((request) => request.method === 'PUT');
    expect(chunks.length).toBe(Math.ceil(object.length / (5 * MIB + 256 * 1024)));
    expect(chunks.slice(0, -1).every((chunk) => chunk.received % (256 * 1024) === 0 && chunk.status === 308)).toBe(true);
    expect(chunks.at(-1)!.status).toBe(200);
    expect(gcs.openSessions()).toBe(0);
    if (hasNumpy()) {
      const path = dir.file('gcs-mixed.npz');
      (await import('node:fs')).writeFileSync(path, object);
      expect(runPython(VERIFY_MIXED, [path]).trim()).toBe('ok');
    }
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'in-memory leaves upload as np.savez writes them'), async () => {
    const tree = { a: ramp(10_000), b: { c: new Int16Array([1, -2, 3]) } };
    await saveNpz('gs://bucket/out/plain.npz', tree, { remote: { gcs: { endpoint: gcs.origin, token: TOKEN } } });
    const script = String.raw`
import io, sys, numpy as np
a = (np.arange(10000) % 65536).astype(np.float32)
out = io.BytesIO()
np.savez(out, **{'a': a, 'b/c': np.array([1, -2, 3], dtype=np.int16)})
sys.stdout.write(out.getvalue().hex())
`;
    expect(gcs.getObject('bucket', 'out/plain.npz')!.toString('hex')).toBe(runPython(script));
  });

  it('resumes a chunk answered 503 from what the session kept, and cancels the session on failure', async () => {
    gcs.fault = (request) => (request.kind === 'chunk' && request.count === 2 ? { status: 503 } : undefined);
    const before = gcs.log.length;
    await saveNpz('gs://bucket/out/retried.npz', mixedTree(), { remote: { gcs: { endpoint: gcs.origin, token: TOKEN }, retryDelayMs: 1 } });
    const requests = gcs.log.slice(before);
    expect(gcs.getObject('bucket', 'out/retried.npz')!.equals(await piped(mixedTree()))).toBe(true);
    expect(requests.some((request) => request.status === 503)).toBe(true);
    // The retry first asked what the session had.
    const failed = requests.findIndex((request) => request.status === 503);
    expect(String(requests[failed + 1]!.headers['content-range'])).toBe('bytes */*');

    gcs.putObject('bucket', 'out/kept.npz', Buffer.from('old'));
    let pulled = 0;
    const controller = new AbortController();
    const tree = { big: lazyRamp(6_000_000, 0, 256 * 1024, () => ++pulled === 20 && controller.abort()) };
    const aborted = await rejection(saveNpz('gs://bucket/out/kept.npz', tree, { remote: { gcs: { endpoint: gcs.origin, token: TOKEN } }, signal: controller.signal }));
    expect(aborted.code).toBe('ERR_ABORTED');
    expect(gcs.getObject('bucket', 'out/kept.npz')!.toString()).toBe('old');
    expect(gcs.openSessions()).toBe(0);
    expect(gcs.log.at(-1)!.method).toBe('DELETE');
    expect(gcs.log.at(-1)!.status).toBe(499);
  });

  it('says ERR_REMOTE_CREDENTIALS when Application Default Credentials find nothing', async () => {
    vi.stubEnv('GCE_METADATA_HOST', undefined);
    vi.stubEnv('METADATA_SERVER_DETECTION', 'none');
    vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', undefined);
    vi.stubEnv('CLOUDSDK_CONFIG', dir.file('no-gcloud'));
    vi.stubEnv('STORAGE_EMULATOR_HOST', undefined);
    const error = await rejection(openNpz('gs://bucket/dir/read.npz', { remote: { gcs: { endpoint: gcs.origin } } }));
    expect(error.code).toBe('ERR_REMOTE_CREDENTIALS');
    expect(error.message).toMatch(/^gs:\/\/bucket\/dir\/read\.npz: no usable Google credentials/);
  });
});
