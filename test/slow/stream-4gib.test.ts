import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { streamNpz } from '../../src/npz/stream.js';
import { hasNumpy } from '../helpers/python.js';

// A stored member larger than 4 GiB, written by CPython's zipfile to a pipe (flag bit 3, zip64 data descriptor:
// its length is known only from its npy header), through `npz-stream convert - -` (standard input to standard
// output), and read back from that pipe by streamNpz. Nothing touches the disk; the convert process's resident
// memory is sampled all along and must stay bounded. Run with `npm run test:slow` (after `npm run build`).

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
// STREAM_SLOW_BYTES shrinks the member to check the harness itself on a busy machine.
const DATA_BYTES = Number(process.env['STREAM_SLOW_BYTES'] ?? 4 * 1024 ** 3 + 5 * 1024 ** 2 + 8);
const RSS_BUDGET = 256 * 1024 * 1024;

const WRITE_TO_PIPE = String.raw`
import hashlib, io, sys, zipfile
import numpy as np
total = int(sys.argv[1])
header = io.BytesIO()
np.lib.format.write_array_header_1_0(header, {'descr': '<f4', 'fortran_order': False, 'shape': (total // 4,)})
block = (np.arange(16 * 1024 * 1024, dtype=np.uint64) * 2654435761 >> 13).astype(np.uint8).tobytes()
digest = hashlib.sha256()
with zipfile.ZipFile(sys.stdout.buffer, 'w', allowZip64=True) as zf:
    with zf.open('big.npy', 'w', force_zip64=True) as f:
        f.write(header.getvalue())
        left = total
        while left:
            piece = block[:min(left, len(block))]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
    small = io.BytesIO()
    np.save(small, np.arange(10, dtype=np.int32))
    zf.writestr('small.npy', small.getvalue())
sys.stdout.buffer.flush()
print(digest.hexdigest(), file=sys.stderr)
`;

function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

describe.skipIf(!hasNumpy())('a > 4 GiB member through npz-stream convert - -', () => {
  it('arrives exactly, with the convert process in bounded memory', async () => {
    const writer = spawn('python3', ['-c', WRITE_TO_PIPE, String(DATA_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const convert = spawn(process.execPath, [BIN, 'convert', '-', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    writer.stdout.pipe(convert.stdin);
    let expectedDigest = '';
    writer.stderr.on('data', (chunk: Buffer) => (expectedDigest += chunk.toString()));
    let convertErrors = '';
    convert.stderr.on('data', (chunk: Buffer) => (convertErrors += chunk.toString()));
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(convert.pid!))), 100);
    const exited = new Promise<number | null>((resolve) => convert.on('close', resolve));

    const seen: Array<[string, number]> = [];
    const digest = createHash('sha256');
    try {
      for await (const entry of streamNpz(convert.stdout)) {
        if (!entry.isArray) continue;
        let bytes = 0;
        for await (const chunk of entry.chunks()) {
          bytes += chunk.length;
          if (entry.name === 'big') digest.update(chunk);
        }
        seen.push([entry.name, bytes]);
      }
    } finally {
      clearInterval(sampler);
    }
    expect(await exited, convertErrors).toBe(0);
    expect(seen).toEqual([['big', DATA_BYTES], ['small', 40]]);
    expect(digest.digest('hex')).toBe(expectedDigest.trim());
    console.log(`convert - -: ${DATA_BYTES} bytes, peak RSS ${(peakRss / 2 ** 20).toFixed(1)} MiB`);
    expect(peakRss).toBeGreaterThan(0);
    expect(peakRss).toBeLessThan(RSS_BUDGET);
  });
});
