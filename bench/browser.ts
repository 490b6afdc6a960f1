/**
 * The browser entry's numbers, in headless chromium against Node on the same machine (docs/browser.md):
 *
 *   npm run build && node --import tsx bench/browser.ts [--size-only | --crc-only]
 *
 * - CRC-32 of 256 MiB: the browser build's slicing-by-16 in chromium against Node's zlib.crc32 (best of 5 each);
 * - chunks() of a 1 GiB stored member and of a 256 MiB deflated one, from a File chosen through <input type="file">
 *   against the same file through Node's openNpz (best of 3 each);
 * - the size of npz-stream/browser bundled and minified by esbuild, raw and gzipped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { openNpz, saveNpz, type LazyArray } from '../dist/index.js';
import { ROOT, launchBrowser, openPage, startServer } from '../test/browser/harness.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

async function bundleSize(): Promise<{ minified: number; gzipped: number }> {
  const result = await build({
    entryPoints: [join(ROOT, 'dist/browser/index.js')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]!.contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

/** A member of `bytes` bytes whose data repeats a 1 MiB block of mixed bytes (compresses about 1.1:1 per block). */
function lazyBytes(bytes: number): LazyArray {
  const block = new Uint8Array(MiB);
  let x = 12345;
  for (let i = 0; i < block.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    block[i] = i % 3 === 0 ? 0 : x >>> 24;
  }
  return {
    dtype: 'uint8',
    shape: [bytes],
    *chunks() {
      for (let at = 0; at < bytes; at += MiB) yield block.slice(0, Math.min(MiB, bytes - at));
    },
  };
}

const best = (values: number[]): number => Math.max(...values);
const gbps = (bytes: number, ms: number): number => bytes / 1e9 / (ms / 1000);

async function main(): Promise<void> {
  const size = await bundleSize();
  console.log(`bundle: ${(size.minified / 1024).toFixed(1)} KiB minified, ${(size.gzipped / 1024).toFixed(1)} KiB gzipped`);
  if (process.argv.includes('--size-only')) return;
  const crcOnly = process.argv.includes('--crc-only');

  const dir = mkdtempSync(join(tmpdir(), 'npz-bench-browser-'));
  try {
    const stored = join(dir, 'stored.npz');
    const deflated = join(dir, 'deflated.npz');
    if (!crcOnly) {
      await saveNpz(stored, { big: lazyBytes(GiB) });
      await saveNpz(deflated, { big: lazyBytes(256 * MiB) }, { compress: true });
    }

    const nodeCrc: number[] = [];
    const data = new Uint8Array(256 * MiB);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      zlibCrc32(data, 0);
      nodeCrc.push(gbps(data.length, performance.now() - t));
    }
    const nodeChunks = async (path: string): Promise<number> => {
      const runs: number[] = [];
      for (let r = 0; r < 3; r++) {
        const file = await openNpz(path);
        const t = performance.now();
        let total = 0;
        for await (const chunk of file.chunks('big')) total += chunk.length;
        runs.push(gbps(total, performance.now() - t));
        await file.close();
      }
      return best(runs);
    };
    const nodeStored = crcOnly ? 0 : await nodeChunks(stored);
    const nodeDeflated = crcOnly ? 0 : await nodeChunks(deflated);

    const server = await startServer({ files: dir });
    const browser = await launchBrowser();
    try {
      const { page } = await openPage(browser, server);
      await page.addScriptTag({ type: 'module', url: '/page/run.js' });
      await page.waitForFunction('window.npzTestReady === true');
      if (!crcOnly) await page.setInputFiles('#picker', [stored, deflated]);
      const inPage = (await page.evaluate(`(async () => {
        const { lib, picked } = window.npzTest;
        const { crc32 } = await import('/dist/browser/crc32.js');
        const gbps = (bytes, ms) => bytes / 1e9 / (ms / 1000);
        const data = new Uint8Array(${256 * MiB});
        for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
        const crc = [];
        for (let r = 0; r < 5; r++) { const t = performance.now(); crc32(data, 0); crc.push(gbps(data.length, performance.now() - t)); }
        if (${crcOnly}) return { crc: Math.max(...crc), stored: 0, deflated: 0, streamedDeflated: 0 };
        const chunks = async (name) => {
          const runs = [];
          for (let r = 0; r < 3; r++) {
            const file = await lib.openNpz(picked(name));
            const t = performance.now();
            let total = 0;
            for await (const chunk of file.chunks('big')) total += chunk.length;
            runs.push(gbps(total, performance.now() - t));
            await file.close();
          }
          return Math.max(...runs);
        };
        // The deflated member read front to back: the TypeScript inflater (a stream has no second pass).
        const streamed = [];
        for (let r = 0; r < 2; r++) {
          const t = performance.now();
          let total = 0;
          for await (const entry of lib.streamNpz(picked('deflated.npz'))) if (entry.isArray) for await (const c of entry.chunks()) total += c.length;
          streamed.push(gbps(total, performance.now() - t));
        }
        return { crc: Math.max(...crc), stored: await chunks('stored.npz'), deflated: await chunks('deflated.npz'), streamedDeflated: Math.max(...streamed) };
      })()`)) as { crc: number; stored: number; deflated: number; streamedDeflated: number };
      console.log(`CRC-32 of 256 MiB: chromium ${inPage.crc.toFixed(2)} GB/s, Node zlib.crc32 ${best(nodeCrc).toFixed(2)} GB/s`);
      if (crcOnly) return;
      console.log(`chunks() of a 1 GiB stored member: chromium from a File ${inPage.stored.toFixed(2)} GB/s, Node from the path ${nodeStored.toFixed(2)} GB/s`);
      console.log(
        `chunks() of a 256 MiB deflated member: chromium (DecompressionStream) ${inPage.deflated.toFixed(2)} GB/s, Node (zlib) ${nodeDeflated.toFixed(2)} GB/s; ` +
          `streamNpz in chromium (TypeScript inflater) ${inPage.streamedDeflated.toFixed(2)} GB/s`,
      );
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
