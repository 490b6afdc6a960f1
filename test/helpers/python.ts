import { spawnSync } from 'node:child_process';

/**
 * The numpy oracle. Tests that need it call `describeWithNumpy`; they skip when python3+numpy are missing,
 * except under REQUIRE_NUMPY=1 (CI), where a missing oracle fails loudly instead of skipping silently.
 */
let cached: boolean | undefined;

export function hasNumpy(): boolean {
  if (cached === undefined) {
    const probe = spawnSync('python3', ['-c', 'import numpy, ml_dtypes'], { encoding: 'utf8' });
    cached = probe.status === 0;
    if (!cached && process.env['REQUIRE_NUMPY'] === '1') {
      throw new Error(`REQUIRE_NUMPY=1 but python3 with numpy and ml_dtypes is unavailable: ${probe.stderr}`);
    }
  }
  return cached;
}

/** Runs a python3 script with numpy; throws with stderr when it fails. Returns stdout. */
export function runPython(script: string, args: string[] = [], input?: string | Uint8Array): string {
  const result = spawnSync('python3', ['-c', script, ...args], {
    encoding: 'utf8',
    input,
    maxBuffer: 1 << 30,
  });
  if (result.status !== 0) {
    throw new Error(`python3 failed (${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}
