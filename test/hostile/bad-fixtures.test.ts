import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bufferSource, isDamagedEntry, loadNpz, openNpz, readNpz, type RandomAccessSource } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { openFdCount } from '../helpers/fds.js';
import { makeTempDir } from '../helpers/tmp.js';
import { codeInName, codeOf } from '../helpers/errors.js';
import { BAD_DIR, badFixtures } from '../helpers/fixtures.js';


// test/fixtures/bad/<CODE>--<what>.npz: every read path must refuse each file with exactly <CODE>.
// Regenerate with `python3 test/fixtures/gen/make_bad_fixtures.py` (add --numpy to see what np.load does).

const GENERATOR = fileURLToPath(new URL('../fixtures/gen/make_bad_fixtures.py', import.meta.url));
const fixtures = badFixtures('.npz');

/** openNpz, then every array through get() and through chunks(): the file is always closed. */
/**
 * Opens (damaged members listed, the default), then reads every array and every damaged member: a damaged member's
 * get() and chunks() throw its error. Then opens once more with `damaged: 'error'`, which must refuse the file with
 * that same code when a member is damaged.
 */
async function openAndReadAll(input: string | Uint8Array | RandomAccessSource): Promise<void> {
  const file = await openNpz(input);
  const anyDamaged = file.entries.some(isDamagedEntry);
  try {
    for (const entry of file.entries) {
      if (!entry.isArray && !isDamagedEntry(entry)) continue;
      const fromGet = await codeOf(() => file.get(entry.name));
      const fromChunks = await codeOf(async () => {
        for await (const _ of file.chunks(entry.name, { chunkSize: 64 }));
      });
      // Both per-array paths must agree; a resolved read of a damaged member is not possible here because
      // each fixture's defect sits in its arrays or its container.
      if (fromGet !== fromChunks) throw new Error(`get() gave ${fromGet} but chunks() gave ${fromChunks}`);
      if (fromGet !== 'resolved') await file.get(entry.name);
    }
  } finally {
    await file.close();
  }
  if (anyDamaged) {
    const strict = await openNpz(input, { damaged: 'error' });
    await strict.close();
  }
}

async function drain(input: string | Uint8Array): Promise<void> {
  for await (const _ of readNpz(input));
}

describe('failure fixtures: the file name is the error code', () => {
  it('cover every case the reliability issue lists', () => {
    const required = [
      'ERR_NPY_MAGIC--',
      'ERR_NPY_VERSION--',
      'ERR_NPY_HEADER_TOO_LARGE--numpy-wrote',
      'ERR_NPY_HEADER_TOO_LARGE--v2-declares-4GiB',
      'ERR_NPY_HEADER_SYNTAX--',
      'ERR_NPY_HEADER_KEYS--',
      'ERR_NPY_HEADER_VALUE--',
      'ERR_NPY_SHAPE--negative-dim',
      'ERR_NPY_TOO_LARGE--',
      'ERR_NPY_SIZE_MISMATCH--',
      'ERR_NPY_PICKLE--',
      'ERR_NPY_TRUNCATED--',
      'ERR_ZIP_TRUNCATED--cut-in-first-data',
      'ERR_ZIP_TRUNCATED--cut-in-central-directory',
      'ERR_ZIP_TRUNCATED--cut-in-end-record',
      'ERR_ZIP_CRC_MISMATCH--flipped-data-byte',
      'ERR_ZIP_BOUNDS--cd-offset-past-end',
      'ERR_ZIP_OVERLAP--',
      'ERR_ZIP_ZIP64--size-sentinels-without-extra',
      'ERR_ZIP_BOMB--',
      'ERR_ZIP_ENCRYPTED--zipcrypto-stored',
      'ERR_ZIP_UNSUPPORTED_METHOD--',
      'ERR_ZIP_NAME_MISMATCH--',
      'ERR_NPZ_DUPLICATE_NAME--',
      'ERR_ZIP_NOT_ZIP--empty-file',
      'ERR_ZIP_NOT_ZIP--npy-file',
    ];
    const missing = required.filter((prefix) => !fixtures.some((name) => name.startsWith(prefix)));
    expect(missing).toEqual([]);
    expect(fixtures.length).toBeGreaterThanOrEqual(60);
  });

  describe.each(fixtures)('%s', (name) => {
    const path = join(BAD_DIR, name);
    const code = codeInName(name);

    it('openNpz + get/chunks of every array, readNpz and loadNpz reject with that code; no fd is left open', async () => {
      const before = openFdCount();
      expect(await codeOf(() => openAndReadAll(path))).toBe(code);
      expect(await codeOf(() => drain(path))).toBe(code);
      expect(await codeOf(() => loadNpz(path))).toBe(code);
      expect(openFdCount()).toBe(before);
    });

    it('the same from the bytes in memory', async () => {
      const bytes = new Uint8Array(readFileSync(path));
      expect(await codeOf(() => openAndReadAll(bytes))).toBe(code);
      expect(await codeOf(() => drain(bytes))).toBe(code);
    });
  });
});

describe('a v2 npy header that declares 4 GiB', () => {
  const name = 'ERR_NPY_HEADER_TOO_LARGE--v2-declares-4GiB.npz';

  it('is refused from its 12-byte prefix: no read, buffer or RSS growth anywhere near its size', async () => {
    const bytes = new Uint8Array(readFileSync(join(BAD_DIR, name)));
    const inner = bufferSource(bytes);
    let largestRead = 0;
    const spy: RandomAccessSource = {
      size: inner.size,
      read(offset, length, into) {
        largestRead = Math.max(largestRead, length, into?.length ?? 0);
        return inner.read(offset, length, into);
      },
      close: () => inner.close(),
    };
    // An allocation sized from the header would go through one of these. Zeroed memory is committed lazily, so
    // RSS alone could miss a 4 GiB buffer that is never touched: the spies are the real check.
    const allocations: number[] = [];
    const NativeArrayBuffer = globalThis.ArrayBuffer;
    const NativeUint8Array = globalThis.Uint8Array;
    const allocUnsafe = Buffer.allocUnsafe;
    const alloc = Buffer.alloc;
    const sized = <T extends object>(target: T): T =>
      new Proxy(target, {
        construct(native, args: unknown[]) {
          if (typeof args[0] === 'number') allocations.push(args[0]);
          return Reflect.construct(native as never, args) as object;
        },
      });
    globalThis.ArrayBuffer = sized(NativeArrayBuffer);
    globalThis.Uint8Array = sized(NativeUint8Array);
    Buffer.allocUnsafe = (size: number) => (allocations.push(size), allocUnsafe(size));
    Buffer.alloc = ((size: number, ...rest: unknown[]) => (allocations.push(size), alloc(size, ...(rest as [])))) as typeof Buffer.alloc;
    const rssBefore = process.memoryUsage().rss;
    let code: string;
    try {
      // Proves the spies are in place (the reader itself may allocate nothing sized before it refuses).
      void new Uint8Array(3);
      code = await codeOf(() => openAndReadAll(spy));
    } finally {
      globalThis.ArrayBuffer = NativeArrayBuffer;
      globalThis.Uint8Array = NativeUint8Array;
      Buffer.allocUnsafe = allocUnsafe;
      Buffer.alloc = alloc;
    }
    expect(allocations).toContain(3); // the spies saw allocations
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    expect(code).toBe('ERR_NPY_HEADER_TOO_LARGE');
    expect(largestRead).toBeLessThanOrEqual(64 * 1024);
    expect(Math.max(0, ...allocations)).toBeLessThan(1 << 20);
    expect(rssGrowth).toBeLessThan(256 << 20);
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'the committed failure fixtures are what the generator writes'), () => {
  const scratch = makeTempDir('bad-fixtures');
  const out = scratch.path;
  afterAll(() => scratch.remove());

  it('same names, and the same bytes where the zlib build matches the one that wrote them', () => {
    runPython(`import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')`, [GENERATOR, '--out', out]);
    const generated = readdirSync(out).sort();
    expect(generated).toEqual(fixtures);
    // Deflate, bzip2 and lzma output can change with the library build; stored bytes cannot.
    const sameZlib = runPython('import zlib; print(zlib.ZLIB_VERSION)').trim() === '1.2.13';
    const differing = generated.filter((name) => !readFileSync(join(out, name)).equals(readFileSync(join(BAD_DIR, name))));
    if (sameZlib) expect(differing).toEqual([]);
    else expect(differing.every((name) => /BOMB|INFLATE|UNSUPPORTED_METHOD|ENCRYPTED--(flag|strong)|deflate|deflated/.test(name))).toBe(true);
  });
});
