import { spawn } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../../bench/lib/results.js';
import { hasNumpy } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * Runs the benchmark harness end to end at the smallest scale (a ~260 MB fixture), one repetition, a subset of
 * cases, into a temp dir, and checks what it reports. It says nothing about speed: no timing is asserted.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const CASES = ['save-lazy', 'raw-write', 'chunks', 'raw-read', ...(hasNumpy() ? ['np-load'] : [])];

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
  }, 60_000);

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

  it('reports every requested case with positive measurements', () => {
    expect(results.cases.map((c) => c.id).sort()).toEqual([...CASES].sort());
    for (const c of results.cases) {
      expect(c.seconds).toHaveLength(1);
      expect(c.medianSeconds).toBeGreaterThan(0);
      expect(c.gbps).toBeGreaterThan(0);
      expect(c.maxRssBytes).toBeGreaterThan(0);
      expect(c.bytes).toBeGreaterThan(0);
    }
  });

  it('moves the fixture byte count in every case', () => {
    // The lazy write lays out the fixture's names and shapes exactly as the fixture writer did.
    expect(results.fixture.fileBytes).toBeGreaterThan(100e6);
    for (const c of results.cases) expect([c.id, c.bytes]).toEqual([c.id, results.fixture.fileBytes]);
  });

  it('computes ratios against the raw limits and numpy', () => {
    const byId = new Map(results.cases.map((c) => [c.id, c]));
    expect(byId.get('save-lazy')!.vsRaw).toBeCloseTo(byId.get('save-lazy')!.gbps / byId.get('raw-write')!.gbps, 10);
    expect(byId.get('raw-read')!.vsRaw).toBe(1);
    if (byId.has('np-load')) expect(byId.get('chunks')!.vsNumpy).toBeCloseTo(byId.get('chunks')!.gbps / byId.get('np-load')!.gbps, 10);
    const rss = results.targets.find((t) => t.caseId === 'chunks' && t.target.startsWith('peak RSS'));
    expect(rss?.met).toBe(byId.get('chunks')!.maxRssBytes <= 256e6);
  });

  it('writes RESULTS.md and an SVG bar per case', () => {
    expect(markdown).toContain('<!-- bench:custom:begin -->');
    for (const c of results.cases) expect(markdown).toContain(c.label);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect x="\d+" y="[\d.]+" width="[\d.]+" height="14"/g)).toHaveLength(results.cases.length);
    // Both raw limits are drawn as lines.
    expect(svg.match(/class="limit"/g)).toHaveLength(2);
  });
});
