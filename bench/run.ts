/**
 * `npm run bench [-- options]`: every case on the same fixture, a fresh process per case and round, rounds
 * interleaved with the order reversed every other round, ratios taken pair by pair within each round (see
 * bench/lib/fair.ts and the Method section of bench/RESULTS.md); writes results.json, bench/RESULTS.md and
 * bench/throughput.svg.
 *
 *   --full                 the real PaliGemma 3B (scale 1, 5.85 GB in bf16); default is quick (scale 0.25, ~1.6 GB)
 *   --scale S              any scale in (0, 1] (profile "custom")
 *   --model M              paligemma-3b (default) | paligemma2-3b
 *   --precision P          bf16 (default) | f16 | f32 | mixed
 *   --rounds N             rounds (default 5): each runs every case once, in a fresh process
 *   --repeats N            timed repetitions per process (default 1); --warmup N untimed ones first (default 0)
 *   --env E                both (default) | default | hugetlb: the environments read cases run in; writes run in
 *                          the default one only, so --env hugetlb runs only the read cases
 *   --cases a,b            a subset of the cases (see bench/lib/cases.ts)
 *   --fsync                fsync every written file before the timer stops (default: only the *-fsync/default cases)
 *   --fixture FILE         benchmark an existing npz instead of generating one (it is left in place)
 *   --work-dir DIR         where the fixture and written files go (default: a fresh dir under the OS temp dir)
 *   --out-dir DIR          where results.json goes (default bench/out)
 *   --report-dir DIR       where RESULTS.md and throughput.svg go (default bench); --no-report skips them
 *   --cpu-prof             node children write a V8 CPU profile of their repetitions to <out-dir>/profiles/
 *                          (summarise one with `node --import tsx bench/profile-summary.ts FILE`)
 *   --keep                 keep the generated fixture and work dir
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CASE_IDS, CASES, ENV_VARIANTS, HUGETLB_TUNABLE, isCaseId, runKey, type CaseId, type CaseRun, type ChildArgs, type ChildResult, type EnvVariant } from './lib/cases.js';
import { childImportMap, transpileChild } from './lib/child.js';
import { parseModel, parsePrecision, parseScale, writeFixture } from './lib/fixture.js';
import { childEnv, expandRuns, pairRatios, roundOrders, type RoundRecord } from './lib/fair.js';
import { baselineRss, machineInfo, memorySettings, versions } from './lib/machine.js';
import { writeReport } from './lib/report.js';
import { applyPairs, checkTargets, GB, MB, median, mergeRounds, summarize, type BenchResults, type CaseSummary, type FixtureInfo } from './lib/results.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const QUICK_SCALE = 0.25;
// The order of odd rounds; even rounds run it backwards. Each case sits next to its like-for-like peer.
const RUN_ORDER: readonly CaseId[] = [
  'raw-read',
  'raw-read-crc',
  'plain-read',
  'read-npz',
  'read-npz-reuse',
  'load-npz',
  'np-load-all',
  'np-load',
  'chunks',
  'chunks-reuse',
  'yauzl',
  'raw-write',
  'raw-write-crc',
  'plain-write',
  'save-memory',
  'np-savez',
  'save-lazy',
  'save-default',
  'np-savez-fsync',
  'yazl',
];
// A case missing from the order would silently never run.
const unordered = CASE_IDS.filter((id) => !RUN_ORDER.includes(id));
if (unordered.length > 0) throw new Error(`RUN_ORDER is missing case(s) ${unordered.join(', ')}`);

function parseCount(text: string, name: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) throw new Error(`--${name} must be an integer ≥ ${minimum}; got ${text}`);
  return value;
}

function options() {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      scale: { type: 'string' },
      model: { type: 'string', default: 'paligemma-3b' },
      precision: { type: 'string', default: 'bf16' },
      repeats: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '0' },
      env: { type: 'string', default: 'both' },
      cases: { type: 'string' },
      fsync: { type: 'boolean', default: false },
      fixture: { type: 'string' },
      'work-dir': { type: 'string', default: tmpdir() },
      'out-dir': { type: 'string', default: join(REPO_ROOT, 'bench/out') },
      'report-dir': { type: 'string', default: join(REPO_ROOT, 'bench') },
      'no-report': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.full && values.scale !== undefined) throw new Error('--full and --scale exclude each other');
  const scale = values.full ? 1 : values.scale === undefined ? QUICK_SCALE : parseScale(values.scale);
  const model = parseModel(values.model);
  const precision = parsePrecision(values.precision);
  const isDefaultShape = model === 'paligemma-3b' && precision === 'bfloat16' && values.fixture === undefined;
  const size = values.full && isDefaultShape ? 'full' : !values.full && values.scale === undefined && isDefaultShape ? 'quick' : 'custom';
  const profile = values.fsync ? `${size}-fsync` : size;
  const requested = values.cases === undefined ? [...CASE_IDS] : values.cases.split(',').map((s) => s.trim());
  const envs: Record<string, EnvVariant[]> = { both: [...ENV_VARIANTS], default: ['default'], hugetlb: ['hugetlb'] };
  const variants = envs[values.env];
  if (variants === undefined) throw new Error(`--env must be both, default or hugetlb; got ${values.env}`);
  const unknown = requested.filter((id) => !isCaseId(id));
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${CASE_IDS.join(', ')}`);
  return {
    profile,
    scale,
    model,
    precision,
    repeats: parseCount(values.repeats, 'repeats', 1),
    rounds: parseCount(values.rounds, 'rounds', 1),
    warmup: parseCount(values.warmup, 'warmup', 0),
    cases: RUN_ORDER.filter((id) => requested.includes(id)),
    variants,
    fsync: values.fsync,
    fixture: values.fixture,
    workDir: resolve(values['work-dir']),
    outDir: resolve(values['out-dir']),
    reportDir: values['no-report'] ? undefined : resolve(values['report-dir']),
    cpuProfile: values['cpu-prof'],
    keep: values.keep,
  };
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function spawnChild(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolveExit, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolveExit() : reject(new Error(`${args[args.length - 2] ?? command} exited with ${signal ?? code}`)),
    );
  });
}

async function runCase(run: CaseRun, childArgs: ChildArgs, nodeChild: string): Promise<ChildResult> {
  const json = JSON.stringify(childArgs);
  const env = childEnv(process.env, run.variant);
  await rm(childArgs.resultFile, { force: true });
  if (CASES[run.id].runtime === 'python') {
    await spawnChild('python3', [join(REPO_ROOT, 'bench/cases/numpy_case.py'), json], env);
  } else {
    await spawnChild(process.execPath, [nodeChild, json], env);
  }
  const result = JSON.parse(await readFile(childArgs.resultFile, 'utf8')) as ChildResult;
  if (result.case !== run.id || !(result.bytes > 0) || result.seconds.length !== childArgs.repeats) {
    throw new Error(`case ${runKey(run)} returned an incomplete result: ${JSON.stringify(result)}`);
  }
  if (result.glibcTunables !== (env['GLIBC_TUNABLES'] ?? null)) {
    throw new Error(`case ${runKey(run)} ran with GLIBC_TUNABLES=${result.glibcTunables}, expected ${env['GLIBC_TUNABLES'] ?? '(unset)'}`);
  }
  if (CASES[run.id].kind === 'write' && result.outDirEntriesAtStart !== 0) {
    throw new Error(`case ${runKey(run)} started with ${result.outDirEntriesAtStart} file(s) left in the output directory`);
  }
  return result;
}

/** Every write case starts from an empty output directory: no earlier output holds page cache or dirty pages. */
async function clearDirectory(directory: string): Promise<void> {
  for (const name of await readdir(directory)) await rm(join(directory, name), { recursive: true, force: true });
}

function hasNumpy(): Promise<boolean> {
  return spawnChild('python3', ['-c', 'import numpy']).then(
    () => true,
    () => false,
  );
}

async function fixtureInfoOf(path: string): Promise<FixtureInfo> {
  // An existing fixture: describe it from its own entries (through the built package, like everything else).
  const { openNpz } = (await import(join(REPO_ROOT, 'dist/index.js'))) as typeof import('../dist/index.js');
  const npz = await openNpz(path);
  try {
    const arrays = npz.entries.filter((e) => e.isArray);
    const dtypes = [...new Set(arrays.map((e) => (e.isArray ? e.dtype : '')))];
    return {
      model: 'given file',
      precision: dtypes.join('+'),
      scale: Number.NaN,
      seed: Number.NaN,
      entries: npz.entries.length,
      dataBytes: arrays.reduce((sum, e) => sum + (e.isArray ? e.byteLength : 0), 0),
      fileBytes: (await stat(path)).size,
      largestArrayBytes: Math.max(...arrays.map((e) => (e.isArray ? e.byteLength : 0))),
    };
  } finally {
    await npz.close();
  }
}

function describeCase(c: CaseSummary): string {
  const ratios = [
    c.vsPlain === undefined ? '' : `${c.vsPlain.toFixed(2)}× plain`,
    c.vsNumpy === undefined ? '' : `${c.vsNumpy.toFixed(2)}× numpy`,
    c.vsRaw === undefined ? '' : `${(c.vsRaw * 100).toFixed(0)} % of raw`,
  ].filter(Boolean);
  const load = c.loadAverage === undefined ? '' : `, load ${c.loadAverage.map((l) => l.toFixed(1)).join('→')}`;
  return `${c.key}: median ${c.medianSeconds.toFixed(3)} s, ${c.gbps.toFixed(2)} GB/s, peak RSS ${(c.maxRssBytes / MB).toFixed(0)} MB${ratios.length ? `, ${ratios.join(', ')}` : ''}${load}`;
}

async function main(): Promise<void> {
  const opts = options();
  if (!existsSync(join(REPO_ROOT, 'dist/index.js')) || !existsSync(join(REPO_ROOT, 'dist/paligemma/index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  }
  await mkdir(opts.workDir, { recursive: true });
  const work = await mkdtemp(join(opts.workDir, 'npz-bench-'));
  const writeDir = join(work, 'written');
  await mkdir(writeDir);
  await mkdir(opts.outDir, { recursive: true });
  const profileDir = opts.cpuProfile ? join(opts.outDir, 'profiles') : undefined;
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
  const failed: BenchResults['failed'] = [];
  try {
    const nodeChild = await transpileChild(REPO_ROOT, work);
    let fixturePath: string;
    let fixture: FixtureInfo;
    if (opts.fixture !== undefined) {
      fixturePath = resolve(opts.fixture);
      fixture = await fixtureInfoOf(fixturePath);
    } else {
      fixturePath = join(work, 'fixture.npz');
      log(`writing the ${opts.model} ${opts.precision} fixture at scale ${opts.scale} to ${fixturePath} ...`);
      const { path: _path, ...summary } = await writeFixture({
        out: fixturePath,
        model: opts.model,
        precision: opts.precision,
        scale: opts.scale,
        seed: 0,
      });
      fixture = summary;
      log(`  ${(fixture.fileBytes / GB).toFixed(3)} GB, ${fixture.entries} arrays, in ${summary.seconds.toFixed(1)} s`);
    }

    const numpy = await hasNumpy();
    const skipped: BenchResults['skipped'] = [];
    const runs = expandRuns(opts.cases, opts.variants).filter((run) => {
      if (CASES[run.id].runtime !== 'python' || numpy) return true;
      if (!skipped.some((s) => s.id === run.id)) {
        skipped.push({ id: run.id, reason: 'python3 with numpy is not available' });
        log(`${run.id}: skipped (no python3 + numpy)`);
      }
      return false;
    });
    const byKey = new Map<string, { run: CaseRun; results: ChildResult[]; loads: number[] }>();
    const records: NonNullable<BenchResults['rounds']> = [];
    const orders = roundOrders(runs, opts.rounds);
    for (const [index, order] of orders.entries()) {
      const round = index + 1;
      log(`round ${round} of ${opts.rounds}${index % 2 === 1 ? ' (reversed)' : ''}`);
      for (const [position, run] of order.entries()) {
        const key = runKey(run);
        if (failed.some((f) => f.id === run.id)) continue;
        if (CASES[run.id].kind === 'write') await clearDirectory(writeDir);
        const childArgs: ChildArgs = {
          case: run.id,
          fixture: fixturePath,
          outDir: writeDir,
          warmup: opts.warmup,
          repeats: opts.repeats,
          fsync: opts.fsync || CASES[run.id].alwaysFsync === true,
          resultFile: join(work, `${key}.result.json`),
          ...(profileDir === undefined || CASES[run.id].runtime !== 'node'
            ? {}
            : { cpuProfileFile: join(profileDir, `${key}.round${round}.cpuprofile`) }),
        };
        try {
          const loadBefore = loadavg()[0]!;
          const result = await runCase(run, childArgs, nodeChild);
          const entry = byKey.get(key) ?? { run, results: [], loads: [] };
          entry.results.push(result);
          entry.loads.push(loadBefore, loadavg()[0]!);
          byKey.set(key, entry);
          const record: RoundRecord = { key, round, position, gbps: result.bytes / GB / median(result.seconds) };
          records.push({ ...record, id: run.id, variant: run.variant, glibcTunables: result.glibcTunables, outDirEntriesAtStart: result.outDirEntriesAtStart });
          log(`  ${describeCase(summarize(result, run.variant))}`);
        } catch (error) {
          failed.push({ id: run.id, error: `${key}: ${error instanceof Error ? error.message : String(error)}` });
          log(`${key}: FAILED ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    const cases: CaseSummary[] = [];
    for (const { run, results: rounds, loads } of byKey.values()) {
      if (failed.some((f) => f.id === run.id)) continue;
      const summary = summarize(mergeRounds(rounds), run.variant);
      summary.loadAverage = [Math.min(...loads), Math.max(...loads)];
      summary.perRoundGbps = records.filter((r) => r.key === summary.key).map((r) => r.gbps);
      cases.push(summary);
    }
    const pairs = pairRatios(
      runs.filter((run) => cases.some((c) => c.key === runKey(run))),
      records.filter((r) => cases.some((c) => c.key === r.key)),
    );
    applyPairs(cases, pairs);
    const results: BenchResults = {
      profile: opts.profile,
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
      date: new Date().toISOString(),
      machine: machineInfo(work),
      versions: versions(),
      settings: {
        rounds: opts.rounds,
        warmup: opts.warmup,
        repeats: opts.repeats,
        fsync: opts.fsync,
        cpuProfile: opts.cpuProfile,
        variants: opts.variants,
      },
      memorySettings: memorySettings(HUGETLB_TUNABLE),
      pageCache:
        'warm: the fixture was just written and fits in RAM, so reads come from the page cache (no cache drop between runs); ' +
        (opts.fsync
          ? 'writes are fsynced before the timer stops.'
          : 'writes end when the file is closed, not fsynced (except the cases that fsync by definition), so they measure the path into the page cache.'),
      fixture,
      baselineRssBytes: baselineRss(Object.values(childImportMap(REPO_ROOT))),
      cases: CASE_IDS.flatMap((id) => ENV_VARIANTS.flatMap((variant) => cases.filter((c) => c.id === id && c.variant === variant))),
      skipped,
      failed,
      targets: checkTargets(cases, pairs),
      rounds: records,
      pairs,
    };
    const json = `${JSON.stringify(results, null, 2)}\n`;
    await writeFile(join(opts.outDir, 'results.json'), json);
    await writeFile(join(opts.outDir, `results-${opts.profile}.json`), json);
    log(`results: ${join(opts.outDir, 'results.json')}`);
    for (const t of results.targets) log(`  ${t.met === undefined ? '-' : t.met ? 'met ' : 'MISS'} ${t.target} [${t.caseId}]: ${t.measured}`);
    if (opts.reportDir !== undefined) {
      await mkdir(opts.reportDir, { recursive: true });
      const written = await writeReport(opts.reportDir, results);
      log(`report: ${written.join(', ')}`);
    }
  } finally {
    if (opts.keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
  if (failed.length > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
