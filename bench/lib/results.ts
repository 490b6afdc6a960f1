import { CASES, type CaseId, type CaseInfo, type ChildResult } from './cases.js';
import type { MachineInfo, Versions } from './machine.js';

export const GB = 1e9;
export const MB = 1e6;

export interface CaseSummary extends CaseInfo {
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
  /** Throughput relative to numpy's case of the same kind (np.savez or np.load). */
  vsNumpy?: number;
  /** Throughput relative to the raw limit of the same kind. */
  vsRaw?: number;
  /** Throughput relative to the raw limit plus zlib.crc32 of the same kind (what a ZIP reader or writer can reach). */
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
  settings: { rounds: number; warmup: number; repeats: number; fsync: boolean; cpuProfile: boolean };
  pageCache: string;
  fixture: FixtureInfo;
  baselineRssBytes: { node?: number; python?: number };
  cases: CaseSummary[];
  skipped: { id: CaseId; reason: string }[];
  failed: { id: CaseId; error: string }[];
  targets: TargetCheck[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function summarize(result: ChildResult): CaseSummary {
  const medianSeconds = median(result.seconds);
  // The CPU share of the repetition whose wall time is closest to the median.
  let closest = 0;
  result.seconds.forEach((s, i) => {
    if (Math.abs(s - medianSeconds) < Math.abs(result.seconds[closest]! - medianSeconds)) closest = i;
  });
  return {
    ...CASES[result.case],
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

/** Fills in vsNumpy and vsRaw from the numpy and raw cases of the same kind, where they ran. */
export function addRatios(cases: CaseSummary[]): void {
  const byId = new Map(cases.map((c) => [c.id, c]));
  for (const c of cases) {
    const numpy = byId.get(c.kind === 'write' ? 'np-savez' : 'np-load');
    const raw = byId.get(c.kind === 'write' ? 'raw-write' : 'raw-read');
    if (numpy !== undefined) c.vsNumpy = c.gbps / numpy.gbps;
    const rawCrc = byId.get(c.kind === 'write' ? 'raw-write-crc' : 'raw-read-crc');
    if (raw !== undefined) c.vsRaw = c.gbps / raw.gbps;
    if (rawCrc !== undefined) c.vsRawCrc = c.gbps / rawCrc.gbps;
  }
}

const RSS_BUDGET = 256 * MB;
const READ_NPZ_SLACK = 64 * MB;

export function checkTargets(cases: readonly CaseSummary[]): TargetCheck[] {
  const byId = new Map(cases.map((c) => [c.id, c]));
  const checks: TargetCheck[] = [];
  const ratio = (target: string, caseId: CaseId, key: 'vsNumpy' | 'vsRaw', minimum: number, against: string): void => {
    const value = byId.get(caseId)?.[key];
    checks.push(
      value === undefined
        ? { target, caseId, measured: `not measured (needs ${caseId} and ${against})` }
        : { target, caseId, measured: key === 'vsRaw' ? `${(value * 100).toFixed(0)} %` : `${value.toFixed(2)}×`, met: value >= minimum },
    );
  };
  const rss = (target: string, caseId: CaseId, limit: (c: CaseSummary) => number | undefined): void => {
    const c = byId.get(caseId);
    const budget = c === undefined ? undefined : limit(c);
    checks.push(
      c === undefined || budget === undefined
        ? { target, caseId, measured: `not measured (needs ${caseId})` }
        : { target, caseId, measured: `${(c.maxRssBytes / MB).toFixed(0)} MB of ${(budget / MB).toFixed(0)} MB`, met: c.maxRssBytes <= budget },
    );
  };
  for (const id of ['save-memory', 'save-lazy'] as const) ratio('write ≥ 1.5× np.savez', id, 'vsNumpy', 1.5, 'np-savez');
  for (const id of ['save-memory', 'save-lazy'] as const) ratio('write ≥ 80 % of the raw write limit', id, 'vsRaw', 0.8, 'raw-write');
  for (const id of ['read-npz', 'chunks', 'chunks-reuse'] as const) ratio('read with CRC ≥ 2× np.load', id, 'vsNumpy', 2, 'np-load');
  rss('peak RSS ≤ 256 MB (lazy write)', 'save-lazy', () => RSS_BUDGET);
  rss('peak RSS ≤ 256 MB (chunks() read)', 'chunks', () => RSS_BUDGET);
  rss('peak RSS ≤ 256 MB (chunks() read)', 'chunks-reuse', () => RSS_BUDGET);
  rss('readNpz peak RSS ≤ largest array + 64 MB', 'read-npz', (c) =>
    c.largestArrayBytes === undefined ? undefined : c.largestArrayBytes + READ_NPZ_SLACK,
  );
  return checks;
}
