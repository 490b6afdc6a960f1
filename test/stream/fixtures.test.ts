import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GOOD_DIR, goodFixtures } from '../zip/reader-helpers.js';
import { STREAM_KINDS, collectDescribed, outcomeOf, streamOf } from './stream-helpers.js';

// Every committed fixture, good and bad, read through a stream must give what the file reader gives: the same
// arrays, or the same error code. The few exceptions are failures the file reader finds in the central directory
// before it reads any member, while a stream meets the same damage in a different guise; they are listed below
// with the reason, and are still errors (never data).

const BAD_DIR = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));
const badFixtures = readdirSync(BAD_DIR)
  .filter((name) => name.endsWith('.npz'))
  .sort();

const options = (name: string) => (name.startsWith('npy-v2') ? { maxHeaderSize: 200_000 } : {});

/** Fixture → the code a stream reports, where it differs from the file reader's. */
const STREAM_CODE: Record<string, string> = {
  // The end record counts more entries than the directory holds: the file reader looks for them past the end of
  // the file; the stream sees the directory end where the end record begins.
  'ERR_ZIP_BOUNDS--entry-count-too-large.npz': 'ERR_ZIP_CENTRAL_DIRECTORY',
  // The end record announces a comment longer than what follows: the stream ends inside it.
  'ERR_ZIP_EOCD--comment-length-past-end.npz': 'ERR_ZIP_TRUNCATED',
  // A size in the central directory reaching into the next member: the stream read the member by its local header
  // and finds the directory's size different.
  'ERR_ZIP_OVERLAP--size-spans-next-member.npz': 'ERR_ZIP_SIZE_MISMATCH',
  // Two directory entries at one offset: the stream saw two members at two offsets; the second entry disagrees.
  'ERR_ZIP_OVERLAP--two-entries-one-offset.npz': 'ERR_ZIP_CENTRAL_DIRECTORY',
};

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
    expect(await outcomeOf(() => collectDescribed(join(GOOD_DIR, 'dup-names.npz')))).toBe('ERR_NPZ_DUPLICATE_NAME');
    expect(await outcomeOf(() => collectDescribed(streamOf(bytes, 'node')))).toBe('ERR_NPZ_DUPLICATE_NAME');
  });
});

describe('bad fixtures through a stream', () => {
  it('the exception list names only existing fixtures, each with a code other than its file code', () => {
    for (const [name, code] of Object.entries(STREAM_CODE)) {
      expect(badFixtures).toContain(name);
      expect(name.split('--')[0]).not.toBe(code);
    }
  });

  for (const kind of STREAM_KINDS) {
    it.each(badFixtures)(`%s (${kind}): the file reader's error code, or the documented stream code`, async (name) => {
      const path = join(BAD_DIR, name);
      const fileCode = await outcomeOf(() => collectDescribed(path));
      expect(fileCode).toBe(name.split('--')[0]);
      const streamCode = await outcomeOf(() => collectDescribed(streamOf(readFileSync(path), kind)));
      expect(streamCode).toBe(STREAM_CODE[name] ?? fileCode);
    });
  }
});
