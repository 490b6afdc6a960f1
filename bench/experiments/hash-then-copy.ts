/**
 * Which order costs the main thread less when the writer copies an array through a reused buffer: copy the slice,
 * then hash the copy, or hash the slice, then copy it? Makes `--mib` of arrays written by user code, then times both
 * orders over them in 1 MiB slices, alternating, with and without writing each copy to a file (one write in flight,
 * as the writer's copies go out). Prints wall time and the time spent copying and hashing.
 *
 *   node --import tsx bench/experiments/hash-then-copy.ts [--mib 1536] [--rounds 4] [--no-write] [--file PATH]
 */
import { randomFillSync } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { crc32 } from 'node:zlib';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '1536' },
    rounds: { type: 'string', default: '4' },
    'no-write': { type: 'boolean', default: false },
    file: { type: 'string', default: join(tmpdir(), 'npz-stream-hash-then-copy.bin') },
  },
});
const MiB = 1 << 20;
const ARRAY = 64 * MiB;
const arrays: Uint8Array[] = [];
const pool = randomFillSync(new Uint8Array(ARRAY));
for (let made = 0; made < Number(values.mib) * MiB; made += ARRAY) arrays.push(Uint8Array.from(pool));
const buffers = [new Uint8Array(MiB), new Uint8Array(MiB)];

type Order = 'copy-then-hash' | 'hash-then-copy';

async function run(order: Order, write: boolean): Promise<string> {
  await rm(values.file, { force: true });
  const handle = await open(values.file, 'w');
  let copyMs = 0;
  let hashMs = 0;
  let crc = 0;
  let position = 0;
  let slice = 0;
  let writing: Promise<unknown> | undefined;
  const start = performance.now();
  for (const array of arrays) {
    for (let at = 0; at < array.byteLength; at += MiB) {
      const source = array.subarray(at, at + MiB);
      const copy = buffers[slice++ % 2]!.subarray(0, source.byteLength);
      const t0 = performance.now();
      if (order === 'copy-then-hash') {
        copy.set(source);
        const t1 = performance.now();
        crc = crc32(copy, crc);
        copyMs += t1 - t0;
        hashMs += performance.now() - t1;
      } else {
        crc = crc32(source, crc);
        const t1 = performance.now();
        copy.set(source);
        hashMs += t1 - t0;
        copyMs += performance.now() - t1;
      }
      await writing;
      if (write) writing = handle.write(copy, 0, copy.byteLength, position);
      position += copy.byteLength;
    }
  }
  await writing;
  const seconds = (performance.now() - start) / 1000;
  await handle.close();
  return `${order} ${seconds.toFixed(3)} s (copy ${copyMs.toFixed(0)} ms, hash ${hashMs.toFixed(0)} ms, crc ${(crc >>> 0).toString(16)})`;
}

const orders: Order[] = ['copy-then-hash', 'hash-then-copy'];
for (let round = 0; round < Number(values.rounds); round++) {
  const line: string[] = [];
  for (const order of round % 2 === 0 ? orders : [...orders].reverse()) line.push(await run(order, !values['no-write']));
  console.log(line.join('   '));
}
await rm(values.file, { force: true });
