import { describe, expect, it } from 'vitest';
import { agreeWithZlib } from '../helpers/inflate-agreement.js';

// The long, opt-in agreement run of the browser's TypeScript raw inflater against zlib (`npm run test:slow`):
// INFLATE_SEEDS seeds (default 8) of INFLATE_STREAMS random deflate streams each (default 600), whole, damaged and
// cut, fed and taken in random piece sizes. The quick suite runs two seeds of 40 (test/browser/inflate.test.ts).

const SEEDS = Number(process.env['INFLATE_SEEDS'] ?? 8);
const STREAMS = Number(process.env['INFLATE_STREAMS'] ?? 600);

describe('the TypeScript raw inflater against zlib, long run', () => {
  it.each(Array.from({ length: SEEDS }, (_, i) => 100 + i))(`agrees with zlib on ${STREAMS} streams (seed %i)`, (seed) => {
    expect(agreeWithZlib(seed, STREAMS)).toBeGreaterThan(STREAMS / 12);
  });
});
