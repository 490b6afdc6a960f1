/**
 * Vitest global setup: provisions the Python oracle once per run (test/helpers/oracle.ts) and hands the
 * interpreters to the test processes through the environment. The oracle's bin directory also goes first on PATH,
 * so child processes the tests start (the CLI's demo, the bench) find the same python3 the tests judge with.
 */
import { delimiter, dirname } from 'node:path';
import { NO_PYTHON_LINE, provisionOracle } from './oracle.js';

export default function setup(): void {
  const oracle = provisionOracle();
  process.env['NPZ_ORACLE_PYTHON'] = oracle.oraclePython ?? '';
  process.env['NPZ_STDLIB_PYTHON'] = oracle.stdlibPython ?? '';
  if (oracle.oraclePython === undefined) {
    if (process.env['REQUIRE_NUMPY'] === '1') throw new Error('REQUIRE_NUMPY=1 but python3 is not on PATH');
    process.stderr.write(`\n${NO_PYTHON_LINE}\n\n`);
    return;
  }
  process.env['PATH'] = `${dirname(oracle.oraclePython)}${delimiter}${process.env['PATH'] ?? ''}`;
}
