import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCliAsync, type CliResult } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';
import { startFaultServer, type RunningServer } from '../helpers/servers.js';

/**
 * The CLI's reading commands on an http:// URL behind a bearer token, against the same commands on the local file.
 * The CLI runs as a subprocess without blocking this process, which hosts the server.
 */

const TOKEN = 'tok-9f8e7d';
const AUTH = `Authorization: Bearer ${TOKEN}`;

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCliAsync(args, { env });
}

let server: RunningServer;
let url: string;
const temp = makeTempDir('remote');

beforeAll(async () => {
  ensureBuilt();
  server = await startFaultServer(readFileSync(PALIGEMMA), (req, res, context) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) res.writeHead(401).end();
    else context.serve(req, res);
  });
  url = `${server.origin}/models/paligemma-tiny.npz`;
});
afterAll(async () => {
  await server?.close();
  temp.remove();
});

describe('reading commands take URLs with --header', () => {
  it('ls --json lists what the local file lists', async () => {
    const remote = await cli(['ls', '--json', url, '--header', AUTH]);
    const local = await cli(['ls', '--json', PALIGEMMA]);
    expect(remote.status, remote.stderr).toBe(0);
    const strip = (text: string): unknown => {
      const { file: _file, fileSize: _size, ...rest } = JSON.parse(text) as Record<string, unknown>;
      return rest;
    };
    expect(strip(remote.stdout)).toEqual(strip(local.stdout));
    expect((JSON.parse(remote.stdout) as { file: string }).file).toBe(url);
  });

  it('the header may come before the command and be repeated', async () => {
    const remote = await cli(['--header', 'X-Trace: 1', '--header', AUTH, 'ls', url]);
    expect(remote.status, remote.stderr).toBe(0);
    // The totals line ends with the local file's size, which only a local file has.
    const withoutSize = (text: string): string => text.replace(/, file [\d.]+ \S+\n$/, '\n');
    expect(withoutSize(remote.stdout)).toEqual(withoutSize((await cli(['ls', PALIGEMMA])).stdout));
    expect(remote.stdout).toMatch(/^32 arrays, /m);
  });

  it('verify reads and checks every array remotely', async () => {
    const result = await cli(['verify', url, '--header', AUTH]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^OK {4}32 arrays/m);
  });

  it('cat, stats and diff against the local file agree with local runs', async () => {
    const name = 'llm/layers/attn/q_einsum/w';
    for (const args of [['cat'], ['stats']]) {
      const remote = await cli([...args, url, name, '--header', AUTH]);
      const local = await cli([...args, PALIGEMMA, name]);
      expect(remote.status, remote.stderr).toBe(0);
      expect(remote.stdout).toBe(local.stdout);
    }
    const diff = await cli(['diff', url, PALIGEMMA, '--header', AUTH]);
    expect(diff.status, diff.stderr).toBe(0);
  });

  it('convert and extract write the same files as from the local input', async () => {
    const fromRemote = join(temp.path, 'remote.npz');
    const fromLocal = join(temp.path, 'local.npz');
    expect((await cli(['convert', url, fromRemote, '--header', AUTH])).status).toBe(0);
    expect((await cli(['convert', PALIGEMMA, fromLocal])).status).toBe(0);
    expect(readFileSync(fromRemote).equals(readFileSync(fromLocal))).toBe(true);
    const extracted = await cli(['extract', url, '-o', join(temp.path, 'out'), '--header', AUTH]);
    expect(extracted.status, extracted.stderr).toBe(0);
  });

  it('a byte progress bar on stderr while a remote file is opened', async () => {
    const result = await cli(['ls', url, '--header', AUTH], { NPZ_STREAM_PROGRESS: 'always' });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/fetch \[[#-]+\] +\d+%/);
  });
});

describe('refusals', () => {
  it('without the header: exit 2, the status named, the token never printed', async () => {
    const result = await cli(['ls', `${url}?X-Amz-Signature=s1gn4ture`, '--header', 'Authorization: Bearer wrong-secret']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('HTTP 401');
    expect(result.stderr).toContain('[ERR_REMOTE_STATUS]');
    expect(result.stderr).not.toMatch(/wrong-secret|s1gn4ture/);
  });

  it('--json output names a signed URL without its query, for every command that echoes its input', async () => {
    const signed = `${url}?X-Amz-Signature=s1gn4ture`;
    const name = 'img/head/kernel';
    const runs = [
      ['stats', '--json', signed, name],
      ['extract', '--json', signed, name, '-o', join(temp.path, 'signed-out')],
      ['diff', '--json', signed, PALIGEMMA],
      ['diff', '--json', PALIGEMMA, signed],
      ['convert', '--json', signed, join(temp.path, 'signed.npz')],
    ];
    for (const args of runs) {
      const result = await cli([...args, '--header', AUTH]);
      expect(result.status, `${args[0]}: ${result.stderr}`).toBeLessThanOrEqual(1);
      expect(result.stdout, args[0]).toContain(url);
      expect(result.stdout + result.stderr, args[0]).not.toMatch(/s1gn4ture/);
    }
  });

  it('a --header without NAME: is a usage error', async () => {
    const result = await cli(['ls', url, '--header', 'no colon here']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--header takes 'NAME: VALUE'");
  });

  it('verify --json on a refused URL reports it without credentials', async () => {
    const result = await cli(['verify', '--json', url.replace('http://', 'http://bob:hunter2@')]);
    expect(result.stdout + result.stderr).not.toMatch(/hunter2|bob/);
    expect(result.status).toBe(2);
  });
});

