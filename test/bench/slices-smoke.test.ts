import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveNpz, type NpyArray } from '../../src/index.js';
import { ensureBuilt, ROOT } from '../helpers/cli.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * bench/slices.ts end to end on a tiny npz with the fixture's embedding name and a stacked matrix: it must exit
 * cleanly, report every read it promises, and its shards must be what it checked them against (it exits non-zero
 * when a shard differs from the whole tensor). No timing is asserted.
 */
interface Measure {
  source: string;
  tensor: string;
  read: string;
  shape: number[];
  seconds: number;
  requests: number;
  bytes: number;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/slices.ts'), ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

function counting(shape: number[], seed: number): NpyArray {
  const data = new Uint16Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.imul(i + seed, 2654435761) >>> 16;
  return { dtype: 'bfloat16', descr: '<V2', shape, fortranOrder: false, data };
}

describe('bench/slices.ts smoke run', () => {
  let dir: TempDir;
  let exit: { code: number | null; stdout: string; stderr: string };
  let measures: Measure[];

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('slices-bench');
    const pairs: Array<[string, NpyArray]> = [
      ['llm/embedder/input_embedding', counting([64, 32], 1)],
      ['llm/layers/mlp/linear', counting([2, 3, 64, 512], 2)],
      ['llm/final_norm/scale', counting([32], 3)],
    ];
    await saveNpz(dir.file('tiny.npz'), pairs.values());
    exit = await run(['--file', dir.file('tiny.npz'), '--latency-ms', '5', '--json', dir.file('out.json')]);
    if (exit.code === 0) measures = (JSON.parse(await readFile(dir.file('out.json'), 'utf8')) as { measures: Measure[] }).measures;
  }, 120_000);

  afterAll(() => dir?.remove());

  it('exits cleanly, its shards checked against the whole tensors', () => {
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
  });

  it('reports get and shard of both tensors through each source, with their counts', () => {
    const sources = ['local file', 'HTTP loopback', 'HTTP +5 ms/request'];
    expect(measures.map((m) => `${m.source} | ${m.tensor} | ${m.read}`)).toEqual(
      sources.flatMap((source) => [
        `${source} | embedding | get [64,32]`,
        `${source} | embedding | shard(axis 0, 4 of 8)`,
        `${source} | largest | get [2,3,64,512]`,
        `${source} | largest | shard(axis -1, 4 of 8)`,
      ]),
    );
    for (const m of measures) {
      expect(m.requests, m.read).toBeGreaterThan(0);
      expect(m.seconds).toBeGreaterThan(0);
    }
    const at = (source: string, tensor: string, get: boolean) => measures.find((m) => m.source === source && m.tensor === tensor && m.read.startsWith('get') === get)!;
    for (const source of sources) {
      // A whole tensor costs at least its bytes (small reads are rounded up to a window); a row shard is one exact
      // run of its own eighth; a column shard at most the span of its rows.
      expect(at(source, 'embedding', true).bytes).toBeGreaterThanOrEqual(64 * 32 * 2);
      expect(at(source, 'embedding', false).shape).toEqual([8, 32]);
      expect(at(source, 'embedding', false).bytes).toBe(8 * 32 * 2);
      expect(at(source, 'largest', true).bytes).toBeGreaterThanOrEqual(2 * 3 * 64 * 512 * 2);
      expect(at(source, 'largest', false).shape).toEqual([2, 3, 64, 64]);
      expect(at(source, 'largest', false).bytes).toBeGreaterThanOrEqual(2 * 3 * 64 * 64 * 2);
      expect(at(source, 'largest', false).bytes).toBeLessThanOrEqual(2 * 3 * 64 * 512 * 2);
    }
    expect(exit.stdout).toContain('| source | tensor | read | time (s) | requests | MiB |');
  });
});
