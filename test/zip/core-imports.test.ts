/**
 * The zip core runs on any host: it takes CRC-32 and deflate as `Codecs` and writes to a `ByteSink`, and imports
 * no Node built-in, no adapter (src/node/) and uses no Node-only global. Node's implementations live in src/node/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });
}

const CORE = [...files(join(SRC, 'zip')), join(SRC, 'io', 'codecs.ts'), join(SRC, 'io', 'sink.ts')];

/** Import specifiers of a module, static and dynamic. */
function imports(text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((match) => match[1] as string);
}

/** Code without comments, so prose may name what the code must not use. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

describe('the zip core', () => {
  it('is grouped by job: format/, random/, stream/, write/', () => {
    expect(readdirSync(join(SRC, 'zip')).sort()).toEqual(['format', 'random', 'stream', 'write']);
  });

  it.each(CORE.map((path) => [relative(SRC, path), path]))('%s imports no node: module and no adapter, and uses no Node-only global', (_, path) => {
    const text = readFileSync(path, 'utf8');
    for (const specifier of imports(text)) {
      expect(specifier, specifier).not.toMatch(/^node:|^(fs|zlib|stream|path|os|crypto|buffer|util)$|\/node\/|^undici/);
    }
    expect(code(text)).not.toMatch(/\b(Buffer|process|setImmediate|require)\b/);
  });
});
