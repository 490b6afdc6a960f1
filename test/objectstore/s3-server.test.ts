/**
 * The test S3 server against the official AWS SDK client: what the library's tests rely on (ranges, suffix ranges,
 * If-Match, the multipart upload and its abort, S3's errors, signatures checked) is what the SDK itself sends and
 * accepts, so the server cannot drift into agreeing with the library's own mistakes.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3Server } from './s3-server.js';

const CREDENTIALS = { accessKeyId: 'AKIDSDKCHECK', secretAccessKey: 'sdk-check-secret' };
let server: S3Server;

function client(overrides: { region?: string; credentials?: typeof CREDENTIALS } = {}): S3Client {
  return new S3Client({
    region: overrides.region ?? 'eu-west-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: overrides.credentials ?? CREDENTIALS,
    // Plain bodies: this server does not read aws-chunked ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

beforeAll(async () => {
  server = await startS3Server({ region: 'eu-west-1', credentials: [CREDENTIALS], buckets: ['bucket'] });
});
afterAll(async () => {
  await server.close();
});

describe('the test S3 server, driven by the AWS SDK', () => {
  it('stores an object and serves ranges, suffix ranges and If-Match as S3 does', async () => {
    const s3 = client();
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    await s3.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'dir/a b.bin', Body: bytes }));
    const range = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'dir/a b.bin', Range: 'bytes=10-19' }));
    expect(range.ContentRange).toBe('bytes 10-19/1000');
    expect(Buffer.from(await range.Body!.transformToByteArray())).toEqual(bytes.subarray(10, 20));
    const suffix = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'dir/a b.bin', Range: 'bytes=-100' }));
    expect(suffix.ContentRange).toBe('bytes 900-999/1000');
    await expect(s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'dir/a b.bin', IfMatch: '"nope"' }))).rejects.toMatchObject({ name: 'PreconditionFailed' });
    await expect(s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'missing' }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    await expect(s3.send(new GetObjectCommand({ Bucket: 'nobucket', Key: 'x' }))).rejects.toMatchObject({ name: 'NoSuchBucket' });
  });

  it('runs a multipart upload to completion, and aborts one', async () => {
    const s3 = client();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bucket', Key: 'multi' }));
    const first = Buffer.alloc(5 * 1024 * 1024, 1);
    const second = Buffer.from('tail');
    // Parts sent out of order are still assembled by number.
    const p2 = await s3.send(new UploadPartCommand({ Bucket: 'bucket', Key: 'multi', UploadId, PartNumber: 2, Body: second }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'bucket', Key: 'multi', UploadId, PartNumber: 1, Body: first }));
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bucket' }));
    expect(listed.Uploads?.map((upload) => upload.UploadId)).toEqual([UploadId]);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'bucket',
        Key: 'multi',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag! }, { PartNumber: 2, ETag: p2.ETag! }] },
      }),
    );
    // (Buffer.equals: a deep toEqual of 5 MiB takes minutes.)
    expect(server.getObject('bucket', 'multi')!.equals(Buffer.concat([first, second]))).toBe(true);

    const aborted = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bucket', Key: 'gone' }));
    await s3.send(new UploadPartCommand({ Bucket: 'bucket', Key: 'gone', UploadId: aborted.UploadId, PartNumber: 1, Body: second }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'bucket', Key: 'gone', UploadId: aborted.UploadId }));
    expect(server.openUploads()).toEqual([]);
    expect(server.hasObject('bucket', 'gone')).toBe(false);
    // A part below 5 MiB that is not the last is refused at completion.
    const small = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bucket', Key: 'small' }));
    const s1 = await s3.send(new UploadPartCommand({ Bucket: 'bucket', Key: 'small', UploadId: small.UploadId, PartNumber: 1, Body: second }));
    const s2 = await s3.send(new UploadPartCommand({ Bucket: 'bucket', Key: 'small', UploadId: small.UploadId, PartNumber: 2, Body: second }));
    await expect(
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'bucket',
          Key: 'small',
          UploadId: small.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: s1.ETag! }, { PartNumber: 2, ETag: s2.ETag! }] },
        }),
      ),
    ).rejects.toMatchObject({ name: 'EntityTooSmall' });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'bucket', Key: 'small', UploadId: small.UploadId }));
  });

  it('refuses wrong keys, wrong secrets, a wrong region and unsigned requests', async () => {
    await expect(client({ credentials: { accessKeyId: 'AKIDOTHER', secretAccessKey: 'x' } }).send(new GetObjectCommand({ Bucket: 'bucket', Key: 'multi' }))).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });
    await expect(client({ credentials: { ...CREDENTIALS, secretAccessKey: 'wrong' } }).send(new GetObjectCommand({ Bucket: 'bucket', Key: 'multi' }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
    });
    await expect(client({ region: 'us-west-2' }).send(new GetObjectCommand({ Bucket: 'bucket', Key: 'multi' }))).rejects.toMatchObject({
      name: 'AuthorizationHeaderMalformed',
    });
    const unsigned = await fetch(`${server.endpoint}/bucket/multi`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('<Code>AccessDenied</Code>');
  });
});
