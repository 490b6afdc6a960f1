import { lstat, mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { NpzError } from '../index.js';

/**
 * Turning archive names into file paths without letting a hostile name escape the output directory.
 */

/** Why an archive name cannot be a relative path under the output directory, or undefined when it can. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'the name is empty';
  if (name.includes('\0')) return 'the name contains a NUL character';
  if (name.includes('\\')) return 'the name contains a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'the name is an absolute path';
  const segments = name.split('/');
  if (segments.some((segment) => segment === '..')) return "the name contains a '..' segment";
  if (segments.some((segment) => segment === '' || segment === '.')) return "the name has an empty or '.' segment";
  return undefined;
}

/**
 * The path for `name` + `suffix` under `root`, creating its parent directories one at a time. Throws
 * ERR_TREE_KEY for unsafe names, and when a directory on the way is a symlink (it could lead anywhere), so
 * nothing is created or written outside `root`.
 */
export async function safeTarget(root: string, name: string, suffix: string): Promise<string> {
  const refuse = (why: string): NpzError => new NpzError('ERR_TREE_KEY', `refusing to write ${JSON.stringify(name)}: ${why}`, { entry: name });
  const reason = unsafeNameReason(name);
  if (reason !== undefined) throw refuse(reason);
  const segments = name.split('/');
  let directory = await realpath(root);
  for (const segment of segments.slice(0, -1)) {
    directory = join(directory, segment);
    let info = await lstat(directory).catch(() => undefined);
    if (info === undefined) {
      await mkdir(directory).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      info = await lstat(directory);
    }
    if (info.isSymbolicLink()) throw refuse(`${directory} is a symbolic link`);
    if (!info.isDirectory()) throw refuse(`${directory} exists and is not a directory`);
  }
  return join(directory, `${segments.at(-1)!}${suffix}`);
}
