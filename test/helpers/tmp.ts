import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The one way tests get scratch space: a fresh `npz-<label>-XXXXXX` directory they remove themselves. */
export interface TempDir {
  readonly path: string;
  /** A path inside the directory. */
  file(name: string): string;
  remove(): void;
}

/** A fresh directory under the OS temp dir, or under `parent` (a case directory inside a test's own root). */
export function makeTempDir(label: string, parent: string = tmpdir()): TempDir {
  const path = mkdtempSync(join(parent, `npz-${label}-`));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs `work` in a fresh directory that is removed afterwards, however `work` ends (sync or async). */
export function withTempDir<T>(label: string, work: (dir: TempDir) => T): T {
  const dir = makeTempDir(label);
  let result: T;
  try {
    result = work(dir);
  } catch (error) {
    dir.remove();
    throw error;
  }
  if (result instanceof Promise) return result.finally(() => dir.remove()) as T;
  dir.remove();
  return result;
}
