/**
 * `npm run build && node --import tsx bench/experiments/object-store.ts [--mib N] [--runs R]`: what an s3:// upload
 * and an s3:// read cost against the local test S3 server (test/objectstore/s3-server.ts, signatures checked), on
 * the same machine:
 *
 * - saveNpz of a lazy checkpoint of N MiB (default 512) to a local file, and to s3:// with 1, 4 and 8 parts in
 *   flight (8 MiB parts): median wall time and MB/s. The server stores parts on the same disk, so this measures the
 *   client's overhead (signing, hashing each part for SigV4, HTTP) plus a second copy, not a network.
 * - One tensor read by s3:// (signed requests) against the same bytes over plain HTTP (what a pre-signed https://
 *   URL costs: no signing, the same range requests): requests, bytes and time of open + get.
 *
 * Peak RSS is not reported here: the server runs in this process (see test/slow/upload-4gib.test.ts for the
 * client's own peak).
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openNpz, saveNpz } from '../../src/index.js';
import type { LazyArray } from '../../src/npy/write.js';
import { startSendServer } from '../../test/helpers/servers.js';
import { makeTempDir } from '../../test/helpers/tmp.js';
import { startS3Server } from '../../test/objectstore/s3-server.js';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '512' }, runs: { type: 'string', default: '3' } } });
const MIB = 1 << 20;
const total = Number(values.mib) * MIB;
const runs = Number(values.runs);
const IDENTITY = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };

function tree(): Record<string, LazyArray> {
  const leaf = (count: number, seed: number): LazyArray => ({
    dtype: 'float32',
    shape: [count],
    async *chunks() {
      for (let start = 0; start < count; start += MIB / 4) {
        const n = Math.min(MIB / 4, count - start);
        yield new Uint8Array(new Float32Array(n).fill(seed + start).buffer);
      }
    },
  });
  const per = Math.floor(total / 4 / 8);
  const out: Record<string, LazyArray> = {};
  for (let i = 0; i < 8; i++) out[`layer_${i}`] = leaf(per, i);
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const scratch = makeTempDir('bench-objectstore');
const server = await startS3Server({ region: 'us-east-1', credentials: [IDENTITY], buckets: ['bench'] });
const s3 = { endpoint: server.endpoint, region: 'us-east-1', credentials: IDENTITY };
try {
  const rows: string[] = [];
  const time = async (label: string, work: () => Promise<unknown>): Promise<void> => {
    const seconds: number[] = [];
    for (let run = 0; run < runs; run++) {
      const start = performance.now();
      await work();
      seconds.push((performance.now() - start) / 1000);
    }
    const m = median(seconds);
    rows.push(`| ${label} | ${m.toFixed(2)} s | ${(total / m / 1e6).toFixed(0)} MB/s |`);
  };
  await time('local file', () => saveNpz(scratch.file('local.npz'), tree()));
  for (const partsInFlight of [1, 4, 8]) {
    await time(`s3://, ${partsInFlight} part${partsInFlight === 1 ? '' : 's'} in flight`, () => saveNpz('s3://bench/ckpt.npz', tree(), { remote: { s3, partsInFlight } }));
  }
  console.log(`saveNpz of ${values.mib} MiB (lazy), median of ${runs}:\n\n| target | time | throughput |\n| --- | --- | --- |\n${rows.join('\n')}\n`);

  // One tensor: the same object by s3:// and by plain HTTP range requests.
  const served = join(scratch.path, 'www');
  mkdirSync(served);
  await saveNpz(join(served, 'ckpt.npz'), tree());
  const http = await startSendServer(served);
  const read = async (url: string, options: object): Promise<number> => {
    const start = performance.now();
    const file = await openNpz(url, options);
    await file.get('layer_3');
    await file.close();
    return (performance.now() - start) / 1000;
  };
  const s3Before = server.log.length;
  const s3Seconds = await read('s3://bench/ckpt.npz', { remote: { s3 } });
  const s3Log = server.log.slice(s3Before);
  const httpSeconds = await read(`${http.origin}/ckpt.npz`, {});
  console.log(
    `one tensor of ${(statSync(join(served, 'ckpt.npz')).size / 8 / MIB).toFixed(0)} MiB (open + get):\n\n| input | requests | bytes | time |\n| --- | --- | --- | --- |\n` +
      `| s3:// (signed) | ${s3Log.length} | ${s3Log.reduce((sum, r) => sum + r.bytes, 0)} | ${s3Seconds.toFixed(3)} s |\n` +
      `| http:// (as a pre-signed URL) | ${http.log.length} | ${http.bytes()} | ${httpSeconds.toFixed(3)} s |`,
  );
  await http.close();
} finally {
  await server.close();
  scratch.remove();
  rmSync(scratch.path, { recursive: true, force: true });
}
