/**
 * Provisions the Python oracle the tests compare against: a virtual environment under
 * node_modules/.cache/npz-oracle with exactly the versions pinned in test/oracle-requirements.txt, created once and
 * reused while the pins and the base interpreter stay the same. Used by the vitest global setup, by `pretest`, and
 * by .ci/run (`node --import tsx test/helpers/oracle.ts` prints the interpreter's path).
 *
 * Set NPZ_ORACLE_PYTHON to an interpreter that already has the pinned packages to skip the venv altogether.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const REQUIREMENTS = join(REPO_ROOT, 'test/oracle-requirements.txt');
export const ORACLE_DIR = join(REPO_ROOT, 'node_modules/.cache/npz-oracle');
const STAMP = 'npz-oracle.stamp';
const IMPORT_CHECK = 'import numpy, ml_dtypes, safetensors';

export interface Oracle {
  /** A python3 with its standard library (zipfile, zlib), or undefined when the machine has none. */
  stdlibPython: string | undefined;
  /** The interpreter with the pinned numpy/ml_dtypes/safetensors; undefined exactly when stdlibPython is. */
  oraclePython: string | undefined;
  /** Seconds spent building the venv in this call; 0 when an existing one was reused. */
  buildSeconds: number;
}

function log(message: string): void {
  process.stderr.write(`[npz-oracle] ${message}\n`);
}

function run(command: string, args: string[]): { ok: boolean; stdout: string; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return {
    ok: result.status === 0,
    stdout: result.stdout ?? '',
    output: `${result.error?.message ?? ''}${result.stdout ?? ''}${result.stderr ?? ''}`.trim(),
  };
}

function venvPython(venv: string): string {
  return process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python');
}

/** The python3 on PATH as an absolute path, or undefined. */
function findPython3(): string | undefined {
  const probe = run('python3', ['-c', 'import sys; print(sys.executable)']);
  const path = probe.stdout.trim();
  return probe.ok && path !== '' ? path : undefined;
}

/** What the venv must match to be reused: the pins and the interpreter it was built from. */
function stampFor(basePython: string): string {
  const version = run(basePython, ['-c', 'import sys; print(sys.version)']).stdout.trim();
  const requirements = readFileSync(REQUIREMENTS, 'utf8');
  return createHash('sha256').update(`${requirements}\0${basePython}\0${version}`).digest('hex');
}

function isCurrent(venv: string, stamp: string): boolean {
  const stampFile = join(venv, STAMP);
  return existsSync(venvPython(venv)) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp;
}

/**
 * Pip sources on this machine's own disk, read from pip's configuration (files and PIP_* variables). Installing
 * from them alone first keeps a machine with a local mirror off the network, where an unreachable default index
 * costs a long chain of retries; anything they lack falls back to pip's full configuration.
 */
function localPipSources(python: string): { indexes: string[]; findLinks: string[] } {
  const listed = run(python, ['-m', 'pip', 'config', 'list']).stdout;
  const indexes: string[] = [];
  const findLinks: string[] = [];
  for (const line of listed.split('\n')) {
    const match = /^[^=]*\.([a-z-]+)='(.*)'$/.exec(line.trim());
    if (match === null) continue;
    const [, key, value] = match as unknown as [string, string, string];
    const local = value.split(/\s+/).filter((v) => v.startsWith('file:') || v.startsWith('/'));
    if (key === 'index-url' || key === 'extra-index-url') indexes.push(...local);
    if (key === 'find-links') findLinks.push(...local);
  }
  return { indexes: [...new Set(indexes)], findLinks: [...new Set(findLinks)] };
}

function pipInstall(python: string): void {
  const base = ['-m', 'pip', 'install', '--quiet', '--no-input', '--disable-pip-version-check', '-r', REQUIREMENTS];
  const { indexes, findLinks } = localPipSources(python);
  if (indexes.length > 0 || findLinks.length > 0) {
    const sources = [
      ...(indexes.length > 0 ? ['--index-url', indexes[0]!, ...indexes.slice(1).flatMap((i) => ['--extra-index-url', i])] : ['--no-index']),
      ...findLinks.flatMap((f) => ['--find-links', f]),
    ];
    const local = run(python, [...base, '--retries', '0', ...sources]);
    if (local.ok) return;
    log('the local pip sources lack a pinned package; trying pip with its full configuration');
  }
  const full = run(python, base);
  if (!full.ok) throw new Error(`pip could not install ${REQUIREMENTS}:\n${full.output}`);
}

/** Builds the venv beside its final place and moves it in only when complete, so a crash leaves nothing half-made. */
function buildVenv(basePython: string, stamp: string): void {
  mkdirSync(dirname(ORACLE_DIR), { recursive: true });
  const staging = `${ORACLE_DIR}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    const created = run(basePython, ['-m', 'venv', staging]);
    if (!created.ok) {
      throw new Error(`\`${basePython} -m venv\` failed (on Debian/Ubuntu: apt-get install python3-venv):\n${created.output}`);
    }
    const python = venvPython(staging);
    pipInstall(python);
    const check = run(python, ['-c', IMPORT_CHECK]);
    if (!check.ok) throw new Error(`the new oracle venv cannot import its packages:\n${check.output}`);
    writeFileSync(join(staging, STAMP), `${stamp}\n`);
    // A concurrent run may have finished first and be using its venv already: keep it, drop ours.
    if (isCurrent(ORACLE_DIR, stamp)) return;
    rmSync(ORACLE_DIR, { recursive: true, force: true });
    try {
      renameSync(staging, ORACLE_DIR);
    } catch (error) {
      // Another run finished first; its venv is as good as ours.
      if (!isCurrent(ORACLE_DIR, stamp)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export function provisionOracle(): Oracle {
  const stdlibPython = findPython3();
  const preset = process.env['NPZ_ORACLE_PYTHON'];
  if (preset !== undefined && preset !== '') {
    const check = run(preset, ['-c', IMPORT_CHECK]);
    if (!check.ok) throw new Error(`NPZ_ORACLE_PYTHON=${preset} cannot import the oracle packages:\n${check.output}`);
    return { stdlibPython: stdlibPython ?? preset, oraclePython: preset, buildSeconds: 0 };
  }
  if (stdlibPython === undefined) return { stdlibPython: undefined, oraclePython: undefined, buildSeconds: 0 };
  const stamp = stampFor(stdlibPython);
  if (isCurrent(ORACLE_DIR, stamp)) return { stdlibPython, oraclePython: venvPython(ORACLE_DIR), buildSeconds: 0 };
  log(`creating the test oracle venv in ${ORACLE_DIR} from ${REQUIREMENTS} (once) ...`);
  const started = performance.now();
  buildVenv(stdlibPython, stamp);
  const buildSeconds = (performance.now() - started) / 1000;
  log(`ready in ${buildSeconds.toFixed(1)} s`);
  return { stdlibPython, oraclePython: venvPython(ORACLE_DIR), buildSeconds };
}

/** The one line a machine without python3 prints, so skipped oracle tests are never silent. */
export const NO_PYTHON_LINE =
  '!!! npz-stream: python3 not found: every test that compares against numpy/CPython is SKIPPED. Install python3 (with venv + pip) to run them. !!!';

// `node --import tsx test/helpers/oracle.ts`: provision, print the interpreter (empty line when there is no python3).
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const oracle = provisionOracle();
  if (oracle.oraclePython === undefined) {
    log(NO_PYTHON_LINE);
    if (process.env['REQUIRE_NUMPY'] === '1') {
      log('REQUIRE_NUMPY=1: failing');
      process.exitCode = 1;
    }
  }
  process.stdout.write(`${oracle.oraclePython ?? ''}\n`);
}
