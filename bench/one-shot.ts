/**
 * `node --import tsx bench/one-shot.ts [options]`: what a user's script feels. Each process makes the
 * PaliGemma-shaped bf16 tree (1.58 GB at the default scale) in memory before the timer starts, waits until the
 * VM's free-page reporting is quiet, then times one write, then the same write again (steady state). Cases:
 *
 *   save           saveNpz(path, tree, { fsync: false }) with this checkout's build
 *   save-base      the same with the build in --base DIR (e.g. main's), to compare the two in one run
 *   np-savez       np.savez(f, **arrays) into open(path, 'wb'), the arrays made by numpy in the process
 *   plain          the same bytes (npy headers + arrays) written with 1 MiB positional writes, one in flight
 *   save-lazy      saveNpz of lazy leaves (4 MiB views of a 64 MiB pool), and save-lazy-base
 *   views16, copy16  diagnostics: 16 MiB writev views of the arrays / 16 MiB copies through one reused buffer
 *
 * Fairness as in bench/lib/fair.ts: a fresh process per case, environment and round, the case list reversed every
 * other round, ratios taken within a round then summarised as medians with their ranges. Every case runs in the
 * default environment and with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (--env to choose).
 *
 *   --rounds N     rounds (default 5)          --repeats N   calls per process (default 3: first + steady)
 *   --cases a,b    subset (default save,save-base,np-savez,plain,save-lazy,save-lazy-base; *-base need --base)
 *   --base DIR     a second checkout with a built dist/ (npm run build there)
 *   --env E        both (default) | default | hugetlb
 *   --scale S      PaliGemma 3B scale (default 0.25)
 *   --work-dir D   where the files go (default: a temp dir)   --out FILE   results JSON (default bench/out/one-shot.json)
 *   --no-settle    start the timer right after the setup
 *   --pause MS     wait MS between deleting one call's file and the next call (default 0: right after, into the
 *                  page cache the deleted file just freed; a few seconds let the VM hand that memory back first)
 *
 * `npm run bench:one-shot -- [options]` builds first. Run it on a quiet machine (load average < 1): on a loaded
 * one the first call measures the other processes. `npm run test:bench` runs it at a tiny scale as a smoke test.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { OneShotArgs, OneShotResult, OneShotWrite } from './cases/one-shot-case.js';
import { transpileChild } from './lib/child.js';
import { childEnv, roundOrders } from './lib/fair.js';
import { memorySettings } from './lib/machine.js';
import { HUGETLB_TUNABLE, type EnvVariant } from './lib/cases.js';
import { median } from './lib/stats.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CASES = ['save', 'save-base', 'np-savez', 'plain', 'save-lazy', 'save-lazy-base', 'views16', 'copy16'] as const;
type OneShotCase = (typeof CASES)[number];
const DEFAULT_CASES: OneShotCase[] = ['save', 'save-base', 'np-savez', 'plain', 'save-lazy', 'save-lazy-base'];
const SETTLE = { quietMs: 2500, maxMs: 30_000 };

interface Run {
  id: OneShotCase;
  variant: EnvVariant;
}

interface RunRecord {
  key: string;
  round: number;
  position: number;
  first: number;
  steady: number | undefined;
  result: OneShotResult;
  load: [number, number];
}

const key = (run: Run): string => (run.variant === 'default' ? run.id : `${run.id}+hugetlb`);

function writeOf(id: OneShotCase): OneShotWrite | 'np-savez' {
  if (id === 'save-base') return 'save';
  if (id === 'save-lazy-base') return 'save-lazy';
  return id;
}

function options() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      repeats: { type: 'string', default: '3' },
      cases: { type: 'string' },
      base: { type: 'string' },
      env: { type: 'string', default: 'both' },
      scale: { type: 'string', default: '0.25' },
      'work-dir': { type: 'string', default: tmpdir() },
      out: { type: 'string', default: join(REPO_ROOT, 'bench/out/one-shot.json') },
      'no-settle': { type: 'boolean', default: false },
      pause: { type: 'string', default: '0' },
    },
    strict: true,
  });
  const cases = (values.cases?.split(',').map((s) => s.trim()) ?? DEFAULT_CASES.filter((c) => values.base !== undefined || !c.endsWith('-base'))) as OneShotCase[];
  const unknown = cases.filter((c) => !(CASES as readonly string[]).includes(c));
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${CASES.join(', ')}`);
  if (cases.some((c) => c.endsWith('-base')) && values.base === undefined) throw new Error('the *-base cases need --base DIR');
  const envs: Record<string, EnvVariant[]> = { both: ['default', 'hugetlb'], default: ['default'], hugetlb: ['hugetlb'] };
  const variants = envs[values.env];
  if (variants === undefined) throw new Error(`--env must be both, default or hugetlb; got ${values.env}`);
  const count = (text: string, name: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  return {
    rounds: count(values.rounds, 'rounds'),
    repeats: count(values.repeats, 'repeats'),
    cases,
    base: values.base === undefined ? undefined : resolve(values.base),
    variants,
    scale: Number(values.scale),
    workDir: resolve(values['work-dir']),
    out: resolve(values.out),
    settle: values['no-settle'] ? null : SETTLE,
    pauseMs: pauseOf(values.pause),
  };
}

function pauseOf(text: string): number {
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 0) throw new Error('--pause must be a whole number of milliseconds');
  return ms;
}

function spawnChild(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', fail);
    child.on('exit', (code, signal) => (code === 0 ? done() : fail(new Error(`${command} exited with ${signal ?? code}`))));
  });
}

const fmt = (seconds: number[]): string =>
  seconds.length === 0 ? '–' : `${median(seconds).toFixed(2)} (${Math.min(...seconds).toFixed(2)}–${Math.max(...seconds).toFixed(2)})`;

async function main(): Promise<void> {
  const opts = options();
  for (const root of [REPO_ROOT, ...(opts.base === undefined ? [] : [opts.base])]) {
    if (!existsSync(join(root, 'dist/index.js'))) throw new Error(`${root}/dist is missing: run npm run build there`);
  }
  await mkdir(opts.workDir, { recursive: true });
  const work = await mkdtemp(join(opts.workDir, 'npz-one-shot-'));
  const outDir = join(work, 'written');
  await mkdir(outDir);
  const records: RunRecord[] = [];
  try {
    const child = await transpileChild(REPO_ROOT, work, 'one-shot-case');
    const baseChild = opts.base === undefined ? undefined : await transpileChild(REPO_ROOT, await mkdtemp(join(work, 'base-')), 'one-shot-case', opts.base);
    const { paligemmaSpec } = (await import(join(REPO_ROOT, 'dist/paligemma/index.js'))) as typeof import('../dist/paligemma/index.js');
    const arrays = paligemmaSpec('paligemma-3b', { scale: opts.scale });
    const runs = opts.cases.flatMap((id) => opts.variants.map((variant): Run => ({ id, variant })));
    for (const [index, order] of roundOrders(runs, opts.rounds).entries()) {
      const round = index + 1;
      process.stderr.write(`round ${round} of ${opts.rounds}${index % 2 === 1 ? ' (reversed)' : ''}\n`);
      for (const [position, run] of order.entries()) {
        for (const name of await readdir(outDir)) await rm(join(outDir, name), { force: true });
        const resultFile = join(work, `${key(run)}.json`);
        await rm(resultFile, { force: true });
        const env = childEnv(process.env, run.variant);
        const loadBefore = loadavg()[0]!;
        const write = writeOf(run.id);
        if (write === 'np-savez') {
          const json = JSON.stringify({ arrays, outDir, repeats: opts.repeats, resultFile, settle: opts.settle, pauseMs: opts.pauseMs });
          await spawnChild('python3', [join(REPO_ROOT, 'bench/cases/numpy_one_shot.py'), json], env);
        } else {
          const args: OneShotArgs = { write, source: 'generate', scale: opts.scale, outDir, repeats: opts.repeats, resultFile, settle: opts.settle, pauseMs: opts.pauseMs };
          await spawnChild(process.execPath, [run.id.endsWith('-base') ? baseChild! : child, JSON.stringify(args)], env);
        }
        const result = JSON.parse(await readFile(resultFile, 'utf8')) as OneShotResult;
        const first = result.reps[0]!.seconds;
        const steady = result.reps.length > 1 ? median(result.reps.slice(1).map((r) => r.seconds)) : undefined;
        records.push({ key: key(run), round, position, first, steady, result, load: [loadBefore, loadavg()[0]!] });
        const rep = result.reps[0]!;
        process.stderr.write(
          `  ${key(run).padEnd(22)} first ${first.toFixed(3)} s (user ${rep.userSeconds.toFixed(2)}, sys ${rep.systemSeconds.toFixed(2)})` +
            `${steady === undefined ? '' : `, steady ${steady.toFixed(3)} s`}, peak RSS ${(result.maxRssBytes / 1e6).toFixed(0)} MB, ` +
            `settle ${result.settle === null ? '–' : `${(result.settle.waitedMs / 1000).toFixed(1)} s${result.settle.quiet ? '' : ' (not quiet)'}`}, load ${loadBefore.toFixed(1)}\n`,
        );
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }

  const keys = [...new Set(records.map((r) => r.key))];
  const byKey = (k: string): RunRecord[] => records.filter((r) => r.key === k);
  const bytes = records.find((r) => r.key.startsWith('save'))?.result.bytes ?? records[0]?.result.bytes ?? 0;
  const lines: string[] = [];
  lines.push(`| case | first call, s | steady, s | first-call user / sys CPU, s | peak RSS, MB |`);
  lines.push(`|---|---:|---:|---:|---:|`);
  for (const k of keys) {
    const rs = byKey(k);
    const cpu = `${median(rs.map((r) => r.result.reps[0]!.userSeconds)).toFixed(2)} / ${median(rs.map((r) => r.result.reps[0]!.systemSeconds)).toFixed(2)}`;
    lines.push(
      `| ${k} | ${fmt(rs.map((r) => r.first))} | ${fmt(rs.flatMap((r) => (r.steady === undefined ? [] : [r.steady])))} | ${cpu} | ${median(rs.map((r) => r.result.maxRssBytes / 1e6)).toFixed(0)} |`,
    );
  }
  // Time ratios within a round: below 1 means the case took less time than its peer.
  const pairs: [string, string, 'first' | 'steady'][] = [];
  for (const variant of opts.variants) {
    const s = variant === 'default' ? '' : '+hugetlb';
    pairs.push([`save${s}`, `np-savez${s}`, 'first'], [`save${s}`, `plain${s}`, 'first'], [`save${s}`, `save-base${s}`, 'first'], [`save${s}`, `save-base${s}`, 'steady']);
    pairs.push([`save-lazy${s}`, `save-lazy-base${s}`, 'first'], [`save-lazy${s}`, `save-lazy-base${s}`, 'steady'], [`save${s}`, `np-savez${s}`, 'steady']);
  }
  lines.push('', `| time ratio, same round | call | median | range | rounds |`, `|---|---|---:|---:|---:|`);
  const ratios: { pair: string; call: string; values: number[] }[] = [];
  for (const [a, b, call] of pairs) {
    const values = byKey(a).flatMap((ra) => {
      const rb = byKey(b).find((r) => r.round === ra.round);
      const va = call === 'first' ? ra.first : ra.steady;
      const vb = call === 'first' ? rb?.first : rb?.steady;
      return va === undefined || vb === undefined ? [] : [va / vb];
    });
    if (values.length === 0) continue;
    ratios.push({ pair: `${a} / ${b}`, call, values });
    lines.push(`| ${a} / ${b} | ${call} | ${median(values).toFixed(2)}× | ${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)} | ${values.length} |`);
  }
  const loads = records.flatMap((r) => r.load);
  const memory = memorySettings(HUGETLB_TUNABLE);
  const header =
    `${opts.rounds} rounds × ${keys.length} processes, ${opts.repeats} calls each, ${(bytes / 1e9).toFixed(2)} GB per call; ` +
    `load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; THP ${memory.thpEnabled}/${memory.thpDefrag}, glibc ${memory.glibc}; ` +
    `${opts.settle === null ? 'no settle wait' : `timer started once free-page reporting was quiet for ${opts.settle.quietMs / 1000} s`}` +
    `${opts.pauseMs > 0 ? `; ${opts.pauseMs / 1000} s between a call's file deleted and the next call` : ''}`;
  process.stdout.write(`${header}\n\n${lines.join('\n')}\n`);
  await mkdir(dirname(opts.out), { recursive: true });
  await writeFile(opts.out, `${JSON.stringify({ date: new Date().toISOString(), options: opts, memory, header, records, ratios }, null, 2)}\n`);
  process.stderr.write(`results: ${opts.out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
