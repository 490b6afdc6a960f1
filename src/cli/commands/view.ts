import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileSource, httpSource, type RandomAccessSource } from '../../index.js';
import { flag, stringOption, usageError, type ParsedCommandLine } from '../args.js';
import { EXIT_OK, rootError, type CliContext, type Command } from '../context.js';
import { inputLabel, isUrlInput, openInput, type TensorEntry } from '../npz-input.js';
import { streamedBoxReader } from '../view/preview.js';
import { rangeBoxReader } from '../view/raw-boxes.js';
import { startViewServer, type ViewFile } from '../view/server.js';
import { writeStaticViewer } from '../view/static-site.js';

/**
 * `npz-stream view FILE [FILE2]`: a local web page over one checkpoint, or over what changed between two. The
 * server stays up until Ctrl-C; a file that cannot be opened is reported on the page rather than ending the
 * command, since looking at what is wrong is the point.
 */

/**
 * Sources of the raw bytes of an input, opened when a preview first needs one and closed with the command: the
 * file or URL itself, or for a local shard index the shard beside it that holds the tensor.
 */
class RawSources {
  readonly #opened = new Map<string, Promise<RandomAccessSource | undefined>>();

  constructor(readonly context: CliContext) {}

  sourceOf(input: string): (entry: TensorEntry) => Promise<RandomAccessSource | undefined> {
    return async (entry) => {
      const shard = 'shard' in entry && typeof entry.shard === 'string' ? entry.shard : undefined;
      let location: string | undefined = input;
      if (shard !== undefined) location = isUrlInput(input) ? undefined : join(dirname(input), shard);
      if (location === undefined) return undefined;
      let source = this.#opened.get(location);
      if (source === undefined) {
        const http = this.context.read.http;
        source = (isUrlInput(location) ? httpSource(location, { ...http, signal: this.context.signal }) : fileSource(location)).catch(() => undefined);
        this.#opened.set(location, source);
      }
      return source;
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#opened.values()].map(async (source) => (await source)?.close()));
  }
}

/**
 * Whether a local file starts as a checkpoint the readers take would: a ZIP record, an npy magic, a
 * safetensors header length followed by '{', or JSON (a shard index). A damaged checkpoint still starts so.
 */
async function looksLikeCheckpoint(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(9);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const start = head.subarray(0, bytesRead);
    if (start.length >= 2 && start[0] === 0x50 && start[1] === 0x4b) return true;
    if (start.length >= 6 && start.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1'))) return true;
    if (start.length === 9 && start[8] === 0x7b) return true;
    return /^\s*[{[]/.test(start.toString('latin1'));
  } finally {
    await handle.close();
  }
}

/**
 * A path or URL (npz or safetensors, as every reading command takes); URLs are shown without credentials. A
 * damaged checkpoint is opened for the page, which shows what is wrong; a local path that does not exist, cannot
 * be read, or is not a checkpoint at all ends the command before it serves (exit 2).
 */
async function openForView(input: string, context: CliContext, raw: RawSources): Promise<ViewFile> {
  const path = inputLabel(input);
  const size = isUrlInput(input)
    ? undefined
    : await stat(input).then(
        (info) => info.size,
        () => undefined,
      );
  try {
    const file = await openInput(input, context);
    const readBoxes = rangeBoxReader(raw.sourceOf(input), streamedBoxReader(file));
    return { path, file, readBoxes, ...(size === undefined ? {} : { size }) };
  } catch (caught) {
    const error = rootError(caught);
    if (error.code === 'ERR_ABORTED') throw error;
    if (!isUrlInput(input) && input !== '-') {
      if (error.code === 'ERR_IO') throw error;
      if (!(await looksLikeCheckpoint(input).catch(() => false))) {
        throw usageError(`${path} is not a checkpoint (npz, safetensors, or a shard index): ${error.message}`);
      }
    }
    context.warn(`cannot read ${path}: ${error.message} [${error.code}]; the page shows the error`);
    return { path, error: { code: error.code, message: error.message }, ...(size === undefined ? {} : { size }) };
  }
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return 0;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw usageError(`--port needs a number from 0 to 65535, got ${JSON.stringify(text)}`);
  return port;
}

function parseBins(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bins = Number(text);
  if (!/^\d+$/.test(text) || bins < 1 || bins > 1000) throw usageError(`--bins needs a number from 1 to 1000, got ${JSON.stringify(text)}`);
  return bins;
}

/** The system's browser, when there is one; failing to find it is not an error (the URL is printed). */
function openBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No opener: the printed URL is enough.
  }
}

/** `view --static DIR`: writes the page that needs no server, and prints how to use it. */
async function writeStatic(dir: string, parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  if (dir === '') throw usageError('--static needs a directory to write the page into');
  if (parsed.positionals.length > 0) throw usageError('view --static DIR takes no FILE: the page opens files chosen in it, or URLs beside it');
  if (stringOption(parsed, 'port') !== undefined || flag(parsed, 'open')) throw usageError('--static writes files and starts no server; --port and --open do not apply');
  const bins = parseBins(stringOption(parsed, 'bins'));
  const written = await writeStaticViewer(dir, bins === undefined ? {} : { bins });
  context.print(join(dir, 'index.html'));
  context.note(`wrote ${written.length} files into ${dir}; serve the directory over http(s) (any static server) and open index.html`);
  return EXIT_OK;
}

async function run(parsed: ParsedCommandLine, context: CliContext): Promise<number> {
  const staticDir = stringOption(parsed, 'static');
  if (staticDir !== undefined) return writeStatic(staticDir, parsed, context);
  const paths = parsed.positionals;
  if (paths.length < 1 || paths.length > 2) throw usageError('view takes one FILE, or two (A and B) to see what changed');
  const port = parsePort(stringOption(parsed, 'port'));
  const bins = parseBins(stringOption(parsed, 'bins'));
  const files: ViewFile[] = [];
  const raw = new RawSources(context);
  try {
    for (const path of paths) files.push(await openForView(path, context, raw));
    const server = await startViewServer({
      files,
      port,
      ...(bins === undefined ? {} : { bins }),
      log: (line) => context.note(line),
    }).catch((caught: unknown) => {
      const code = (caught as { code?: unknown }).code;
      throw code === 'EADDRINUSE' ? usageError(`port ${port} is in use; pick another with --port, or leave it out for a free one`) : caught;
    });
    context.print(server.url);
    context.note(`serving ${paths.map(inputLabel).join(' and ')} on 127.0.0.1:${server.port}; press Ctrl-C to stop`);
    if (flag(parsed, 'open')) openBrowser(server.url);
    await new Promise<void>((resolve) => {
      if (context.signal.aborted) resolve();
      else context.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    return EXIT_OK;
  } finally {
    await Promise.all([...files.map((view) => view.file?.close()), raw.close()]);
  }
}

export const viewCommand: Command = {
  name: 'view',
  synopsis: 'view FILE [FILE2]',
  summary: 'a local web page: what is in a checkpoint, or what changed between two',
  details:
    'Serves a page on 127.0.0.1 and prints its URL (with a random token) as the first line of stdout; Ctrl-C stops\n' +
    'it. Overview: totals, bytes by dtype and subtree, the parameter tree, every tensor; per tensor: stats, a\n' +
    'histogram and the first values. With two files the page opens on the diff, tensors ordered by\n' +
    '||a - b|| / ||a||. All data is computed by the server, streamed; nothing is fetched from the network.\n' +
    'With --static DIR it writes the same page as static files instead (index.html, assets/): served from any\n' +
    'web server, it opens files chosen or dropped in the page, or URLs beside it, and computes in the page.',
  options: {
    port: { type: 'string', value: 'N', description: 'listen on this port (default: a free one)' },
    open: { type: 'boolean', description: "open the system's browser on the page" },
    bins: { type: 'string', value: 'N', description: 'histogram bins (default 64)' },
    static: { type: 'string', value: 'DIR', description: 'write the page as static files into DIR (no server) and exit' },
  },
  run,
};
