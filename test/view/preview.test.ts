import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileSource, openNpz, openSafetensors, saveNpz, saveSafetensors, type ArrayChunksOptions, type ArrayFile, type Leaf, type RandomAccessSource } from '../../src/index.js';
import { shownElements } from '../../src/cli/commands/cat.js';
import type { TensorEntry } from '../../src/cli/npz-input.js';
import { arrayText } from '../../src/cli/print/array-print.js';
import { boxRuns, previewPlan, streamedBoxReader, tensorPreview, type BoxReader } from '../../src/cli/view/preview.js';
import { rangeBoxReader } from '../../src/cli/view/raw-boxes.js';
import { startViewServer } from '../../src/cli/view/server.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The tensor page's first and last values: the same text as `npz-stream cat` (itself checked against numpy), read
 * as a few small boxes of the data instead of the whole tensor, from stored npz members (C and Fortran order,
 * big-endian), compressed members and safetensors alike.
 */

let dir: string;
let temp: TempDir | undefined;
const opened: ArrayFile[] = [];

/** A source that counts the bytes read through it. */
function counting(source: RandomAccessSource): RandomAccessSource & { bytes: number; reads: number } {
  const counted = {
    size: source.size,
    bytes: 0,
    reads: 0,
    read: async (offset: number, length: number, into?: Uint8Array, signal?: AbortSignal) => {
      const bytes = await source.read(offset, length, into, signal);
      counted.bytes += bytes.length;
      counted.reads++;
      return bytes;
    },
    close: () => source.close(),
  };
  return counted;
}

/** The file, with the bytes its chunks hand out counted and the options each read asked for kept. */
function watched(file: ArrayFile): ArrayFile & { bytes: number; options: ArrayChunksOptions[] } {
  const out = {
    format: file.format,
    entries: file.entries,
    bytes: 0,
    options: [] as ArrayChunksOptions[],
    has: (name: string) => file.has(name),
    get: (name: string) => file.get(name),
    close: () => file.close(),
    chunks(name: string, options: ArrayChunksOptions = {}) {
      out.options.push(options);
      return (async function* () {
        for await (const chunk of file.chunks(name, options)) {
          out.bytes += chunk.length;
          yield chunk;
        }
      })();
    },
  };
  return out as unknown as ArrayFile & { bytes: number; options: ArrayChunksOptions[] };
}

function ramp(count: number, scale = 1): Float32Array {
  return Float32Array.from({ length: count }, (_, index) => index * scale);
}

async function catText(file: ArrayFile, entry: TensorEntry): Promise<string> {
  if (entry.dtype === 'raw') throw new Error('raw');
  return arrayText({ dtype: entry.dtype, shape: entry.shape, values: await shownElements(file, entry, entry.dtype) });
}

const signal = new AbortController().signal;

beforeAll(async () => {
  temp = makeTempDir('view-preview');
  dir = temp.path;
  const leaves = new Map<string, Leaf>([
    ['big', { dtype: 'float32', shape: [512, 1024], data: ramp(512 * 1024) }],
    ['cube', { dtype: 'float32', shape: [9, 10, 11], data: ramp(990, 0.5) }],
    ['long', { dtype: 'int32', shape: [5000], data: Int32Array.from({ length: 5000 }, (_, index) => index - 2500) }],
    ['small', { dtype: 'float32', shape: [2, 3], data: ramp(6) }],
    ['scalar', { dtype: 'float64', shape: [], data: Float64Array.of(3.25) }],
    ['empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
    ['axes', { dtype: 'int16', shape: [3, 400, 2], data: Int16Array.from({ length: 2400 }, (_, index) => index) }],
  ]);
  await saveNpz(join(dir, 'c.npz'), leaves);
  await saveSafetensors(join(dir, 'c.safetensors'), leaves);
  if (hasNumpy()) {
    runPython(
      `
import sys, numpy as np
out = sys.argv[1]
arrays = {
  'fortran': np.asfortranarray(np.arange(40 * 30 * 7, dtype=np.float64).reshape(40, 30, 7)),
  'big_endian': np.arange(-1000, 1500, dtype='>i4').reshape(50, 50),
  'big_endian_fortran': np.asfortranarray(np.arange(3000, dtype='>f8').reshape(60, 50) / 7),
  'complex': (np.arange(2000) + 1j * np.arange(2000)[::-1]).astype(np.complex64).reshape(40, 50),
  'bools': np.arange(1500) % 3 == 0,
}
np.savez(out + '/numpy.npz', **arrays)
np.savez_compressed(out + '/compressed.npz', **arrays)
`,
      [dir],
    );
  }
});

afterAll(async () => {
  await Promise.all(opened.map((file) => file.close()));
  temp?.remove();
});

async function open(name: string): Promise<ArrayFile> {
  const file = name.endsWith('.safetensors') ? await openSafetensors(join(dir, name)) : await openNpz(join(dir, name));
  opened.push(file);
  return file;
}

describe('the preview plan', () => {
  it('boxes cover exactly the indices numpy prints, each element once', () => {
    const plan = previewPlan([9, 10, 11]);
    // 990 elements print whole: one box, the whole array.
    expect(plan.boxes).toEqual([[[0, 9], [0, 10], [0, 11]]]);
    const summarised = previewPlan([512, 1024]);
    expect(summarised.boxes).toEqual([
      [[0, 3], [0, 3]],
      [[0, 3], [1021, 1024]],
      [[509, 512], [0, 3]],
      [[509, 512], [1021, 1024]],
    ]);
    expect(summarised.places).toHaveLength(36);
    expect(new Set(summarised.places.map(({ box, index }) => `${box}:${index}`)).size).toBe(36);
    expect(previewPlan([3, 400, 2]).boxes).toEqual([
      [[0, 3], [0, 3], [0, 2]],
      [[0, 3], [397, 400], [0, 2]],
    ]);
    expect(previewPlan([])).toEqual({ boxes: [[]], places: [{ box: 0, index: 0 }] });
    expect(previewPlan([0, 4])).toEqual({ boxes: [], places: [] });
  });

  it('runs follow the stored order: the last axis in C order, the first in Fortran order', () => {
    // Box rows 1..2, columns 2..4 of a (4, 5) array.
    expect(boxRuns([4, 5], false, [[1, 3], [2, 5]])).toEqual([
      { element: 7, count: 3, index: 0, step: 1 },
      { element: 12, count: 3, index: 3, step: 1 },
    ]);
    expect(boxRuns([4, 5], true, [[1, 3], [2, 5]])).toEqual([
      { element: 9, count: 2, index: 0, step: 3 },
      { element: 13, count: 2, index: 1, step: 3 },
      { element: 17, count: 2, index: 2, step: 3 },
    ]);
  });
});

describe('the preview text', () => {
  const names = ['big', 'cube', 'long', 'small', 'scalar', 'empty', 'axes'];
  it.each(['c.npz', 'c.safetensors'])('%s: as cat prints it, by byte ranges and by streaming', async (name) => {
    const file = await open(name);
    const raw = counting(await fileSource(join(dir, name)));
    try {
      const ranges = rangeBoxReader(async () => raw, () => Promise.reject(new Error('no fallback expected')));
      for (const tensor of names) {
        const entry = file.entries.find((candidate) => candidate.name === tensor) as TensorEntry;
        const expected = await catText(file, entry);
        expect((await tensorPreview(entry, ranges, signal)).text, tensor).toBe(expected);
        expect((await tensorPreview(entry, streamedBoxReader(file), signal)).text, tensor).toBe(expected);
      }
    } finally {
      await raw.close();
    }
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'numpy files: Fortran order, big-endian, complex, bool; stored and compressed'), async () => {
    for (const name of ['numpy.npz', 'compressed.npz']) {
      const file = await open(name);
      const raw = counting(await fileSource(join(dir, name)));
      const fallback = watched(file);
      try {
        const reader = rangeBoxReader(async () => raw, streamedBoxReader(fallback));
        for (const entry of file.entries as TensorEntry[]) {
          expect((await tensorPreview(entry, reader, signal)).text, `${name} ${entry.name}`).toBe(await catText(file, entry));
        }
        // Stored members are read by range; compressed ones (no data offset) are streamed, in recycled buffers.
        if (name === 'numpy.npz') expect(fallback.options).toEqual([]);
        else expect(fallback.options.every((options) => options.reuseBuffers === true)).toBe(true);
      } finally {
        await raw.close();
      }
    }
  });

  it('reads a few hundred bytes of a 2 MiB tensor, not the tensor', async () => {
    const file = await open('c.npz');
    const raw = counting(await fileSource(join(dir, 'c.npz')));
    try {
      const entry = file.entries.find((candidate) => candidate.name === 'big') as TensorEntry;
      await tensorPreview(entry, rangeBoxReader(async () => raw, () => Promise.reject(new Error('fallback'))), signal);
      // The local header and npy header, then 4 boxes of 3 rows of 3 float32 values.
      expect(raw.bytes).toBeLessThan(1024);
    } finally {
      await raw.close();
    }
  });
});

describe('the preview on the view server', () => {
  it('reads only what it shows through the reader it is given, and streams in recycled buffers without one', async () => {
    const file = watched(await open('c.npz'));
    const raw = counting(await fileSource(join(dir, 'c.npz')));
    const readBoxes: BoxReader = rangeBoxReader(async () => raw, streamedBoxReader(file));
    const server = await startViewServer({ files: [{ path: 'c.npz', file, readBoxes }, { path: 'again.npz', file }] });
    try {
      const preview = async (index: number) => {
        const response = await fetch(`http://127.0.0.1:${server.port}/api/preview?file=${index}&name=big&token=${server.token}`);
        expect(response.status).toBe(200);
        return ((await response.json()) as { text: string }).text;
      };
      const ranged = await preview(0);
      expect(ranged).toContain('...');
      expect(file.bytes).toBe(0);
      expect(raw.bytes).toBeLessThan(1024);
      // Without a reader of its own, a file is streamed up to the last value shown, in recycled buffers.
      expect(await preview(1)).toBe(ranged);
      expect(file.options).toEqual([expect.objectContaining({ reuseBuffers: true })]);
    } finally {
      await server.close();
      await raw.close();
    }
  });
});
