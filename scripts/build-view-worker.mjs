// Bundles the static viewer's worker (src/cli/view/static/worker.ts) into dist/cli/view/assets/worker.js, run by
// `npm run build` after tsc. The viewer's shared modules import the library through src/index.ts, the Node entry;
// here that one module is replaced by src/browser/index.ts, the browser entry, which exports the same names over the
// same core (a name only Node's entry has fails the build: esbuild refuses a missing export). Nothing from
// node_modules and no Node built-in may end up in the bundle: the build fails if one does.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { relative, sep } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const nodeEntry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const browserEntry = fileURLToPath(new URL('../src/browser/index.ts', import.meta.url));

const browserLibrary = {
  name: 'npz-stream-browser-entry',
  setup(builder) {
    builder.onResolve({ filter: /(^|\/)index\.js$/ }, (args) => {
      if (args.kind === 'entry-point' || !args.path.startsWith('.')) return undefined;
      const target = fileURLToPath(new URL(args.path.replace(/\.js$/, '.ts'), `file://${args.resolveDir}/`));
      return target === nodeEntry ? { path: browserEntry } : undefined;
    });
  },
};

export const result = await build({
  entryPoints: [fileURLToPath(new URL('../src/cli/view/static/worker.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('../dist/cli/view/assets/worker.js', import.meta.url)),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  metafile: true,
  plugins: [browserLibrary],
  logLevel: 'warning',
});

const outside = Object.keys(result.metafile.inputs).filter((input) => !relative(root, input).split(sep).join('/').startsWith('src/') || input.includes('node_modules'));
const nodeOnly = Object.keys(result.metafile.inputs).filter((input) => /^src\/(node|cli\/commands)\/|^src\/index\.ts$/.test(input));
if (outside.length > 0 || nodeOnly.length > 0) {
  console.error(`the static viewer's worker bundles modules it must not: ${[...outside, ...nodeOnly].join(', ')}`);
  process.exit(1);
}
