import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { RELAUNCH_GUARD, hugePageEnvironment } from '../../src/cli/hugepages.js';
import { makeTempDir } from '../helpers/tmp.js';
import { BIN, ROOT, ensureBuilt } from '../helpers/cli.js';

const HUGETLB = 'glibc.malloc.hugetlb=1';

describe('hugePageEnvironment', () => {
  it('adds the tunable (keeping any others) and the guard on glibc 2.35 and later', () => {
    expect(hugePageEnvironment({ PATH: '/bin' }, [2, 36])).toEqual({ PATH: '/bin', GLIBC_TUNABLES: HUGETLB, [RELAUNCH_GUARD]: '1' });
    expect(hugePageEnvironment({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, [2, 35])?.['GLIBC_TUNABLES']).toBe(`glibc.malloc.arena_max=2:${HUGETLB}`);
    expect(hugePageEnvironment({}, [3, 0])?.['GLIBC_TUNABLES']).toBe(HUGETLB);
  });

  it('leaves the process alone: relaunched already, tunable set by the user, old glibc, or no glibc', () => {
    expect(hugePageEnvironment({ [RELAUNCH_GUARD]: '1' }, [2, 36])).toBeUndefined();
    expect(hugePageEnvironment({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, [2, 36])).toBeUndefined();
    expect(hugePageEnvironment({ GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${HUGETLB}` }, [2, 36])).toBeUndefined();
    expect(hugePageEnvironment({}, [2, 34])).toBeUndefined();
    expect(hugePageEnvironment({}, [1, 99])).toBeUndefined();
    expect(hugePageEnvironment({}, undefined)).toBeUndefined();
  });
});

/** glibc ≥ 2.35 on Linux: the only place the CLI relaunches. */
function glibcRelaunches(): boolean {
  const version = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  const match = /^(\d+)\.(\d+)/.exec(version ?? '');
  return process.platform === 'linux' && match !== null && (Number(match[1]) > 2 || (Number(match[1]) === 2 && Number(match[2]) >= 35));
}

describe('the CLI relaunch', () => {
  beforeAll(() => ensureBuilt());

  /** Runs the CLI with the recording preload; returns its result and what each process saw. */
  function run(args: string[], env: Record<string, string | undefined>) {
    const dir = makeTempDir('hugepages');
    try {
      const record = dir.file('env.txt');
      const base = { ...process.env };
      delete base['GLIBC_TUNABLES'];
      delete base[RELAUNCH_GUARD];
      const result = spawnSync(process.execPath, ['--import', new URL('../helpers/record-env.mjs', import.meta.url).href, BIN, ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...base, ...env, NPZ_TEST_ENV_RECORD: record },
      });
      let lines: string[][] = [];
      try {
        lines = readFileSync(record, 'utf8').trim().split('\n').map((line) => line.split(' ').slice(1));
      } catch {
        // no process recorded anything
      }
      return { status: result.status, stdout: result.stdout, stderr: result.stderr, seen: lines };
    } finally {
      dir.remove();
    }
  }

  // Linux with glibc >= 2.35 relaunches once; anywhere else (older glibc, musl, macOS) the first process just runs.
  // Either way the output and exit code must be the command's own.
  const relaunches = glibcRelaunches();
  it(`${relaunches ? 'relaunches exactly once with the tunable' : 'runs without relaunching (no glibc >= 2.35 here)'}, and passes on output and exit code`, () => {
    const processes = relaunches ? 2 : 1;
    const version = run(['--version'], {});
    expect(version.seen).toEqual(relaunches ? [['-', '-'], [HUGETLB, '1']] : [['-', '-']]);
    expect(version.status).toBe(0);
    expect(version.stdout.trim().split('\n')).toHaveLength(1);
    const missing = run(['ls', '/nonexistent/x.npz'], {});
    expect(missing.seen).toHaveLength(processes);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('x.npz');
  });

  it('does not relaunch when the tunable is already set, or when the guard says so', () => {
    expect(run(['--version'], { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).seen).toEqual([['glibc.malloc.hugetlb=0', '-']]);
    expect(run(['--version'], { [RELAUNCH_GUARD]: '1' }).seen).toEqual([['-', '1']]);
  });
});
