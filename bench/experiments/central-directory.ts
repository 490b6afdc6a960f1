/**
 * `node --import tsx bench/experiments/central-directory.ts [--members 70000] [--runs 3]`
 *
 * Why npz-stream decodes the central directory itself instead of through yauzl: the same in-memory `np.savez`
 * archive of MEMBERS tiny arrays (zip64 end records past 65535), its directory walked by yauzl 3.4.0 (`fromBuffer`
 * with lazy entries, its fastest path: no file I/O) and by our decoder (`readCentralDirectory` over a
 * `bufferSource`), in one process, alternating, RUNS times each. Then, for scale, `openNpz` on the file (directory
 * plus every npy header, counting `read()` calls) and `np.load(path).files` inside Python.
 * Wall times on a shared machine are indicative only; the read count does not depend on load.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import yauzl from 'yauzl';
import { openNpz, type RandomAccessSource } from '../../src/index.js';
import { bufferSource, fileSource } from '../../src/index.js';
import { readCentralDirectory } from '../../src/zip/random/central-directory.js';

const { values } = parseArgs({ options: { members: { type: 'string', default: '70000' }, runs: { type: 'string', default: '3' } } });
const members = Number(values.members);
const runs = Number(values.runs);
const python = process.env.PYTHON ?? 'python3';

function yauzlWalk(bytes: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      let count = 0;
      zip.on('entry', () => {
        count += 1;
        zip.readEntry();
      });
      zip.on('end', () => resolve(count));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

async function timed<T>(work: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await work();
  return [performance.now() - start, result];
}

const range = (ms: number[]): string => `${Math.round(Math.min(...ms))}–${Math.round(Math.max(...ms))} ms`;

const dir = mkdtempSync(join(tmpdir(), 'bench-cd-'));
try {
  const path = join(dir, 'many.npz');
  const made = spawnSync(python, ['-c', `import numpy as np\nnp.savez(${JSON.stringify(path)}, **{f'a{i}': np.arange(i % 3, dtype=np.float32) for i in range(${members})})`]);
  if (made.status !== 0) throw new Error(`python failed: ${made.stderr}`);
  const bytes = readFileSync(path);
  console.log(`file: np.savez of ${members} arrays, ${(bytes.length / 1e6).toFixed(1)} MB`);

  const ours: number[] = [];
  const theirs: number[] = [];
  for (let run = 0; run < runs; run++) {
    const [yauzlMs, yauzlCount] = await timed(() => yauzlWalk(bytes));
    const [ourMs, directory] = await timed(() => readCentralDirectory(bufferSource(bytes)));
    if (yauzlCount !== members || directory.entries.length !== members) throw new Error('entry counts differ');
    theirs.push(yauzlMs);
    ours.push(ourMs);
  }
  console.log(`central directory, from memory: yauzl 3.4.0 fromBuffer ${range(theirs)}, readCentralDirectory ${range(ours)} (${runs} runs each, alternating)`);
  console.log(`  per run, yauzl: ${theirs.map(Math.round).join(', ')} ms; ours: ${ours.map(Math.round).join(', ')} ms`);

  const opens: number[] = [];
  let reads = 0;
  for (let run = 0; run < runs; run++) {
    const inner = await fileSource(path);
    reads = 0;
    const counting: RandomAccessSource = {
      size: inner.size,
      read: (offset, length, into) => {
        reads += 1;
        return inner.read(offset, length, into);
      },
      close: () => inner.close(),
    };
    const [ms, file] = await timed(() => openNpz(counting));
    if (file.entries.length !== members) throw new Error('openNpz missed entries');
    await file.close();
    await inner.close(); // a caller's source stays open after the file closes
    opens.push(ms);
  }
  console.log(`openNpz (directory + every npy header, from the page cache): ${range(opens)}, ${reads} read() calls`);

  const numpy = spawnSync(python, ['-c', `import time, numpy as np\nt = time.perf_counter()\nn = len(np.load(${JSON.stringify(path)}).files)\nprint(round((time.perf_counter() - t) * 1000), n)`], { encoding: 'utf8' });
  if (numpy.status === 0) console.log(`np.load(path).files inside Python (directory only): ${numpy.stdout.trim().split(' ')[0]} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
