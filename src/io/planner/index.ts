/** The read planner: how every reader's reads reach a source. See planner.ts. */
export { ReadPlanner, DEFAULT_MAX_SPAN, type PlannerOptions, type PiecesOptions, type RunGroup, type RunsOptions, type ReadStats } from './planner.js';
export { mergeRuns, mergeRunsLazily, type ByteRun, type MergedRead, type MergeLimits, type RunBatchRead } from './merge.js';
export {
  readPolicy,
  piecesInFlight,
  runReadsInFlight,
  runGap,
  derivedGap,
  derivedParallel,
  LOCAL_READ_COST,
  MAX_READ_CONCURRENCY,
  type ReadPolicy,
  type Landing,
} from './policy.js';
export { partSize, splitRead } from './split.js';
export { LinkMeter, type RequestTiming } from './meter.js';
