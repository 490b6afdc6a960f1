/** The read planner: how every reader's reads reach a source. See planner.ts. */
export { ReadPlanner, DEFAULT_MAX_SPAN, type PlannerOptions, type PiecesOptions, type RunGroup } from './planner.js';
export { mergeRuns, type ByteRun, type MergedRead, type MergeLimits } from './merge.js';
export { readPolicy, piecesInFlight, runReadsInFlight, derivedGap, derivedParallel, MAX_READ_CONCURRENCY, type ReadPolicy, type Landing } from './policy.js';
export { partSize, splitRead } from './split.js';
