import { describe, expect, it } from 'vitest';
import { runKey, type CaseRun } from '../../bench/lib/cases.js';
import { childEnv, expandRuns, pairRatios, roundOrders, type RoundRecord } from '../../bench/lib/fair.js';
import { checkTargets } from '../../bench/lib/results.js';

// The fairness rules of the bench as pure functions: schedule, environment, and pair-by-pair ratios.

describe('bench schedule', () => {
  it('reverses the order every other round: A B C, C B A, A B C, C B A', () => {
    expect(roundOrders(['A', 'B', 'C'], 4)).toEqual([
      ['A', 'B', 'C'],
      ['C', 'B', 'A'],
      ['A', 'B', 'C'],
      ['C', 'B', 'A'],
    ]);
    expect(roundOrders(['A', 'B'], 1)).toEqual([['A', 'B']]);
  });

  it('runs read cases in both environments and write cases in the default one', () => {
    expect(expandRuns(['save-memory', 'read-npz', 'np-load'], ['default', 'hugetlb']).map(runKey)).toEqual([
      'save-memory',
      'read-npz',
      'read-npz+hugetlb',
      'np-load',
      'np-load+hugetlb',
    ]);
    expect(expandRuns(['save-memory', 'read-npz'], ['hugetlb']).map(runKey)).toEqual(['read-npz+hugetlb']);
  });

  it('gives default children no GLIBC_TUNABLES even when the caller has one, and hugetlb children exactly the tunable', () => {
    const caller = { PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.arena_max=1' };
    expect(childEnv(caller, 'default')).toEqual({ PATH: '/bin' });
    expect(childEnv(caller, 'hugetlb')).toEqual({ PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(caller.GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=1');
  });
});

describe('pair-by-pair ratios', () => {
  const runs: CaseRun[] = [
    { id: 'read-npz', variant: 'default' },
    { id: 'plain-read', variant: 'default' },
    { id: 'np-load', variant: 'default' },
    { id: 'read-npz', variant: 'hugetlb' },
    { id: 'np-load', variant: 'hugetlb' },
    { id: 'save-memory', variant: 'default' },
    { id: 'np-savez', variant: 'default' },
    { id: 'save-default', variant: 'default' },
    { id: 'np-savez-fsync', variant: 'default' },
  ];
  // Round 2 is twice as fast for everyone (the machine drifted): per-round ratios stay put, pooled ones would not.
  const gbps: Record<string, [number, number, number]> = {
    'read-npz': [0.3, 0.6, 0.33],
    'plain-read': [0.25, 0.5, 0.3],
    'np-load': [1, 2, 1.1],
    'read-npz+hugetlb': [2, 4, 2.4],
    'np-load+hugetlb': [1, 2, 1],
    'save-memory': [1, 2, 1],
    'np-savez': [2, 4, 2],
    'save-default': [0.5, 1, 0.5],
    'np-savez-fsync': [1, 1, 1],
  };
  const records: RoundRecord[] = Object.entries(gbps).flatMap(([key, values]) =>
    values.map((value, i) => ({ key, round: i + 1, position: 0, gbps: value })),
  );
  const pairs = pairRatios(runs, records);
  const find = (caseKey: string, baseKey: string) => pairs.find((p) => p.caseKey === caseKey && p.baseKey === baseKey);

  it('divides within each round and reports the median with its range', () => {
    const plain = find('read-npz', 'plain-read')!;
    expect(plain.role).toBe('plain');
    expect(plain.ratios.map((r) => Number(r.toFixed(6)))).toEqual([1.2, 1.2, 1.1]);
    expect(plain.median).toBeCloseTo(1.2, 10);
    expect(plain.min).toBeCloseTo(1.1, 10);
    expect(plain.max).toBeCloseTo(1.2, 10);
  });

  it('pairs like with like: same environment, fsynced save against np.savez + fsync', () => {
    expect(find('read-npz+hugetlb', 'np-load+hugetlb')!.median).toBeCloseTo(2, 10);
    expect(find('read-npz+hugetlb', 'np-load')).toBeUndefined();
    expect(find('save-memory', 'np-savez')!.median).toBeCloseTo(0.5, 10);
    expect(find('save-default', 'np-savez-fsync')!.ratios).toEqual([0.5, 1, 0.5]);
    expect(find('save-default', 'np-savez')).toBeUndefined();
    // No case is its own peer, and numpy is nobody's case here.
    expect(pairs.every((p) => p.caseKey !== p.baseKey && !p.caseKey.startsWith('np-'))).toBe(true);
  });

  it('pairs loadNpz, which holds every array, with np.load holding every key', () => {
    const loadRuns: CaseRun[] = [
      { id: 'load-npz', variant: 'hugetlb' },
      { id: 'np-load', variant: 'hugetlb' },
      { id: 'np-load-all', variant: 'hugetlb' },
    ];
    const loadRecords: RoundRecord[] = [
      { key: 'load-npz+hugetlb', round: 1, position: 0, gbps: 3 },
      { key: 'np-load+hugetlb', round: 1, position: 0, gbps: 2 },
      { key: 'np-load-all+hugetlb', round: 1, position: 0, gbps: 1 },
    ];
    const loadPairs = pairRatios(loadRuns, loadRecords);
    expect(loadPairs.filter((p) => p.caseKey === 'load-npz+hugetlb' && p.role === 'numpy').map((p) => [p.baseKey, p.median])).toEqual([
      ['np-load-all+hugetlb', 3],
    ]);
    const target = checkTargets([], loadPairs).find((t) => t.caseId === 'load-npz' && t.target.includes('hugetlb'))!;
    expect(target.target).toContain('keeping every key');
    expect(target.met).toBe(true);
  });

  it('skips rounds where one side is missing', () => {
    const partial = pairRatios(runs, records.filter((r) => !(r.key === 'plain-read' && r.round === 2)));
    const plain = partial.find((p) => p.caseKey === 'read-npz' && p.baseKey === 'plain-read')!;
    expect(plain.ratios.map((r) => Number(r.toFixed(6)))).toEqual([1.2, 1.1]);
    expect(plain.median).toBeCloseTo(1.15, 10);
  });

  it('judges the targets on the pair medians', () => {
    const targets = checkTargets([], pairs);
    const plainTarget = targets.find((t) => t.caseId === 'read-npz' && t.target.includes('plain read'))!;
    expect(plainTarget.met).toBe(false); // 1.2× < 1.6×
    expect(plainTarget.measured).toBe('1.20× (1.10–1.20, 3 rounds)');
    const huge = targets.find((t) => t.caseId === 'read-npz' && t.target.includes('hugetlb'))!;
    expect(huge.met).toBe(true); // 2× ≥ 2×
    const save = targets.find((t) => t.caseId === 'save-memory' && t.target.includes('np.savez'))!;
    expect(save.met).toBe(false); // 0.5× < 0.95×
    expect(targets.find((t) => t.caseId === 'load-npz' && t.target.includes('plain read'))!.met).toBeUndefined();
  });
});
