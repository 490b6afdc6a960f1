import { spawn } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/lib/results.js';
import { hasNumpy } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * Runs the benchmark harness end to end at the smallest scale (a ~260 MB fixture), two rounds of one repetition,
 * a subset of cases, into a temp dir, and checks what it reports and how it scheduled. It says nothing about
 * speed: no timing is asserted.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const WRITES = ['save-lazy', 'raw-write'];
const READS = ['read-npz', 'plain-read', 'raw-read', ...(hasNumpy() ? ['np-load'] : [])];
const CASES = [...WRITES, ...READS];
const ROUNDS = 2;
// Writes run in the default environment only; every read also with the glibc tunable.
const KEYS = [...WRITES, ...READS.flatMap((id) => [id, `${id}+hugetlb`])];

function runBench(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/run.ts'), ...args], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.resume();
    child.on('error', fail);
    child.on('exit', (code) => done({ code, stderr }));
  });
}

describe('bench harness smoke run', () => {
  let dir: string;
  let results: BenchResults;
  let markdown: string;
  let svg: string;
  let exit: { code: number | null; stderr: string };

  beforeAll(async () => {
    dir = makeTempDir('bench-smoke').path;
    exit = await runBench([
      '--scale', '0.002',
      '--rounds', String(ROUNDS),
      '--repeats', '1',
      '--warmup', '0',
      '--cases', CASES.join(','),
      '--work-dir', dir,
      '--out-dir', dir,
      '--report-dir', dir,
    ]);
    if (exit.code === 0) {
      results = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as BenchResults;
      markdown = await readFile(join(dir, 'RESULTS.md'), 'utf8');
      svg = await readFile(join(dir, 'throughput.svg'), 'utf8');
    }
  }, 240_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits cleanly and removes its fixture', async () => {
    expect(exit.stderr).not.toMatch(/FAILED/);
    expect(exit.code).toBe(0);
    expect(results.failed).toEqual([]);
    // Only the reports remain: the work dir with the fixture and the written files is gone.
    expect((await readdir(dir)).sort()).toEqual(['RESULTS.md', 'results-custom.json', 'results.json', 'throughput.svg']);
  });

  it('reports every requested case in each of its environments, one timed run per round', () => {
    expect(results.cases.map((c) => c.key).sort()).toEqual([...KEYS].sort());
    for (const c of results.cases) {
      expect(c.seconds).toHaveLength(ROUNDS);
      expect(c.perRoundGbps).toHaveLength(ROUNDS);
      expect(c.medianSeconds).toBeGreaterThan(0);
      expect(c.gbps).toBeGreaterThan(0);
      expect(c.maxRssBytes).toBeGreaterThan(0);
      expect(c.bytes).toBeGreaterThan(0);
    }
  });

  it('runs each round in a fresh order: the second round is the first reversed', () => {
    const rounds = results.rounds!;
    expect(rounds).toHaveLength(KEYS.length * ROUNDS);
    const order = (round: number) => rounds.filter((r) => r.round === round).sort((a, b) => a.position - b.position).map((r) => r.key);
    expect(order(1).sort()).toEqual([...KEYS].sort());
    expect(order(2)).toEqual([...order(1)].reverse());
  });

  it('gives each child the environment of its variant and an empty output directory for writes', () => {
    for (const r of results.rounds!) {
      expect([r.key, r.glibcTunables]).toEqual([r.key, r.variant === 'hugetlb' ? 'glibc.malloc.hugetlb=1' : null]);
      if (WRITES.includes(r.id)) expect([r.key, r.outDirEntriesAtStart]).toEqual([r.key, 0]);
    }
    expect(results.memorySettings?.hugetlbTunables).toBe('glibc.malloc.hugetlb=1');
    expect(results.memorySettings?.thpEnabled).toMatch(/\S/);
  });

  it('moves the fixture byte count in every case', () => {
    // The lazy write lays out the fixture's names and shapes exactly as the fixture writer did.
    expect(results.fixture.fileBytes).toBeGreaterThan(100e6);
    for (const c of results.cases) expect([c.key, c.bytes]).toEqual([c.key, results.fixture.fileBytes]);
  });

  it('takes ratios pair by pair within each round, in the same environment', () => {
    const perRound = (key: string) => results.rounds!.filter((r) => r.key === key).sort((a, b) => a.round - b.round).map((r) => r.gbps);
    const expectPair = (caseKey: string, baseKey: string, field: 'vsPlain' | 'vsRaw' | 'vsNumpy') => {
      const mine = perRound(caseKey);
      const theirs = perRound(baseKey);
      const ratios = mine.map((g, i) => g / theirs[i]!);
      const pair = results.pairs!.find((p) => p.caseKey === caseKey && p.baseKey === baseKey)!;
      ratios.forEach((r, i) => expect(pair.ratios[i]).toBeCloseTo(r, 10));
      expect(pair.median).toBeCloseTo((ratios[0]! + ratios[1]!) / 2, 10);
      expect(pair.min).toBeCloseTo(Math.min(...ratios), 10);
      expect(results.cases.find((c) => c.key === caseKey)![field]).toBeCloseTo(pair.median, 10);
    };
    expectPair('read-npz', 'plain-read', 'vsPlain');
    expectPair('read-npz+hugetlb', 'plain-read+hugetlb', 'vsPlain');
    expectPair('save-lazy', 'raw-write', 'vsRaw');
    if (hasNumpy()) expectPair('read-npz+hugetlb', 'np-load+hugetlb', 'vsNumpy');
    expect(results.pairs!.some((p) => p.caseKey === 'read-npz+hugetlb' && p.baseKey === 'plain-read')).toBe(false);
    const target = results.targets.find((t) => t.caseId === 'read-npz' && t.target.includes('plain read'));
    expect(target?.met).toBe(results.pairs!.find((p) => p.caseKey === 'read-npz' && p.baseKey === 'plain-read')!.median >= 1.6);
  });

  it('writes RESULTS.md and an SVG bar per case', () => {
    expect(markdown).toContain('<!-- bench:custom:begin -->');
    for (const c of results.cases) expect(markdown).toContain(c.label);
    expect(markdown).toContain('readNpz (CRC checked) [hugetlb] |');
    expect(markdown).toMatch(/THP \/ glibc:\*\* transparent_hugepage enabled=\S+/);
    expect(markdown).toContain('| readNpz (CRC checked) | plain read into fresh buffers |');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect x="\d+" y="[\d.]+" width="[\d.]+" height="14"/g)).toHaveLength(results.cases.length);
    // Both raw limits are drawn as lines.
    expect(svg.match(/class="limit"/g)).toHaveLength(2);
  });
});
