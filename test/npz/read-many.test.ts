import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNpz, readNpz } from '../../src/index.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';


// More members than a plain end record can count: numpy then writes 0xFFFF there and the real count in a ZIP64
// end record, which the reader must use.
const MEMBERS = 65_537;
const GENERATOR = fileURLToPath(new URL('../fixtures/gen/make_many_members.py', import.meta.url));

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, `an np.savez archive of ${MEMBERS} members`), () => {
  let dir: TempDir;
  let path: string;
  let report: { members: number; eocd_entries: number; zip64_end_records: boolean; zip64_entries: number };

  beforeAll(() => {
    dir = makeTempDir('read-many');
    path = dir.file('many.npz');
    report = JSON.parse(runPython(`import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')`, [GENERATOR, String(MEMBERS), path]));
  });
  afterAll(() => dir.remove());

  it('numpy wrote a ZIP64 end record with 0xFFFF in the plain one', () => {
    expect(report).toMatchObject({ members: MEMBERS, eocd_entries: 0xffff, zip64_end_records: true, zip64_entries: MEMBERS });
  });

  it('readNpz yields every member in order with its value', async () => {
    let index = 0;
    const wrong: string[] = [];
    for await (const [key, array] of readNpz(path)) {
      const value = (array.data as Uint16Array)[0];
      if (key !== `m/${index}` || array.dtype !== 'uint16' || array.shape.length !== 0 || value !== index % 65_536) {
        wrong.push(`${index}: ${key} ${array.dtype} [${array.shape.join(',')}] ${value}`);
      }
      index++;
    }
    expect(wrong).toEqual([]);
    expect(index).toBe(MEMBERS);
  });

  it('openNpz lists every member and reads any of them', async () => {
    const file = await openNpz(path);
    try {
      expect(file.entries.length).toBe(MEMBERS);
      expect(file.entries[MEMBERS - 1]!.name).toBe(`m/${MEMBERS - 1}`);
      for (const index of [0, 65_535, 65_536]) {
        expect((await file.get(`m/${index}`)).data[0]).toBe(index % 65_536);
      }
    } finally {
      await file.close();
    }
  });
});
