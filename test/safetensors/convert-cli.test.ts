import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseShardSize } from '../../src/cli/shard-size.js';
import { compareTreeNames } from '../../src/cli/tree-order.js';
import { planShards } from '../../src/safetensors/shards.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';
import { PALIGEMMA } from '../helpers/fixtures.js';
import { runPython, describeWithOracle } from '../helpers/python.js';
import { sameFileBytes } from '../helpers/bytes.js';
import { makeTempDir } from '../helpers/tmp.js';

// The CLI end to end on safetensors, judged by numpy and Python safetensors: npz -> safetensors -> npz gives
// numpy's bytes back, Hugging Face shards load with transformers' index semantics, and the reading commands
// take .safetensors files.

const temp = makeTempDir('st-cli');
beforeAll(() => ensureBuilt());
afterAll(() => temp.remove());

const ok = (args: string[]): string => {
  const result = runCli(args);
  if (result.status !== 0) throw new Error(`npz-stream ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
};

it('parses shard sizes as transformers does (GB = 10^9, GiB = 2^30, lowercase b = bits)', () => {
  expect(parseShardSize('5GB')).toBe(5e9);
  expect(parseShardSize('500MiB')).toBe(500 * 2 ** 20);
  expect(parseShardSize('2KiB')).toBe(2048);
  expect(parseShardSize('10kb')).toBe(1250);
  expect(parseShardSize(' 12345 ')).toBe(12345);
  for (const bad of ['5 GiGs', '1.5GB', '', '0', '-3MB']) expect(() => parseShardSize(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
});

it('splits shards like huggingface_hub: a tensor over the limit alone, before the shard being filled', () => {
  const sizes = [3, 4, 12, 2, 5, 1, 6].map((byteLength, i) => ({ name: `t${i}`, byteLength }));
  expect(planShards(sizes, 8).map((shard) => shard.map((t) => t.name))).toEqual([['t2'], ['t0', 't1'], ['t3', 't4', 't5'], ['t6']]);
  expect(planShards([], 8)).toEqual([]);
});

it("orders names as big_vision's flatten does, level by level", () => {
  const names = ['b/a-c', 'b/a/z', 'a', 'b/a/y', 'B/x', 'é', 'b/ab'];
  expect([...names].sort(compareTreeNames)).toEqual(['B/x', 'a', 'b/a/y', 'b/a/z', 'b/a-c', 'b/ab', 'é']);
});

describeWithOracle('convert between npz and safetensors', () => {
  it('npz (numpy-written, big_vision order) -> safetensors -> npz is byte-identical, and Python reads the same arrays', () => {
    const st = join(temp.path, 'pg.safetensors');
    const back = join(temp.path, 'pg-back.npz');
    ok(['convert', PALIGEMMA, st]);
    ok(['convert', st, back]);
    expect(sameFileBytes(back, PALIGEMMA)).toBe(true);
    const report = runPython(
      String.raw`
import sys
import numpy as np, ml_dtypes
from safetensors.numpy import load_file, save_file
z = np.load(sys.argv[1])
expected = {k: (z[k].view(ml_dtypes.bfloat16) if z[k].dtype == np.dtype('V2') else z[k]) for k in z.files}
# bfloat16 data can only be read by hand: numpy has no bfloat16 for load_file to build.
from safetensors import safe_open
import json
data = open(sys.argv[2], 'rb').read(); n = int.from_bytes(data[:8], 'little'); header = json.loads(data[8:8 + n])
bad = []
with safe_open(sys.argv[2], framework='numpy') as f:
    for key in f.keys():
        a = expected[key]
        b0, b1 = header[key]['data_offsets']
        if list(f.get_slice(key).get_shape()) != list(a.shape) or data[8 + n + b0:8 + n + b1] != a.tobytes():
            bad.append(key)
    names = set(f.keys())
save_file(expected, sys.argv[3])
print(len(names), sorted(names) == sorted(expected), bad, open(sys.argv[3], 'rb').read() == data)`,
      [PALIGEMMA, st, join(temp.path, 'pg-python.safetensors')],
    );
    // Same tensors, and save_file of numpy's arrays gives exactly the converted file.
    expect(report.trim()).toBe('32 True [] True');
  });

  it('writes Hugging Face shards that load with transformers index semantics, and reads the index back', () => {
    const out = join(temp.path, 'hf', 'model.safetensors');
    const json = JSON.parse(ok(['--json', 'convert', PALIGEMMA, out, '--max-shard-size', '2KB', '--metadata', 'format=pt'])) as { files: string[] };
    const names = readdirSync(join(temp.path, 'hf')).sort();
    expect(names.length).toBeGreaterThan(3);
    expect(names).toEqual([...names.filter((n) => n.endsWith('.safetensors')), 'model.safetensors.index.json']);
    names.filter((n) => n.endsWith('.safetensors')).forEach((name, i, all) => {
      expect(name).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(all.length).padStart(5, '0')}.safetensors`);
    });
    expect(json.files.map((file) => file.split('/').pop()).sort()).toEqual(names);
    const verdict = runPython(
      String.raw`
import json, os, sys
import numpy as np
from safetensors import safe_open
index_path = sys.argv[1]
text = open(index_path, encoding='utf-8').read()
index = json.loads(text)
same_text = text == json.dumps(index, indent=2, sort_keys=True) + '\n'
z = np.load(sys.argv[2])
seen, total, problems = {}, 0, []
for shard in sorted(set(index['weight_map'].values())):
    with safe_open(os.path.join(os.path.dirname(index_path), shard), framework='numpy') as f:
        if f.metadata() != {'format': 'pt'}: problems.append('metadata of ' + shard)
        for key in f.keys():
            if key in seen: problems.append('twice: ' + key)
            seen[key] = shard
            total += int(np.prod(f.get_slice(key).get_shape(), dtype=np.int64)) * z[key].dtype.itemsize
# transformers' max_shard_size: a new shard when the next tensor would overflow, in state-dict order
limit, sizes, current, shards = 2000, [z[k].nbytes for k in z.files], 0, [[]]
for k, size in zip(z.files, sizes):
    if size > limit: continue
    if current + size > limit and shards[-1]: shards.append([]); current = 0
    shards[-1].append(k); current += size
plan_ok = [sorted(index['weight_map'][k] for k in group) for group in shards] == [[index['weight_map'][group[0]]] * len(group) for group in shards]
print(json.dumps({'text': same_text, 'names': seen == index['weight_map'] and sorted(seen) == sorted(z.files),
                  'total': index['metadata']['total_size'] == total == sum(sizes), 'problems': problems, 'plan': plan_ok}))`,
      [`${out}.index.json`, PALIGEMMA],
    );
    expect(JSON.parse(verdict)).toEqual({ text: true, names: true, total: true, problems: [], plan: true });

    const back = join(temp.path, 'from-shards.npz');
    ok(['convert', `${out}.index.json`, back]);
    expect(sameFileBytes(back, PALIGEMMA)).toBe(true);
    expect(ok(['verify', `${out}.index.json`])).toContain('OK    32 arrays');

    // An index that lies about where a tensor is, is refused.
    const index = JSON.parse(readFileSync(`${out}.index.json`, 'utf8')) as { weight_map: Record<string, string> };
    const [first] = Object.keys(index.weight_map);
    const shardNames = [...new Set(Object.values(index.weight_map))];
    index.weight_map[first!] = shardNames.find((shard) => shard !== index.weight_map[first!])!;
    writeFileSync(join(temp.path, 'hf', 'lying.safetensors.index.json'), JSON.stringify(index));
    const lying = runCli(['ls', join(temp.path, 'hf', 'lying.safetensors.index.json')]);
    expect(lying.status).toBe(1);
    expect(lying.stderr).toContain('ERR_SAFETENSORS_INDEX');
  });

  it('keeps the convert options: include/exclude, rename, prefixes, cast', () => {
    const out = join(temp.path, 'renamed.safetensors');
    ok(['convert', PALIGEMMA, out, '--include', 'llm/**', '--exclude', '**/mlp/**', '--strip-prefix', 'llm/', '--add-prefix', 'language_model.', '--rename', '^layers/=blocks/', '--cast', 'float32:bfloat16']);
    const listing = JSON.parse(ok(['--json', 'ls', out])) as { entries: { name: string; dtype: string; safetensorsDType: string }[] };
    const source = JSON.parse(ok(['--json', 'ls', PALIGEMMA])) as { entries: { name: string; dtype: string }[] };
    const expected = source.entries
      .filter((entry) => entry.name.startsWith('llm/') && !entry.name.includes('/mlp/'))
      .map((entry) => [`language_model.${entry.name.slice(4).replace(/^layers\//, 'blocks/')}`, entry.dtype === 'float32' ? 'bfloat16' : entry.dtype])
      .sort();
    expect(listing.entries.map((entry) => [entry.name, entry.dtype]).sort()).toEqual(expected);
    expect(listing.entries.every((entry) => entry.safetensorsDType === { bfloat16: 'BF16', float16: 'F16', float32: 'F32' }[entry.dtype])).toBe(true);
  });

  it('the reading commands take .safetensors: ls, verify, cat, stats, diff, extract', () => {
    const st = join(temp.path, 'read.safetensors');
    ok(['convert', PALIGEMMA, st]);
    expect(ok(['ls', st])).toContain('llm/final_norm/scale');
    expect(ok(['verify', st])).toMatch(/^OK {4}32 arrays/m);
    expect(ok(['diff', st, PALIGEMMA])).toContain('identical');
    expect(ok(['cat', st, 'llm/final_norm/scale'])).toBe(ok(['cat', PALIGEMMA, 'llm/final_norm/scale']));
    // Same statistics; safetensors lists tensors in its own (dtype) order.
    const lines = (text: string): string[] => text.trim().split('\n').sort();
    expect(lines(ok(['stats', st]))).toEqual(lines(ok(['stats', PALIGEMMA])));
    const dir = join(temp.path, 'extracted');
    ok(['extract', st, 'llm/final_norm/scale', '-o', dir]);
    const check = runPython(`import sys, numpy as np
a = np.load(sys.argv[1]); b = np.load(sys.argv[2])['llm/final_norm/scale']; print(a.dtype == b.dtype and (a == b).all())`, [join(dir, 'llm/final_norm/scale.npy'), PALIGEMMA]);
    expect(check.trim()).toBe('True');

    // A truncated file: verify reports it (exit 1) with its code; ls refuses it.
    const bytes = readFileSync(st);
    const cut = join(temp.path, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    const verify = runCli(['verify', cut]);
    expect(verify.status).toBe(1);
    expect(verify.stdout).toContain('ERR_SAFETENSORS_BUFFER_LENGTH');
  });

  it("float8 tensors: safetensors -> safetensors keeps their kind (save_file's bytes again); to npz they are raw '|V1'", () => {
    const source = join(temp.path, 'f8.safetensors');
    runPython(
      String.raw`
import sys
import numpy as np, ml_dtypes
from safetensors.numpy import save_file
rng = np.random.default_rng(8)
save_file({'q/e4m3': rng.standard_normal(12).astype(ml_dtypes.float8_e4m3fn).reshape(3, 4),
           'q/e5m2': rng.standard_normal(5).astype(ml_dtypes.float8_e5m2), 'scale': np.float32([0.5, 2])}, sys.argv[1])`,
      [source],
    );
    const copy = join(temp.path, 'f8-copy.safetensors');
    ok(['convert', source, copy]);
    expect(sameFileBytes(copy, source)).toBe(true);
    const listing = JSON.parse(ok(['--json', 'ls', source])) as { entries: { name: string; dtype: string; descr: string; safetensorsDType: string }[] };
    expect(listing.entries.filter((e) => e.name.startsWith('q/')).map((e) => [e.name, e.dtype, e.descr, e.safetensorsDType])).toEqual([
      ['q/e4m3', 'raw', '|V1', 'F8_E4M3'],
      ['q/e5m2', 'raw', '|V1', 'F8_E5M2'],
    ]);
    const npz = join(temp.path, 'f8.npz');
    const toNpz = runCli(['convert', source, npz]);
    expect(toNpz.status, toNpz.stderr).toBe(0);
    // The step that loses the kind says so, and how to get it back.
    expect(toNpz.stderr).toMatch(/2 float8 tensors are written as raw '\|V1' bytes: .*q\/e4m3: F8_E4M3, q\/e5m2: F8_E5M2.*--raw-dtype 'q\/e4m3=F8_E4M3' --raw-dtype 'q\/e5m2=F8_E5M2'/);
    const check = runPython(
      String.raw`
import json, sys
import numpy as np
z = np.load(sys.argv[1])
data = open(sys.argv[2], 'rb').read(); n = int.from_bytes(data[:8], 'little'); h = json.loads(data[8:8 + n])
print(z.files, str(z['q/e4m3'].dtype), z['q/e4m3'].shape, all(z[k].tobytes() == data[8 + n + h[k]['data_offsets'][0]:8 + n + h[k]['data_offsets'][1]] for k in z.files))`,
      [npz, source],
    );
    expect(check.trim()).toBe("['q/e4m3', 'q/e5m2', 'scale'] |V1 (3, 4) True");
    // In the npz the kind is gone, so it cannot be written back as a float8 without saying which one.
    const back = runCli(['convert', npz, join(temp.path, 'f8-back.safetensors')]);
    expect(back.status).toBe(1);
    expect(back.stderr).toContain('ERR_SAFETENSORS_UNSUPPORTED');
    expect(back.stderr).toMatch(/say which with --raw-dtype/);
    // Named with --raw-dtype (GLOB=KIND, the first match wins), the round trip gives save_file's bytes again.
    const named = join(temp.path, 'f8-named.safetensors');
    ok(['convert', npz, named, '--raw-dtype', 'q/e4m3=F8_E4M3', '--raw-dtype', 'F8_E5M2']);
    expect(sameFileBytes(named, source)).toBe(true);
  }, 240_000);

  it('refuses options that mean nothing for the output format', () => {
    const cases: [string[], RegExp][] = [
      [['convert', PALIGEMMA, join(temp.path, 'x.safetensors'), '--compress'], /no compression/],
      [['convert', PALIGEMMA, join(temp.path, 'x.safetensors'), '--align', '64'], /--align is for \.npz/],
      [['convert', PALIGEMMA, join(temp.path, 'x.npz'), '--max-shard-size', '5GB'], /need a \.safetensors output/],
      [['convert', PALIGEMMA, join(temp.path, 'x.npz'), '--align', '48'], /power of two/],
      [['convert', PALIGEMMA, join(temp.path, 'x.safetensors'), '--max-shard-size', 'lots'], /shard size/],
    ];
    for (const [args, message] of cases) {
      const result = runCli(args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(readdirSync(temp.path).filter((name) => name.startsWith('x.'))).toEqual([]);
  });
});
