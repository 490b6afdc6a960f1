import { readFileSync } from 'node:fs';

/**
 * Peak RSS of this process in bytes. Linux carries ru_maxrss (`resourceUsage().maxRSS`) over from the parent
 * across fork + exec, so under `npm run` it reports at least npm's own peak; VmHWM belongs to this process's
 * address space alone. (bench/cases/node-case.ts keeps its own copy: it runs without the bench's modules.)
 */
export function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // no procfs: fall back to getrusage
  }
  return process.resourceUsage().maxRSS * 1024;
}
