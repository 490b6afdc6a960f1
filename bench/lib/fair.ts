/**
 * What makes the comparisons fair on a VM where untouched memory costs far more than resident memory, and a case
 * can win or lose by 2× depending on what ran before it:
 * - every case runs in a fresh process in every round, in each environment it is measured in;
 * - the rounds interleave all cases, the order reversed every other round (A B … B A), so no case always follows
 *   the same neighbour;
 * - ratios are taken pair by pair inside one round (the case and its peer ran minutes apart at most), then
 *   summarised over rounds as a median with its range.
 * Pure functions: bench/run.ts does the I/O.
 */
import { CASES, HUGETLB_TUNABLE, runKey, type CaseId, type CaseRun, type EnvVariant } from './cases.js';
import { median } from './stats.js';

/** Read cases run once per requested environment; write cases in the default one only. */
export function expandRuns(cases: readonly CaseId[], variants: readonly EnvVariant[]): CaseRun[] {
  return cases.flatMap((id) =>
    CASES[id].kind === 'read' ? variants.map((variant) => ({ id, variant })) : variants.includes('default') ? [{ id, variant: 'default' as const }] : [],
  );
}

/** The run order of each round: as given in odd rounds (1, 3, …), reversed in even ones. */
export function roundOrders<T>(runs: readonly T[], rounds: number): T[][] {
  return Array.from({ length: rounds }, (_, i) => (i % 2 === 0 ? [...runs] : [...runs].reverse()));
}

/**
 * The child's environment: `default` is what a user gets, so an inherited GLIBC_TUNABLES is removed;
 * `hugetlb` sets exactly the one tunable.
 */
export function childEnv(base: NodeJS.ProcessEnv, variant: EnvVariant): NodeJS.ProcessEnv {
  const { GLIBC_TUNABLES: _inherited, ...rest } = base;
  return variant === 'hugetlb' ? { ...rest, GLIBC_TUNABLES: HUGETLB_TUNABLE } : rest;
}

/** One process's measurement: a case in one environment in one round. */
export interface RoundRecord {
  key: string;
  round: number;
  /** Position in that round's order (0-based). */
  position: number;
  /** Bytes over the median of the process's timed repetitions, GB/s. */
  gbps: number;
}

export type PairRole = 'numpy' | 'plain' | 'raw' | 'rawCrc';

export interface PairRatio {
  /** runKey of the measured case and of the peer it is divided by (same environment). */
  caseKey: string;
  baseKey: string;
  role: PairRole;
  /** Per-round throughput ratios, in round order, for the rounds where both ran. */
  ratios: number[];
  median: number;
  min: number;
  max: number;
}

/** Like with like: in-memory saves against np.savez into an open file, fsynced saves against np.savez + fsync. */
export function numpyPeer(id: CaseId): CaseId | undefined {
  if (CASES[id].runtime === 'python') return undefined;
  if (CASES[id].alwaysFsync) return 'np-savez-fsync';
  // loadNpz holds every array until it returns; so must its peer, or fresh memory would be compared with reused.
  if (id === 'load-npz') return 'np-load-all';
  return CASES[id].kind === 'write' ? 'np-savez' : 'np-load';
}

/** The same-run plain-script baselines of issue 12: same bytes, no library, no numpy. */
export const PLAIN_PEERS: Partial<Record<CaseId, CaseId>> = {
  'save-memory': 'plain-write',
  'save-lazy': 'plain-write',
  'read-npz': 'plain-read',
  'read-npz-reuse': 'plain-read',
  'load-npz': 'plain-read',
};

function rawPeers(id: CaseId): { raw: CaseId; rawCrc: CaseId } | undefined {
  // An fsynced case against a limit that never fsyncs would compare the disk with the page cache.
  if (CASES[id].alwaysFsync || id.startsWith('raw-')) return undefined;
  return CASES[id].kind === 'write' ? { raw: 'raw-write', rawCrc: 'raw-write-crc' } : { raw: 'raw-read', rawCrc: 'raw-read-crc' };
}

export function pairsOf(run: CaseRun): { role: PairRole; base: CaseRun }[] {
  const peers: { role: PairRole; base: CaseRun }[] = [];
  const add = (role: PairRole, base: CaseId | undefined): void => {
    if (base !== undefined) peers.push({ role, base: { id: base, variant: run.variant } });
  };
  add('numpy', numpyPeer(run.id));
  add('plain', PLAIN_PEERS[run.id]);
  const raw = rawPeers(run.id);
  add('raw', raw?.raw);
  add('rawCrc', raw?.rawCrc);
  return peers;
}

/** Every pair among the runs that happened, each ratio taken inside one round. */
export function pairRatios(runs: readonly CaseRun[], records: readonly RoundRecord[]): PairRatio[] {
  const byRound = new Map<string, number>();
  for (const r of records) byRound.set(`${r.key}@${r.round}`, r.gbps);
  const rounds = [...new Set(records.map((r) => r.round))].sort((a, b) => a - b);
  const out: PairRatio[] = [];
  for (const run of runs) {
    for (const { role, base } of pairsOf(run)) {
      const caseKey = runKey(run);
      const baseKey = runKey(base);
      const ratios = rounds.flatMap((round) => {
        const mine = byRound.get(`${caseKey}@${round}`);
        const theirs = byRound.get(`${baseKey}@${round}`);
        return mine === undefined || theirs === undefined ? [] : [mine / theirs];
      });
      if (ratios.length === 0) continue;
      out.push({ caseKey, baseKey, role, ratios, median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) });
    }
  }
  return out;
}
