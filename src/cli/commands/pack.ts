import { open, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { NpzError, decodeNpyHeader, isNpzError, npyHeaderLength, saveNpz, type DecodeNpyHeaderOptions, type LazyArray, type NpyHeader } from '../../index.js';
import { flag, stringOption, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, type CliContext, type Command } from '../context.js';
import type { Progress } from '../progress.js';
import { formatBytes } from '../table.js';

/**
 * The inverse of extract: every DIR/**\/*.npy becomes the array named by its path relative to DIR (without
 * '.npy', '/' between directories). Headers are copied field for field (descr as written, raw descrs included)
 * and the data is streamed from each file, so the archive equals np.savez of those arrays in big_vision order.
 */

const READ_CHUNK = 4 * 1024 * 1024;

async function findNpyFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (directory: string): Promise<void> => {
    for (const dirent of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, dirent.name);
      // Symlinked directories are not followed, so a link cycle cannot make the walk endless.
      if (dirent.isDirectory()) await walk(path);
      else if (dirent.name.endsWith('.npy') && dirent.name !== '.npy' && (dirent.isFile() || (dirent.isSymbolicLink() && (await stat(path)).isFile()))) {
        found.push(path);
      }
    }
  };
  await walk(root);
  return found;
}

async function readHeader(path: string, name: string, options: DecodeNpyHeaderOptions): Promise<{ header: NpyHeader; fileSize: number }> {
  const handle = await open(path, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const prefix = new Uint8Array(Math.min(12, fileSize));
    await handle.read(prefix, 0, prefix.length, 0);
    const length = npyHeaderLength(prefix, options);
    const bytes = new Uint8Array(length);
    const { bytesRead } = await handle.read(bytes, 0, length, 0);
    if (bytesRead < length) throw new NpzError('ERR_NPY_TRUNCATED', `the header needs ${length} bytes, the file has ${bytesRead}`);
    const header = decodeNpyHeader(bytes, options);
    if (fileSize !== header.headerLength + header.byteLength) {
      throw new NpzError('ERR_NPY_SIZE_MISMATCH', `shape and dtype need ${header.byteLength} data bytes, the file holds ${fileSize - header.headerLength}`, {
        expected: header.byteLength,
        actual: fileSize - header.headerLength,
      });
    }
    return { header, fileSize };
  } catch (error) {
    if (!isNpzError(error)) throw error;
    throw new NpzError(error.code, `${path}: ${error.message}`, { entry: name, cause: error });
  } finally {
    await handle.close();
  }
}

function fileLeaf(path: string, header: NpyHeader, progress: Progress, signal: AbortSignal): LazyArray {
  return {
    dtype: header.dtype,
    descr: header.descr,
    shape: header.shape,
    fortranOrder: header.fortranOrder,
    async *chunks() {
      const handle = await open(path, 'r');
      try {
        for (let position = header.headerLength; position < header.headerLength + header.byteLength; ) {
          if (signal.aborted) throw signal.reason;
          const size = Math.min(READ_CHUNK, header.headerLength + header.byteLength - position);
          // A fresh buffer per chunk: once yielded it belongs to the writer.
          const chunk = new Uint8Array(size);
          const { bytesRead } = await handle.read(chunk, 0, size, position);
          if (bytesRead === 0) throw new NpzError('ERR_NPY_TRUNCATED', `${path} became shorter while it was read`);
          position += bytesRead;
          progress.add(bytesRead, path);
          yield bytesRead === size ? chunk : chunk.subarray(0, bytesRead);
        }
      } finally {
        await handle.close();
      }
    },
  };
}

type Tree = { [key: string]: Tree | LazyArray };

/** Nested by path segment: saveNpz's flatten then orders it the big_vision way (keys sorted at each level). */
function insert(tree: Tree, segments: readonly string[], leaf: LazyArray, name: string): void {
  let node = tree;
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    const existing = Object.hasOwn(node, segment) ? node[segment] : undefined;
    if (last) {
      if (existing !== undefined) throw new NpzError('ERR_TREE_DUPLICATE_NAME', `${name}.npy and the directory ${name}/ both give the name ${JSON.stringify(name)}`, { entry: name });
      Object.defineProperty(node, segment, { value: leaf, enumerable: true, writable: true, configurable: true });
      return;
    }
    if (existing !== undefined && typeof (existing as Partial<LazyArray>).chunks === 'function') {
      const prefix = segments.slice(0, index + 1).join('/');
      throw new NpzError('ERR_TREE_DUPLICATE_NAME', `${prefix}.npy and the directory ${prefix}/ both give the name ${JSON.stringify(prefix)}`, { entry: prefix });
    }
    if (existing === undefined) Object.defineProperty(node, segment, { value: {}, enumerable: true, writable: true, configurable: true });
    node = node[segment] as Tree;
  }
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const [root, ...extra] = parsed.positionals;
  const output = stringOption(parsed, 'output');
  if (root === undefined || extra.length > 0) throw usageError('pack takes one DIR and -o FILE');
  if (output === undefined) throw usageError('pack needs an output file: -o FILE');
  if (!(await stat(root).catch(() => undefined))?.isDirectory()) throw usageError(`${root} is not a directory`);

  const paths = await findNpyFiles(root);
  if (paths.length === 0) context.warn(`no .npy files under ${root}; writing an empty archive`);
  const total = { bytes: 0 };
  const progress = context.progress('pack', 0);
  const tree: Tree = {};
  for (const path of paths) {
    const name = relative(root, path).split(sep).join('/').slice(0, -'.npy'.length);
    const { header } = await readHeader(path, name, context.read.maxHeaderSize === undefined ? {} : { maxHeaderSize: context.read.maxHeaderSize });
    total.bytes += header.byteLength;
    insert(tree, name.split('/'), fileLeaf(path, header, progress, context.signal), name);
  }
  progress.setTotal(total.bytes);
  let summary;
  try {
    summary = await saveNpz(output, tree, { compress: flag(parsed, 'compress'), signal: context.signal });
  } finally {
    progress.finish();
  }
  if (context.json) {
    context.printJson({ directory: root, output, arrays: summary.entries, bytesWritten: summary.bytesWritten, names: summary.names });
  } else {
    context.print(`packed ${summary.entries} array${summary.entries === 1 ? '' : 's'} into ${output} (${formatBytes(summary.bytesWritten)})`);
  }
  return EXIT_OK;
}

export const packCommand: Command = {
  name: 'pack',
  synopsis: 'pack DIR -o FILE',
  summary: 'build an npz from DIR/**/*.npy, byte-identical to np.savez',
  details:
    "Array names are the paths relative to DIR without '.npy'. Members are written in big_vision flatten order:\n" +
    'the names as a tree, keys sorted by code point at every level (so a/b comes before a.c). Each header keeps\n' +
    'its descr, shape and order; np.savez of the loaded arrays in that order gives the same bytes.',
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'the .npz to write (atomically)' },
    compress: { type: 'boolean', description: 'deflate members, like np.savez_compressed' },
  },
  run,
};
