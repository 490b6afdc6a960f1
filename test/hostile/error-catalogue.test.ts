import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NPZ_ERROR_CODES, type NpzErrorCode } from '../../src/errors.js';
import { openNpz, openSafetensorsIndex, readNpz, saveNpzStream, saveSafetensors } from '../../src/index.js';
import { decodeZip64EndOfCentralDirectory } from '../../src/zip/format/end-records.js';
import type { Leaf } from '../../src/npy/write.js';
import { FLAG_DATA_DESCRIPTOR, METHOD_STORED, encodeLocalHeader } from '../../src/zip/format/records.js';
import { BAD_DIR, GOOD_DIR } from '../helpers/fixtures.js';
import { httpSource } from '../../src/node/http-source.js';
import { startFaultServer } from '../helpers/servers.js';
import { codeOf } from '../helpers/errors.js';

// docs/ERRORS.md is the catalogue of every NpzError code. This keeps it honest: each code in NPZ_ERROR_CODES
// has a heading there, and is actually raised, either by a failure fixture (test/fixtures/bad/<CODE>--*.npz,
// checked in bad-fixtures.test.ts) or by one of the triggers below.

const DOC = readFileSync(fileURLToPath(new URL('../../docs/ERRORS.md', import.meta.url)), 'utf8');
const fixtureCodes = new Set(readdirSync(BAD_DIR).map((name) => name.split('--')[0]));

function save(tree: unknown): Promise<unknown> {
  const out = new PassThrough();
  out.resume();
  return saveNpzStream(tree as Record<string, Leaf>, out);
}

const withNotes = join(GOOD_DIR, 'with-notes.npz');

/** Runs `work` on the URL of a loopback server (64 KiB of zeros) whose answers `handler` scripts. */
async function remote(handler: Parameters<typeof startFaultServer>[1], work: (url: string) => Promise<unknown>): Promise<unknown> {
  const server = await startFaultServer(new Uint8Array(64 * 1024), handler);
  try {
    return await work(`${server.origin}/checkpoint.npz`);
  } finally {
    await server.close();
  }
}

/** Codes no failure fixture can show: API misuse, the writer's inputs, the outside world. */
const TRIGGERS: Partial<Record<NpzErrorCode, () => unknown>> = {
  ERR_NPZ_NOT_FOUND: async () => {
    const file = await openNpz(withNotes);
    try {
      await file.get('no/such/array');
    } finally {
      await file.close();
    }
  },
  ERR_NPZ_NOT_ARRAY: async () => {
    const file = await openNpz(withNotes);
    try {
      await file.get('notes.txt');
    } finally {
      await file.close();
    }
  },
  ERR_NPZ_CLOSED: async () => {
    const file = await openNpz(withNotes);
    await file.close();
    await file.get(file.entries.find((entry) => entry.isArray)!.name);
  },
  ERR_TREE_KEY: () => save({ 'a/b': Int8Array.of(1) }),
  ERR_TREE_LEAF: () => save({ a: 'not an array' }),
  ERR_TREE_DUPLICATE_NAME: () => save(new Set([['a', Int8Array.of(1)], ['a', Int8Array.of(2)]])),
  ERR_SOURCE: () =>
    save({
      a: {
        dtype: 'uint8',
        shape: [4],
        async *chunks() {
          yield new Uint8Array(2);
          throw new Error('upstream failed');
        },
      },
    }),
  ERR_SOURCE_LENGTH: () => save({ a: { dtype: 'uint8', shape: [4], chunks: () => [new Uint8Array(3)] } }),
  ERR_IO: () => openNpz(join(GOOD_DIR, 'does-not-exist.npz')),
  ERR_ABORTED: async () => {
    for await (const _ of readNpz(withNotes, { signal: AbortSignal.abort() }));
  },
  ERR_INVALID_ARGUMENT: () => openNpz(42 as unknown as string),
  // Writer refusals and shard indexes; the reader's safetensors codes have fixtures (*.safetensors).
  ERR_SAFETENSORS_UNSUPPORTED: () => saveSafetensors(join(GOOD_DIR, 'never-written.safetensors'), { c: { dtype: 'complex128', shape: [1], data: new Float64Array(2) } }),
  ERR_SAFETENSORS_INDEX: () => openSafetensorsIndex(join(GOOD_DIR, 'with-notes.expected.json')),
  ERR_REMOTE_RANGE: () => remote((_req, res, context) => void res.writeHead(200).end(context.bytes), (url) => openNpz(url)),
  ERR_REMOTE_STATUS: () => remote((_req, res) => void res.writeHead(404).end(), (url) => openNpz(url)),
  ERR_REMOTE_NETWORK: () => remote((_req, res) => void res.writeHead(503).end(), (url) => httpSource(url, { retries: 1, retryDelayMs: 1 })),
  ERR_REMOTE_CHANGED: () =>
    remote(
      (req, res, context) => context.serve(req, res, context.count > 1 ? { etag: '"v2"' } : {}),
      async (url) => {
        const source = await httpSource(url, { tailSize: 1024 });
        try {
          await source.read(0, 10);
        } finally {
          await source.close();
        }
      },
    ),
  // Only a stream meets it: a stored non-npy member whose size follows its data (a file has a central directory).
  ERR_ZIP_STREAM_UNDELIMITED: async () => {
    const name = new TextEncoder().encode('notes.txt');
    const local = encodeLocalHeader({ name, flags: FLAG_DATA_DESCRIPTOR, method: METHOD_STORED, crc32: 0, compressedSize: 0, uncompressedSize: 0 });
    for await (const _ of readNpz(Readable.from([local, new TextEncoder().encode('free text')])));
  },
  // Only the standalone record decoders meet a 64-bit value past 2^53; the readers see it as an offset or size
  // past the end of the file (ERR_ZIP_BOUNDS, below).
  ERR_ZIP_TOO_LARGE: () => {
    const record = new Uint8Array(56);
    const view = new DataView(record.buffer);
    view.setUint32(0, 0x06064b50, true);
    view.setBigUint64(48, 2n ** 60n, true);
    return decodeZip64EndOfCentralDirectory(record, 0);
  },
};

describe('the error catalogue (docs/ERRORS.md)', () => {
  it('documents every NpzError code exactly once, and nothing else', () => {
    const headings = [...DOC.matchAll(/^### (ERR_[A-Z0-9_]+)\s*$/gm)].map((match) => match[1]);
    expect([...headings].sort()).toEqual([...NPZ_ERROR_CODES].sort());
  });

  it('every code is raised: by a failure fixture or by a trigger here', async () => {
    const unraised: string[] = [];
    for (const code of NPZ_ERROR_CODES) {
      const trigger = TRIGGERS[code];
      if (trigger !== undefined) expect(await codeOf(trigger), code).toBe(code);
      else if (!fixtureCodes.has(code)) unraised.push(code);
    }
    expect(unraised).toEqual([]);
  });

  it('a zip64 extra declaring a 2^60-byte member is a bounds error, not a huge read', async () => {
    const out = new PassThrough();
    const pieces: Buffer[] = [];
    out.on('data', (chunk: Buffer) => pieces.push(chunk));
    await saveNpzStream({ a: Float32Array.of(1, 2, 3) }, out, { forceZip64: true });
    const bytes = new Uint8Array(Buffer.concat(pieces));
    // The end record holds sentinels here, so find the central directory entry by its signature.
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    // Its zip64 extra: header id and size, then the uncompressed and compressed sizes.
    const extra = at + 46 + view.getUint16(at + 28, true);
    expect(view.getUint16(extra, true)).toBe(1);
    view.setBigUint64(extra + 4, 2n ** 60n, true);
    view.setBigUint64(extra + 12, 2n ** 60n, true);
    expect(await codeOf(() => openNpz(bytes))).toBe('ERR_ZIP_BOUNDS');
    expect(await codeOf(async () => {
      for await (const _ of readNpz(bytes));
    })).toBe('ERR_ZIP_BOUNDS');
  });
});
