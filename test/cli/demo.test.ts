import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy } from '../helpers/python.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

beforeAll(() => ensureBuilt());

// `npm start` runs this command with its defaults; a smaller scale keeps the test quick.
describe('npz-stream demo', () => {
  it('writes, lists, verifies, reloads and compares a PaliGemma-shaped checkpoint, then checks it with numpy', () => {
    const temp = makeTempDir('cli-demo');
    try {
      const out = join(temp.path, 'demo.npz');
      const result = runCli(['demo', '--scale', '0.002', '--out', out]);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/32 members/);
      expect(result.stdout).toMatch(/verified every CRC-32/);
      expect(result.stdout).toMatch(/32\/32 tensors identical to what was generated/);
      if (hasNumpy()) expect(result.stdout).toMatch(/np\.load read 32 arrays .* same bytes as ours/);
      expect(existsSync(out)).toBe(true);
    } finally {
      temp.remove();
    }
  });

  it('removes its temporary directory when no --out is given', () => {
    const result = runCli(['demo', '--scale', '0.002', '--model', 'paligemma2-3b', '--precision', 'mixed']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/34 members/);
    const written = /wrote {3}(\S+)/.exec(result.stdout)?.[1];
    expect(written).toBeDefined();
    expect(existsSync(written!)).toBe(false);
  });

  it('refuses an unknown model or precision as a usage error', () => {
    expect(runCli(['demo', '--model', 'gpt-2']).status).toBe(2);
    expect(runCli(['demo', '--precision', 'int4']).status).toBe(2);
    expect(runCli(['demo', '--scale', '2']).status).toBe(2);
  });
});
