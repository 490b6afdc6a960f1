/**
 * bench/RESULTS.md and bench/throughput.svg. Each profile (quick, full, custom) owns one marked block of
 * RESULTS.md that a run rewrites; the prose around the blocks is kept. Each block carries its chart data in an
 * HTML comment, so the chart always shows every profile in the file, not only the latest run.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CASES } from './cases.js';
import { throughputChart, type ChartPanel } from './chart.js';
import { GB, MB, type BenchResults, type CaseSummary } from './results.js';

const PROFILE_ORDER = ['quick', 'quick-fsync', 'custom', 'custom-fsync', 'full', 'full-fsync'];
const FINDINGS_HEADING = '## What we found';

/** The method, as RESULTS.md states it (a new RESULTS.md starts with it; the file's copy is edited by hand). */
export const METHOD = `- One fixture per run, written by \`bench/fixture.ts\` (\`npm run fixture\`): the exact names and shapes of
  PaliGemma 3B at 224 px (scaled down for the quick run), deterministic pseudo-random bf16 values, streamed with lazy
  leaves. Every case reads that file or writes the same names, shapes and byte count into one output directory.
- **A fresh process per case and round.** On a VM, memory never touched costs far more than memory in use, and
  what a process inherits from its predecessor (page cache, freed memory, THP availability) moves a case by up to
  2×. So every measurement is its own child process (node without any loader, or python3) that sets up untimed,
  then does the timed work once (\`--repeats\`, \`--warmup\` change that), as a user's process would.
- **Interleaved rounds, order reversed every other round** (A B … B A): each round runs every case once; round 2
  runs the list backwards, round 3 forwards again, so no case always follows the same neighbour or sits at the
  same point of the machine's drift. Default 5 rounds.
- **Outputs deleted before every write case**: the output directory is emptied before each write process starts,
  and each process deletes its output before each repetition, so no earlier file holds page cache or dirty pages.
- **Ratios pair by pair.** Each ratio is taken between two processes of the same round (case GB/s over its peer's
  GB/s), then summarised over rounds as the median with its range (min–max). Peers compare like with like:
  \`saveNpz(…, { fsync: false })\` against \`np.savez\` into a file opened with \`open(path, 'wb')\`; the default
  \`saveNpz\` (fsync before rename) against \`np.savez\` followed by \`f.flush(); os.fsync(f.fileno())\`; \`readNpz\`,
  \`chunks()\` against \`np.load\` of every key one at a time, \`loadNpz\` (which holds every array) against
  \`np.load\` keeping every key in a dict. Same-run plain baselines: a plain script that reads
  each array into a fresh buffer with one positional read at a time (for readNpz/loadNpz), and a plain sequential
  1 MiB async write of the same bytes (for saveNpz). The raw limits (16 MiB reads/writes into one reused buffer,
  with and without \`zlib.crc32\`) bound what any reader or writer can reach.
- **Two environments for every read case**: the default one (what a user gets; \`GLIBC_TUNABLES\` removed) and
  \`GLIBC_TUNABLES=glibc.malloc.hugetlb=1\` (glibc ≥ 2.35 then asks for transparent huge pages on its own mmaps,
  as numpy does for its arrays). Ratios pair cases of the same environment. Each run block reports the THP mode
  (\`/sys/kernel/mm/transparent_hugepage/enabled\`, \`defrag\`), the glibc version and the inherited tunable.
- Peak RSS is the child's \`VmHWM\` from \`/proc/self/status\`, over the whole process, setup included (the in-memory
  write cases hold the whole checkpoint by design). Not \`maxRSS\` / \`ru_maxrss\`: Linux carries those over from the
  parent across fork + exec.
- GB/s uses 10⁹ bytes and the file size (the baselines move the same byte count). Writes: the timer stops after
  the file is closed (\`saveNpz\` also renames its temp file); only the fsync cases fsync unless \`--fsync\` is given.
  Reads are warm: the fixture was just written and fits in RAM.`;

const TEMPLATE = `# Benchmarks

\`npm run bench\` (quick, ~1.6 GB) and \`npm run bench -- --full\` (the real 5.85 GB PaliGemma 3B bf16 checkpoint)
rewrite the marked sections below and \`throughput.svg\`; everything else in this file is written by hand.

## Method

${METHOD}

${FINDINGS_HEADING}

(Written by hand after a run.)
`;

const blockStart = (profile: string): string => `<!-- bench:${profile}:begin -->`;
const blockEnd = (profile: string): string => `<!-- bench:${profile}:end -->`;
const DATA_PREFIX = '<!-- bench:chart ';

function gb(bytes: number): string {
  return `${(bytes / GB).toFixed(bytes >= 10 * GB ? 1 : 2)} GB`;
}

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(0)} MB`;
}

function seconds(value: number): string {
  return value >= 10 ? value.toFixed(1) : value >= 1 ? value.toFixed(2) : value.toFixed(3);
}

function panelTitle(results: BenchResults): string {
  const f = results.fixture;
  const shape = Number.isNaN(f.scale) ? 'given fixture' : `${f.model} ${f.precision}, scale ${f.scale}`;
  return `${results.profile.replace(/-fsync$/, ' (writes fsynced)')}: ${shape}, ${gb(f.fileBytes)}, ${f.entries} arrays`;
}

function runLabel(c: { label: string; variant?: string }): string {
  // Results saved before environments existed carry no variant: they ran in the default one.
  return c.variant === undefined || c.variant === 'default' ? c.label : `${c.label} [${c.variant}]`;
}

function caseRow(c: CaseSummary): string {
  const spread = c.seconds.length > 1 ? ` (${seconds(c.minSeconds)}–${seconds(c.maxSeconds)})` : '';
  return [
    runLabel(c),
    `${seconds(c.medianSeconds)}${spread}`,
    c.gbps.toFixed(2),
    c.vsNumpy === undefined ? '–' : `${c.vsNumpy.toFixed(2)}×`,
    c.vsPlain === undefined ? '–' : `${c.vsPlain.toFixed(2)}×`,
    c.vsRaw === undefined ? '–' : `${(c.vsRaw * 100).toFixed(0)} %`,
    c.vsRawCrc === undefined ? '–' : `${(c.vsRawCrc * 100).toFixed(0)} %`,
    c.cpuPerWall.toFixed(2),
    mb(c.maxRssBytes),
  ].join(' | ');
}

export function renderBlock(results: BenchResults): string {
  const { machine, versions, settings, fixture } = results;
  const [size, fsync] = results.profile.split('-');
  const heading = `${size === 'full' ? 'Full' : size === 'quick' ? 'Quick' : 'Custom'} run${fsync === undefined ? '' : ', fsync before the timer stops'}`;
  const lines: string[] = [blockStart(results.profile), `## ${heading}`, ''];
  lines.push(
    `- **Command:** \`${results.command}\``,
    `- **Fixture:** ${Number.isNaN(fixture.scale) ? 'given file' : `${fixture.model}, ${fixture.precision}, scale ${fixture.scale}`}: ` +
      `${fixture.entries} arrays, ${gb(fixture.fileBytes)} file, largest array ${gb(fixture.largestArrayBytes)}.`,
    `- **Machine:** ${machine.cpuModel}, ${machine.cores} cores, ${(machine.ramBytes / 2 ** 30).toFixed(1)} GiB RAM; disk ${machine.disk}; ${machine.kernel}.`,
    ...(machine.memory === undefined
      ? []
      : [
          `- **Memory:** filling a fresh 256 MiB buffer runs at ${machine.memory.firstTouchGBps.toFixed(2)} GB/s (page faults), ` +
            `${machine.memory.retouchGBps.toFixed(1)} GB/s once its pages are resident.`,
        ]),
    `- **Versions:** Node ${versions.node}, Python ${versions.python ?? 'n/a'}, numpy ${versions.numpy ?? 'n/a'}, yazl ${versions.yazl}, yauzl ${versions.yauzl}${versions.git === undefined ? '' : `; npz-stream at ${versions.git}`}.`,
    `- **Date:** ${results.date.slice(0, 10)}. ` +
      (results.rounds === undefined
        ? settings.rounds > 1
          ? `${settings.rounds} rounds (the case list run ${settings.rounds} times, cases interleaved, a fresh process per case and round) × `
          : 'A fresh process per case: '
        : `${settings.rounds} rounds, order reversed every other round, a fresh process per case, environment and round, outputs deleted before every write case; each process `) +
      `${settings.warmup} warm-up + ${settings.repeats} timed repetitions; median of all timed runs shown (min–max in brackets).`,
    ...(results.memorySettings === undefined
      ? []
      : [
          `- **THP / glibc:** transparent_hugepage enabled=${results.memorySettings.thpEnabled}, defrag=${results.memorySettings.thpDefrag}; ` +
            `glibc ${results.memorySettings.glibc}; GLIBC_TUNABLES of the caller ${results.memorySettings.inheritedTunables} ` +
            `(removed for default-environment cases); [hugetlb] rows ran with GLIBC_TUNABLES=${results.memorySettings.hugetlbTunables}.`,
        ]),
    `- **Page cache / fsync:** ${results.pageCache}`,
  );
  const loads = results.cases.flatMap((c) => c.loadAverage ?? []);
  if (loads.length > 0) {
    // A case keeps one to two cores busy itself (CPU/wall column), so only load beyond the core count is other work.
    const busy = Math.max(...loads) > machine.cores + 0.5;
    lines.push(
      `- **Load average** (1 min, before/after each case; the cases themselves account for 1–2): ` +
        `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}` +
        (busy ? ' — **other work was running on the machine; treat these numbers as noisy.**' : '.'),
    );
  }
  const base = results.baselineRssBytes;
  if (base.node !== undefined || base.python !== undefined) {
    lines.push(
      `- **Baseline RSS** (process that only imports): node + npz-stream + yazl + yauzl ${base.node === undefined ? 'n/a' : mb(base.node)}, python3 + numpy ${base.python === undefined ? 'n/a' : mb(base.python)}.`,
    );
  }
  lines.push(
    '',
    '| case | median s | GB/s | vs numpy | vs plain | vs raw | vs raw+CRC | CPU/wall | peak RSS |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const kind of ['write', 'read'] as const) {
    for (const c of results.cases.filter((x) => x.kind === kind)) lines.push(`| ${kind}: ${caseRow(c)} |`);
  }
  for (const s of results.skipped) lines.push(`| ${CASES[s.id].kind}: ${CASES[s.id].label} | skipped: ${s.reason} | | | | | | | |`);
  for (const f of results.failed) lines.push(`| ${CASES[f.id].kind}: ${CASES[f.id].label} | FAILED: ${f.error.replace(/\|/g, '/')} | | | | | | | |`);
  // The library and its peers only: the baselines' own ratios to numpy are in the table above.
  const order = results.cases.map((c) => c.key);
  const likePairs = (results.pairs ?? [])
    .filter((p) => (p.role === 'numpy' || p.role === 'plain') && !/^(raw|plain)-/.test(p.caseKey))
    .sort((a, b) => order.indexOf(a.caseKey) - order.indexOf(b.caseKey));
  if (likePairs.length > 0) {
    const labelOf = (key: string): string => {
      const c = results.cases.find((x) => x.key === key);
      return c === undefined ? key : runLabel(c);
    };
    lines.push('', '| like with like, per round | against | median ratio | range | rounds |', '|---|---|---:|---:|---:|');
    for (const p of likePairs) {
      lines.push(`| ${labelOf(p.caseKey)} | ${labelOf(p.baseKey)} | ${p.median.toFixed(2)}× | ${p.min.toFixed(2)}–${p.max.toFixed(2)} | ${p.ratios.length} |`);
    }
  }
  lines.push('', '| target | case | measured | |', '|---|---|---|---|');
  for (const t of results.targets) {
    lines.push(`| ${t.target} | ${CASES[t.caseId].label} | ${t.measured} | ${t.met === undefined ? '–' : t.met ? 'met' : '**missed**'} |`);
  }
  const panel: ChartPanel = {
    title: panelTitle(results),
    bars: results.cases.map((c) => ({ id: c.id, label: runLabel(c), kind: c.kind, gbps: Number(c.gbps.toFixed(4)) })),
  };
  lines.push('', `${DATA_PREFIX}${JSON.stringify({ profile: results.profile, panel }).replace(/--/g, '- -')} -->`, blockEnd(results.profile));
  return lines.join('\n');
}

/** Replaces the profile's block, or inserts it in profile order before the findings. */
export function upsertBlock(markdown: string, profile: string, block: string): string {
  const start = markdown.indexOf(blockStart(profile));
  const end = markdown.indexOf(blockEnd(profile));
  if (start >= 0 && end > start) return markdown.slice(0, start) + block + markdown.slice(end + blockEnd(profile).length);
  const later = PROFILE_ORDER.slice(PROFILE_ORDER.indexOf(profile) + 1)
    .map((p) => markdown.indexOf(blockStart(p)))
    .filter((i) => i >= 0);
  const findings = markdown.indexOf(FINDINGS_HEADING);
  const at = later.length > 0 ? Math.min(...later) : findings >= 0 ? findings : markdown.length;
  const before = markdown.slice(0, at).replace(/\n*$/, '\n\n');
  return `${before}${block}\n\n${markdown.slice(at)}`;
}

export function chartPanels(markdown: string): ChartPanel[] {
  const found: { profile: string; panel: ChartPanel }[] = [];
  for (const line of markdown.split('\n')) {
    if (!line.startsWith(DATA_PREFIX)) continue;
    const json = line.slice(DATA_PREFIX.length, line.lastIndexOf(' -->')).replace(/- -/g, '--');
    found.push(JSON.parse(json) as { profile: string; panel: ChartPanel });
  }
  const rank = (p: string): number => (PROFILE_ORDER.includes(p) ? PROFILE_ORDER.indexOf(p) : PROFILE_ORDER.length);
  return found.sort((a, b) => rank(a.profile) - rank(b.profile)).map((f) => f.panel);
}

export async function writeReport(directory: string, results: BenchResults): Promise<string[]> {
  const markdownPath = join(directory, 'RESULTS.md');
  const svgPath = join(directory, 'throughput.svg');
  const existing = existsSync(markdownPath) ? await readFile(markdownPath, 'utf8') : TEMPLATE;
  const markdown = upsertBlock(existing, results.profile, renderBlock(results));
  await writeFile(markdownPath, markdown);
  await writeFile(svgPath, throughputChart(chartPanels(markdown)));
  return [markdownPath, svgPath];
}
