import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTYPES, type DType } from '../../src/npy/dtype.js';
import { openNpz, readNpz, saveNpzStream } from '../../src/index.js';
import type { Leaf } from '../../src/npy/write.js';
import { bytesOf, sha256 } from '../helpers/bytes.js';

// The writer's output, for random flat trees, reads back exactly: names in order, dtype, shape, order and bytes.
// Eager leaves give numpy's seekable layout; lazy leaves and compression give data descriptors.

interface Case {
  name: string;
  dtype: DType;
  shape: number[];
  fortranOrder: boolean;
  bytes: Uint8Array;
  lazy: boolean;
}

const dtypeArb = fc.constantFrom(...(Object.keys(DTYPES) as DType[]));
const shapeArb = fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 });

const caseArb = (index: number) =>
  fc.record({ dtype: dtypeArb, shape: shapeArb, fortranOrder: fc.boolean(), lazy: fc.boolean(), seed: fc.integer() }).map(
    ({ dtype, shape, fortranOrder, lazy, seed }): Case => {
      const count = shape.reduce((a, b) => a * b, 1);
      const bytes = new Uint8Array(count * DTYPES[dtype].itemsize);
      let state = seed >>> 0;
      for (let i = 0; i < bytes.length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        bytes[i] = dtype === 'bool' ? (state >>> 31) & 1 : state >>> 24;
      }
      return { name: `group${index % 3}/leaf${index}`, dtype, shape, fortranOrder: fortranOrder && shape.length > 1, bytes, lazy };
    },
  );

const treeArb = fc.integer({ min: 0, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => caseArb(i))));

function leafOf(c: Case): Leaf {
  const { TypedArray, itemsize } = DTYPES[c.dtype];
  const data = new TypedArray(c.bytes.slice().buffer, 0, c.bytes.length / TypedArray.BYTES_PER_ELEMENT);
  if (!c.lazy) return { dtype: c.dtype, shape: c.shape, fortranOrder: c.fortranOrder, data };
  const bytes = c.bytes;
  return {
    dtype: c.dtype,
    shape: c.shape,
    fortranOrder: c.fortranOrder,
    // Odd chunk boundaries (not multiples of the item size) must not matter to the reader.
    *chunks() {
      for (let at = 0; at < bytes.length; at += 7 * itemsize + 3) yield bytes.slice(at, at + 7 * itemsize + 3);
    },
  };
}

async function save(cases: readonly Case[], compress: boolean): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      parts.push(Buffer.from(chunk));
      done();
    },
  });
  // A flat tree is an iterable of pairs that is not an Array (an Array would be a list of leaves).
  await saveNpzStream(cases.map((c) => [c.name, leafOf(c)] as const).values(), sink, { compress });
  return Buffer.concat(parts);
}

describe('reading what the writer wrote', () => {
  it('round-trips random flat trees, stored and compressed, eager and lazy', async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, fc.boolean(), async (cases, compress) => {
        const archive = await save(cases, compress);
        const read: Array<[string, string, number[], boolean, string]> = [];
        for await (const [name, array] of readNpz(archive)) {
          read.push([name, array.dtype, array.shape, array.fortranOrder, sha256(bytesOf(array.data))]);
        }
        expect(read).toEqual(cases.map((c) => [c.name, c.dtype, c.shape, c.fortranOrder, sha256(c.bytes)]));

        const file = await openNpz(archive);
        for (const c of cases) {
          const parts: Uint8Array[] = [];
          for await (const chunk of file.chunks(c.name, { chunkSize: 64 })) parts.push(chunk);
          expect(sha256(Buffer.concat(parts))).toBe(sha256(c.bytes));
        }
        expect(file.entries.map((e) => [e.name, e.compression])).toEqual(cases.map((c) => [c.name, compress ? 'deflate' : 'stored']));
        await file.close();
      }),
      { numRuns: 60 },
    );
  });
});
