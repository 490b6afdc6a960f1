import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe } from 'vitest';

/**
 * The Python oracles. The vitest global setup (test/helpers/oracle-setup.ts) provisions them once per run and
 * passes their paths down in NPZ_ORACLE_PYTHON (numpy + ml_dtypes + safetensors, pinned) and NPZ_STDLIB_PYTHON
 * (any python3: zipfile and zlib only); an empty value means the machine has no python3.
 *
 * Tests that need numpy call `hasNumpy()`, tests that need only the standard library call `hasPython()`. Both skip
 * when the oracle is missing, except under REQUIRE_NUMPY=1 (CI), where a missing oracle fails instead.
 */
function probe(python: string, script: string): boolean {
  return spawnSync(python, ['-c', script], { encoding: 'utf8' }).status === 0;
}

function fromEnv(name: string, fallbackCheck: string): string | undefined {
  const value = process.env[name];
  if (value !== undefined) return value === '' ? undefined : value;
  // Outside the global setup (a test file run by hand with another config): whatever python3 is on PATH.
  return probe('python3', fallbackCheck) ? 'python3' : undefined;
}

let oracle: string | undefined | null = null;
let stdlib: string | undefined | null = null;

function required(what: string): never {
  throw new Error(`REQUIRE_NUMPY=1 but ${what} is unavailable (see the [npz-oracle] lines at the start of the run)`);
}

/** The interpreter with numpy, ml_dtypes and safetensors, or undefined. */
export function oraclePython(): string | undefined {
  if (oracle === null) oracle = fromEnv('NPZ_ORACLE_PYTHON', 'import numpy, ml_dtypes, safetensors');
  return oracle;
}

/** A python3 with its standard library (zipfile, zlib), or undefined. */
export function stdlibPython(): string | undefined {
  if (stdlib === null) stdlib = fromEnv('NPZ_STDLIB_PYTHON', 'import zipfile, zlib') ?? oraclePython();
  return stdlib;
}

export function hasNumpy(): boolean {
  if (oraclePython() === undefined && process.env['REQUIRE_NUMPY'] === '1') required('python3 with numpy and ml_dtypes');
  return oraclePython() !== undefined;
}

/** For tests that need only Python's standard library: true wherever python3 runs. */
export function hasPython(): boolean {
  if (stdlibPython() === undefined && process.env['REQUIRE_NUMPY'] === '1') required('python3');
  return stdlibPython() !== undefined;
}

/**
 * A skipped test's title carries its reason, so a reader of the test report sees why it did not run, not only
 * that it did not: `describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), 'no numpy oracle', 'title'), …)`.
 */
export function withSkipReason(skipped: boolean, reason: string, title: string): string {
  return skipped ? `${title} [skipped: ${reason}]` : title;
}

export const NO_NUMPY = 'no python3 with numpy and ml_dtypes';
export const NO_PYTHON = 'no python3';

/**
 * Runs a Python script; throws with stderr when it fails. Returns stdout. It runs on the oracle interpreter when
 * there is one, else on the plain python3 (enough for scripts that import only the standard library).
 */
export function runPython(script: string, args: string[] = [], input?: string | Uint8Array): string {
  const python = oraclePython() ?? stdlibPython() ?? 'python3';
  const result = spawnSync(python, ['-c', script, ...args], {
    encoding: 'utf8',
    input,
    maxBuffer: 1 << 30,
  });
  if (result.status !== 0) {
    throw new Error(`${python} failed (${result.status}): ${result.error?.message ?? ''}${result.stderr}`);
  }
  return result.stdout;
}

/**
 * `describe` when the numpy oracle (numpy, ml_dtypes and safetensors, one pinned venv) is there, else a skipped
 * `describe` whose title says why; under REQUIRE_NUMPY=1 a missing oracle fails instead.
 */
export function describeWithOracle(name: string, body: () => void): void {
  if (hasNumpy()) describe(name, body);
  else describe.skip(withSkipReason(true, NO_NUMPY, name), body);
}

/** Python lines shared by the oracle scripts: dtype names to numpy dtypes, ml_dtypes included. */
export const PY_DTYPES = String.raw`
import numpy as np, ml_dtypes
NP = {'bool': np.bool_, 'int8': np.int8, 'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16,
      'int32': np.int32, 'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64,
      'float16': np.float16, 'bfloat16': ml_dtypes.bfloat16, 'float32': np.float32, 'float64': np.float64,
      'complex64': np.complex64, 'F8_E4M3': ml_dtypes.float8_e4m3fn, 'F8_E5M2': ml_dtypes.float8_e5m2}
`;

/** Runs python with numpy/ml_dtypes imported and `out` bound to the given path; returns the file's bytes. */
export function pythonArchive(out: string, body: string): Uint8Array {
  runPython(`import sys, io, zipfile, numpy as np, ml_dtypes\nout = sys.argv[1]\n${body}`, [out]);
  return new Uint8Array(readFileSync(out));
}
