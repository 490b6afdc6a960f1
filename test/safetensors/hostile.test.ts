import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NPZ_ERROR_CODES, type NpzErrorCode } from '../../src/errors.js';
import { MAX_HEADER_LENGTH, decodeHeaderLength, decodeSafetensorsHeader, layoutSafetensors } from '../../src/safetensors/header.js';
import { safetensorsDType } from '../../src/safetensors/dtypes.js';
import { openSafetensors, readSafetensors } from '../../src/safetensors/open.js';
import { bufferSource, type RandomAccessSource } from '../../src/source/index.js';
import { openFdCount } from '../helpers/fds.js';
import { runPython } from '../helpers/python.js';
import { describeWithSafetensors } from './st-helpers.js';
import { codeOf } from '../helpers/errors.js';

// test/fixtures/bad/<CODE>--<what>.safetensors (written by test/fixtures/gen/make_bad_safetensors.py): every
// read path refuses each with exactly <CODE>, reading no more than the file holds, and leaks no descriptor.

const BAD_DIR = fileURLToPath(new URL('../fixtures/bad/', import.meta.url));
const fixtures = readdirSync(BAD_DIR).filter((name) => name.endsWith('.safetensors')).sort();

function expectedCode(name: string): NpzErrorCode {
  const code = name.split('--')[0] as NpzErrorCode;
  if (!NPZ_ERROR_CODES.includes(code)) throw new Error(`${name}: '${code}' is not an NpzError code`);
  return code;
}

/** A source that records the largest read asked of it: a hostile length must not become a large buffer. */
function countingSource(bytes: Uint8Array): RandomAccessSource & { largest: number } {
  const inner = bufferSource(bytes);
  const source = {
    size: inner.size,
    largest: 0,
    read(offset: number, length: number, into?: Uint8Array) {
      source.largest = Math.max(source.largest, length);
      return inner.read(offset, length, into);
    },
    close: () => inner.close(),
  };
  return source;
}

async function readEverything(input: string | Uint8Array | RandomAccessSource): Promise<void> {
  const file = await openSafetensors(input);
  try {
    for (const entry of file.entries) {
      await file.get(entry.name);
      for await (const _ of file.chunks(entry.name, { chunkSize: 3 }));
    }
  } finally {
    await file.close();
  }
}

describe('hostile safetensors fixtures: the file name is the error code', () => {
  it('cover each check the reference reader makes', () => {
    const required = [
      'ERR_SAFETENSORS_HEADER_LENGTH--header-length-2^63',
      'ERR_SAFETENSORS_HEADER_LENGTH--over-100MB',
      'ERR_SAFETENSORS_HEADER_LENGTH--past-end-of-file',
      'ERR_SAFETENSORS_HEADER--not-json',
      'ERR_SAFETENSORS_HEADER--list-not-object',
      'ERR_SAFETENSORS_HEADER--metadata-value-not-string',
      'ERR_SAFETENSORS_DTYPE--unknown-dtype',
      'ERR_SAFETENSORS_OFFSETS--hole',
      'ERR_SAFETENSORS_OFFSETS--overlap',
      'ERR_SAFETENSORS_OFFSETS--not-from-zero',
      'ERR_SAFETENSORS_SIZE_MISMATCH--',
      'ERR_SAFETENSORS_BUFFER_LENGTH--trailing-bytes',
      'ERR_SAFETENSORS_BUFFER_LENGTH--truncated-data',
      'ERR_SAFETENSORS_DUPLICATE_NAME--',
    ];
    for (const prefix of required) expect(fixtures.some((name) => name.startsWith(prefix)), prefix).toBe(true);
  });

  it.each(fixtures)('%s', async (name) => {
    const code = expectedCode(name);
    const path = join(BAD_DIR, name);
    const bytes = new Uint8Array(readFileSync(path));
    const fds = openFdCount();
    expect(await codeOf(() => readEverything(path))).toBe(code);
    expect(await codeOf(() => readEverything(bytes))).toBe(code);
    expect(await codeOf(async () => {
      for await (const _ of readSafetensors(path));
    })).toBe(code);
    const source = countingSource(bytes);
    expect(await codeOf(() => readEverything(source))).toBe(code);
    expect(source.largest).toBeLessThanOrEqual(bytes.length);
    expect(openFdCount()).toBe(fds);
  });
});

describeWithSafetensors('the reference reader refuses every hostile fixture too', () => {
  it('safe_open raises on each', () => {
    const verdicts = runPython(
      String.raw`
import os, sys
from safetensors import safe_open
for name in sys.argv[2:]:
    try:
        with safe_open(os.path.join(sys.argv[1], name), framework='numpy') as f:
            for key in f.keys(): f.get_tensor(key)
        print('accepted', name)
    except Exception:
        print('refused', name)`,
      [BAD_DIR, ...fixtures],
    );
    expect(verdicts.trim().split('\n')).toEqual(fixtures.map((name) => `refused ${name}`));
  });
});

describe('header codec', () => {
  const f32 = safetensorsDType('F32', 'x');
  const i8 = safetensorsDType('I8', 'x');
  const bf16 = safetensorsDType('BF16', 'x');

  it('orders by dtype rank then code point, pads with spaces to a multiple of 8, metadata first', () => {
    const layout = layoutSafetensors(
      [
        { name: 'z', dtype: i8, shape: [3], byteLength: 3 },
        { name: '😀', dtype: f32, shape: [1], byteLength: 4 },
        { name: '\uffff', dtype: f32, shape: [], byteLength: 4 },
        { name: 'a', dtype: bf16, shape: [0, 2], byteLength: 0 },
      ],
      { format: 'pt' },
    );
    const length = Number(new DataView(layout.header.buffer).getBigUint64(0, true));
    expect(layout.header.byteLength).toBe(8 + length);
    expect(length % 8).toBe(0);
    const text = new TextDecoder().decode(layout.header.subarray(8));
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"\uffff":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"😀":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},' +
        '"a":{"dtype":"BF16","shape":[0,2],"data_offsets":[8,8]},"z":{"dtype":"I8","shape":[3],"data_offsets":[8,11]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(layout.dataLength).toBe(11);
    expect(decodeSafetensorsHeader(layout.header.subarray(8), 11).tensors.map((t) => t.name)).toEqual(['\uffff', '😀', 'a', 'z']);
  });

  it('a header length of 2^63, or past the limit, is refused from the 8-byte prefix alone', () => {
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(() => decodeHeaderLength(prefix, 2 ** 40)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_HEADER_LENGTH' }));
    new DataView(prefix.buffer).setBigUint64(0, BigInt(MAX_HEADER_LENGTH + 1), true);
    expect(() => decodeHeaderLength(prefix, 2 ** 40)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_HEADER_LENGTH' }));
    new DataView(prefix.buffer).setBigUint64(0, BigInt(MAX_HEADER_LENGTH), true);
    expect(decodeHeaderLength(prefix, MAX_HEADER_LENGTH + 8)).toBe(MAX_HEADER_LENGTH);
    expect(() => decodeHeaderLength(prefix, MAX_HEADER_LENGTH + 7)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_HEADER_LENGTH' }));
  });

  it('zero-sized tensors may share an offset; anything else out of line is refused', () => {
    const ok = new TextEncoder().encode('{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},"c":{"dtype":"U8","shape":[0,5],"data_offsets":[2,2]}}');
    expect(decodeSafetensorsHeader(ok, 2).tensors.map((t) => [t.name, t.begin, t.end])).toEqual([['a', 0, 0], ['b', 0, 2], ['c', 2, 2]]);
    expect(() => decodeSafetensorsHeader(ok, 3)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_BUFFER_LENGTH' }));
    const deep = new TextEncoder().encode(`{"__metadata__":${'['.repeat(100_000)}`);
    expect(() => decodeSafetensorsHeader(deep, 0)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_HEADER' }));
    const lone = new TextEncoder().encode('{"\\ud800":{"dtype":"I8","shape":[0],"data_offsets":[0,0]}}');
    expect(() => decodeSafetensorsHeader(lone, 0)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_HEADER' }));
    const huge = new TextEncoder().encode('{"a":{"dtype":"I8","shape":[0,9007199254740993],"data_offsets":[0,0]}}');
    expect(() => decodeSafetensorsHeader(huge, 0)).toThrow(expect.objectContaining({ code: 'ERR_SAFETENSORS_HEADER' }));
  });
});
