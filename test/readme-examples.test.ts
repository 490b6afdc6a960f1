/**
 * Every code example in README.md and docs/*.md type-checks against the public API and runs as written against
 * the built package, so a renamed export, a wrong option or an example that reads a tensor its tree does not hold
 * breaks this test instead of the reader's first try.
 *
 * - ```ts blocks are TypeScript ES modules; ```js blocks are CommonJS scripts (what an `npm init` project runs).
 *   Fences indented inside a list item count too.
 * - A block with an `import` (or `require`) starts an example; a block without one continues the example above
 *   it, inside its own `{ }` so its names stay local.
 * - Type-check: every ```ts example, with `npz-stream` mapped to src/index.ts. One name the prose leaves to the
 *   reader (`tree`, in the upload recipes) is declared globally; examples importing packages npz-stream does not
 *   install (`@aws-sdk/`) are not checked.
 * - Run: each document's examples run in document order in one scratch directory (so later examples read what
 *   earlier ones wrote), each as its own `node` process, with `npz-stream` resolved through
 *   node_modules/npz-stream → this repository, i.e. package.json's `exports` and dist/. An example fails if it
 *   exits non-zero. Examples that need the network (an http(s) URL) or an uninstalled package are not run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from './helpers/cli.js';
import { makeTempDir, type TempDir } from './helpers/tmp.js';

const DOCUMENTS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

/** Packages the docs show in a recipe but that npz-stream neither depends on nor installs for its tests. */
const NOT_INSTALLED = ['@aws-sdk/'];
/** Examples that are type-checked but not run: they need the network (a web server or an object store). */
const NOT_RUN = [/\b(?:https?|s3|gs|hf):\/\//];

const GIVEN = `
import type { Tree } from 'npz-stream';
declare global {
  const tree: Tree;
}
`;

interface Block {
  language: 'ts' | 'js';
  line: number;
  code: string;
}

interface Example extends Block {
  document: string;
}

/** Fenced ```ts and ```js blocks, at the start of a line or indented (inside a list item), indentation removed. */
function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^( *)```(ts|js)\n([\s\S]*?)^\1```$/gm;
  for (let match = fence.exec(markdown); match; match = fence.exec(markdown)) {
    const indent = match[1]!.length;
    const code = match[3]!.split('\n').map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length))).join('\n');
    blocks.push({ language: match[2] as 'ts' | 'js', line: markdown.slice(0, match.index).split('\n').length, code });
  }
  return blocks;
}

function examples(document: string, markdown: string): Example[] {
  const result: Example[] = [];
  for (const block of codeBlocks(markdown)) {
    const last = result.at(-1);
    const starts = /^import\s|\brequire\(|\bimport\(/m.test(block.code);
    if (starts || !last || last.language !== block.language) result.push({ document, ...block });
    else last.code += `\n{\n${block.code}\n}\n`;
  }
  return result;
}

function typeErrors(files: Map<string, string>): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: true,
    types: ['node'],
    noEmit: true,
    baseUrl: ROOT,
    paths: { 'npz-stream': ['src/index.ts'], 'npz-stream/paligemma': ['src/paligemma/index.ts'], 'npz-stream/browser': ['src/browser/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, version, ...rest) => {
    const text = files.get(name);
    return text === undefined ? getSourceFile.call(host, name, version, ...rest) : ts.createSourceFile(name, text, version);
  };
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name);
  host.readFile = (name) => files.get(name) ?? readFile.call(host, name);
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (!diagnostic.file || diagnostic.start === undefined) return message;
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${diagnostic.file.fileName.slice(ROOT.length)}:${line + 1}: ${message}`;
  });
}

function fileName(example: Example): string {
  return `${example.document.replace(/[/.]/g, '-')}-line-${example.line}`;
}

/** Runs one example in `dir`; returns a description of the failure, or undefined. */
function run(example: Example, dir: string): string | undefined {
  const file = join(dir, `${fileName(example)}.${example.language === 'ts' ? 'mjs' : 'cjs'}`);
  const code = example.language === 'ts'
    ? ts.transpileModule(example.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
    : example.code;
  writeFileSync(file, code);
  const result = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  if (result.status === 0 && result.signal === null) return undefined;
  return `${example.document}:${example.line} exited ${result.status ?? result.signal}\n${result.stderr.trim().split('\n').slice(0, 8).join('\n')}`;
}

/** The bodies of every `catch (name) { ... }` in `code`. */
function catchBodies(code: string): string[] {
  const bodies: string[] = [];
  for (const match of code.matchAll(/\bcatch\s*\(\s*\w+\s*\)\s*\{/g)) {
    let depth = 1;
    let at = match.index + match[0].length;
    const start = at;
    for (; at < code.length && depth > 0; at++) depth += code[at] === '{' ? 1 : code[at] === '}' ? -1 : 0;
    bodies.push(code.slice(start, at - 1));
  }
  return bodies;
}

const installed = (example: Example) => !NOT_INSTALLED.some((name) => example.code.includes(`from '${name}`));
const runnable = (example: Example) => installed(example) && !NOT_RUN.some((pattern) => pattern.test(example.code));

describe('documentation examples', () => {
  const all = DOCUMENTS.flatMap((document) => examples(document, readFileSync(join(ROOT, document), 'utf8')));
  let dir: TempDir;

  beforeAll(() => {
    ensureBuilt();
    dir = makeTempDir('doc-examples');
  }, 300_000);
  afterAll(() => dir?.remove());

  it('finds the examples it checks', () => {
    const readme = all.filter((example) => example.document === 'README.md');
    expect(readme.length).toBeGreaterThanOrEqual(3);
    expect(readme.every(runnable)).toBe(true);
    expect(all.some((example) => example.code.includes('saveNpzStream'))).toBe(true);
    expect(all.some((example) => example.language === 'js' && example.code.includes("require('npz-stream')"))).toBe(true);
    expect(all.filter(runnable).length).toBeGreaterThan(all.length / 2);
  });

  it('extracts indented fences and joins continuation blocks', () => {
    const markdown = '```ts\nimport { a } from "x";\n```\ntext\n```ts\nuse(a);\n```\n- item\n\n  ```js\n  const b = require("y");\n    nested();\n  ```\n';
    const found = examples('doc.md', markdown);
    expect(found.map((example) => [example.language, example.line])).toEqual([['ts', 1], ['js', 10]]);
    expect(found[0]!.code).toContain('{\nuse(a);\n');
    expect(found[1]!.code).toBe('const b = require("y");\n  nested();\n');
  });

  it('no example swallows errors: every catch block rethrows what it does not handle', () => {
    const swallowing = all.flatMap((example) =>
      catchBodies(example.code).filter((body) => !/\bthrow\b/.test(body)).map((body) => `${example.document}:${example.line}: catch {${body}}`));
    expect(all.filter((example) => catchBodies(example.code).length > 0).length).toBeGreaterThanOrEqual(2);
    expect(swallowing).toEqual([]);
    // The old README's example, which swallowed every other error, is caught:
    expect(catchBodies("try { await loadNpz('m.npz'); }\ncatch (err) { if (isNpzError(err, 'ERR_ZIP_CRC_MISMATCH')) console.error(`corrupt ${err.entry}`); }")
      .filter((body) => !/\bthrow\b/.test(body))).toHaveLength(1);
  });

  it('every ```ts example compiles against src/index.ts', () => {
    // Virtual files inside the repository, so package.json's "type": "module" makes them ES modules.
    const files = new Map<string, string>([[join(ROOT, 'test', '__docs__', 'given.ts'), GIVEN]]);
    for (const example of all.filter((e) => e.language === 'ts' && installed(e))) {
      files.set(join(ROOT, 'test', '__docs__', `${fileName(example)}.ts`), `${example.code}\nexport {};\n`);
    }
    expect(typeErrors(files)).toEqual([]);
  }, 120_000);

  it('every example runs as written against the built package', () => {
    const failures: string[] = [];
    for (const document of DOCUMENTS) {
      const scratch = join(dir.path, document.replace(/[/.]/g, '-'));
      mkdirSync(join(scratch, 'node_modules'), { recursive: true });
      symlinkSync(ROOT, join(scratch, 'node_modules', 'npz-stream'), 'dir');
      for (const example of all.filter((e) => e.document === document && runnable(e))) {
        const failure = run(example, scratch);
        if (failure) failures.push(failure);
      }
    }
    expect(failures).toEqual([]);
  }, 600_000);

  it('a failing example fails the run', () => {
    // The check above would pass vacuously if a thrown error did not reach the exit code.
    const scratch = join(dir.path, 'planted');
    mkdirSync(join(scratch, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(scratch, 'node_modules', 'npz-stream'), 'dir');
    const [save, read] = examples('planted.md', [
      "```ts\nimport { saveNpz } from 'npz-stream';\nawait saveNpz('t.npz', { a: new Float32Array(2) });\n```",
      "```ts\nimport { openSafetensors, openNpz } from 'npz-stream';\nconst file = await openNpz('t.npz');\nawait file.get('b');\n```",
    ].join('\n'));
    expect(run(save!, scratch)).toBeUndefined();
    expect(run(read!, scratch)).toMatch(/ERR_NPZ_NOT_FOUND/);
  }, 120_000);
});
