import { it } from 'vitest';
import { createHash } from 'node:crypto';
import { startS3Server } from './s3-server.js';
import { openObjectUpload } from '../../src/node/objectstore/index.js';
it('x', async () => {
  const server = await startS3Server({ region: 'eu-west-1', credentials: [{ accessKeyId: 'A', secretAccessKey: 'B' }] });
  const t = setTimeout(() => console.log(server.log.map((r) => [r.name, r.status, r.received])), 5000);
  const upload = await openObjectUpload('s3://bucket/x', { remote: { s3: { endpoint: server.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'A', secretAccessKey: 'B' } } } });
  await upload.sink.write([new Uint8Array(6 << 20).fill(3), new Uint8Array(10)]);
  await upload.complete();
  clearTimeout(t);
  console.log('done', server.log.map((r) => [r.name, r.status, r.received]), server.getObject('bucket', 'x')?.length);
  await server.close();
}, 10000);
