/**
 * Every dtype of safetensors 0.8's `Dtype` enum is read, with the reference reader's byte rule (elements × bits
 * must fill whole bytes), and written back byte for byte: the names, ranks and bit sizes against the Rust enum, and
 * live against the installed Python safetensors (its own list of names, its verdict on each dtype and shape, and
 * its writer's bytes for the FNUZ float8 kinds).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npyShape, safetensorsShape, SAFETENSORS_DTYPES, safetensorsDType } from '../../src/safetensors/dtypes.js';
import { openSafetensors, saveSafetensors } from '../../src/index.js';
import type { Leaf } from '../../src/npy/write.js';
import { describeWithOracle, runPython } from '../helpers/python.js';
import { makeTempDir } from '../helpers/tmp.js';

/** safetensors/src/tensor.rs at v0.8.0: `pub enum Dtype` in declaration order, with `bitsize()`. */
const RUST_DTYPE_0_8: readonly [string, number][] = [
  ['BOOL', 8], ['F4', 4], ['F6_E2M3', 6], ['F6_E3M2', 6], ['U8', 8], ['I8', 8], ['F8_E5M2', 8], ['F8_E4M3', 8],
  ['F8_E8M0', 8], ['F8_E4M3FNUZ', 8], ['F8_E5M2FNUZ', 8], ['I16', 16], ['U16', 16], ['F16', 16], ['BF16', 16],
  ['I32', 32], ['U32', 32], ['F32', 32], ['C64', 64], ['F64', 64], ['I64', 64], ['U64', 64],
];

/** A file of one tensor, its header in the writer's compact form, with `bytes` data bytes. */
function fileOf(dtype: string, shape: number[], bytes: number): Uint8Array {
  let json = JSON.stringify({ t: { dtype, shape, data_offsets: [0, bytes] } });
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + bytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  for (let i = 0; i < bytes; i++) out[8 + json.length + i] = (i * 29 + 3) & 0xff;
  return out;
}

describe('the safetensors dtype table', () => {
  it('is the 0.8 Dtype enum: every name, in order (the rank), with its bit size', () => {
    expect(SAFETENSORS_DTYPES.map((info) => [info.name, info.bits])).toEqual(RUST_DTYPE_0_8);
    expect(SAFETENSORS_DTYPES.map((info) => info.rank)).toEqual(RUST_DTYPE_0_8.map((_, i) => i));
    for (const info of SAFETENSORS_DTYPES) {
      expect(safetensorsDType(info.name, 't')).toBe(info);
      // An npy item is whole bytes holding whole elements.
      expect(info.itemsize * 8, info.name).toBe(info.bits * info.perItem);
    }
  });

  it('maps the kinds numpy has no type for to voids, and the sub-byte kinds to groups of elements', () => {
    const mapping = Object.fromEntries(SAFETENSORS_DTYPES.map((info) => [info.name, [info.dtype, info.descr, info.perItem]]));
    for (const name of ['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ']) expect(mapping[name]).toEqual(['raw', '|V1', 1]);
    expect(mapping['F4']).toEqual(['raw', '|V1', 2]);
    expect(mapping['F6_E2M3']).toEqual(['raw', '|V3', 4]);
    expect(mapping['F6_E3M2']).toEqual(['raw', '|V3', 4]);
    expect(mapping['BF16']).toEqual(['bfloat16', '<V2', 1]);
    const f4 = safetensorsDType('F4', 't');
    const f6 = safetensorsDType('F6_E3M2', 't');
    expect(npyShape(f4, [4, 6])).toEqual([4, 3]);
    expect(npyShape(f4, [3, 2, 3])).toEqual([9]);
    expect(npyShape(f4, [5, 0])).toEqual([5, 0]);
    expect(npyShape(f6, [2, 8])).toEqual([2, 2]);
    expect(npyShape(f6, [3, 4, 3])).toEqual([9]);
    expect(safetensorsShape(f4, [4, 3])).toEqual([4, 6]);
    expect(safetensorsShape(f6, [2, 2])).toEqual([2, 8]);
    expect(safetensorsShape(safetensorsDType('F32', 't'), [2, 3])).toEqual([2, 3]);
  });

  it('reads the byte length of sub-byte tensors from their bits, and refuses what does not fill whole bytes', async () => {
    const f4 = await openSafetensors(fileOf('F4', [4, 6], 12));
    expect(f4.entries[0]).toMatchObject({ dtype: 'raw', descr: '|V1', safetensorsDType: 'F4', shape: [4, 3], byteLength: 12 });
    expect((await f4.get('t')).data.byteLength).toBe(12);
    const f6 = await openSafetensors(fileOf('F6_E2M3', [2, 4], 6));
    expect(f6.entries[0]).toMatchObject({ descr: '|V3', shape: [2, 1], byteLength: 6 });
    for (const [dtype, shape, bytes] of [['F4', [3], 2], ['F4', [], 1], ['F6_E3M2', [2], 2], ['F6_E2M3', [5], 4], ['F4', [4], 3]] as const) {
      await expect(openSafetensors(fileOf(dtype, [...shape], bytes)), `${dtype} ${JSON.stringify(shape)}`).rejects.toMatchObject({
        code: 'ERR_SAFETENSORS_SIZE_MISMATCH',
      });
    }
  });
});

describeWithOracle('safetensors dtypes against the installed reference (Python safetensors 0.8)', () => {
  const temp = makeTempDir('dtypes');
  afterAll(() => temp.remove());

  it("knows exactly the reference's dtype names, in its order", () => {
    // The reader's own error for an unknown name lists every variant it knows.
    const message = runPython(String.raw`
import json, struct, sys, tempfile
from safetensors import safe_open
h = json.dumps({'t': {'dtype': 'NOPE', 'shape': [0], 'data_offsets': [0, 0]}}).encode()
path = tempfile.mktemp()
open(path, 'wb').write(struct.pack('<Q', len(h)) + h)
try:
    safe_open(path, 'numpy')
except Exception as e:
    print(e)`);
    const names = [...message.slice(message.indexOf('expected one of')).matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]);
    expect(names).toEqual(SAFETENSORS_DTYPES.map((info) => info.name));
  });

  it('gives the reference verdict for every dtype and a grid of shapes, with the same byte length', async () => {
    const shapes = [[], [1], [2], [3], [4], [6], [2, 3], [4, 6], [3, 4], [0], [3, 0], [5, 2, 3]];
    const cases: { dtype: string; shape: number[]; bytes: number; path: string }[] = [];
    for (const info of SAFETENSORS_DTYPES) {
      for (const shape of shapes) {
        const bits = shape.reduce((a, b) => a * b, 1) * info.bits;
        // Whole bytes where the bits fill them, else the bytes they would take, rounded up (refused anyway).
        const bytes = Math.ceil(bits / 8);
        const path = join(temp.path, `${info.name}-${cases.length}.safetensors`);
        writeFileSync(path, fileOf(info.name, shape, bytes));
        cases.push({ dtype: info.name, shape, bytes, path });
      }
    }
    const reference = runPython(
      String.raw`
import json, sys
from safetensors import safe_open
for path in sys.argv[1:]:
    try:
        with safe_open(path, framework='numpy') as f:
            s = f.get_slice('t')
            print(json.dumps([s.get_dtype(), list(s.get_shape())]))
    except Exception as e:
        print(json.dumps('refused'))`,
      cases.map((c) => c.path),
    )
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    const mismatches: string[] = [];
    let accepted = 0;
    for (const [i, c] of cases.entries()) {
      let ours: unknown;
      try {
        const file = await openSafetensors(c.path);
        const entry = file.entries[0]!;
        const info = safetensorsDType(entry.safetensorsDType, 't');
        // The file's shape, from ours, must be what the reference read; the bytes must be the tensor's.
        if (entry.byteLength !== c.bytes || (await file.get('t')).data.byteLength !== c.bytes) mismatches.push(`${c.dtype} ${c.shape}: ${entry.byteLength} bytes`);
        if (entry.byteLength !== entry.shape.reduce((a, b) => a * b, 1) * info.itemsize) mismatches.push(`${c.dtype} ${c.shape}: npy shape ${entry.shape}`);
        ours = [entry.safetensorsDType, c.shape.length > 0 && c.shape.at(-1)! % info.perItem === 0 ? safetensorsShape(info, entry.shape) : c.shape];
        accepted += 1;
        await file.close();
      } catch (error) {
        ours = (error as { code?: string }).code?.startsWith('ERR_SAFETENSORS_') ? 'refused' : String(error);
      }
      if (JSON.stringify(ours) !== JSON.stringify(reference[i])) mismatches.push(`${c.dtype} ${JSON.stringify(c.shape)}: ours ${JSON.stringify(ours)}, reference ${JSON.stringify(reference[i])}`);
    }
    expect(mismatches).toEqual([]);
    expect(accepted).toBeGreaterThan(cases.length / 2);
  });

  it('writes the FNUZ float8 kinds (and every other numpy-writable kind) as safetensors.numpy.save_file does', async () => {
    const python = join(temp.path, 'python.safetensors');
    runPython(
      String.raw`
import sys, numpy as np, ml_dtypes
from safetensors.numpy import save_file
rng = np.random.default_rng(8)
raw = lambda n: rng.integers(0, 256, n, dtype=np.uint8)
save_file({'fnuz/e4m3': raw(6).view(ml_dtypes.float8_e4m3fnuz).reshape(2, 3), 'fnuz/e5m2': raw(5).view(ml_dtypes.float8_e5m2fnuz),
           'e4m3': raw(4).view(ml_dtypes.float8_e4m3fn), 'e5m2': raw(3).view(ml_dtypes.float8_e5m2), 'e8m0': raw(2).view(ml_dtypes.float8_e8m0fnu),
           'i16': np.arange(3, dtype=np.int16), 'u8': raw(4), 'b': np.array([True, False]), 'bf': np.ones(2, ml_dtypes.bfloat16),
           'f32': np.ones((2, 2), np.float32), 'c64': np.ones(1, np.complex64)}, sys.argv[1])`,
      [python],
    );
    const file = await openSafetensors(python);
    const leaves: [string, Leaf][] = [];
    for (const entry of file.entries) {
      leaves.push([entry.name, { ...(await file.get(entry.name)), safetensorsDType: entry.safetensorsDType } as Leaf]);
    }
    await file.close();
    expect(Object.fromEntries(file.entries.map((e) => [e.name, e.safetensorsDType]))).toMatchObject({ 'fnuz/e4m3': 'F8_E4M3FNUZ', 'fnuz/e5m2': 'F8_E5M2FNUZ' });
    const ours = join(temp.path, 'ours.safetensors');
    await saveSafetensors(ours, leaves.values());
    expect(readFileSync(ours).equals(readFileSync(python))).toBe(true);
  });

  it('writes F4 and F6 tensors back as read, with their element shapes, and the reference reads them', async () => {
    const original = join(temp.path, 'packed.safetensors');
    // Built by hand in the writer's layout (numpy has no type for these): rank order, compact JSON, padding.
    let json = JSON.stringify({
      f6b: { dtype: 'F6_E3M2', shape: [3, 4, 3], data_offsets: [0, 27] },
      f6a: { dtype: 'F6_E2M3', shape: [2, 8], data_offsets: [27, 39] },
      f4: { dtype: 'F4', shape: [4, 6], data_offsets: [39, 51] },
    });
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const bytes = new Uint8Array(8 + json.length + 51);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(new TextEncoder().encode(json), 8);
    for (let i = 0; i < 51; i++) bytes[8 + json.length + i] = (i * 71 + 5) & 0xff;
    writeFileSync(original, bytes);
    const file = await openSafetensors(original);
    expect(file.entries.map((e) => [e.name, e.descr, e.shape])).toEqual([['f6b', '|V3', [9]], ['f6a', '|V3', [2, 2]], ['f4', '|V1', [4, 3]]]);
    const leaves: [string, Leaf][] = [];
    for (const entry of file.entries) leaves.push([entry.name, { ...(await file.get(entry.name)), safetensorsDType: entry.safetensorsDType } as Leaf]);
    await file.close();
    const ours = join(temp.path, 'packed-ours.safetensors');
    await saveSafetensors(ours, leaves.values());
    // f6b's groups cross rows: it comes back flat, [9] groups = [36] elements; the rest byte for byte.
    const reference = runPython(
      String.raw`
import json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework='numpy') as f:
    print(json.dumps({k: [f.get_slice(k).get_dtype(), f.get_slice(k).get_shape()] for k in sorted(f.keys())}))`,
      [ours],
    );
    expect(JSON.parse(reference)).toEqual({ f4: ['F4', [4, 6]], f6a: ['F6_E2M3', [2, 8]], f6b: ['F6_E3M2', [36]] });
    const again = await openSafetensors(ours);
    for (const [name, leaf] of leaves) {
      const data = (await again.get(name)).data;
      expect(Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(Buffer.from((leaf as { data: Uint8Array }).data))).toBe(true);
    }
    await again.close();
  });
});
