/**
 * s3:// end to end against the test S3 server (signatures checked by AWS's signer): reading by ranges with the
 * object pinned, uploads by parts that numpy loads and that equal a local save byte for byte, aborts and failures
 * that leave no object and no open upload, S3's refusals as clear errors, and retries of a failed part.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isNpzError, openNpz, openSafetensors, openSafetensorsIndex, readNpz, saveNpy, saveNpz, saveSafetensors, saveSafetensorsShards, type NpzError } from '../../src/index.js';
import type { RemoteOptions } from '../../src/objectstore/options.js';
import { hasNumpy, NO_NUMPY, withSkipReason } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';
import { everythingOf, lazyRamp, mixedTree, numpyVerifies, ramp } from './helpers.js';
import { maxConcurrent, startS3Server, type S3Server } from './s3-server.js';

const CREDENTIALS = { accessKeyId: 'AKIDS3TEST', secretAccessKey: 'very-secret-s3-key-0123456789' };
const MIB = 1 << 20;
let server: S3Server;
let dir: TempDir;

function remote(overrides: Partial<RemoteOptions> & { secret?: string; region?: string } = {}): RemoteOptions {
  const { secret, region, ...rest } = overrides;
  return {
    s3: { endpoint: server.endpoint, region: region ?? 'eu-west-1', credentials: { ...CREDENTIALS, ...(secret === undefined ? {} : { secretAccessKey: secret }) } },
    partSize: 5 * MIB,
    retryDelayMs: 1,
    ...rest,
  };
}

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
  server = await startS3Server({ region: 'eu-west-1', credentials: [CREDENTIALS], buckets: ['bucket', 'other'] });
  dir = makeTempDir('s3');
});
afterEach(() => {
  server.fault = undefined;
  server.beforeGet = undefined;
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await server.close();
  dir.remove();
});

describe('reading s3:// URLs', () => {
  it('opens a checkpoint by signed range requests and reads one array without fetching the rest', async () => {
    await saveNpz(dir.file('read.npz'), { a: ramp(1_000_000), b: { c: ramp(300_000, 9) } });
    server.putObject('bucket', 'ckpt/read.npz', new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(dir.file('read.npz')))));
    const before = server.log.length;
    const file = await openNpz('s3://bucket/ckpt/read.npz', { remote: remote() });
    try {
      expect(file.entries.map((entry) => entry.name)).toEqual(['a', 'b/c']);
      const c = await file.get('b/c');
      expect(Array.from((c.data as Float32Array).subarray(0, 3))).toEqual([9, 10, 11]);
    } finally {
      await file.close();
    }
    const requests = server.log.slice(before);
    expect(requests.every((request) => request.name === 'GetObject' && request.status === 206)).toBe(true);
    expect(requests.every((request) => request.headers.range !== undefined && String(request.headers.authorization).startsWith('AWS4-HMAC-SHA256'))).toBe(true);
    // 'a' (4 MB) was never fetched: the tail, then b/c's 1.2 MB.
    expect(requests.reduce((sum, request) => sum + request.bytes, 0)).toBeLessThan(1_600_000);
  });

  it('fails with ERR_REMOTE_CHANGED when the object is overwritten mid-read (If-Match pins the ETag)', async () => {
    await saveNpz(dir.file('pin.npz'), { a: ramp(400_000), b: ramp(400_000, 1) });
    const { readFileSync } = await import('node:fs');
    const original = readFileSync(dir.file('pin.npz'));
    server.putObject('bucket', 'pin.npz', original);
    let gets = 0;
    server.beforeGet = (operation) => {
      // After the arrays' first read, the key gets new bytes of the same size.
      if (operation.key === 'pin.npz' && ++gets === 3) server.putObject('bucket', 'pin.npz', Buffer.from(original).reverse());
    };
    const seen: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const [name] of readNpz('s3://bucket/pin.npz', { remote: remote(), readAhead: false })) seen.push(name);
      })(),
    );
    expect(error.code).toBe('ERR_REMOTE_CHANGED');
    expect(error.message).toContain('s3://bucket/pin.npz');
    expect(server.log.some((request) => request.name === 'GetObject' && request.status === 412 && request.headers['if-match'] !== undefined)).toBe(true);
  });

  it('explains a missing key, a missing bucket, wrong credentials and a wrong region, each in one request', async () => {
    const cases: Array<[string, RemoteOptions, number, RegExp]> = [
      ['s3://bucket/no/such.npz', remote(), 404, /s3:\/\/bucket\/no\/such\.npz: no such key in bucket bucket \(HTTP 404 NoSuchKey\)/],
      ['s3://nobucket/x.npz', remote(), 404, /s3:\/\/nobucket\/x\.npz: bucket nobucket does not exist/],
      ['s3://bucket/ckpt/read.npz', remote({ secret: 'wrong-secret-value' }), 403, /access denied .*SignatureDoesNotMatch.*check the credentials/],
      ['s3://bucket/ckpt/read.npz', remote({ region: 'us-west-2' }), 400, /bucket bucket is in region eu-west-1, but the request was signed for us-west-2; set AWS_REGION=eu-west-1/],
    ];
    for (const [url, options, status, message] of cases) {
      const before = server.log.length;
      const error = await rejection(openNpz(url, { remote: options, http: { retryDelayMs: 1 } }));
      expect(error.code, url).toBe('ERR_REMOTE_STATUS');
      expect(error.actual).toBe(status);
      expect(error.message).toMatch(message);
      expect(everythingOf(error)).not.toContain(CREDENTIALS.secretAccessKey);
      expect(everythingOf(error)).not.toContain('wrong-secret-value');
      // A refusal is not retried.
      const path = `/${url.slice('s3://'.length)}`;
      expect(server.log.slice(before).filter((request) => request.url.startsWith(path)).map((request) => `${request.name} ${request.status}`), url).toHaveLength(1);
    }
    const unknown = await rejection(openNpz('s3://bucket/ckpt/read.npz', { remote: { s3: { ...remote().s3, credentials: { accessKeyId: 'AKIDNOBODY', secretAccessKey: 'x-secret-x' } } } }));
    expect(unknown.message).toMatch(/HTTP 403 InvalidAccessKeyId/);
  });

  it('finds credentials, region and endpoint in the environment, and a profile in the shared files', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ENDPOINT_URL_S3', server.endpoint);
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    const file = await openNpz('s3://bucket/ckpt/read.npz');
    await file.close();

    vi.unstubAllEnvs();
    writeFileSync(dir.file('credentials'), `[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = nope\n\n[team]\naws_access_key_id = ${CREDENTIALS.accessKeyId}\naws_secret_access_key = ${CREDENTIALS.secretAccessKey}\n`);
    writeFileSync(dir.file('config'), `[default]\nregion = us-east-1\n\n[profile team]\nregion = eu-west-1\nendpoint_url = ${server.endpoint}\n`);
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3']) vi.stubEnv(name, undefined);
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', dir.file('credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', dir.file('config'));
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_PROFILE', 'team');
    const viaProfile = await openNpz('s3://bucket/ckpt/read.npz');
    expect(viaProfile.entries.length).toBe(2);
    await viaProfile.close();
    // AWS_DEFAULT_REGION overrides the profile's region: signed for the wrong one, refused as such.
    vi.stubEnv('AWS_DEFAULT_REGION', 'ap-south-1');
    expect((await rejection(openNpz('s3://bucket/ckpt/read.npz'))).message).toContain('signed for ap-south-1');
  });

  it('says ERR_REMOTE_CREDENTIALS, before any request, when no credentials can be found', async () => {
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']) vi.stubEnv(name, undefined);
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', dir.file('none-credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', dir.file('none-config'));
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    const before = server.log.length;
    const error = await rejection(openNpz('s3://bucket/ckpt/read.npz', { remote: { s3: { endpoint: server.endpoint, region: 'eu-west-1' } } }));
    expect(error.code).toBe('ERR_REMOTE_CREDENTIALS');
    expect(error.message).toMatch(/^s3:\/\/bucket\/ckpt\/read\.npz: no usable AWS credentials/);
    expect(server.log.length).toBe(before);
  });
});

describe('uploading to s3://', () => {
  it('uploads a checkpoint by parts, several in flight, byte for byte what a local saveNpz writes; numpy loads it', async () => {
    await saveNpz(dir.file('local.npz'), mixedTree());
    const before = server.log.length;
    const summary = await saveNpz('s3://bucket/out/mixed.npz', mixedTree(), { remote: remote({ partsInFlight: 3 }) });
    const { readFileSync } = await import('node:fs');
    const local = readFileSync(dir.file('local.npz'));
    expect(summary.bytesWritten).toBe(local.length);
    const uploaded = server.getObject('bucket', 'out/mixed.npz')!;
    // Lazy members' headers were patched in their held parts, so even they match the seekable-file layout.
    expect(uploaded.equals(local)).toBe(true);
    const requests = server.log.slice(before);
    const parts = requests.filter((request) => request.name === 'UploadPart');
    expect(parts.length).toBe(Math.ceil(local.length / (5 * MIB)));
    expect(parts.every((part) => part.status === 200)).toBe(true);
    expect(maxConcurrent(requests, 'UploadPart')).toBeGreaterThan(1);
    expect(maxConcurrent(requests, 'UploadPart')).toBeLessThanOrEqual(3);
    expect(server.openUploads()).toEqual([]);
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'numpy loads the uploaded object'), () => {
    expect(numpyVerifies(server.objectFile('bucket', 'out/mixed.npz')!)).toBe('ok');
  });

  it('retries a part answered 503 (after Retry-After) and a part whose connection was reset', async () => {
    let faults = 0;
    server.fault = (operation) => {
      if (operation.name !== 'UploadPart') return undefined;
      if (operation.partNumber === 2 && faults === 0) return (faults++, { status: 503, code: 'SlowDown', retryAfter: '0' });
      if (operation.partNumber === 3 && faults === 1) return (faults++, 'reset');
      return undefined;
    };
    const before = server.log.length;
    await saveNpz('s3://bucket/out/retried.npz', mixedTree(), { remote: remote() });
    expect(faults).toBe(2);
    expect(server.getObject('bucket', 'out/retried.npz')!.equals(server.getObject('bucket', 'out/mixed.npz')!)).toBe(true);
    const part2 = server.log.slice(before).filter((request) => request.name === 'UploadPart' && /partNumber=2&/.test(request.url));
    expect(part2.map((request) => request.status)).toEqual([503, 200]);
    expect(server.openUploads()).toEqual([]);
  });

  it('retries a part S3 stopped waiting for (400 RequestTimeout), but no other 400', async () => {
    let timedOut = false;
    server.fault = (operation) => (operation.name === 'UploadPart' && operation.partNumber === 1 && !timedOut ? ((timedOut = true), { status: 400, code: 'RequestTimeout' }) : undefined);
    const before = server.log.length;
    await saveNpz('s3://bucket/out/timed-out.npz', mixedTree(), { remote: remote() });
    expect(server.getObject('bucket', 'out/timed-out.npz')!.equals(server.getObject('bucket', 'out/mixed.npz')!)).toBe(true);
    const part1 = server.log.slice(before).filter((request) => request.name === 'UploadPart' && /partNumber=1&/.test(request.url));
    expect(part1.map((request) => request.status)).toEqual([400, 200]);
    server.fault = (operation) => (operation.name === 'UploadPart' ? { status: 400, code: 'InvalidArgument' } : undefined);
    expect((await rejection(saveNpz('s3://bucket/out/refused.npz', mixedTree(), { remote: remote() }))).code).toBe('ERR_REMOTE_STATUS');
    expect(server.openUploads()).toEqual([]);
  });

  it('asks again when completing meets a completion already under way (409 OperationAborted)', async () => {
    let refused = false;
    server.fault = (operation) => (operation.name === 'CompleteMultipartUpload' && !refused ? ((refused = true), { status: 409, code: 'OperationAborted' }) : undefined);
    const before = server.log.length;
    await saveNpz('s3://bucket/out/conflict.npz', { a: ramp(10) }, { remote: remote() });
    expect(server.hasObject('bucket', 'out/conflict.npz')).toBe(true);
    const completions = server.log.slice(before).filter((request) => request.name === 'CompleteMultipartUpload');
    expect(completions.map((request) => request.status)).toEqual([409, 200]);
  });

  it('gives up on a part that keeps failing, aborts the upload and leaves the existing object as it was', async () => {
    server.putObject('bucket', 'out/kept.npz', Buffer.from('the old object'));
    server.fault = (operation) => (operation.name === 'UploadPart' && operation.partNumber === 2 ? { status: 500, code: 'InternalError' } : undefined);
    const error = await rejection(saveNpz('s3://bucket/out/kept.npz', mixedTree(), { remote: remote({ retries: 2 }) }));
    expect(error.code).toBe('ERR_REMOTE_NETWORK');
    expect(error.message).toMatch(/^s3:\/\/bucket\/out\/kept\.npz: sending part 2: HTTP 500; gave up after 3 attempts/);
    expect(server.getObject('bucket', 'out/kept.npz')!.toString()).toBe('the old object');
    expect(server.openUploads()).toEqual([]);
    expect(server.log.filter((request) => request.name === 'AbortMultipartUpload').at(-1)?.status).toBe(204);
  });

  it('an abort mid-upload rejects with ERR_ABORTED, and leaves no object and no open upload', async () => {
    const controller = new AbortController();
    // Aborted once the server has taken a part (the first part, holding big's header, waits for its CRC).
    const start = server.log.length;
    const partTaken = (): boolean => server.log.slice(start).some((request) => request.name === 'UploadPart' && request.status === 200 && request.doneAt !== undefined);
    const tree = { a: ramp(100_000), big: lazyRamp(12_000_000, 0, 256 * 1024, () => partTaken() && controller.abort(new Error('stop'))) };
    const before = server.log.length;
    const error = await rejection(saveNpz('s3://bucket/out/aborted.npz', tree, { remote: remote(), signal: controller.signal }));
    expect(error.code).toBe('ERR_ABORTED');
    expect(server.hasObject('bucket', 'out/aborted.npz')).toBe(false);
    expect(server.openUploads()).toEqual([]);
    const requests = server.log.slice(before);
    expect(requests.filter((request) => request.name === 'UploadPart').length).toBeGreaterThan(0);
    expect(requests.at(-1)?.name).toBe('AbortMultipartUpload');
  });

  it('a failing lazy leaf aborts the upload too', async () => {
    const tree = {
      a: ramp(2_000_000),
      bad: {
        dtype: 'float32' as const,
        shape: [4_000_000],
        async *chunks() {
          yield new Uint8Array(8 * MIB);
          throw new Error('the source broke');
        },
      },
    };
    const error = await rejection(saveNpz('s3://bucket/out/broken.npz', tree, { remote: remote() }));
    expect(error.code).toBe('ERR_SOURCE');
    expect(server.hasObject('bucket', 'out/broken.npz')).toBe(false);
    expect(server.openUploads()).toEqual([]);
  });

  it('refuses wrong credentials when the upload starts, with ERR_REMOTE_STATUS 403 and no secret in the error', async () => {
    let pulled = 0;
    const tree = { big: lazyRamp(1_000_000, 0, 65_536, () => pulled++) };
    const error = await rejection(saveNpz('s3://bucket/out/denied.npz', tree, { remote: remote({ secret: 'another-wrong-secret' }) }));
    expect(error.code).toBe('ERR_REMOTE_STATUS');
    expect(error.actual).toBe(403);
    expect(error.message).toMatch(/^s3:\/\/bucket\/out\/denied\.npz: access denied while starting the upload \(HTTP 403 SignatureDoesNotMatch/);
    expect(everythingOf(error)).not.toContain('another-wrong-secret');
    expect(pulled).toBe(0);
    const missing = await rejection(saveNpz('s3://nobucket/x.npz', { a: ramp(10) }, { remote: remote() }));
    expect(missing.message).toBe('s3://nobucket/x.npz: bucket nobucket does not exist (HTTP 404 NoSuchBucket)');
  });

  it('grows the part size so an object of known size fits in 10 000 parts', async () => {
    const { PartPlan } = await import('../../src/objectstore/options.js');
    const plan = new PartPlan(8 * MIB);
    plan.expect(200 * 1024 * MIB, 'x');
    expect(plan.sizeOf(1)).toBe(21 * MIB);
    expect(Math.ceil((200 * 1024 * MIB) / plan.sizeOf(1))).toBeLessThanOrEqual(10_000);
    const unknown = new PartPlan(8 * MIB);
    expect([unknown.sizeOf(1), unknown.sizeOf(1000), unknown.sizeOf(1001), unknown.sizeOf(2001)]).toEqual([8 * MIB, 8 * MIB, 16 * MIB, 32 * MIB]);
    let total = 0;
    for (let part = 1; part <= 10_000; part++) total += unknown.sizeOf(part);
    expect(total).toBeGreaterThan(5 * 1024 ** 4);
  });

  it('uploads a compressed npz with lazy members and a lone npy, each byte for byte its local save', async () => {
    const { readFileSync } = await import('node:fs');
    await saveNpz(dir.file('compressed.npz'), mixedTree(), { compress: true });
    await saveNpz('s3://bucket/out/compressed.npz', mixedTree(), { compress: true, remote: remote() });
    expect(server.getObject('bucket', 'out/compressed.npz')!.equals(readFileSync(dir.file('compressed.npz')))).toBe(true);
    await saveNpy(dir.file('lone.npy'), lazyRamp(3_000_000, 9));
    const summary = await saveNpy('s3://bucket/out/lone.npy', lazyRamp(3_000_000, 9), { remote: remote() });
    const local = readFileSync(dir.file('lone.npy'));
    expect(server.getObject('bucket', 'out/lone.npy')!.equals(local)).toBe(true);
    expect(summary.bytesWritten).toBe(local.length);
    expect(server.openUploads()).toEqual([]);
  });

  it('writes safetensors and sharded safetensors to keys, and reads them back through the index', async () => {
    const tree = { w: ramp(2_000_000), b: ramp(1000, 7), e: ramp(1_500_000, 3) };
    await saveSafetensors(dir.file('local.safetensors'), tree);
    await saveSafetensors('s3://bucket/st/model.safetensors', tree, { remote: remote() });
    const { readFileSync } = await import('node:fs');
    expect(server.getObject('bucket', 'st/model.safetensors')!.equals(readFileSync(dir.file('local.safetensors')))).toBe(true);
    const one = await openSafetensors('s3://bucket/st/model.safetensors', { remote: remote() });
    expect(one.entries.map((entry) => entry.name).sort()).toEqual(['b', 'e', 'w']);
    await one.close();

    const shards = await saveSafetensorsShards('s3://bucket/sharded/model.safetensors', tree, { maxShardSize: 7 * MIB, remote: remote() });
    expect(shards.files).toEqual([
      's3://bucket/sharded/model-00001-of-00002.safetensors',
      's3://bucket/sharded/model-00002-of-00002.safetensors',
      's3://bucket/sharded/model.safetensors.index.json',
    ]);
    const index = await openSafetensorsIndex('s3://bucket/sharded/model.safetensors.index.json', { remote: remote() });
    try {
      expect(index.entries.map((entry) => [entry.name, entry.shard]).sort()).toEqual([
        ['b', 'model-00002-of-00002.safetensors'],
        ['e', 'model-00002-of-00002.safetensors'],
        ['w', 'model-00001-of-00002.safetensors'],
      ]);
      const b = await index.get('b');
      expect(Array.from(b.data as Float32Array).slice(0, 2)).toEqual([7, 8]);
    } finally {
      await index.close();
    }
  });
});
