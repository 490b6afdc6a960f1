import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { startView } from '../helpers/view.js';

/** The `view` command line: usage errors, a busy port, --port, and Ctrl-C ending it cleanly. */

beforeAll(() => ensureBuilt());

describe('npz-stream view, the command', () => {
  it.each([
    [[], 'view takes one FILE, or two'],
    [[PALIGEMMA, PALIGEMMA, PALIGEMMA], 'view takes one FILE, or two'],
    [[PALIGEMMA, '--port', 'http'], '--port needs a number from 0 to 65535'],
    [[PALIGEMMA, '--port', '70000'], '--port needs a number from 0 to 65535'],
    [[PALIGEMMA, '--bins', '0'], '--bins needs a number from 1 to 1000'],
  ])('refuses %j with exit 2', (args, message) => {
    const result = runCli(['view', ...args]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('says so when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const result = runCli(['view', PALIGEMMA, '--port', String(port)]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(`port ${port} is in use`);
    } finally {
      blocker.close();
    }
  });

  it('listens on the --port asked for, prints the URL first, and exits 0 on Ctrl-C', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const view = await startView([PALIGEMMA, '--port', String(port)]);
    expect(view.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/\\?token=[A-Za-z0-9_-]{43}$`));
    // The note follows the URL on stderr, which may arrive a moment later.
    for (let waited = 0; !view.stderr().includes('press Ctrl-C to stop') && waited < 5000; waited += 20) await sleep(20);
    expect(view.stderr()).toContain(`on 127.0.0.1:${port}; press Ctrl-C to stop`);
    expect(await view.stop()).toBe(0);
  });

  it('is listed in the help', () => {
    expect(runCli(['--help']).stdout).toMatch(/view FILE \[FILE2\]\s+a local web page/);
    expect(runCli(['help', 'view']).stdout).toContain('--open');
  });
});
