import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NpzError } from '../../index.js';

/**
 * `npz-stream view --static DIR`: the viewer as a static page that needs no server of ours. It opens files chosen or
 * dropped in the page, or URLs beside it, and computes everything in a Worker with the same code the server runs.
 * Written: DIR/index.html and DIR/assets/ (app.js, format.js, local.js, style.css, and worker.js, the worker with
 * the browser build of the library bundled in).
 */

/** The page's assets, as the build leaves them beside this module. */
export const STATIC_ASSETS = ['app.js', 'format.js', 'local.js', 'style.css', 'worker.js'] as const;

/**
 * Only this origin, for everything: scripts, styles, the worker, and every fetch (URLs beside the page). A meta tag
 * cannot carry frame-ancestors; a host that wants that sends the header.
 */
export const STATIC_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

/** The page; `bins` (an integer from 1 to 1000) sets the histogram's bins, as `view --bins` does. */
export function staticPage(options: { bins?: number } = {}): string {
  const bins = options.bins !== undefined && Number.isInteger(options.bins) ? `\n<meta name="npz-view-bins" content="${options.bins}">` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${STATIC_CSP}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="npz-view-mode" content="static">${bins}
<title>npz-stream view</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/style.css">
<script type="module" src="assets/app.js"></script>
</head>
<body>
<header class="top">
  <span class="brand">npz-stream view</span>
  <nav id="tabs" aria-label="views"></nav>
</header>
<main id="main"><p class="loading">Loading…</p></main>
</body>
</html>
`;
}

/** Writes `text` to `path` through a temporary file beside it, so `path` is never half-written. */
async function writeWhole(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Writes the static viewer into `dir` (created if missing; these files are replaced, nothing else is touched). */
export async function writeStaticViewer(dir: string, options: { bins?: number } = {}): Promise<string[]> {
  const bodies = await Promise.all(
    STATIC_ASSETS.map((name) =>
      readFile(new URL(`./assets/${name}`, import.meta.url)).catch((error: unknown) => {
        throw new NpzError('ERR_IO', `the viewer's ${name} is missing beside ${new URL('./assets/', import.meta.url).pathname} (build the package: npm run build)`, { cause: error });
      }),
    ),
  );
  await mkdir(join(dir, 'assets'), { recursive: true });
  const written: string[] = [];
  for (const [index, name] of STATIC_ASSETS.entries()) {
    await writeWhole(join(dir, 'assets', name), bodies[index]!);
    written.push(`assets/${name}`);
  }
  // The page last: until it exists, nothing points at a half-updated set of assets.
  await writeWhole(join(dir, 'index.html'), staticPage(options));
  written.push('index.html');
  return written;
}
