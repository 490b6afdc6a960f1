/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N]`: self time per function of a V8 CPU
 * profile (as written by `npm run bench -- --cpu-prof`), heaviest first, to see where a case spends its time.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url === '' ? '' : ` ${url.replace(/^file:\/\/.*?\/(dist|node_modules|bench)\//, '$1/')}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${file}`;
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: bench/profile-summary.ts FILE.cpuprofile [--top N]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const name = frameName(byId.get(id)!);
    selfMicros.set(name, (selfMicros.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = profile.endTime - profile.startTime;
  const rows = [...selfMicros.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  process.stdout.write(`total ${(total / 1e6).toFixed(2)} s\n`);
  for (const [name, micros] of rows) {
    process.stdout.write(`${(micros / 1e3).toFixed(0).padStart(8)} ms ${((micros / total) * 100).toFixed(1).padStart(5)} %  ${name}\n`);
  }
}

main();
