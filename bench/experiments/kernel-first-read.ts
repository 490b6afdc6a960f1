/**
 * Does the kernel pay extra to read user memory for the first time? Fills a buffer one way, then writes it twice
 * into the same warm 64 MiB region of a file (the destination pages are resident, so page-cache allocation is out
 * of the picture) and reports wall, system CPU and minor faults of each pass. A first pass much slower than the
 * second, for memory that user code has already written, is the cost `saveNpz`'s copy buffers work around.
 *
 *   user     every page written by user code (a script's freshly computed arrays)
 *   kernel   filled by the kernel (read from /dev/zero; what readNpz's arrays are)
 *
 *   node --import tsx bench/experiments/kernel-first-read.ts [--fill user|kernel] [--mib 1024] [--chunk-mib 16]
 *        [--file PATH]   (run it with and without GLIBC_TUNABLES=glibc.malloc.hugetlb=1)
 */
import { closeSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    fill: { type: 'string', default: 'user' },
    mib: { type: 'string', default: '1024' },
    'chunk-mib': { type: 'string', default: '16' },
    file: { type: 'string', default: join(tmpdir(), `kernel-first-read-${process.pid}.bin`) },
  },
});
const SIZE = Number(values.mib) << 20;
const CHUNK = Number(values['chunk-mib']) << 20;
const WINDOW = 64 << 20;
if (values.fill !== 'user' && values.fill !== 'kernel') throw new Error('--fill must be user or kernel');

const fd = openSync(values.file, 'w+');
try {
  // Write the window twice so its page cache is resident and dirty-tracked before the timed passes.
  const warm = Buffer.alloc(WINDOW, 7);
  writeSync(fd, warm, 0, WINDOW, 0);
  writeSync(fd, warm, 0, WINDOW, 0);

  const data = new Uint8Array(SIZE);
  if (values.fill === 'user') {
    for (let i = 0; i < SIZE; i += 4096) data[i] = 1;
  } else {
    const zero = openSync('/dev/zero', 'r');
    for (let at = 0; at < SIZE; ) at += readSync(zero, data, at, Math.min(1 << 30, SIZE - at), null);
    closeSync(zero);
  }
  const thpKiB = /AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? '?';

  const pass = (): string => {
    const cpu = process.cpuUsage();
    const faults = process.resourceUsage().minorPageFault;
    const start = performance.now();
    for (let at = 0; at < SIZE; at += CHUNK) writeSync(fd, data, at, Math.min(CHUNK, SIZE - at), at % WINDOW);
    const wall = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return `${wall.toFixed(3)} s (${(SIZE / wall / 1e9).toFixed(2)} GB/s), sys ${(used.system / 1e6).toFixed(3)} s, minor faults ${process.resourceUsage().minorPageFault - faults}`;
  };
  const first = pass();
  const second = pass();
  process.stdout.write(
    `${values.fill}-filled, ${SIZE >> 20} MiB in ${CHUNK >> 20} MiB writes, GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? '(unset)'}, ` +
      `AnonHugePages ${thpKiB} kB\n  first pass  ${first}\n  second pass ${second}\n`,
  );
} finally {
  closeSync(fd);
  rmSync(values.file, { force: true });
}
