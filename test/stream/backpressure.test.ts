import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { readNpz, saveNpzStream, streamNpz } from '../../src/index.js';
import { randomBytes } from '../helpers/bytes.js';

// A slow consumer must slow the producer: the reader pulls input only when a read needs it. Each test counts
// the bytes a producer has handed over and checks, at every step of a deliberately slow consumer, that the
// producer is no more than a few chunks ahead of what the consumer has received.

const PRODUCER_CHUNK = 16 * 1024;

async function archive(tree: Record<string, Uint8Array>, compress: boolean): Promise<Uint8Array> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (chunk: Buffer) => parts.push(chunk));
  await saveNpzStream(tree, out, { compress });
  return Buffer.concat(parts);
}

/** Yields `bytes` in fixed chunks, recording how many bytes it has handed out so far. */
function countingProducer(bytes: Uint8Array): { produced: () => number; stream: AsyncGenerator<Uint8Array> } {
  let produced = 0;
  async function* stream(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.length; at += PRODUCER_CHUNK) {
      const chunk = bytes.slice(at, at + PRODUCER_CHUNK);
      produced += chunk.length;
      yield chunk;
    }
  }
  return { produced: () => produced, stream: stream() };
}

describe('backpressure', () => {
  const big = randomBytes(4 * 1024 * 1024, 5);

  for (const compress of [false, true]) {
    it(`lazy chunks() of a ${compress ? 'deflated' : 'stored'} 4 MiB member: the producer stays within a few chunks of the consumer`, async () => {
      const bytes = await archive({ big }, compress);
      const producer = countingProducer(bytes);
      let received = 0;
      let maxLead = 0;
      let steps = 0;
      for await (const entry of streamNpz(producer.stream)) {
        if (!entry.isArray) continue;
        for await (const chunk of entry.chunks({ chunkSize: 8 * 1024 })) {
          received += chunk.length;
          maxLead = Math.max(maxLead, producer.produced() - received);
          steps += 1;
          if (steps % 16 === 0) await sleep(1);
        }
      }
      expect(received).toBe(big.length);
      expect(steps).toBeGreaterThan(400);
      // Stored: one producer chunk ahead at most. Deflated (random data does not compress): the inflater's input
      // chunk and its few queued output pieces; far below the 4 MiB member either way.
      expect(maxLead).toBeLessThan(compress ? 1536 * 1024 : 2 * PRODUCER_CHUNK + 1024);
    });
  }

  it('a Node Readable producer is paused while the consumer is slow (its buffer stays at its high-water mark)', async () => {
    const bytes = await archive({ big }, false);
    let produced = 0;
    const readable = new Readable({
      highWaterMark: 64 * 1024,
      read() {
        const chunk = bytes.subarray(produced, produced + PRODUCER_CHUNK);
        produced += chunk.length;
        this.push(chunk.length > 0 ? chunk : null);
      },
    });
    let received = 0;
    let maxLead = 0;
    for await (const entry of streamNpz(readable)) {
      if (!entry.isArray) continue;
      for await (const chunk of entry.chunks({ chunkSize: 32 * 1024 })) {
        received += chunk.length;
        maxLead = Math.max(maxLead, produced - received);
        await sleep(0);
      }
    }
    expect(received).toBe(big.length);
    expect(maxLead).toBeLessThan(64 * 1024 + 3 * PRODUCER_CHUNK + 1024);
  });

  it('readNpz holds one array at a time: after each array, the producer is not far into the next', async () => {
    const arrays = Object.fromEntries([0, 1, 2, 3].map((i) => [`a${i}`, randomBytes(1024 * 1024, 10 + i)]));
    const bytes = await archive(arrays, false);
    const producer = countingProducer(bytes);
    let boundary = 0;
    const leads: number[] = [];
    for await (const [, array] of readNpz(producer.stream)) {
      // Each member is a 64-byte local header, a 128-byte npy header and the data.
      boundary += 30 + 6 + 20 + 128 + array.data.byteLength;
      leads.push(producer.produced() - boundary);
      await sleep(5);
    }
    expect(leads).toHaveLength(4);
    for (const lead of leads) expect(lead).toBeLessThanOrEqual(PRODUCER_CHUNK);
  });
});
