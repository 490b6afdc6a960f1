/** Where an s3:// URL is sent: region and endpoint resolved as the AWS CLI does, path-style on a custom endpoint. */
import { afterAll, describe, expect, it } from 'vitest';
import { s3Address } from '../../src/node/objectstore/aws.js';
import { s3ObjectUrl } from '../../src/objectstore/s3.js';
import { makeTempDir } from '../helpers/tmp.js';
import { expectCode } from '../helpers/errors.js';

/** An environment with no shared files, so the machine's own ~/.aws never leaks in. */
const none = makeTempDir('s3-address');
afterAll(() => none.remove());

function env(extra: Record<string, string>): Record<string, string> {
  return { AWS_CONFIG_FILE: none.file('config'), AWS_SHARED_CREDENTIALS_FILE: none.file('credentials'), ...extra };
}

async function urlOf(environment: Record<string, string>, options = {}, bucket = 'bucket', key = 'a/b.npz'): Promise<string> {
  const { address } = await s3Address(options, environment);
  return s3ObjectUrl(address, bucket, key).href;
}

describe('s3:// addresses', () => {
  it('goes to AWS virtual-hosted in the region of AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1', async () => {
    expect(await urlOf(env({ AWS_REGION: 'eu-west-3', AWS_DEFAULT_REGION: 'ap-south-1' }))).toBe('https://bucket.s3.eu-west-3.amazonaws.com/a/b.npz');
    expect(await urlOf(env({ AWS_DEFAULT_REGION: 'ap-south-1' }))).toBe('https://bucket.s3.ap-south-1.amazonaws.com/a/b.npz');
    expect(await urlOf(env({}))).toBe('https://bucket.s3.us-east-1.amazonaws.com/a/b.npz');
    expect(await urlOf(env({}), { region: 'cn-north-1' })).toBe('https://bucket.s3.cn-north-1.amazonaws.com.cn/a/b.npz');
    // A bucket name a host name cannot carry goes in the path.
    expect(await urlOf(env({ AWS_REGION: 'eu-west-3' }), {}, 'my.bucket')).toBe('https://s3.eu-west-3.amazonaws.com/my.bucket/a/b.npz');
  });

  it('takes AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL, path-style, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', async () => {
    expect(await urlOf(env({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9000', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9001' }))).toBe('http://127.0.0.1:9001/bucket/a/b.npz');
    expect(await urlOf(env({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }))).toBe('http://127.0.0.1:9000/bucket/a/b.npz');
    expect(await urlOf(env({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9000', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }))).toBe('https://bucket.s3.us-east-1.amazonaws.com/a/b.npz');
    expect(await urlOf(env({ AWS_ENDPOINT_URL: 'https://minio.example' }), { forcePathStyle: false })).toBe('https://bucket.minio.example/a/b.npz');
    expect(await urlOf(env({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }), { endpoint: 'http://127.0.0.1:9002' })).toBe('http://127.0.0.1:9002/bucket/a/b.npz');
  });

  it('refuses an endpoint that is not an http(s) URL and a region that is not one', async () => {
    await expectCode(s3Address({}, env({ AWS_ENDPOINT_URL_S3: 'ftp://x' })), 'ERR_INVALID_ARGUMENT');
    await expectCode(s3Address({ region: 'eu west' }, env({})), 'ERR_INVALID_ARGUMENT');
  });
});
