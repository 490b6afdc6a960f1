import { createRequire } from 'node:module';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/**
 * The node child runs as plain JavaScript: tsx's loader runs on a thread of its own and adds ~40 MB to every
 * peak RSS, which would blur the memory targets. So the child is transpiled once per run, and its imports are
 * pinned to absolute URLs (the built package, yazl, yauzl), since the copy lives outside the repository.
 */
export function childImportMap(repoRoot: string): Record<string, string> {
  const require = createRequire(join(repoRoot, 'package.json'));
  return {
    '../../dist/index.js': pathToFileURL(join(repoRoot, 'dist/index.js')).href,
    yazl: pathToFileURL(require.resolve('yazl')).href,
    yauzl: pathToFileURL(require.resolve('yauzl')).href,
  };
}

/**
 * `child` (a file under bench/cases/) as plain JavaScript in `outDir`, importing the package built in
 * `packageRoot` (default: this repository; bench/one-shot.ts points it at another build to compare the two).
 */
export async function transpileChild(repoRoot: string, outDir: string, child = 'node-case', packageRoot = repoRoot): Promise<string> {
  const source = await readFile(join(repoRoot, `bench/cases/${child}.ts`), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  });
  const map: Record<string, string> = {
    ...childImportMap(packageRoot),
    '../../dist/paligemma/index.js': pathToFileURL(join(packageRoot, 'dist/paligemma/index.js')).href,
  };
  const unmapped: string[] = [];
  const code = outputText.replace(/(\bfrom\s+|\bimport\s+)(['"])([^'"]+)\2/g, (whole, keyword: string, quote: string, specifier: string) => {
    if (specifier.startsWith('node:')) return whole;
    const target = map[specifier];
    if (target === undefined) {
      unmapped.push(specifier);
      return whole;
    }
    return `${keyword}${quote}${target}${quote}`;
  });
  if (unmapped.length > 0) throw new Error(`bench/cases/${child}.ts imports ${unmapped.join(', ')}; add them to childImportMap`);
  const path = join(outDir, `${child}.mjs`);
  await writeFile(path, code);
  return path;
}
