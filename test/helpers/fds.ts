import { readdirSync } from 'node:fs';

/**
 * Open descriptors of this process (Linux /proc). Tests compare counts before and after an operation to prove
 * nothing leaked; the listing itself opens one descriptor, the same one each time, so the counts compare fairly.
 */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
