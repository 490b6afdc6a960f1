/**
 * The CLI sessions shown in README.md and docs/cli.md (```console blocks) are what the built CLI prints today.
 * Every `$` line is run by bash in one scratch directory per document, in document order, with `npz-stream` on
 * PATH and the files the documents name: `paligemma-tiny.npz` (the fixture), `damaged.npz` (one bit flipped in the data of
 * llm/layers/attn/q_einsum/w) and `tuned.npz` (one value of it changed). The lines shown must appear in the
 * output in order; where the README shows no `...`, they must be the whole output; a `# exit N` comment is checked
 * against the exit code. Lines that need the network
 * or other tools (URLs, gsutil) are skipped.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, readNpz, saveNpz, type NpyArray } from '../src/index.js';
import { BIN, ROOT, cliEnv, ensureBuilt } from './helpers/cli.js';
import { PALIGEMMA } from './helpers/fixtures.js';
import { makeTempDir, type TempDir } from './helpers/tmp.js';

const DOCUMENTS = ['README.md', 'docs/cli.md'];

interface Session {
  document: string;
  line: number;
  command: string;
  shown: string[];
}

function sessions(document: string, markdown: string): Session[] {
  const result: Session[] = [];
  const lines = markdown.split('\n');
  let inConsole = false;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (text.startsWith('```')) {
      inConsole = !inConsole && text === '```console';
      continue;
    }
    if (!inConsole) continue;
    if (text.startsWith('$ ')) result.push({ document, line: i + 1, command: text.slice(2), shown: [] });
    else if (text !== '' && result.length > 0) result.at(-1)!.shown.push(text);
  }
  return result;
}

const SKIP = [/https?:\/\//, /\bgsutil\b/];
const Q_EINSUM = 'llm/layers/attn/q_einsum/w';

describe('README CLI sessions', () => {
  let dir: TempDir;
  const all = DOCUMENTS.flatMap((document) => sessions(document, readFileSync(join(ROOT, document), 'utf8')));

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir('readme-cli');
    const bin = dir.file('bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'npz-stream'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(bin, 'npz-stream'), 0o755);
    const fixtures = dir.file('fixtures');
    mkdirSync(fixtures);
    copyFileSync(PALIGEMMA, join(fixtures, 'paligemma-tiny.npz'));

    const bytes = new Uint8Array(readFileSync(PALIGEMMA));
    const file = await openNpz(bytes);
    const entry = file.entries.find((e) => e.name === Q_EINSUM);
    await file.close();
    if (!entry?.isArray || entry.dataOffset === undefined) throw new Error(`${Q_EINSUM} missing from the fixture`);
    bytes[entry.dataOffset + 7]! ^= 1;
    writeFileSync(join(fixtures, 'damaged.npz'), bytes);

    const tuned: [string, NpyArray][] = [];
    for await (const [name, array] of readNpz(PALIGEMMA)) {
      if (name === Q_EINSUM) (array.data as Float32Array)[((1 * 2 + 0) * 8 + 3) * 4 + 2] = 2.5; // [1, 0, 3, 2] of (2, 2, 8, 4)
      tuned.push([name, array]);
    }
    await saveNpz(join(fixtures, 'tuned.npz'), tuned.values());
    for (const document of DOCUMENTS) cpSync(fixtures, dir.file(document.replace(/[/.]/g, '-')), { recursive: true });
  }, 120_000);
  afterAll(() => dir?.remove());

  it('finds the sessions it checks', () => {
    const checked = all.filter((s) => !SKIP.some((skip) => skip.test(s.command)));
    expect(checked.filter((s) => s.document === 'README.md').length).toBeGreaterThanOrEqual(1);
    expect(checked.filter((s) => s.document === 'docs/cli.md').length).toBeGreaterThanOrEqual(15);
  });

  it('every shown output is what the CLI prints', () => {
    const wrong: string[] = [];
    for (const session of all) {
      if (SKIP.some((skip) => skip.test(session.command))) continue;
      const run = spawnSync('bash', ['-c', session.command], {
        cwd: dir.file(session.document.replace(/[/.]/g, '-')),
        encoding: 'utf8',
        env: cliEnv({ PATH: `${dir.file('bin')}:${process.env['PATH']}`, NO_COLOR: '1' }),
      });
      const actual = `${run.stdout}${run.stderr}`.split('\n').filter((line) => line !== '');
      const shown = session.shown.filter((line) => line !== '...');
      const elided = shown.length !== session.shown.length;
      let at = 0;
      const missing = shown.filter((line) => {
        const found = actual.indexOf(line, at);
        if (found < 0) return true;
        at = found + 1;
        return false;
      });
      const exit = /# exit (\d+)/.exec(session.command);
      const statusWrong = exit !== null && run.status !== Number(exit[1]);
      if (missing.length > 0 || (!elided && actual.length !== shown.length) || statusWrong) {
        wrong.push(`${session.document}:${session.line}: $ ${session.command}\n  exit ${run.status}, shown:\n    ${session.shown.join('\n    ')}\n  printed:\n    ${actual.join('\n    ')}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 600_000);
});
