/**
 * What any reader of fresh buffers can reach on this machine, to judge readNpz's read targets against physics
 * rather than against numpy. Each mode runs in a fresh process, modes interleaved over rounds (order reversed
 * every other round), with the CPU time of every thread of the process:
 *
 *   plain       one positional read at a time into a fresh buffer per array (the issue's baseline)
 *   par4        4 positional reads of 4 MiB in flight per array, no CRC: the ceiling of spreading faults
 *   npz         readNpz as users call it (CRC checked)
 *   npz-nocrc   readNpz with verifyCrc: false
 *   split-crc   par4 into a SharedArrayBuffer, CRC-32 of alternate slices on the main thread and one worker,
 *               joined with crc32_combine: does a second CRC thread pay on 2 vCPUs?
 *
 *   node --import tsx bench/experiments/read-ceiling.ts --fixture FILE [--rounds 4] [--env default|hugetlb|both]
 */
import { spawnSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { openNpz, readNpz } from '../../dist/index.js';

const MODES = ['plain', 'par4', 'npz', 'npz-nocrc', 'split-crc'] as const;
type Mode = (typeof MODES)[number];
const SLICE = 4 << 20;
const DEPTH = 4;
const HUGETLB = 'glibc.malloc.hugetlb=1';

interface Sample {
  mode: Mode;
  env: 'default' | 'hugetlb';
  seconds: number;
  gbps: number;
  /** CPU seconds of all threads per wall second. */
  cores: number;
}

function gf2Times(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let row = 0; vector !== 0; row++, vector >>>= 1) if ((vector & 1) !== 0) sum ^= matrix[row] as number;
  return sum >>> 0;
}

function gf2Square(into: Uint32Array, matrix: Uint32Array): void {
  for (let row = 0; row < 32; row++) into[row] = gf2Times(matrix, matrix[row] as number);
}

/** CRC-32 of A‖B from crc(A), crc(B) and |B| (zlib's crc32_combine, by repeated squaring of the shift operator). */
function crc32Combine(first: number, second: number, secondLength: number): number {
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320;
  for (let row = 1; row < 32; row++) odd[row] = 1 << (row - 1);
  gf2Square(even, odd);
  gf2Square(odd, even);
  let crc = first;
  for (let length = secondLength; length > 0; ) {
    gf2Square(even, odd);
    if (length % 2 === 1) crc = gf2Times(even, crc);
    length = Math.floor(length / 2);
    if (length === 0) break;
    gf2Square(odd, even);
    if (length % 2 === 1) crc = gf2Times(odd, crc);
    length = Math.floor(length / 2);
  }
  return (crc ^ second) >>> 0;
}

async function spans(fixture: string): Promise<Array<{ offset: number; length: number }>> {
  const npz = await openNpz(fixture);
  try {
    return npz.entries.flatMap((entry) => (entry.isArray && entry.dataOffset !== undefined ? [{ offset: entry.dataOffset, length: entry.byteLength }] : []));
  } finally {
    await npz.close();
  }
}

async function positionalReads(fixture: string, mode: 'plain' | 'par4' | 'split-crc'): Promise<void> {
  const arrays = await spans(fixture);
  const worker =
    mode === 'split-crc'
      ? new Worker(
          `const { parentPort } = require('node:worker_threads'); const zlib = require('node:zlib');
           parentPort.on('message', ({ id, shared, at, length }) => parentPort.postMessage({ id, crc: zlib.crc32(new Uint8Array(shared, at, length)) }));`,
          { eval: true },
        )
      : undefined;
  const waiting = new Map<number, (crc: number) => void>();
  worker?.on('message', ({ id, crc }: { id: number; crc: number }) => waiting.get(id)?.(crc));
  let nextId = 0;
  const handle = await open(fixture, 'r');
  try {
    for (const { offset, length } of arrays) {
      const memory = worker === undefined ? new ArrayBuffer(length) : new SharedArrayBuffer(length);
      const dest = new Uint8Array(memory);
      const depth = mode === 'plain' ? 1 : DEPTH;
      const queue: Array<Promise<{ at: number; size: number }>> = [];
      const crcs: Array<Promise<[number, number]>> = [];
      let issued = 0;
      const issue = (): void => {
        const at = issued;
        const size = Math.min(SLICE, length - at);
        issued += size;
        queue.push(handle.read(dest, at, size, offset + at).then(() => ({ at, size })));
      };
      while (queue.length < depth && issued < length) issue();
      for (let slice = 0; queue.length > 0; slice++) {
        const { at, size } = await (queue.shift() as Promise<{ at: number; size: number }>);
        if (issued < length) issue();
        if (worker === undefined) continue;
        if (slice % 2 === 0) crcs.push(Promise.resolve([zlib.crc32(dest.subarray(at, at + size)), size]));
        else {
          const id = nextId++;
          crcs.push(new Promise((resolve) => waiting.set(id, (crc) => resolve([crc, size]))));
          worker.postMessage({ id, shared: memory, at, length: size });
        }
      }
      let crc = 0;
      for (const [part, size] of await Promise.all(crcs)) crc = crc32Combine(crc, part, size);
      if (worker !== undefined && process.env['CHECK_CRC'] === '1' && crc !== zlib.crc32(dest)) throw new Error('split CRC is wrong');
    }
  } finally {
    await handle.close();
    await worker?.terminate();
  }
}

async function child(mode: Mode, fixture: string): Promise<void> {
  const bytes = (await spans(fixture)).reduce((sum, span) => sum + span.length, 0);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (mode === 'npz' || mode === 'npz-nocrc') {
    for await (const [, array] of readNpz(fixture, { verifyCrc: mode === 'npz' })) void array;
  } else {
    await positionalReads(fixture, mode);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const sample: Sample = {
    mode,
    env: process.env['GLIBC_TUNABLES']?.includes(HUGETLB) === true ? 'hugetlb' : 'default',
    seconds,
    gbps: bytes / 1e9 / seconds,
    cores: (cpu.user + cpu.system) / 1e6 / seconds,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function main(): void {
  const { values } = parseArgs({ options: { fixture: { type: 'string' }, rounds: { type: 'string', default: '4' }, env: { type: 'string', default: 'both' }, child: { type: 'string' } } });
  const fixture = values.fixture;
  if (fixture === undefined) throw new Error('--fixture FILE is required (npm run fixture -- --out FILE makes one)');
  if (values.child !== undefined) {
    void child(values.child as Mode, fixture);
    return;
  }
  const envs = values.env === 'both' ? (['default', 'hugetlb'] as const) : [values.env as 'default' | 'hugetlb'];
  const samples: Sample[] = [];
  const rounds = Number(values.rounds);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) {
      for (const env of envs) {
        const environment = { ...process.env };
        delete environment['GLIBC_TUNABLES'];
        if (env === 'hugetlb') environment['GLIBC_TUNABLES'] = HUGETLB;
        const run = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--fixture', fixture, '--child', mode], { env: environment, encoding: 'utf8' });
        if (run.status !== 0) throw new Error(`${mode} (${env}) failed: ${run.stderr}`);
        const sample = JSON.parse(run.stdout.trim()) as Sample;
        samples.push(sample);
        console.log(`round ${round + 1} ${env.padEnd(7)} ${mode.padEnd(10)} ${sample.gbps.toFixed(2)} GB/s, ${sample.cores.toFixed(2)} cores`);
      }
    }
  }
  console.log('\nmedian GB/s (min–max), and median ratio to plain taken round by round in the same environment:');
  for (const env of envs) {
    for (const mode of MODES) {
      const mine = samples.filter((s) => s.env === env && s.mode === mode);
      const plain = samples.filter((s) => s.env === env && s.mode === 'plain');
      const ratios = mine.map((s, i) => s.gbps / (plain[i] as Sample).gbps);
      const gbps = mine.map((s) => s.gbps);
      console.log(
        `${env.padEnd(7)} ${mode.padEnd(10)} ${median(gbps).toFixed(2)} (${Math.min(...gbps).toFixed(2)}–${Math.max(...gbps).toFixed(2)}) GB/s, ` +
          `${median(mine.map((s) => s.cores)).toFixed(2)} cores, ${median(ratios).toFixed(2)}× plain`,
      );
    }
  }
}

main();
