import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { openNpz } from '../../src/npz/open.js';
import { readNpz } from '../../src/npz/read.js';
import { GOOD_DIR } from '../zip/reader-helpers.js';

// Damaged input of any kind must end in an NpzError (or, when the damage misses everything checked, in a clean
// read): never a RangeError, a TypeError or a hang.

async function readEverything(bytes: Uint8Array): Promise<void> {
  for await (const _ of readNpz(bytes, { maxHeaderSize: 200_000 })) {
    // drain
  }
  const file = await openNpz(bytes, { maxHeaderSize: 200_000 });
  for (const entry of file.entries) {
    if (!entry.isArray) continue;
    await file.get(entry.name);
    for await (const _ of file.chunks(entry.name, { chunkSize: 256 })) {
      // drain
    }
  }
  await file.close();
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 1, max: 255 }), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('structure' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0xff, 0x7f, 0x80) }),
);

type Mutation = { kind: 'flip'; at: number; value: number; count: number } | { kind: 'truncate'; at: number } | { kind: 'structure'; at: number; value: number };

function mutate(original: Uint8Array, mutation: Mutation): Uint8Array {
  const bytes = original.slice();
  if (mutation.kind === 'truncate') return bytes.subarray(0, mutation.at % bytes.length);
  if (mutation.kind === 'flip') {
    for (let i = 0; i < mutation.count; i++) bytes[(mutation.at + i * 7919) % bytes.length]! ^= mutation.value;
    return bytes;
  }
  // Hit the headers and the end records, where most of the structure lives.
  const structural = [0, 26, 28, 30, bytes.length - 22, bytes.length - 12, bytes.length - 6];
  bytes[(structural[mutation.at % structural.length]! + (mutation.at % 8)) % bytes.length] = mutation.value;
  return bytes;
}

describe('reading damaged archives', () => {
  it.each(['compressed.npz', 'pipe.npz', 'all-dtypes.npz', 'unicode-names.npz', 'npy-v3.npz'])(
    '%s: every mutation ends cleanly or in an NpzError',
    async (name) => {
      const original = new Uint8Array(readFileSync(join(GOOD_DIR, name)));
      await fc.assert(
        fc.asyncProperty(mutationArb, async (mutation) => {
          try {
            await readEverything(mutate(original, mutation));
          } catch (error) {
            if (!isNpzError(error)) throw error;
          }
        }),
        { numRuns: 150 },
      );
      await expect(readEverything(original)).resolves.toBeUndefined();
    },
  );
});
