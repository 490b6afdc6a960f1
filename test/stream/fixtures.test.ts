import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BAD_DIR, GOOD_DIR, badFixtures as badFixturesWith, goodFixtures } from '../helpers/fixtures.js';
import { STREAM_KINDS, collectDescribed, streamOf } from '../helpers/streams.js';
import { codeInName, codeOf, failureOf } from '../helpers/errors.js';

// Every committed fixture, good and bad, read through a stream must give what the file reader gives: the same
// arrays, or the same error code and message.

const badFixtures = badFixturesWith('.npz');

const options = (name: string) => (name.startsWith('npy-v2') ? { maxHeaderSize: 200_000 } : {});

/**
 * Fixture → the code a stream reports, where it differs from the file reader's. Empty since both readers apply the
 * same rules to the central directory and end records (src/zip/format/rules.ts); kept for damage a stream could
 * only meet in another guise.
 */
const STREAM_CODE: Record<string, string> = {};

/**
 * Zip-layer fixtures whose message a stream words differently (same code), each for a reason docs/ERRORS.md
 * lists under "Files and streams": a file is judged by its end, a stream by its start and where it stops.
 */
const STREAM_WORDS = new Set([
  'ERR_ZIP_LOCAL_HEADER--bad-local-signature.npz',
  'ERR_ZIP_NOT_ZIP--gzip-file.npz',
  'ERR_ZIP_NOT_ZIP--npy-file.npz',
  'ERR_ZIP_NOT_ZIP--text-file.npz',
]);

describe('good fixtures through a stream', () => {
  for (const kind of STREAM_KINDS) {
    it.each(goodFixtures())(`%s (${kind}): the same arrays, in the same order, as the file reader`, async (name) => {
      const path = join(GOOD_DIR, name);
      const duplicates = name === 'dup-names.npz' ? 'last' : 'error';
      const fromFile = await collectDescribed(path, { ...options(name), duplicates });
      const fromStream = await collectDescribed(streamOf(readFileSync(path), kind), { ...options(name), duplicates });
      if (name === 'dup-names.npz') {
        // A stream cannot know a later member replaces an earlier one: it yields both, in stream order, and a
        // map filled from them holds what np.load (and the file reader) give.
        expect(fromStream.map(([key]) => key)).toEqual(['x', 'y', 'x']);
        expect(new Map(fromStream)).toEqual(new Map(fromFile));
      } else {
        expect(fromStream.length).toBeGreaterThan(name === 'empty.npz' ? -1 : 0);
        expect(fromStream).toEqual(fromFile);
      }
    });
  }

  it('dup-names.npz: a repeated key is refused by default, as by the file reader', async () => {
    const bytes = readFileSync(join(GOOD_DIR, 'dup-names.npz'));
    expect(await codeOf(() => collectDescribed(join(GOOD_DIR, 'dup-names.npz')))).toBe('ERR_NPZ_DUPLICATE_NAME');
    expect(await codeOf(() => collectDescribed(streamOf(bytes, 'node')))).toBe('ERR_NPZ_DUPLICATE_NAME');
  });
});

describe('bad fixtures through a stream', () => {
  it('the exception list names only existing fixtures, each with a code other than its file code', () => {
    for (const [name, code] of Object.entries(STREAM_CODE)) {
      expect(badFixtures).toContain(name);
      expect(codeInName(name)).not.toBe(code);
    }
  });

  it.each(badFixtures.filter((name) => name.startsWith('ERR_ZIP_') && !name.startsWith('ERR_ZIP_TRUNCATED') && !STREAM_WORDS.has(name)))(
    '%s: the file reader and a stream word the damage the same',
    async (name) => {
      const path = join(BAD_DIR, name);
      const fromFile = await failureOf(() => collectDescribed(path));
      expect(fromFile.split(':')[0]).toBe(codeInName(name));
      expect(await failureOf(() => collectDescribed(streamOf(readFileSync(path), 'iterable')))).toBe(fromFile);
    },
  );

  for (const kind of STREAM_KINDS) {
    it.each(badFixtures)(`%s (${kind}): the file reader's error code, or the documented stream code`, async (name) => {
      const path = join(BAD_DIR, name);
      const fileCode = await codeOf(() => collectDescribed(path));
      expect(fileCode).toBe(codeInName(name));
      const streamCode = await codeOf(() => collectDescribed(streamOf(readFileSync(path), kind)));
      expect(streamCode).toBe(STREAM_CODE[name] ?? fileCode);
    });
  }
});
