/**
 * The package as a user gets it: `npm pack`, then `npm install` of the tarball into a fresh `npm init -y` project
 * (CommonJS), without the network. From there `require('npz-stream')`, `await import('npz-stream')`, an ES module
 * import of both entries, TypeScript (`module: nodenext`, a .cts and a .mts file) and the `npz-stream` bin must
 * work, and the install must show no build or install script. Also: the tarball holds only what users need, and
 * every link and image in README.md resolves inside it (and every relative link in docs/ inside the repository).
 *
 * Offline: the project gets copies of the package's runtime dependencies from this repository's node_modules
 * (npm's cache may not hold them), so `npm install --offline --no-save` of the tarball finds them installed and
 * only unpacks npz-stream. The tarball is packed with `--ignore-scripts` from the dist/ that `ensureBuilt` made,
 * because `prepack` rebuilds dist/ from scratch while other test files run the CLI from it; `prepack` itself is
 * checked in package.json. Skipped, loudly, only when `npm` cannot be run.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from './helpers/cli.js';
import { makeTempDir, type TempDir } from './helpers/tmp.js';
import { withSkipReason } from './helpers/python.js';

interface Manifest {
  name: string;
  version: string;
  type?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports?: Record<string, unknown>;
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
const npmWorks = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
if (!npmWorks) console.warn('SKIPPED: npm cannot be run here, so the packed package is not checked');

/** Docs the README links to that other work adds; a link to one is checked only once the file exists here. */
const ARRIVING = ['docs/slices.md', 'docs/object-stores.md', 'docs/browser.md'];

function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Relative link targets of a markdown file (links and images), without anchors' pages resolved yet. */
function links(markdown: string): string[] {
  const targets: string[] = [];
  const withoutCode = markdown.replace(/^ *```[\s\S]*?^ *```$/gm, '').replace(/`[^`\n]*`/g, '');
  for (const match of withoutCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) targets.push(match[1]!);
  return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const result = new Set<string>();
  const withoutCode = markdown.replace(/^ *```[\s\S]*?^ *```$/gm, '');
  for (const match of withoutCode.matchAll(/^#{1,6} +(.+)$/gm)) {
    result.add(match[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return result;
}

/** Where each relative link of `document` points (a repository path) and the anchor it names, if any. */
function resolveLinks(document: string): { target: string; path: string; anchor: string | undefined }[] {
  return links(readFileSync(join(ROOT, document), 'utf8')).map((target) => {
    const [page, anchor] = target.split('#', 2) as [string, string | undefined];
    const path = page === '' ? document : normalize(join(dirname(document), decodeURIComponent(page))).replace(/\\/g, '/');
    return { target, path, anchor };
  });
}

describe('package.json', () => {
  it('builds on pack, not on install', () => {
    expect(manifest.scripts?.['prepack']).toMatch(/npm run build/);
    for (const script of ['prepare', 'preinstall', 'install', 'postinstall']) expect(manifest.scripts?.[script]).toBeUndefined();
  });

  it('lists types first in every entry, and gives the Node entries a default condition (require of ESM)', () => {
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (typeof target === 'string') continue;
      expect(Object.keys(target as object)[0], subpath).toBe('types');
    }
    for (const subpath of ['.', './paligemma']) {
      expect(Object.keys((manifest.exports?.[subpath] ?? {}) as object).at(-1), subpath).toBe('default');
    }
  });
});

describe.skipIf(!npmWorks)(withSkipReason(!npmWorks, 'npm is not on PATH', 'the packed package'), () => {
  let dir: TempDir;
  let files: string[];
  let project: string;
  let installOutput: string;

  beforeAll(() => {
    ensureBuilt();
    dir = makeTempDir('package');
    const packed = JSON.parse(ok(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir.path], ROOT), 'npm pack')) as {
      filename: string;
      files: { path: string }[];
    }[];
    files = packed[0]!.files.map((file) => file.path);
    const tarball = join(dir.path, packed[0]!.filename);

    project = dir.file('project');
    mkdirSync(project);
    ok(npm(['init', '-y'], project), 'npm init -y');
    // The runtime dependencies (and theirs), copied from this repository's node_modules: offline, npm's cache may
    // not hold them. Copies, not links: npm would run a linked package's own prepare script.
    const pending = Object.keys(manifest.dependencies ?? {});
    const copied = new Set<string>();
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (copied.has(name) || !existsSync(join(ROOT, 'node_modules', name))) continue;
      copied.add(name);
      const source = join(ROOT, 'node_modules', name);
      cpSync(source, join(project, 'node_modules', name), { recursive: true, dereference: true });
      const own = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as Manifest;
      // Optional and peer dependencies too, where this repository has them installed (npm checks them as well).
      for (const group of [own.dependencies, own.optionalDependencies, own.peerDependencies]) {
        pending.push(...Object.keys(group ?? {}).filter((dep) => existsSync(join(ROOT, 'node_modules', dep))));
      }
    }
    const install = npm(['install', '--offline', '--no-audit', '--no-fund', '--no-save', tarball], project);
    installOutput = ok(install, 'npm install of the tarball') + install.stderr;
  }, 300_000);
  afterAll(() => dir?.remove());

  it('holds what users need and nothing of the repository besides', () => {
    for (const needed of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'dist/paligemma/index.js', 'docs/ERRORS.md']) {
      expect(files, needed).toContain(needed);
    }
    expect(files.filter((file) => !/^(dist|docs)\//.test(file) && !['package.json', 'README.md', 'LICENSE'].includes(file))).toEqual([]);
    expect(files.filter((file) => /\.test\.|\.tsbuildinfo$/.test(file))).toEqual([]);
  });

  it('every link and image in the README resolves inside the tarball', () => {
    const found = resolveLinks('README.md');
    expect(found.length).toBeGreaterThanOrEqual(8);
    expect(found.some(({ target }) => target.endsWith('.png'))).toBe(true);
    const missing: string[] = [];
    for (const { target, path, anchor } of found) {
      if (ARRIVING.includes(path) && !existsSync(join(ROOT, path))) {
        console.warn(`README links to ${path}, which is not in this tree yet: not checked`);
        continue;
      }
      if (!files.includes(path)) missing.push(`${target}: ${path} is not in the tarball`);
      else if (anchor && path.endsWith('.md') && !anchors(readFileSync(join(ROOT, path), 'utf8')).has(anchor)) {
        missing.push(`${target}: no heading #${anchor} in ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every relative link in docs/ resolves inside the repository', () => {
    const missing: string[] = [];
    for (const name of readdirSync(join(ROOT, 'docs')).filter((file) => file.endsWith('.md'))) {
      for (const { target, path, anchor } of resolveLinks(`docs/${name}`)) {
        if (ARRIVING.includes(path) && !existsSync(join(ROOT, path))) continue;
        if (!existsSync(join(ROOT, path))) missing.push(`docs/${name}: ${target}`);
        else if (anchor && path.endsWith('.md') && !anchors(readFileSync(join(ROOT, path), 'utf8')).has(anchor)) {
          missing.push(`docs/${name}: ${target} (no such heading)`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('installs offline without showing a build or install script', () => {
    expect(installOutput).not.toMatch(/install-scripts|prepare|npm run build/);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', 'npz-stream', 'package.json'), 'utf8')) as Manifest;
    expect(installed.version).toBe(manifest.version);
    expect((JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Manifest).type ?? 'commonjs').toBe('commonjs');
  });

  function node(file: string, code: string): SpawnSyncReturns<string> {
    writeFileSync(join(project, file), code);
    return spawnSync(process.execPath, [file], { cwd: project, encoding: 'utf8' });
  }

  it('loads with await import() from CommonJS', () => {
    const run = node('dynamic.js', `
      (async () => {
        const { saveNpz, openNpz } = await import('npz-stream');
        await saveNpz('dynamic.npz', { a: new Float32Array([1, 2]) });
        const file = await openNpz('dynamic.npz');
        console.log(file.entries.map((e) => e.name).join(','));
        await file.close();
      })().catch((err) => { console.error(err); process.exitCode = 1; });
    `);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('a');
  });

  const noRequireEsm = `Node ${process.version} cannot require() ES modules`;
  it.skipIf(!process.features.require_module)(withSkipReason(!process.features.require_module, noRequireEsm, 'loads with require() where Node loads ES modules with require'), () => {
    const run = node('required.js', `
      const { saveNpz, loadNpz, NpzError } = require('npz-stream');
      const { paligemmaSpec } = require('npz-stream/paligemma');
      saveNpz('required.npz', { w: new Float32Array([3]) })
        .then(() => loadNpz('required.npz'))
        .then((tree) => console.log(tree.w.data[0], typeof NpzError, paligemmaSpec('paligemma-3b').length > 0))
        .catch((err) => { console.error(err); process.exitCode = 1; });
    `);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('3 function true');
  });

  it('loads both entries from an ES module', () => {
    const run = node('esm.mjs', `
      import { readNpz } from 'npz-stream';
      import { paligemmaSpec } from 'npz-stream/paligemma';
      for await (const [name] of readNpz('dynamic.npz')) console.log(name, Array.isArray(paligemmaSpec('paligemma-3b')));
    `);
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('a true');
  });

  it('type-checks from TypeScript with module nodenext, CommonJS and ES module files', () => {
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');
    const body = `
      import { openNpz, type NpyArray } from 'npz-stream';
      import { paligemmaSpec } from 'npz-stream/paligemma';
      export async function first(path: string): Promise<NpyArray | undefined> {
        const file = await openNpz(path);
        try {
          const entry = file.entries.find((e) => e.isArray);
          return entry ? await file.get(entry.name) : undefined;
        } finally {
          await file.close();
        }
      }
      export const names: number = paligemmaSpec('paligemma-3b').length;
    `;
    writeFileSync(join(project, 'cjs.cts'), body);
    writeFileSync(join(project, 'esm.mts'), body);
    writeFileSync(join(project, 'wrong.cts'), `import { openNpz } from 'npz-stream';\nexport const n: number = openNpz;\n`);
    const tsconfig = (include: string[]) => JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true, noEmit: true, types: ['node'] }, include });
    writeFileSync(join(project, 'tsconfig.json'), tsconfig(['cjs.cts', 'esm.mts']));
    writeFileSync(join(project, 'tsconfig.wrong.json'), tsconfig(['wrong.cts']));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const good = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    // The check can fail: a type error in a file importing the installed package is reported.
    const wrong = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], { cwd: project, encoding: 'utf8' });
    expect(wrong.stdout).toMatch(/wrong\.cts.*TS2322/);
  }, 400_000);

  it('installs the npz-stream bin', { timeout: 60_000 }, () => {
    const bin = join(project, 'node_modules', '.bin', 'npz-stream');
    const version = spawnSync(bin, ['--version'], { cwd: project, encoding: 'utf8' });
    expect(version.stdout.trim()).toBe(manifest.version);
    const verify = spawnSync(bin, ['verify', 'dynamic.npz'], { cwd: project, encoding: 'utf8' });
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^OK/);
  });
});
