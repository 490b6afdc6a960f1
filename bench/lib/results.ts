import { CASES, runKey, type CaseId, type CaseInfo, type CaseRun, type ChildResult, type EnvVariant } from './cases.js';
import type { PairRatio, RoundRecord } from './fair.js';
import type { MachineInfo, MemorySettings, Versions } from './machine.js';
import { median } from './stats.js';

export { median };

export const GB = 1e9;
export const MB = 1e6;

export interface CaseSummary extends CaseInfo {
  /** The environment the case ran in, and its runKey (`id` or `id+hugetlb`). */
  variant: EnvVariant;
  key: string;
  bytes: number;
  seconds: number[];
  warmupSeconds: number[];
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  /** Throughput at the median time, GB/s (10^9 bytes). */
  gbps: number;
  /** CPU seconds (user + system) of the median repetition divided by its wall time: 1 = one core busy. */
  cpuPerWall: number;
  maxRssBytes: number;
  setupSeconds: number;
  largestArrayBytes?: number;
  /** 1-minute load average just before and just after the case: other work on the machine shows up here. */
  loadAverage?: [number, number];
  /** GB/s of each round's process, in round order. */
  perRoundGbps?: number[];
  /**
   * Median over rounds of the per-round throughput ratio to numpy's like-for-like case (np.savez into an open
   * file, np.savez + fsync, np.load), in the same environment.
   */
  vsNumpy?: number;
  /** The same against the plain-script baseline (plain-write or plain-read). */
  vsPlain?: number;
  /** The same against the raw limit of the same kind. */
  vsRaw?: number;
  /** The same against the raw limit plus zlib.crc32 of the same kind (what a ZIP reader or writer can reach). */
  vsRawCrc?: number;
}

export interface TargetCheck {
  target: string;
  caseId: CaseId;
  measured: string;
  /** undefined when a case it needs was not run. */
  met?: boolean;
}

export interface FixtureInfo {
  model: string;
  precision: string;
  scale: number;
  seed: number;
  entries: number;
  dataBytes: number;
  fileBytes: number;
  largestArrayBytes: number;
  /** Seconds the generator took (synthetic data is made in JS, so this is not a benchmark). */
  seconds?: number;
}

export interface BenchResults {
  profile: string;
  /** The options the run was started with. */
  command: string;
  date: string;
  machine: MachineInfo;
  versions: Versions;
  settings: { rounds: number; warmup: number; repeats: number; fsync: boolean; cpuProfile: boolean; variants?: EnvVariant[] };
  /** THP mode, glibc version and the tunable, as the children saw them. */
  memorySettings?: MemorySettings;
  /** Each process's measurement, round by round, in the order they ran. */
  rounds?: (RoundRecord & { id: CaseId; variant: EnvVariant; glibcTunables: string | null; outDirEntriesAtStart: number })[];
  /** Ratios taken pair by pair within each round. */
  pairs?: PairRatio[];
  pageCache: string;
  fixture: FixtureInfo;
  baselineRssBytes: { node?: number; python?: number };
  cases: CaseSummary[];
  skipped: { id: CaseId; reason: string }[];
  failed: { id: CaseId; error: string }[];
  targets: TargetCheck[];
}

export function summarize(result: ChildResult, variant: EnvVariant = 'default'): CaseSummary {
  const medianSeconds = median(result.seconds);
  // The CPU share of the repetition whose wall time is closest to the median.
  let closest = 0;
  result.seconds.forEach((s, i) => {
    if (Math.abs(s - medianSeconds) < Math.abs(result.seconds[closest]! - medianSeconds)) closest = i;
  });
  return {
    ...CASES[result.case],
    variant,
    key: runKey({ id: result.case, variant }),
    bytes: result.bytes,
    seconds: result.seconds,
    warmupSeconds: result.warmupSeconds,
    medianSeconds,
    minSeconds: Math.min(...result.seconds),
    maxSeconds: Math.max(...result.seconds),
    gbps: result.bytes / GB / medianSeconds,
    cpuPerWall: result.cpuSeconds[closest]! / result.seconds[closest]!,
    maxRssBytes: result.maxRssBytes,
    setupSeconds: result.setupSeconds,
    ...(result.largestArrayBytes === undefined ? {} : { largestArrayBytes: result.largestArrayBytes }),
  };
}

/** One case run in several rounds (each a process of its own): timed runs pooled, the highest peak RSS kept. */
export function mergeRounds(rounds: readonly ChildResult[]): ChildResult {
  const [first, ...rest] = rounds;
  if (first === undefined) throw new Error('no rounds to merge');
  return rest.reduce<ChildResult>(
    (merged, next) => ({
      ...merged,
      warmupSeconds: [...merged.warmupSeconds, ...next.warmupSeconds],
      seconds: [...merged.seconds, ...next.seconds],
      cpuSeconds: [...merged.cpuSeconds, ...next.cpuSeconds],
      maxRssBytes: Math.max(merged.maxRssBytes, next.maxRssBytes),
      setupSeconds: Math.max(merged.setupSeconds, next.setupSeconds),
    }),
    first,
  );
}

/** Fills in the ratio columns from the pair-by-pair medians. */
export function applyPairs(cases: CaseSummary[], pairs: readonly PairRatio[]): void {
  const field = { numpy: 'vsNumpy', plain: 'vsPlain', raw: 'vsRaw', rawCrc: 'vsRawCrc' } as const;
  for (const c of cases) {
    for (const p of pairs) if (p.caseKey === c.key) c[field[p.role]] = p.median;
  }
}

const RSS_BUDGET = 256 * MB;
const READ_NPZ_SLACK = 64 * MB;

/**
 * The targets, each judged on a pair-by-pair median (issue 12): in the default environment readNpz and loadNpz
 * against a plain script reading the same bytes into fresh buffers, with the tunable against np.load with the
 * tunable; saves (fsync off) against np.savez into an open file and against a plain sequential write.
 */
export function checkTargets(cases: readonly CaseSummary[], pairs: readonly PairRatio[] = []): TargetCheck[] {
  const byKey = new Map(cases.map((c) => [c.key, c]));
  const checks: TargetCheck[] = [];
  const ratio = (target: string, run: CaseRun, base: CaseRun, minimum: number): void => {
    const pair = pairs.find((p) => p.caseKey === runKey(run) && p.baseKey === runKey(base));
    checks.push(
      pair === undefined
        ? { target, caseId: run.id, measured: `not measured (needs ${runKey(run)} and ${runKey(base)})` }
        : {
            target,
            caseId: run.id,
            measured: `${pair.median.toFixed(2)}× (${pair.min.toFixed(2)}–${pair.max.toFixed(2)}, ${pair.ratios.length} rounds)`,
            met: pair.median >= minimum,
          },
    );
  };
  const rss = (target: string, caseId: CaseId, limit: (c: CaseSummary) => number | undefined): void => {
    const c = byKey.get(caseId);
    const budget = c === undefined ? undefined : limit(c);
    checks.push(
      c === undefined || budget === undefined
        ? { target, caseId, measured: `not measured (needs ${caseId})` }
        : { target, caseId, measured: `${(c.maxRssBytes / MB).toFixed(0)} MB of ${(budget / MB).toFixed(0)} MB`, met: c.maxRssBytes <= budget },
    );
  };
  const plain = (id: CaseId, variant: EnvVariant = 'default'): CaseRun => ({ id, variant });
  for (const id of ['save-memory', 'save-lazy'] as const) {
    ratio('write (fsync off) ≥ 0.95× np.savez into an open file', plain(id), plain('np-savez'), 0.95);
    ratio('write (fsync off) ≥ 0.9× a plain sequential 1 MiB write', plain(id), plain('plain-write'), 0.9);
  }
  for (const id of ['read-npz', 'load-npz'] as const) {
    ratio('read, default environment, ≥ 1.6× a plain read into fresh buffers', plain(id), plain('plain-read'), 1.6);
    const numpy = id === 'load-npz' ? 'np-load-all' : 'np-load';
    ratio(`read, glibc.malloc.hugetlb=1, ≥ 2× ${numpy === 'np-load' ? 'np.load' : 'np.load keeping every key'} (same tunable)`, plain(id, 'hugetlb'), plain(numpy, 'hugetlb'), 2);
  }
  for (const id of ['chunks', 'chunks-reuse'] as const) ratio('chunks read with CRC ≥ 2× np.load', plain(id), plain('np-load'), 2);
  rss('peak RSS ≤ 256 MB (lazy write)', 'save-lazy', () => RSS_BUDGET);
  rss('peak RSS ≤ 256 MB (chunks() read)', 'chunks', () => RSS_BUDGET);
  rss('peak RSS ≤ 256 MB (chunks() read)', 'chunks-reuse', () => RSS_BUDGET);
  rss('readNpz peak RSS ≤ largest array + 64 MB', 'read-npz', (c) =>
    c.largestArrayBytes === undefined ? undefined : c.largestArrayBytes + READ_NPZ_SLACK,
  );
  return checks;
}
