import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAG_DATA_DESCRIPTOR } from '../../src/zip/format/records.js';
import { ensureBuilt, runCliBytes } from '../helpers/cli.js';
import { BAD_DIR, GOOD_DIR, PALIGEMMA } from '../helpers/fixtures.js';
import { makeTempDir } from '../helpers/tmp.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { collectDescribed } from '../helpers/streams.js';

// `-` as the input file reads standard input (here a pipe fed by the test) front to back; the results must be
// what the same command prints for the file. `convert ... -` writes standard output as a stream.

beforeAll(() => ensureBuilt());
const temp = makeTempDir('stream');
afterAll(() => temp.remove());

const cli = (args: readonly string[], input?: Uint8Array) => runCliBytes(args, input === undefined ? {} : { input });

const fixtures = ['paligemma-tiny.npz', 'all-dtypes.npz', 'pipe-compressed.npz', 'with-notes.npz', 'unicode-names.npz'];

describe("'-' reads standard input", () => {
  it.each(fixtures)('verify - < %s: OK with the same counts as verify FILE', (name) => {
    const path = join(GOOD_DIR, name);
    const fromFile = cli(['verify', path]);
    const fromStdin = cli(['verify', '-'], readFileSync(path));
    expect(fromStdin.status).toBe(0);
    expect(fromStdin.stdout.toString()).toBe(fromFile.stdout.toString());
    expect(fromStdin.stdout.toString()).toMatch(/^OK {4}\d+ arrays?/);
  });

  it('verify - on damaged input: exit 1, the failing member and its code', () => {
    const bytes = readFileSync(join(BAD_DIR, 'ERR_ZIP_CRC_MISMATCH--flipped-data-byte.npz'));
    const result = cli(['verify', '-', '--json'], bytes);
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout.toString()) as { ok: boolean; failures: Array<{ code: string }> };
    expect(report.ok).toBe(false);
    expect(report.failures.map((failure) => failure.code)).toEqual(['ERR_ZIP_CRC_MISMATCH']);
  });

  it('verify - on a truncated stream: exit 1, ERR_ZIP_TRUNCATED', () => {
    const bytes = readFileSync(PALIGEMMA);
    const result = cli(['verify', '-'], bytes.subarray(0, bytes.length - 30));
    expect(result.status).toBe(1);
    expect(result.stdout.toString()).toMatch(/ERR_ZIP_TRUNCATED/);
  });

  it.each(fixtures)('ls - < %s lists what ls FILE lists, and says it read the stream through', (name) => {
    const path = join(GOOD_DIR, name);
    type Listing = { entries: Array<{ name: string; isArray: boolean; dtype?: string; shape?: number[]; compression: string; offset: number }> };
    const pick = (listing: Listing) => listing.entries.map((e) => [e.name, e.isArray, e.dtype, e.shape, e.compression, e.offset]);
    const fromFile = JSON.parse(cli(['ls', path, '--json']).stdout.toString()) as Listing;
    const fromStdin = cli(['ls', '--json', '-'], readFileSync(path));
    expect(fromStdin.status).toBe(0);
    expect(pick(JSON.parse(fromStdin.stdout.toString()) as Listing)).toEqual(pick(fromFile));
    const text = cli(['ls', '-'], readFileSync(path));
    expect(text.stderr).toMatch(/read all of standard input/);
  });

  it.each(['paligemma-tiny.npz', 'all-dtypes.npz'])('stats - < %s prints what stats FILE prints', (name) => {
    const path = join(GOOD_DIR, name);
    const fromStdin = cli(['stats', '-'], readFileSync(path));
    expect(fromStdin.status).toBe(0);
    expect(fromStdin.stdout.toString()).toBe(cli(['stats', path]).stdout.toString());
  });

  it('stats - NAME: only that array; an unknown name is ERR_NPZ_NOT_FOUND once the stream has ended', () => {
    const bytes = readFileSync(PALIGEMMA);
    const one = cli(['stats', '-', 'llm/final_norm/scale', '--json'], bytes);
    expect(one.status).toBe(0);
    expect((JSON.parse(one.stdout.toString()) as { arrays: Array<{ name: string }> }).arrays.map((a) => a.name)).toEqual(['llm/final_norm/scale']);
    const missing = cli(['stats', '-', 'no/such'], bytes);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/ERR_NPZ_NOT_FOUND/);
  });

  it('cat - NAME and cat --raw - NAME print what they print for the file', () => {
    const bytes = readFileSync(PALIGEMMA);
    const name = 'img/Transformer/encoderblock/MlpBlock_0/Dense_0/kernel';
    for (const extra of [[], ['--raw']]) {
      const fromStdin = cli(['cat', ...extra, '-', name], bytes);
      expect(fromStdin.status).toBe(0);
      expect(fromStdin.stdout.length).toBeGreaterThan(0);
      expect(fromStdin.stdout.equals(cli(['cat', ...extra, PALIGEMMA, name]).stdout)).toBe(true);
    }
  });

  it('extract - -o DIR writes the same .npy files as extract FILE', () => {
    const a = join(temp.path, 'extract-stdin');
    const b = join(temp.path, 'extract-file');
    expect(cli(['extract', '-', '-o', a], readFileSync(PALIGEMMA)).status).toBe(0);
    expect(cli(['extract', PALIGEMMA, '-o', b]).status).toBe(0);
    const files = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length)).sort();
    expect(files(a).length).toBeGreaterThan(10);
    expect(files(a)).toEqual(files(b));
    for (const file of files(a)) expect(readFileSync(join(a, file)).equals(readFileSync(join(b, file)))).toBe(true);
  });

  it('convert - OUT --cast float32:bfloat16 < IN gives the arrays convert IN OUT gives', async () => {
    const fromStdin = join(temp.path, 'cast-stdin.npz');
    const fromFile = join(temp.path, 'cast-file.npz');
    expect(cli(['convert', '-', fromStdin, '--cast', 'float32:bfloat16'], readFileSync(PALIGEMMA)).status).toBe(0);
    expect(cli(['convert', PALIGEMMA, fromFile, '--cast', 'float32:bfloat16']).status).toBe(0);
    const arrays = await collectDescribed(fromStdin);
    expect(arrays.some(([, described]) => described.includes('"bfloat16"'))).toBe(true);
    expect(arrays).toEqual(await collectDescribed(fromFile));
  });
});

describe('convert to standard output', () => {
  it('convert - - streams an npz with data descriptors that reads back exactly', async () => {
    const input = readFileSync(join(GOOD_DIR, 'all-dtypes.npz'));
    const result = cli(['convert', '-', '-'], input);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/wrote standard output/);
    const output = result.stdout;
    expect(output.readUInt16LE(6) & FLAG_DATA_DESCRIPTOR).toBe(FLAG_DATA_DESCRIPTOR);
    expect(await collectDescribed(output)).toEqual(await collectDescribed(input));
  });

  it.runIf(hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'numpy loads what convert IN - wrote, with the input values'), () => {
    const out = join(temp.path, 'to-stdout.npz');
    const result = cli(['convert', PALIGEMMA, '-', '--compress']);
    expect(result.status).toBe(0);
    writeFileSync(out, result.stdout);
    const check = runPython(
      String.raw`
import sys, numpy as np, zipfile
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.files == b.files, (a.files, b.files)
for k in a.files:
    assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k
print(len(a.files))
`,
      [out, PALIGEMMA],
    );
    expect(Number(check.trim())).toBe(32);
  });

  it('a failure mid-stream exits non-zero with the error code (no crash)', () => {
    const bytes = readFileSync(PALIGEMMA);
    const result = cli(['convert', '-', '-'], bytes.subarray(0, 3000));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/ERR_ZIP_TRUNCATED/);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('convert - to safetensors: the stream is spooled beside the output, then written', () => {
  it('cat model.npz | convert - model.safetensors gives the bytes convert model.npz model.safetensors gives, and leaves no temp file', () => {
    const dir = join(temp.path, 'spool');
    mkdirSync(dir);
    const fromFile = join(dir, 'file.safetensors');
    const fromStdin = join(dir, 'stdin.safetensors');
    expect(cli(['convert', PALIGEMMA, fromFile]).status).toBe(0);
    const result = cli(['convert', '-', fromStdin], readFileSync(PALIGEMMA));
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(fromStdin).equals(readFileSync(fromFile))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['file.safetensors', 'stdin.safetensors']);
  });

  it('with --max-shard-size: the same shards and index as from the file', () => {
    const a = join(temp.path, 'shards-file');
    const b = join(temp.path, 'shards-stdin');
    expect(cli(['convert', PALIGEMMA, join(a, 'model.safetensors'), '--max-shard-size', '2KB']).status).toBe(0);
    const result = cli(['convert', '-', join(b, 'model.safetensors'), '--max-shard-size', '2KB'], readFileSync(PALIGEMMA));
    expect(result.status, result.stderr).toBe(0);
    const names = readdirSync(a).sort();
    expect(names.length).toBeGreaterThan(2);
    expect(readdirSync(b).sort()).toEqual(names);
    for (const name of names) expect(readFileSync(join(b, name)).equals(readFileSync(join(a, name))), name).toBe(true);
  });

  it('a stream that fails (truncated) leaves neither the output nor the temp file, and an existing output as it was', () => {
    const dir = join(temp.path, 'spool-fail');
    mkdirSync(dir);
    const out = join(dir, 'model.safetensors');
    writeFileSync(out, 'previous');
    const bytes = readFileSync(PALIGEMMA);
    const result = cli(['convert', '-', out], bytes.subarray(0, bytes.length - 100));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/ERR_ZIP_TRUNCATED/);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
    expect(readFileSync(out, 'utf8')).toBe('previous');
  });

  it('--include matching nothing in the stream exits 2 and leaves an existing output alone', () => {
    const dir = join(temp.path, 'spool-empty');
    mkdirSync(dir);
    const npz = join(dir, 'out.npz');
    writeFileSync(npz, 'previous');
    for (const out of [npz, join(dir, 'out.safetensors')]) {
      const result = cli(['convert', '-', out, '--include', 'no/such/**'], readFileSync(PALIGEMMA));
      expect(result.status, out).toBe(2);
      expect(result.stderr).toMatch(/match no array/);
    }
    expect(readdirSync(dir)).toEqual(['out.npz']);
    expect(readFileSync(npz, 'utf8')).toBe('previous');
  });
});

describe("'-' holding a safetensors stream", () => {
  const st = join(temp.path, 'model.safetensors');
  beforeAll(() => {
    expect(cli(['convert', PALIGEMMA, st]).status).toBe(0);
  });

  it.each([['ls'], ['stats'], ['cat', 'img/head/bias']])('%s --json - reads it as it reads the file', (command, ...names) => {
    const fromFile = JSON.parse(cli([command, '--json', st, ...names]).stdout.toString()) as Record<string, unknown>;
    const fromStdin = cli([command, '--json', '-', ...names], readFileSync(st));
    expect(fromStdin.status, fromStdin.stderr).toBe(0);
    const parsed = JSON.parse(fromStdin.stdout.toString()) as Record<string, unknown>;
    if (command === 'ls') {
      type Listing = { entries: Array<Record<string, unknown>> };
      const pick = (listing: Listing) => listing.entries.map((e) => [e['name'], e['dtype'], e['shape'], e['safetensorsDType'], e['offset']]);
      expect(pick(parsed as Listing)).toEqual(pick(fromFile as Listing));
      expect(parsed['format']).toBe('safetensors');
    } else {
      expect({ ...parsed, file: undefined }).toEqual({ ...fromFile, file: undefined });
    }
  });

  it('verify - checks it, and says where a cut stream stops', () => {
    const bytes = readFileSync(st);
    const verify = cli(['verify', '-'], bytes);
    expect(verify.status).toBe(0);
    expect(verify.stdout.toString()).toMatch(/^OK {4}32 arrays/m);
    const cut = cli(['verify', '-'], bytes.subarray(0, bytes.length - 7));
    expect(cut.status).toBe(1);
    expect(cut.stdout.toString()).toMatch(/\[ERR_SAFETENSORS_BUFFER_LENGTH\]/);
    expect(cut.stdout.toString()).toMatch(new RegExp(`^FAILED {2}standard input is truncated at byte ${bytes.length - 7}`, 'm'));
  });

  it('convert - out.npz gives the arrays convert FILE out.npz gives', async () => {
    const npz = join(temp.path, 'from-st-stdin.npz');
    const viaFile = join(temp.path, 'from-st-file.npz');
    expect(cli(['convert', '-', npz], readFileSync(st)).status).toBe(0);
    expect(cli(['convert', st, viaFile]).status).toBe(0);
    // The stream is read in data order, the file in its header's (name) order: the same arrays either way.
    const byName = (arrays: Array<[string, string]>) => [...arrays].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    expect(byName(await collectDescribed(npz))).toEqual(byName(await collectDescribed(viaFile)));
  });

  it("convert - out.npz of float8 tensors warns once, naming each tensor's kind and the --raw-dtype to get it back", async () => {
    const { saveSafetensors } = await import('../../src/index.js');
    const f8 = join(temp.path, 'f8.safetensors');
    const raw = (kind: string, length: number) => ({ dtype: 'raw' as const, descr: '|V1', safetensorsDType: kind, shape: [length], data: new Uint8Array(length).fill(0x38) });
    await saveSafetensors(f8, { a: raw('F8_E4M3', 4), b: raw('F8_E5M2', 3), c: new Float32Array([1, 2]) });
    const result = cli(['convert', '-', join(temp.path, 'f8-stdin.npz')], readFileSync(f8));
    expect(result.status, result.stderr).toBe(0);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('warning'));
    expect(warnings).toEqual([expect.stringMatching(/2 float8 tensors are written as raw '\|V1' bytes: .*\(a: F8_E4M3, b: F8_E5M2\).*--raw-dtype 'a=F8_E4M3' --raw-dtype 'b=F8_E5M2'$/)]);
  });

  it('a bare .npy on standard input is refused with a clear message; text is "not a zip archive nor a safetensors file"', () => {
    const npy = Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), Buffer.alloc(120, 0x20)]);
    const refused = cli(['ls', '-'], npy);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/bare \.npy file.*give the \.npy file by its path/);
    const text = cli(['verify', '-'], Buffer.from('hello there, not an archive'));
    expect(text.status).toBe(1);
    expect(text.stdout.toString()).toMatch(/^FAILED {2}standard input is not a zip archive \(an npz is one\) nor a safetensors file/m);
  });
});
