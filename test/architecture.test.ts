/**
 * The layering, checked from the sources: the CLI (and its viewer) use the library only through its public entry,
 * and the core imports nothing of Node, neither a module nor an adapter nor a Node-only global.
 *
 * Imports are read with the TypeScript parser, every form counted: `import`, `import type`, `export … from`,
 * dynamic `import()`, `import('…').T` types, `require()`, `import x = require()` and `/// <reference types>`.
 * Type-only imports count like any other, on purpose: a type from an internal module is API the CLI's users cannot
 * name, and a Node type in the core puts Node into the declarations a browser build would ship.
 */
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** The core: pure formats and what they share. Everything here must run without Node. */
const CORE = ['npy/', 'zip/', 'tree/', 'npz/', 'safetensors/', 'io/', 'http/', 'objectstore/', 'errors.ts', 'array-entry.ts'];
/** What src/cli/ may import from the rest of src/. */
const CLI_MAY_IMPORT = ['index.ts', 'paligemma/index.ts'];
/**
 * The one exception: the static viewer's worker runs in a browser, so it opens files through the browser entry (the
 * package's other public entry), bundled by scripts/build-view-worker.mjs. Only this file, only that entry.
 */
const BROWSER_BUNDLE_ENTRY = 'cli/view/static/worker.ts';
const BROWSER_BUNDLE_MAY_IMPORT = ['browser/index.ts'];
/** Node-only globals the core must not touch (it gets what it needs from its platform). */
const NODE_GLOBALS = new Set(['process', 'Buffer', 'global', 'require', 'module', '__dirname', '__filename', 'setImmediate', 'clearImmediate']);

interface Specifier {
  text: string;
  /** How it was written, for messages: 'import', 'import type', 'export from', 'import()', 'require', … */
  form: string;
}

/** Every module a source file refers to, in any form. */
export function specifiersOf(fileName: string, text: string): Specifier[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const found: Specifier[] = [];
  const literal = (node: ts.Node | undefined, form: string): void => {
    if (node !== undefined && ts.isStringLiteralLike(node)) found.push({ text: node.text, form });
    else found.push({ text: `<computed: ${node?.getText(source) ?? 'nothing'}>`, form });
  };
  for (const reference of source.typeReferenceDirectives) found.push({ text: reference.fileName, form: '/// <reference types>' });
  for (const reference of source.referencedFiles) found.push({ text: reference.fileName, form: '/// <reference path>' });
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.name === undefined && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((element) => element.isTypeOnly)));
      literal(node.moduleSpecifier, typeOnly ? 'import type' : 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      literal(node.moduleSpecifier, node.isTypeOnly ? 'export type from' : 'export from');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      literal(node.moduleReference.expression, 'import = require');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      literal(node.argument.literal, "import('…') type");
    } else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) literal(node.arguments[0], 'import()');
      else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') literal(node.arguments[0], 'require');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Uses of Node-only globals: identifiers in value or type position that are not a property name or a declaration. */
export function nodeGlobalsOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && NODE_GLOBALS.has(node.text)) {
      const parent = node.parent;
      const isPropertyName =
        (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
        (ts.isQualifiedName(parent) && parent.right === node) ||
        ((ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) || ts.isPropertySignature(parent) || ts.isMethodDeclaration(parent) || ts.isMethodSignature(parent)) && parent.name === node) ||
        ((ts.isVariableDeclaration(parent) || ts.isParameter(parent) || ts.isFunctionDeclaration(parent) || ts.isBindingElement(parent)) && parent.name === node) ||
        ts.isImportSpecifier(parent) ||
        ts.isExportSpecifier(parent);
      if (!isPropertyName) found.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...new Set(found)];
}

function sourceFiles(directory: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    // The viewer's page assets are served to a browser, never imported.
    if (entry.isDirectory()) {
      if (path !== join(SRC, 'cli', 'view', 'assets')) out.push(...sourceFiles(path));
    } else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Path under src/ with '/' separators ('zip/crc32.ts'), or undefined outside src/. */
function underSrc(path: string): string | undefined {
  const rel = relative(SRC, path);
  return rel.startsWith('..') ? undefined : rel.split(sep).join('/');
}

/** Where a relative specifier lands, as a src/ path ('io/abort.ts'), following the `.js` → `.ts` convention. */
function resolveRelative(from: string, specifier: string): string {
  const target = resolve(dirname(from), specifier);
  const candidates = [target, target.replace(/\.js$/, '.ts'), target.replace(/\.mjs$/, '.mts'), `${target}.ts`, join(target, 'index.ts')];
  const hit = candidates.find((candidate) => existsSync(candidate) && !candidate.endsWith(sep)) ?? target;
  return underSrc(hit) ?? relative(ROOT, hit).split(sep).join('/');
}

const isCore = (path: string): boolean => CORE.some((prefix) => path === prefix || path.startsWith(prefix));
const isBuiltin = (specifier: string): boolean => specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!);
const packageName = (specifier: string): string => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);

const DEPENDENCIES = new Set(Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {}));

/** The rule violations of one file: `path: what (form)`. */
export function violationsOf(path: string, text: string): string[] {
  const file = underSrc(path)!;
  const out: string[] = [];
  const inCli = file.startsWith('cli/');
  const inCore = isCore(file);
  for (const { text: specifier, form } of specifiersOf(path, text)) {
    if (specifier.startsWith('<computed')) {
      out.push(`${file}: ${form} of a computed specifier ${specifier} cannot be checked`);
      continue;
    }
    const relativeSpecifier = specifier.startsWith('.');
    const target = relativeSpecifier ? resolveRelative(path, specifier) : undefined;
    if (inCli) {
      if (target !== undefined) {
        const allowed = CLI_MAY_IMPORT.includes(target) || (file === BROWSER_BUNDLE_ENTRY && BROWSER_BUNDLE_MAY_IMPORT.includes(target));
        if (!target.startsWith('cli/') && !allowed) out.push(`${file}: ${form} ${target} (the CLI uses the library through src/index.ts)`);
      } else if (!isBuiltin(specifier) && !DEPENDENCIES.has(packageName(specifier))) {
        out.push(`${file}: ${form} ${specifier} (not a dependency of the package)`);
      } else if (isBuiltin(specifier) && !specifier.startsWith('node:')) {
        out.push(`${file}: ${form} ${specifier} (Node built-ins are imported as node:${specifier})`);
      }
    }
    if (inCore) {
      if (target !== undefined) {
        if (!isCore(target)) out.push(`${file}: ${form} ${target} (the core imports only the core)`);
      } else if (form === '/// <reference types>' && specifier === 'node') {
        out.push(`${file}: ${form} node (Node's types in the core)`);
      } else {
        out.push(`${file}: ${form} ${specifier} (${isBuiltin(specifier) ? 'a Node built-in' : 'a package'} in the core)`);
      }
    }
  }
  if (inCore) for (const name of nodeGlobalsOf(path, text)) out.push(`${file}: global ${name} (a Node-only global in the core)`);
  return out;
}

function allViolations(): string[] {
  return sourceFiles(SRC)
    .flatMap((path) => violationsOf(path, readFileSync(path, 'utf8')))
    .sort();
}

describe('architecture: the checker reads every kind of import', () => {
  const cliFile = join(SRC, 'cli', 'commands', 'probe.ts');
  const coreFile = join(SRC, 'npz', 'probe.ts');
  const cases: Array<[string, string, string, string]> = [
    ['CLI static import of an internal', cliFile, "import { openNpz } from '../../npz/open.js';", 'cli/commands/probe.ts: import npz/open.ts'],
    ['CLI import type of an internal', cliFile, "import type { ZipEntry } from '../../zip/random/archive.js';", 'cli/commands/probe.ts: import type zip/random/archive.ts'],
    ['CLI import of only types by name', cliFile, "import { type ZipEntry } from '../../zip/random/archive.js';", 'cli/commands/probe.ts: import type zip/random/archive.ts'],
    ['CLI re-export of an internal', cliFile, "export { Crc32 } from '../../zip/write/crc32.js';", 'cli/commands/probe.ts: export from zip/write/crc32.ts'],
    ['CLI dynamic import', cliFile, "const m = await import('../../node/files.js');", "cli/commands/probe.ts: import() node/files.ts"],
    ['CLI import() type', cliFile, "let x: import('../../io/platform.js').Platform;", "cli/commands/probe.ts: import('…') type io/platform.ts"],
    ['CLI require', cliFile, "const m = require('../../node/platform.js');", 'cli/commands/probe.ts: require node/platform.ts'],
    ['CLI computed dynamic import', cliFile, 'const m = await import(name);', 'computed specifier'],
    ['CLI package that is not a dependency', cliFile, "import yazl from 'yazl';", 'cli/commands/probe.ts: import yazl (not a dependency'],
    ['core node: import', coreFile, "import { open } from 'node:fs/promises';", 'npz/probe.ts: import node:fs/promises (a Node built-in'],
    ['core unprefixed built-in', coreFile, "import { join } from 'path';", 'npz/probe.ts: import path (a Node built-in'],
    ['core import type from node:', coreFile, "import type { Writable } from 'node:stream';", 'npz/probe.ts: import type node:stream'],
    ['core dynamic node: import', coreFile, "const zlib = await import('node:zlib');", 'npz/probe.ts: import() node:zlib'],
    ['core undici', coreFile, "import { Agent } from 'undici';", 'npz/probe.ts: import undici (a package in the core)'],
    ['core importing an adapter', coreFile, "import { nodePlatform } from '../node/platform.js';", 'npz/probe.ts: import node/platform.ts (the core imports only the core)'],
    ['core importing the entry', coreFile, "import { openNpz } from '../index.js';", 'npz/probe.ts: import index.ts'],
    ['core reference to Node types', coreFile, '/// <reference types="node" />\nexport {};', 'npz/probe.ts: /// <reference types> node'],
    ['core Buffer global', coreFile, 'export const b = Buffer.from([1]);', 'npz/probe.ts: global Buffer'],
    ['core process global', coreFile, 'export const e = process.env;', 'npz/probe.ts: global process'],
    ['core Buffer type', coreFile, 'export let b: Buffer | undefined;', 'npz/probe.ts: global Buffer'],
  ];
  for (const [label, path, text, expected] of cases) {
    it(`flags ${label}`, () => {
      expect(violationsOf(path, text).join('\n')).toContain(expected);
    });
  }

  it('lets the CLI use the entry, the paligemma entry, its own files, node: built-ins and dependencies', () => {
    const text = [
      "import { openNpz } from '../../index.js';",
      "import { paligemmaSpec } from '../../paligemma/index.js';",
      "import { usageError } from '../args.js';",
      "import { stat } from 'node:fs/promises';",
      "import chain from 'stream-chain';",
    ].join('\n');
    expect(violationsOf(cliFile, text)).toEqual([]);
  });

  it('lets only the static viewer\'s worker use the browser entry, and nothing else of it', () => {
    const browserEntry = "import { openNpz } from '../../../browser/index.js';";
    expect(violationsOf(join(SRC, 'cli', 'view', 'static', 'worker.ts'), browserEntry)).toEqual([]);
    expect(violationsOf(join(SRC, 'cli', 'view', 'static', 'worker.ts'), "import { blobSource } from '../../../browser/blob-source.js';").join('\n')).toContain('browser/blob-source.ts');
    expect(violationsOf(join(SRC, 'cli', 'view', 'static', 'other.ts'), browserEntry).join('\n')).toContain('cli/view/static/other.ts: import browser/index.ts');
    expect(violationsOf(cliFile, "import { openNpz } from '../../browser/index.js';").join('\n')).toContain('cli/commands/probe.ts: import browser/index.ts');
  });

  it('lets the core use the core, and names that merely look like Node globals', () => {
    const text = [
      "import { NpzError } from '../errors.js';",
      "import type { Platform } from '../io/platform.js';",
      "import { ZipWriter } from '../zip/writer.js';",
      'export const o = { process: 1, Buffer: 2 };',
      'export function f(x: { process(): void }) { x.process(); return o.Buffer; }',
    ].join('\n');
    expect(violationsOf(coreFile, text)).toEqual([]);
  });
});

describe('architecture: the tree', () => {
  const violations = allViolations();

  it('src/cli/ imports only src/index.ts, src/paligemma/index.ts, its own files, node: built-ins and dependencies', () => {
    expect(violations.filter((line) => line.startsWith('cli/'))).toEqual([]);
  });

  it('the core imports no node: module, no package, no adapter and no Node-only global', () => {
    expect(violations.filter((line) => !line.startsWith('cli/'))).toEqual([]);
  });
});
