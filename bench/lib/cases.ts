/**
 * The benchmark cases, shared by the orchestrator (bench/run.ts) and the node child (bench/cases/node-case.ts).
 * Every case runs in a child process of its own so its peak RSS is its own.
 */

export type CaseKind = 'write' | 'read';
export type CaseRuntime = 'node' | 'python';

export interface CaseInfo {
  id: CaseId;
  kind: CaseKind;
  runtime: CaseRuntime;
  /** Row label in tables and the chart. */
  label: string;
  /** What exactly is timed, for the methodology table. */
  detail: string;
  /** Fsyncs before the timer stops whatever --fsync says (the like-with-like pair for saveNpz's default). */
  alwaysFsync?: true;
}

export const CASE_IDS = [
  'save-memory',
  'save-lazy',
  'np-savez',
  'save-default',
  'np-savez-fsync',
  'yazl',
  'plain-write',
  'raw-write',
  'raw-write-crc',
  'read-npz',
  'read-npz-reuse',
  'load-npz',
  'chunks',
  'chunks-reuse',
  'np-load',
  'np-load-all',
  'plain-read',
  'yauzl',
  'raw-read',
  'raw-read-crc',
] as const;

export type CaseId = (typeof CASE_IDS)[number];

export const CASES: Record<CaseId, CaseInfo> = {
  'save-memory': {
    id: 'save-memory',
    kind: 'write',
    runtime: 'node',
    label: 'saveNpz, in-memory leaves',
    detail: 'fixture loaded with readNpz before timing; saveNpz(path, pairs) of the typed arrays',
  },
  'save-lazy': {
    id: 'save-lazy',
    kind: 'write',
    runtime: 'node',
    label: 'saveNpz, lazy leaves',
    detail: "same names/shapes/dtypes as the fixture; each leaf's chunks() yields 4 MiB views of a 64 MiB random pool",
  },
  'np-savez': {
    id: 'np-savez',
    kind: 'write',
    runtime: 'python',
    label: 'np.savez',
    detail: "fixture loaded with np.load (every key) before timing; np.savez(f, **arrays) into a file opened with open(path, 'wb')",
  },
  'save-default': {
    id: 'save-default',
    kind: 'write',
    runtime: 'node',
    label: 'saveNpz default (fsync), in-memory',
    detail: "as save-memory, with saveNpz's default options: the temp file is fsynced before the rename",
    alwaysFsync: true,
  },
  'np-savez-fsync': {
    id: 'np-savez-fsync',
    kind: 'write',
    runtime: 'python',
    label: 'np.savez + os.fsync',
    detail: 'as np-savez, then f.flush() and os.fsync(f.fileno()) before the file is closed',
    alwaysFsync: true,
  },
  'plain-write': {
    id: 'plain-write',
    kind: 'write',
    runtime: 'node',
    label: 'plain sequential write, 1 MiB',
    detail: 'the fixture file read into memory before timing, then written to a new file with FileHandle.write, 1 MiB at a time, one write in flight',
  },
  yazl: {
    id: 'yazl',
    kind: 'write',
    runtime: 'node',
    label: 'yazl 3.3.1 (stock, stored)',
    detail: 'addReadStreamLazy per tensor (npy header + the same pool chunks), compress:false, size given; piped to fs.createWriteStream',
  },
  'raw-write': {
    id: 'raw-write',
    kind: 'write',
    runtime: 'node',
    label: 'raw write limit',
    detail: 'the fixture byte count written with FileHandle.write in 16 MiB chunks into a new file',
  },
  'raw-write-crc': {
    id: 'raw-write-crc',
    kind: 'write',
    runtime: 'node',
    label: 'raw write + zlib.crc32',
    detail: 'as raw-write, with zlib.crc32 over each chunk while its write is in flight: the ceiling for any ZIP writer in Node',
  },
  'read-npz': {
    id: 'read-npz',
    kind: 'read',
    runtime: 'node',
    label: 'readNpz (CRC checked)',
    detail: 'for await of readNpz(path): every array into its own buffer, CRC-32 verified, the next array read ahead (the defaults)',
  },
  'read-npz-reuse': {
    id: 'read-npz-reuse',
    kind: 'read',
    runtime: 'node',
    label: 'readNpz({ reuse }) (CRC checked)',
    detail: 'as readNpz, with reuse: true (arrays read into two reused buffers; each valid until the next is requested)',
  },
  'load-npz': {
    id: 'load-npz',
    kind: 'read',
    runtime: 'node',
    label: 'loadNpz (CRC checked)',
    detail: 'await loadNpz(path): the whole tree in memory, CRC-32 verified',
  },
  chunks: {
    id: 'chunks',
    kind: 'read',
    runtime: 'node',
    label: 'openNpz().chunks() (CRC checked)',
    detail: 'openNpz(path), then every array streamed with chunks() (4 MiB default), CRC-32 verified',
  },
  'chunks-reuse': {
    id: 'chunks-reuse',
    kind: 'read',
    runtime: 'node',
    label: 'chunks({ reuseBuffers }) (CRC checked)',
    detail: 'as chunks(), with reuseBuffers: true (a ring of reused 1 MiB buffers; each chunk valid until the next)',
  },
  'np-load': {
    id: 'np-load',
    kind: 'read',
    runtime: 'python',
    label: 'np.load, every key (CRC checked)',
    detail: 'with np.load(path) as z: z[k] for every key (zipfile checks each CRC-32 at the end of a member)',
  },
  'np-load-all': {
    id: 'np-load-all',
    kind: 'read',
    runtime: 'python',
    label: 'np.load, every key kept',
    detail: "{k: z[k] for k in z.files}: every array held at once, as loadNpz holds them (the like-for-like peer of loadNpz)",
  },
  'plain-read': {
    id: 'plain-read',
    kind: 'read',
    runtime: 'node',
    label: 'plain read into fresh buffers',
    detail: "each array's data (offsets from openNpz before timing) read into a new Buffer.allocUnsafeSlow with positional FileHandle.read calls, one at a time (≤ 1 GiB each); no CRC",
  },
  yauzl: {
    id: 'yauzl',
    kind: 'read',
    runtime: 'node',
    label: 'yauzl 3.4.0 openReadStream (no CRC)',
    detail: 'yauzl.open + openReadStream per entry, stock options (16 KiB reads); yauzl never checks CRC-32',
  },
  'raw-read': {
    id: 'raw-read',
    kind: 'read',
    runtime: 'node',
    label: 'raw sequential read limit',
    detail: 'the fixture read start to end with FileHandle.read into one 16 MiB buffer',
  },
  'raw-read-crc': {
    id: 'raw-read-crc',
    kind: 'read',
    runtime: 'node',
    label: 'raw read + zlib.crc32',
    detail: 'as raw-read, with two 16 MiB buffers: zlib.crc32 over one while the next read is in flight (the ceiling for a CRC-checking reader)',
  },
};

/**
 * The environments a case runs in. Every read case runs in both: `default` is what a user gets (GLIBC_TUNABLES
 * removed from the child's environment), `hugetlb` sets GLIBC_TUNABLES=glibc.malloc.hugetlb=1, so glibc asks for
 * transparent huge pages on its own mmaps, as numpy does for its arrays.
 */
export const ENV_VARIANTS = ['default', 'hugetlb'] as const;
export type EnvVariant = (typeof ENV_VARIANTS)[number];
export const HUGETLB_TUNABLE = 'glibc.malloc.hugetlb=1';

/** One case in one environment: the unit that gets a fresh process per round. */
export interface CaseRun {
  id: CaseId;
  variant: EnvVariant;
}

export function runKey(run: CaseRun): string {
  return run.variant === 'default' ? run.id : `${run.id}+${run.variant}`;
}

export function isCaseId(value: string): value is CaseId {
  return (CASE_IDS as readonly string[]).includes(value);
}

/** What a child writes to `resultFile` when its case is done. */
export interface ChildResult {
  case: CaseId;
  /** Bytes written or read per repetition (the archive size, or the same byte count for the raw limits). */
  bytes: number;
  /** Wall seconds of the untimed warm-up repetitions. */
  warmupSeconds: number[];
  /** Wall seconds of each timed repetition. */
  seconds: number[];
  /** CPU seconds (user + system) of each timed repetition. */
  cpuSeconds: number[];
  /** Peak resident set size of the whole child process, setup included, in bytes. */
  maxRssBytes: number;
  /** Seconds spent before the first repetition (loading arrays, opening files). */
  setupSeconds: number;
  /** Largest array in bytes, where the case knows it. */
  largestArrayBytes?: number;
  /** GLIBC_TUNABLES as the child saw it (null: unset), so the orchestrator can check the environment took. */
  glibcTunables: string | null;
  /** Files in outDir when the child started: write cases must start from an empty directory. */
  outDirEntriesAtStart: number;
}

/** Arguments the orchestrator passes to every child, as one JSON string. */
export interface ChildArgs {
  case: CaseId;
  fixture: string;
  /** Where write cases put their output (the same directory for every write case). */
  outDir: string;
  warmup: number;
  repeats: number;
  /** fsync the written file before the timer stops (every write case alike; alwaysFsync cases ignore false). */
  fsync: boolean;
  /** Where the child writes its ChildResult as JSON. */
  resultFile: string;
  /** Node cases: write a V8 CPU profile of the repetitions (setup excluded) here. */
  cpuProfileFile?: string;
}
