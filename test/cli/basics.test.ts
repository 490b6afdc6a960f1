import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { ROOT, ensureBuilt, runCli } from '../helpers/cli.js';

beforeAll(() => ensureBuilt());

const COMMANDS = ['ls', 'verify', 'cat', 'stats', 'diff', 'convert', 'extract', 'pack'];

describe('npz-stream conventions', () => {
  it('--version prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = runCli(['--version']);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

  it('the bin starts with a node shebang', () => {
    expect(readFileSync(join(ROOT, 'dist', 'cli', 'main.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('--help lists every command; each command has its own --help', () => {
    const general = runCli(['--help']);
    expect(general.status).toBe(0);
    for (const command of COMMANDS) expect(general.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    // Every command shares one help renderer; three of them through the bin is enough to prove the wiring.
    for (const command of ['ls', 'convert', 'pack']) {
      const help = runCli([command, '--help']);
      expect(help.status).toBe(0);
      expect(help.stdout.startsWith(`usage: npz-stream ${command}`)).toBe(true);
      expect(help.stdout).toContain('--json');
    }
  });

  it('no command prints the help on stderr with exit code 2', () => {
    const result = runCli([]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('commands:');
  });

  it('usage errors exit 2 with "npz-stream: <message> [CODE]"', () => {
    for (const args of [['frobnicate'], ['ls', '--bogus', PALIGEMMA], ['ls'], ['convert', PALIGEMMA, '/tmp/x.npz', '--cast', 'int8:float32']]) {
      const result = runCli(args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^npz-stream: .+ \[ERR_INVALID_ARGUMENT\]$/m);
      expect(result.stdout).toBe('');
    }
  });

  it('a missing file is an I/O error (exit 2), a file that is not a zip is bad data (exit 1)', () => {
    const missing = runCli(['ls', join(GOOD_DIR, 'no-such-file.npz')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^npz-stream: .*no-such-file\.npz.* \[ERR_IO\]$/m);
    const notZip = runCli(['ls', join(GOOD_DIR, 'paligemma-tiny.expected.json')]);
    expect(notZip.status).toBe(1);
    expect(notZip.stderr).toMatch(/^npz-stream: .+ \[ERR_ZIP_NOT_ZIP\]$/m);
  });

  it('an unknown array name is a usage error', () => {
    const result = runCli(['cat', PALIGEMMA, 'no/such/array']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/\[ERR_NPZ_NOT_FOUND\]/);
  });

  it('progress bars go to stderr only, and --quiet / --json silence them', () => {
    const forced = { NPZ_STREAM_PROGRESS: 'always' };
    const shown = runCli(['verify', PALIGEMMA], { env: forced });
    expect(shown.status).toBe(0);
    expect(shown.stderr).toMatch(/verify \[#+\] 100% .*\/s ETA/);
    expect(shown.stdout).not.toContain('\r');
    expect(runCli(['verify', '--quiet', PALIGEMMA], { env: forced }).stderr).toBe('');
    const json = runCli(['verify', '--json', PALIGEMMA], { env: forced });
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, arrays: 32 });
    // Without a TTY (as here) and without the override there is no bar at all.
    expect(runCli(['verify', PALIGEMMA]).stderr).toBe('');
  });
});
