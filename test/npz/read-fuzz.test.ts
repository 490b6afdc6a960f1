import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { openNpz, readNpz } from '../../src/index.js';
import { GOOD_DIR, manifestOf, storedSha256, type Manifest } from '../helpers/fixtures.js';
import { bytesOf, sha256 } from '../helpers/bytes.js';

// Damaged input of any kind must end in an NpzError or, when the damage misses everything checked, in a clean
// read of exactly numpy's arrays: never a RangeError, a TypeError, a hang, or different data. Seeded (override with
// READ_FUZZ_SEED); a failure's message carries the fast-check seed and path to replay it.

const SEED = Number(process.env['READ_FUZZ_SEED'] ?? 0x5eed_0010);

/** Reads everything three ways; throws on any read error, and on any data that differs from numpy's manifest. */
async function readEverything(bytes: Uint8Array, manifest: Manifest): Promise<void> {
  const members = manifest.members.filter((member) => member.npy);
  const streamed: string[] = [];
  for await (const [key, array] of readNpz(bytes, { maxHeaderSize: 200_000 })) {
    const member = members[streamed.length];
    streamed.push(key);
    if (member?.key !== key) throw new Error(`readNpz gave ${key} where numpy has ${member?.key}`);
    if (array.dtype !== member.dtype || JSON.stringify(array.shape) !== JSON.stringify(member.shape) || storedSha256(member, array) !== member.sha256) {
      throw new Error(`readNpz returned different data for ${key}`);
    }
  }
  if (streamed.length !== members.length) throw new Error(`readNpz gave ${streamed.length} arrays, numpy has ${members.length}`);
  const file = await openNpz(bytes, { maxHeaderSize: 200_000 });
  try {
    const arrays = file.entries.filter((entry) => entry.isArray);
    if (JSON.stringify(arrays.map((entry) => entry.name)) !== JSON.stringify(members.map((member) => member.key))) {
      throw new Error('openNpz lists different arrays than numpy');
    }
    for (const [index, entry] of arrays.entries()) {
      const member = members[index]!;
      const array = await file.get(entry.name);
      if (storedSha256(member, array) !== member.sha256) throw new Error(`get(${entry.name}) returned different data`);
      const parts: Uint8Array[] = [];
      for await (const chunk of file.chunks(entry.name, { chunkSize: 256 })) parts.push(chunk.slice());
      // chunks() gives the same bytes as get() (big-endian members swapped alike), which matched numpy above.
      if (sha256(Buffer.concat(parts)) !== sha256(bytesOf(array.data))) throw new Error(`chunks(${entry.name}) returned different data`);
    }
  } finally {
    await file.close();
  }
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
  it.each(['compressed.npz', 'pipe.npz', 'all-dtypes.npz', 'unicode-names.npz', 'npy-v3.npz'].map((name, index) => [name, SEED + index] as const))(
    '%s (seed %i): every mutation ends in an NpzError or in numpy\'s exact arrays',
    async (name, seed) => {
      const original = new Uint8Array(readFileSync(join(GOOD_DIR, name)));
      const manifest = manifestOf(name);
      await expect(readEverything(original, manifest)).resolves.toBeUndefined();
      const outcomes = { clean: 0, refused: 0 };
      console.log(`read-fuzz ${name}: seed ${seed}`);
      await fc.assert(
        fc.asyncProperty(mutationArb, async (mutation) => {
          try {
            await readEverything(mutate(original, mutation), manifest);
            outcomes.clean++;
          } catch (error) {
            if (!isNpzError(error)) throw error;
            outcomes.refused++;
          }
        }),
        { numRuns: 150, seed },
      );
      // Both branches ran: some damage was refused, and some missed everything and still read back numpy's data.
      expect(outcomes.refused, `seed ${seed}`).toBeGreaterThan(0);
      expect(outcomes.clean, `seed ${seed}`).toBeGreaterThan(0);
    },
  );
});
