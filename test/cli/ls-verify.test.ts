import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';
import { GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

interface ManifestMember {
  key: string;
  member: string;
  npy: boolean;
  dtype?: string;
  shape?: number[];
  byte_length?: number;
  data_offset?: number;
  zip: { method: number; compressed_size: number; uncompressed_size: number };
}

function manifest(name: string): ManifestMember[] {
  return (JSON.parse(readFileSync(join(GOOD_DIR, `${name}.expected.json`), 'utf8')) as { members: ManifestMember[] }).members;
}

const temp = makeTempDir('cli-ls-verify');
beforeAll(() => ensureBuilt());
afterAll(() => temp.remove());

/** File offset where a member's bytes (its npy header) start, from python's zipfile. */
function memberStart(path: string, member: string): number {
  const script = String.raw`
import struct, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z: info = z.getinfo(sys.argv[2])
raw = open(sys.argv[1], 'rb').read()
n, m = struct.unpack('<HH', raw[info.header_offset + 26:info.header_offset + 30])
print(info.header_offset + 30 + n + m)
`;
  return Number(runPython(script, [path, member]).trim());
}

function damaged(name: string, mutate: (bytes: Buffer) => Buffer): string {
  const path = join(temp.path, name);
  writeFileSync(path, mutate(readFileSync(PALIGEMMA)));
  return path;
}

describe('ls', () => {
  it('--json lists every member with the dtype, shape and sizes numpy wrote', () => {
    const result = runCli(['ls', '--json', PALIGEMMA]);
    expect(result.status).toBe(0);
    const listing = JSON.parse(result.stdout) as { entries: Record<string, unknown>[]; totals: Record<string, number> };
    const expected = manifest('paligemma-tiny');
    expect(listing.entries.map((entry) => entry['name'])).toEqual(expected.map((member) => member.key));
    listing.entries.forEach((entry, index) => {
      const member = expected[index]!;
      expect(entry).toMatchObject({
        dtype: member.dtype,
        shape: member.shape,
        byteLength: member.byte_length,
        compression: member.zip.method === 0 ? 'stored' : 'deflate',
        compressedSize: member.zip.compressed_size,
        memberSize: member.zip.uncompressed_size,
      });
    });
    // numpy's layout: 30-byte local header, the name, a 20-byte zip64 extra, then the npy header.
    for (const [index, entry] of listing.entries.entries()) {
      const member = expected[index]!;
      const offset = entry['offset'] as number;
      expect(entry['dataOffset']).toBe(offset + 30 + Buffer.byteLength(member.member) + 20 + member.data_offset!);
      if (index > 0) expect(offset).toBeGreaterThan(listing.entries[index - 1]!['offset'] as number);
    }
    expect(listing.totals).toMatchObject({ arrays: 32, dataBytes: expected.reduce((sum, member) => sum + member.byte_length!, 0) });
  });

  it('prints an aligned table with totals; global flags may come before the command', () => {
    const result = runCli(['ls', PALIGEMMA]);
    expect(result.status).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    const header = lines[0]!;
    expect(header).toMatch(/^NAME +DTYPE +SHAPE +SIZE +COMPRESSION +OFFSET$/);
    const rows = lines.slice(1, -1);
    expect(rows).toHaveLength(32);
    const dtypeColumn = header.indexOf('DTYPE');
    const compressionColumn = header.indexOf('COMPRESSION');
    for (const row of rows) {
      expect(row.slice(dtypeColumn)).toMatch(/^(float16|float32|bfloat16) /);
      expect(row.slice(compressionColumn)).toMatch(/^stored /);
      // SIZE is right-aligned: it ends where its header ends.
      expect(row.slice(0, header.indexOf('SIZE') + 4)).toMatch(/ B$/);
    }
    expect(lines.at(-1)).toMatch(/^32 arrays, 4\.47 KiB of data, .* stored, file 14\.4 KiB$/);
    expect(JSON.parse(runCli(['--json', 'ls', PALIGEMMA]).stdout).totals.arrays).toBe(32);
  });

  it('lists non-array members and compressed members', () => {
    const notes = JSON.parse(runCli(['ls', '--json', join(GOOD_DIR, 'with-notes.npz')]).stdout) as { entries: { name: string; isArray: boolean }[] };
    expect(notes.entries.filter((entry) => !entry.isArray).map((entry) => entry.name)).toEqual(
      manifest('with-notes').filter((member) => !member.npy).map((member) => member.key),
    );
    const compressed = runCli(['ls', join(GOOD_DIR, 'compressed.npz')]);
    expect(compressed.status).toBe(0);
    expect(compressed.stdout).toMatch(/ deflate /);
  });
});

describe('reading what np.load reads', () => {
  it('--max-header-size admits long npy headers; --duplicates last keeps the last repeated member', () => {
    const wide = join(GOOD_DIR, 'npy-v2.npz');
    // Without the flag the long header is over the limit: that member is listed as damaged with the code (exit 1).
    const refused = runCli(['ls', wide]);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(/DAMAGED ERR_NPY_HEADER_TOO_LARGE/);
    expect(refused.stdout).toMatch(/\[ERR_NPY_HEADER_TOO_LARGE\]$/m);
    // The hint names the flag, not the library's option.
    const said = refused.stdout + refused.stderr;
    expect(said).toContain('--max-header-size');
    expect(said).not.toContain('maxHeaderSize');
    const listed = runCli(['ls', '--json', '--max-header-size', '100000', wide]);
    expect(listed.status).toBe(0);
    expect((JSON.parse(listed.stdout) as { entries: { name: string }[] }).entries.map((entry) => entry.name)).toEqual(
      manifest('npy-v2').map((member) => member.key),
    );

    const repeated = join(GOOD_DIR, 'dup-names.npz');
    const strict = runCli(['verify', repeated]);
    expect(strict.status).toBe(1);
    expect(strict.stdout).toMatch(/^FAIL  x\.npy: .+ \[ERR_NPZ_DUPLICATE_NAME\]$/m);
    expect(strict.stdout).toContain('--duplicates last');
    expect(strict.stdout).not.toContain('option duplicates');
    const lenient = runCli(['--duplicates', 'last', 'verify', repeated]);
    expect(lenient.status).toBe(0);
    expect(lenient.stdout).toMatch(/^OK {4}2 arrays, /m);
  });
});

describe('verify', () => {
  it('passes numpy-written fixtures: every dtype, stored and deflated, data descriptors, npy v3, extra members, empty', () => {
    for (const name of ['all-dtypes', 'deflate-and-stored', 'pipe-compressed', 'npy-v3', 'with-notes', 'empty']) {
      const result = runCli(['verify', join(GOOD_DIR, `${name}.npz`)]);
      expect(result.status, `${name}: ${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/^OK {4}\d+ arrays?, /m);
    }
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'fails with exit 1 and names the entry when one data byte is flipped'), () => {
    const target = 'llm/layers/attn/q_einsum/w';
    const start = memberStart(PALIGEMMA, `${target}.npy`);
    const path = damaged('flipped-data.npz', (bytes) => {
      bytes[start + 128 + 5]! ^= 0x01;
      return bytes;
    });
    const result = runCli(['verify', path]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(`FAIL  ${target}: `);
    expect(result.stdout).toMatch(/\[ERR_ZIP_CRC_MISMATCH\]/);
    expect(result.stdout).toMatch(/^FAILED {2}1 of 32 arrays failed$/m);
    const json = JSON.parse(runCli(['verify', '--json', path]).stdout) as { ok: boolean; failures: { name: string; code: string }[] };
    expect(json.ok).toBe(false);
    expect(json.failures).toEqual([expect.objectContaining({ name: target, code: 'ERR_ZIP_CRC_MISMATCH' })]);
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'fails on a damaged npy header, naming the member'), () => {
    const target = 'img/head/bias';
    const start = memberStart(PALIGEMMA, `${target}.npy`);
    const path = damaged('flipped-header.npz', (bytes) => {
      const text = bytes.subarray(start, start + 128).toString('latin1');
      bytes[start + text.indexOf("'descr'") + 1] = 'x'.charCodeAt(0);
      return bytes;
    });
    const result = runCli(['verify', path]);
    expect(result.status).toBe(1);
    // 'descr' became 'xescr': the header's keys are wrong, which is ERR_NPY_HEADER_KEYS and no other npy code.
    expect(result.stdout).toMatch(new RegExp(`^FAIL  ${target}(\\.npy)?: .+ \\[ERR_NPY_HEADER_KEYS\\]$`, 'm'));
    expect(result.stdout).toContain('xescr');
  });

  it('fails on a truncated file', () => {
    const path = damaged('truncated.npz', (bytes) => bytes.subarray(0, bytes.length - 40));
    const result = runCli(['verify', path]);
    expect(result.status).toBe(1);
    // Still a zip at the front, but the end record is gone: truncated, not "not a zip".
    expect(result.stdout).toMatch(/^FAIL  .+ \[ERR_ZIP_TRUNCATED\]$/m);
  });
});

/** A small npz (saved by the library, as np.savez lays it out) with one member's npy header damaged. */
async function damagedHeaderNpz(): Promise<{ path: string; intact: string }> {
  const { openNpz, saveNpz } = await import('../../src/index.js');
  const intact = join(temp.path, 'three.npz');
  await saveNpz(intact, { a: new Float32Array([1, 2]), b: new Int16Array([3, 4, 5]), c: new Uint8Array([6]) });
  const file = await openNpz(intact);
  const b = file.entries.find((entry) => entry.name === 'b')!;
  await file.close();
  const bytes = readFileSync(intact);
  if (!b.isArray) throw new Error('b should be an array');
  bytes.write('XXXXX', b.dataOffset! - (b.memberSize - b.byteLength) + 1, 'latin1');
  const path = join(temp.path, 'three-damaged.npz');
  writeFileSync(path, bytes);
  return { path, intact };
}

describe('damaged members and broken files', () => {
  it('ls lists every member and marks the damaged one with its code (exit 1); --json carries its error', async () => {
    const { path } = await damagedHeaderNpz();
    const result = runCli(['ls', path]);
    expect(result.status).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines.filter((line) => /^[abc] /.test(line)).map((line) => line.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      'a float32 (2,)',
      'b DAMAGED ERR_NPY_MAGIC',
      'c uint8 (1,)',
    ]);
    expect(result.stdout).toMatch(/^2 arrays, 1 damaged member, /m);
    expect(result.stdout).toMatch(/^DAMAGED {2}b\.npy: member "b\.npy": .+ \[ERR_NPY_MAGIC\]$/m);
    const json = JSON.parse(runCli(['ls', '--json', path]).stdout) as { entries: Record<string, unknown>[]; totals: Record<string, number> };
    expect(json.entries[1]).toMatchObject({ name: 'b', member: 'b.npy', isArray: false, damaged: true, error: { code: 'ERR_NPY_MAGIC' } });
    expect(json.totals).toMatchObject({ arrays: 2, members: 3, damaged: 1 });
  });

  it('verify says "not a zip archive" or "truncated at byte N" when the file as a whole is broken', () => {
    const notZip = join(temp.path, 'not-a-zip.npz');
    writeFileSync(notZip, 'hello, this is text');
    const first = runCli(['verify', notZip]);
    expect(first.status).toBe(1);
    expect(first.stdout).toMatch(/^FAILED {2}.*not-a-zip\.npz is not a zip archive/m);
    expect(first.stdout).not.toMatch(/array failed/);
    const cut = damaged('cut.npz', (bytes) => bytes.subarray(0, 5000));
    const second = runCli(['verify', cut]);
    expect(second.status).toBe(1);
    expect(second.stdout).toMatch(/^FAILED {2}.*cut\.npz is truncated at byte 5000/m);
    const json = JSON.parse(runCli(['verify', '--json', cut]).stdout) as { broken: unknown };
    expect(json.broken).toEqual({ problem: 'truncated', at: 5000 });
  });

  it('ls --json gives a big-endian member its stored descr beside the descr of the data handed out', async () => {
    const { saveNpz } = await import('../../src/index.js');
    const path = join(temp.path, 'big-endian.npz');
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.5, 0);
    be.writeFloatBE(-2, 4);
    await saveNpz(path, { x: { dtype: 'float32', descr: '>f4', shape: [2], data: new Uint8Array(be) } });
    const json = JSON.parse(runCli(['ls', '--json', path]).stdout) as { entries: Record<string, unknown>[] };
    expect(json.entries[0]).toMatchObject({ name: 'x', dtype: 'float32', descr: '<f4', storedDescr: '>f4' });
  });
});

describe('a bare .npy file', () => {
  it('ls, cat, stats and verify take one, its array named after the file', async () => {
    const { saveNpy } = await import('../../src/index.js');
    const path = join(temp.path, 'weights.npy');
    await saveNpy(path, { dtype: 'float64', shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) });
    const ls = JSON.parse(runCli(['ls', '--json', path]).stdout) as { entries: Record<string, unknown>[] };
    expect(ls.entries).toEqual([expect.objectContaining({ name: 'weights', dtype: 'float64', shape: [2, 2], offset: 0, dataOffset: 128 })]);
    const cat = runCli(['cat', path, 'weights']);
    expect(cat.stdout).toBe('[[1. 2.]\n [3. 4.]]\n');
    const stats = JSON.parse(runCli(['stats', '--json', path]).stdout) as { arrays: Record<string, unknown>[] };
    expect(stats.arrays[0]).toMatchObject({ name: 'weights', min: 1, max: 4, mean: 2.5 });
    const verify = runCli(['verify', path]);
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^OK {4}1 array, 32 B verified$/m);
    // The header and the size are checked: a file cut short is truncated, at its size.
    const cut = join(temp.path, 'cut.npy');
    writeFileSync(cut, readFileSync(path).subarray(0, 150));
    const broken = runCli(['verify', cut]);
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/\[ERR_NPY_SIZE_MISMATCH\]/);
    expect(broken.stdout).toMatch(/^FAILED {2}.*cut\.npy is truncated at byte 150/m);
  });
});
