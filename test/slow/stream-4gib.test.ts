import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { streamNpz } from '../../src/index.js';
import { hasNumpy, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { WRITE_BIG_MEMBER } from '../helpers/big-member.js';

// A stored member larger than 4 GiB, written by CPython's zipfile to a pipe (flag bit 3, zip64 data descriptor:
// its length is known only from its npy header), through `npz-stream convert - -` (standard input to standard
// output), and read back from that pipe by streamNpz. Nothing touches the disk; the convert process's resident
// memory is sampled all along and must stay bounded. Run with `npm run test:slow` (after `npm run build`).

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'dist', 'cli', 'main.js');
// STREAM_SLOW_BYTES shrinks the member to check the harness itself on a busy machine.
const DATA_BYTES = Number(process.env['STREAM_SLOW_BYTES'] ?? 4 * 1024 ** 3 + 5 * 1024 ** 2 + 8);
const RSS_BUDGET = 256 * 1024 * 1024;

function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'a > 4 GiB member through npz-stream convert - -'), () => {
  it('arrives exactly, with the convert process in bounded memory', async () => {
    const writer = spawn('python3', ['-c', WRITE_BIG_MEMBER, '-', String(DATA_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const convert = spawn(process.execPath, [BIN, 'convert', '-', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    writer.stdout.pipe(convert.stdin);
    let report = '';
    writer.stderr.on('data', (chunk: Buffer) => (report += chunk.toString()));
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
    expect(digest.digest('hex')).toBe((JSON.parse(report) as { sha256: string }).sha256);
    console.log(`convert - -: ${DATA_BYTES} bytes, peak RSS ${(peakRss / 2 ** 20).toFixed(1)} MiB`);
    expect(peakRss).toBeGreaterThan(0);
    expect(peakRss).toBeLessThan(RSS_BUDGET);
  });
});
