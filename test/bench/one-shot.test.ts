import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * bench/one-shot.ts end to end at a tiny scale (~5 MB per call): one round, every Node case in both environments,
 * two calls per process. It checks that the harness runs, reports what it promises and cleans up; no timing is
 * asserted.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const CASES = ['save', 'plain', 'save-lazy'];
const KEYS = CASES.flatMap((c) => [c, `${c}+hugetlb`]);

interface OneShotJson {
  records: { key: string; round: number; first: number; steady: number | undefined; result: { bytes: number; reps: { startNs: string; endNs: string }[] } }[];
}

describe('one-shot bench smoke run', () => {
  let tmp: TempDir;
  let exit: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    tmp = makeTempDir('one-shot-smoke');
    exit = await new Promise((done, fail) => {
      const args = ['--import', 'tsx', join(ROOT, 'bench/one-shot.ts'), '--scale', '0.002', '--rounds', '1', '--repeats', '2', '--no-settle', '--pause', '300'];
      args.push('--cases', CASES.join(','), '--work-dir', tmp.path, '--out', tmp.file('one-shot.json'));
      const child = spawn(process.execPath, args, { cwd: ROOT });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', fail);
      child.on('exit', (code) => done({ code, stdout, stderr }));
    });
  }, 240_000);

  afterAll(() => tmp?.remove());

  it('runs every case in both environments, a first and a steady call each, and removes its files', async () => {
    expect(exit.stderr).not.toMatch(/Error/);
    expect(exit.code).toBe(0);
    const json = JSON.parse(await readFile(tmp.file('one-shot.json'), 'utf8')) as OneShotJson;
    expect(json.records.map((r) => r.key).sort()).toEqual([...KEYS].sort());
    for (const record of json.records) {
      expect(record.result.reps).toHaveLength(2);
      // --pause: the second call started at least 300 ms after the first ended.
      const [first, second] = record.result.reps;
      expect(Number(BigInt(second!.startNs) - BigInt(first!.endNs)) / 1e6).toBeGreaterThanOrEqual(300);
      expect(record.first).toBeGreaterThan(0);
      expect(record.steady).toBeGreaterThan(0);
      expect(record.result.bytes).toBeGreaterThan(0);
    }
    // Each case writes the same bytes in both environments; the archive is the plain write's bytes plus the zip's.
    const bytes = (key: string): number => json.records.find((r) => r.key === key)!.result.bytes;
    for (const c of CASES) expect(bytes(`${c}+hugetlb`)).toBe(bytes(c));
    expect(bytes('save')).toBeGreaterThan(bytes('plain'));
    expect(exit.stdout).toMatch(/\| save \/ plain \| first \|/);
    expect(exit.stdout).toMatch(/0\.3 s between a call's file deleted and the next call/);
    expect(await readdir(tmp.path)).toEqual(['one-shot.json']);
  });
});
