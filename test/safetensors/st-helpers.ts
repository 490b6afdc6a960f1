import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';

/**
 * The Python safetensors oracle (next to numpy and ml_dtypes). Tests skip without it, except under
 * REQUIRE_NUMPY=1, where a missing oracle fails instead of silently skipping.
 */
let cached: boolean | undefined;
export function hasSafetensors(): boolean {
  if (cached === undefined) {
    const probe = spawnSync('python3', ['-c', 'import numpy, ml_dtypes, safetensors'], { encoding: 'utf8' });
    cached = probe.status === 0;
    if (!cached && process.env['REQUIRE_NUMPY'] === '1') {
      throw new Error(`REQUIRE_NUMPY=1 but python3 with numpy, ml_dtypes and safetensors is unavailable: ${probe.stderr}`);
    }
  }
  return cached;
}

export function describeWithSafetensors(name: string, body: () => void): void {
  if (hasSafetensors()) describe(name, body);
  else describe.skip(`${name} (python3 safetensors missing)`, body);
}

export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `npz-st-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sameBytes(a: string, b: string): boolean {
  return Buffer.compare(readFileSync(a), readFileSync(b)) === 0;
}

/** Python lines shared by the oracle scripts: dtype names to numpy dtypes, ml_dtypes included. */
export const PY_DTYPES = String.raw`
import numpy as np, ml_dtypes
NP = {'bool': np.bool_, 'int8': np.int8, 'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16,
      'int32': np.int32, 'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64,
      'float16': np.float16, 'bfloat16': ml_dtypes.bfloat16, 'float32': np.float32, 'float64': np.float64,
      'complex64': np.complex64, 'F8_E4M3': ml_dtypes.float8_e4m3fn, 'F8_E5M2': ml_dtypes.float8_e5m2}
`;
