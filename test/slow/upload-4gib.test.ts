import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { startS3Server, type S3Server } from '../objectstore/s3-server.js';

/**
 * An upload larger than memory would allow: a lazy checkpoint of more than 4 GiB goes to the test S3 server by parts
 * from a separate process whose own peak RSS must stay at most 256 MB. UPLOAD_TEST_ELEMENTS shrinks it to try the
 * test itself quickly.
 */
const ELEMENTS = Number(process.env['UPLOAD_TEST_ELEMENTS'] ?? 2 ** 30 + 2 ** 20 + 3);
const CHILD = fileURLToPath(new URL('./upload-child.ts', import.meta.url));
const run = promisify(execFile);

const IDENTITY = { accessKeyId: 'AKIDLARGEUPLOAD', secretAccessKey: 'large-upload-test-secret' };
let server: S3Server;
beforeAll(async () => {
  server = await startS3Server({ buckets: ['bucket'], credentials: [IDENTITY] });
});
afterAll(async () => {
  await server?.close();
});

const VERIFY = String.raw`
import sys, zipfile, numpy as np
path, n = sys.argv[1], int(sys.argv[2])
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None
with np.load(path) as d:
    assert d['small'].tolist() == [1.5, 2.5]
print('ok')
`;

describe('an upload larger than memory', () => {
  it('uploads a lazy checkpoint of more than 4 GiB with a peak RSS of at most 256 MB', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, 's3://bucket/big.npz', String(ELEMENTS)], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: IDENTITY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: IDENTITY.secretAccessKey,
        AWS_REGION: server.region,
        AWS_ENDPOINT_URL_S3: server.endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
      maxBuffer: 1 << 20,
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { bytesWritten: number; peakRssBytes: number | null };
    console.log(`uploaded ${result.bytesWritten} bytes, child peak RSS ${((result.peakRssBytes ?? 0) / 1e6).toFixed(0)} MB`);
    const file = server.objectFile('bucket', 'big.npz')!;
    expect(statSync(file).size).toBe(result.bytesWritten);
    expect(result.bytesWritten).toBeGreaterThan(ELEMENTS * 4);
    expect(server.openUploads()).toEqual([]);
    expect(result.peakRssBytes).not.toBeNull();
    expect(result.peakRssBytes!).toBeLessThanOrEqual(256 * 1000 * 1000);
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'numpy checks every CRC of the uploaded object'), () => {
    expect(runPython(VERIFY, [server.objectFile('bucket', 'big.npz')!, String(ELEMENTS)]).trim()).toBe('ok');
  });
});
