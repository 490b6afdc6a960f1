/**
 * Every ```ts example in README.md type-checks against the current public API (src/index.ts and the
 * `npz-stream/paligemma` subpath), so a renamed export or option breaks this test instead of the reader's first try.
 *
 * A block with an `import` starts an example; a block without one continues the example above it (the README
 * introduces lazy leaves and the copy loop after the quickstart's imports), inside its own `{ }` so its names stay
 * local. A few names the prose leaves to the reader (`params`, `tree`, `url`, ...) are declared once, globally.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** Packages the README shows in a recipe but that npz-stream neither depends on nor installs for its tests. */
const NOT_INSTALLED = ['@aws-sdk/'];

const GIVEN = `
import type { Tree } from 'npz-stream';
declare global {
  const params: Tree;
  const tree: Tree;
  const url: string;
  function producer(): Iterable<Uint8Array>;
  function upload(chunk: Uint8Array): void;
}
`;

interface Example {
  line: number;
  code: string;
}

function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const fence = /^```ts\n([\s\S]*?)^```$/gm;
  for (let match = fence.exec(markdown); match; match = fence.exec(markdown)) {
    blocks.push({ line: markdown.slice(0, match.index).split('\n').length, code: match[1]! });
  }
  return blocks;
}

function examples(markdown: string): Example[] {
  const result: Example[] = [];
  for (const block of tsBlocks(markdown)) {
    const last = result.at(-1);
    if (/^import\s/m.test(block.code) || !last) result.push({ line: block.line, code: block.code });
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
    baseUrl: root,
    paths: { 'npz-stream': ['src/index.ts'], 'npz-stream/paligemma': ['src/paligemma/index.ts'] },
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
    return `${diagnostic.file.fileName.slice(root.length + 1)}:${line + 1}: ${message}`;
  });
}

describe('README examples', () => {
  const all = examples(readme);

  it('finds the examples it checks', () => {
    expect(tsBlocks(readme).length).toBeGreaterThanOrEqual(8);
    expect(all.some((example) => example.code.includes('saveNpzStream'))).toBe(true);
  });

  it('every ```ts example compiles against src/index.ts', () => {
    // Virtual files inside the repository, so package.json's "type": "module" makes them ES modules.
    const files = new Map<string, string>([[join(root, 'test', '__readme__', 'given.ts'), GIVEN]]);
    const checked = all.filter((example) => !NOT_INSTALLED.some((name) => example.code.includes(`from '${name}`)));
    expect(checked.length).toBeGreaterThan(all.length / 2);
    for (const example of checked) {
      files.set(join(root, 'test', '__readme__', `readme-line-${example.line}.ts`), `${example.code}\nexport {};\n`);
    }
    expect(typeErrors(files)).toEqual([]);
  }, 60_000);
});
