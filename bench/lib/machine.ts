import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramBytes: number;
  kernel: string;
  /** The filesystem and block device holding the benchmark files. */
  disk: string;
  /**
   * GB/s of writing a fresh 256 MiB ArrayBuffer once (every 4 KiB page faults in) and again (pages resident).
   * A large gap means page faults are expensive here, which penalises every fresh allocation.
   */
  memory?: { firstTouchGBps: number; retouchGBps: number };
}

export interface MemorySettings {
  /** /sys/kernel/mm/transparent_hugepage/enabled and defrag, the bracketed choice (e.g. 'madvise'). */
  thpEnabled: string;
  thpDefrag: string;
  /** glibc as Node reports it (glibc.malloc.hugetlb needs ≥ 2.35). */
  glibc: string;
  /** GLIBC_TUNABLES of the orchestrator; the default-environment children run without it. */
  inheritedTunables: string;
  /** What the `hugetlb` children get. */
  hugetlbTunables: string;
}

function thpSetting(file: string): string {
  try {
    const text = readFileSync(`/sys/kernel/mm/transparent_hugepage/${file}`, 'utf8').trim();
    return /\[([^\]]+)\]/.exec(text)?.[1] ?? text;
  } catch {
    return 'unknown';
  }
}

export function memorySettings(hugetlbTunables: string): MemorySettings {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return {
    thpEnabled: thpSetting('enabled'),
    thpDefrag: thpSetting('defrag'),
    glibc: header?.glibcVersionRuntime ?? 'unknown',
    inheritedTunables: process.env['GLIBC_TUNABLES'] ?? '(unset)',
    hugetlbTunables,
  };
}

export interface Versions {
  node: string;
  python?: string;
  numpy?: string;
  yazl: string;
  yauzl: string;
  /** The commit the package was built from, and whether the tree had uncommitted changes. */
  git?: string;
}

function run(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.split(':')[1]!.trim();
  } catch {
    // not Linux: fall back to what os reports
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function describeDisk(directory: string): string {
  // df -P: "Filesystem 1024-blocks Used Available Capacity Mounted on"; -T adds the type.
  const df = run('df', ['-PT', directory])?.split('\n')[1]?.split(/\s+/);
  if (df === undefined) return 'unknown';
  const [device, type, blocks] = df;
  const name = device?.replace(/^\/dev\//, '') ?? '';
  const lsblk = run('lsblk', ['-dno', 'ROTA,MODEL', `/dev/${name.replace(/[0-9]+$/, '')}`]) ?? run('lsblk', ['-dno', 'ROTA,MODEL', device ?? '']);
  const [rota, ...model] = (lsblk ?? '').split(/\s+/);
  const size = blocks === undefined ? '' : `, ${(Number(blocks) * 1024 / 1e9).toFixed(0)} GB`;
  const kind = name.startsWith('vd') ? 'virtio block device' : name.startsWith('nvme') ? 'NVMe' : 'block device';
  const rotational = rota === '1' ? ', reports rotational' : rota === '0' ? ', non-rotational' : '';
  const modelText = model.join(' ').trim();
  return `${device} (${type}${size}, ${kind}${modelText === '' ? '' : ` ${modelText}`}${rotational})`;
}

const MEMORY_PROBE_JS = `const n = 256 * 1024 * 1024;
const bytes = new Uint8Array(n);
let t = performance.now(); bytes.fill(1); const first = performance.now() - t;
t = performance.now(); bytes.fill(2); const again = performance.now() - t;
process.stdout.write(JSON.stringify({ firstTouchGBps: n / first / 1e6, retouchGBps: n / again / 1e6 }));`;

function probeMemory(): MachineInfo['memory'] {
  const result = spawnSync(process.execPath, ['-e', MEMORY_PROBE_JS], { encoding: 'utf8' });
  return result.status === 0 ? (JSON.parse(result.stdout) as MachineInfo['memory']) : undefined;
}

export function machineInfo(directory: string): MachineInfo {
  const memory = probeMemory();
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    ramBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    disk: describeDisk(directory),
    ...(memory === undefined ? {} : { memory }),
  };
}

function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  return (require(`${name}/package.json`) as { version: string }).version;
}

export function versions(): Versions {
  const python = run('python3', ['-c', 'import sys, numpy; print(sys.version.split()[0], numpy.__version__)'])?.split(' ');
  return {
    node: process.version,
    ...(python?.[0] === undefined ? {} : { python: python[0] }),
    ...(python?.[1] === undefined ? {} : { numpy: python[1] }),
    yazl: packageVersion('yazl'),
    yauzl: packageVersion('yauzl'),
    ...gitVersion(),
  };
}

function gitVersion(): { git?: string } {
  const commit = run('git', ['rev-parse', '--short', 'HEAD']);
  if (commit === undefined) return {};
  const dirty = (run('git', ['status', '--porcelain', '--', 'src']) ?? '') !== '';
  return { git: `${commit}${dirty ? ' + uncommitted changes in src/' : ''}` };
}

const PEAK_RSS_JS = String.raw`const status = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status);
process.stdout.write(String(hwm ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024));`;

const PEAK_RSS_PY = String.raw`import re, numpy
print(int(re.search(r"^VmHWM:\s+(\d+) kB$", open("/proc/self/status").read(), re.M).group(1)) * 1024)`;

/**
 * Peak RSS (VmHWM, as the children measure it) of a process that only loads the runtime and the imports of its
 * cases: the floor every case sits on.
 */
export function baselineRss(importUrls: readonly string[]): { node?: number; python?: number } {
  const script = `${importUrls.map((url) => `await import(${JSON.stringify(url)});`).join('\n')}\n${PEAK_RSS_JS}`;
  const node = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const python = run('python3', ['-c', PEAK_RSS_PY]);
  return {
    ...(node.status === 0 && node.stdout !== '' ? { node: Number(node.stdout) } : {}),
    ...(python === undefined ? {} : { python: Number(python) }),
  };
}
