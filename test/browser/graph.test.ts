import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { ROOT } from './harness.js';

/**
 * What `npz-stream/browser` ships: the module graph tsc emits from dist/browser/index.js, followed import by import.
 * A page loads it with `<script type="module">` and no bundler, so every specifier must be a relative path to a file
 * that exists, and nothing in it may reach Node: no `node:` module, no package, no adapter (dist/node/), no
 * Node-only global (Buffer, process, setImmediate used directly).
 */

const NODE_GLOBALS = new Set(['process', 'Buffer', 'global', 'require', 'module', '__dirname', '__filename', 'setImmediate', 'clearImmediate']);

/** Every module specifier of a JavaScript or TypeScript text: static, re-export, dynamic, `import()` types. */
export function specifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      found.push(ts.isStringLiteralLike(node.moduleSpecifier) ? node.moduleSpecifier.text : '<computed>');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const argument = node.arguments[0];
      found.push(argument !== undefined && ts.isStringLiteralLike(argument) ? argument.text : '<computed>');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteralLike(node.argument.literal)) {
      found.push(node.argument.literal.text);
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
      found.push('<require>');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Node-only globals used as values or types (not as property names or declarations). */
export function nodeGlobals(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && NODE_GLOBALS.has(node.text)) {
      const parent = node.parent;
      const declaration =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        ((ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isPropertySignature(parent) || ts.isMethodDeclaration(parent)) && parent.name === node) ||
        ((ts.isVariableDeclaration(parent) || ts.isParameter(parent) || ts.isFunctionDeclaration(parent) || ts.isBindingElement(parent)) && parent.name === node) ||
        ts.isImportSpecifier(parent) ||
        ts.isExportSpecifier(parent);
      if (!declaration) found.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...found];
}

/** The graph from `entry`: each module's path under dist/ and what is wrong with it. */
export function browserGraph(entry: string): { modules: string[]; problems: string[] } {
  const dist = join(ROOT, 'dist');
  const seen = new Set<string>();
  const problems: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const name = relative(dist, file).split(sep).join('/');
    if (name.startsWith('node/') || name.startsWith('cli/') || name === 'index.js') problems.push(`${name}: a Node module in the browser graph`);
    const text = readFileSync(file, 'utf8');
    for (const global of nodeGlobals(file, text)) problems.push(`${name}: uses the Node global ${global}`);
    for (const specifier of specifiers(file, text)) {
      if (!specifier.startsWith('./') && !specifier.startsWith('../')) {
        problems.push(`${name}: imports ${specifier} (a page cannot resolve a bare or node: specifier without a bundler)`);
        continue;
      }
      const target = resolve(dirname(file), specifier);
      if (!specifier.endsWith('.js') || !existsSync(target)) {
        problems.push(`${name}: imports ${specifier}, which is not an emitted file`);
        continue;
      }
      visit(target);
    }
  };
  visit(entry);
  return { modules: [...seen].map((file) => relative(dist, file).split(sep).join('/')).sort(), problems };
}

describe('the browser entry as emitted', () => {
  ensureBuilt();

  it('is listed in the package exports, with its types', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>>; files: string[] };
    expect(pkg.exports['./browser']).toEqual({ types: './dist/browser/index.d.ts', default: './dist/browser/index.js' });
    expect(existsSync(join(ROOT, 'dist/browser/index.d.ts'))).toBe(true);
    expect(pkg.files).toContain('dist');
  });

  it('imports only relative .js files, none of them Node\'s', () => {
    const { modules, problems } = browserGraph(join(ROOT, 'dist/browser/index.js'));
    expect(problems).toEqual([]);
    expect(modules).toContain('browser/inflate.js');
    expect(modules).toContain('http/fetch-transport.js');
    expect(modules.some((module) => module.startsWith('node/'))).toBe(false);
  });

  it('the checks catch what they are for', () => {
    expect(specifiers('x.js', "import { a } from 'undici'; export * from './b.js'; const c = await import('node:fs');")).toEqual(['undici', './b.js', 'node:fs']);
    expect(nodeGlobals('x.js', 'const b = Buffer.from(x); const s = { Buffer: 1 }; o.process = 2;')).toEqual(['Buffer']);
    expect(nodeGlobals('x.js', "if (typeof globalThis.setImmediate === 'function') globalThis.setImmediate(f);")).toEqual([]);
    // The Node entry's graph is refused: it reaches dist/node/ and undici.
    const node = browserGraph(join(ROOT, 'dist/index.js'));
    expect(node.problems.some((problem) => problem.includes('undici'))).toBe(true);
    expect(node.problems.some((problem) => problem.startsWith('node/'))).toBe(true);
  });
});
