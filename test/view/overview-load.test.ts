import { describe, expect, it } from 'vitest';
import type { ArrayFile, NpzEntry } from '../../src/index.js';
import { jsonInSlices, textOf } from '../../src/cli/view/json-text.js';
import { ROWS_PER_TURN, overviewOf, parameterTree, type TensorRow } from '../../src/cli/view/overview.js';
import { startViewServer } from '../../src/cli/view/server.js';
import { jsonNumbers } from '../../src/cli/view/work-stream.js';

/**
 * The overview of a file with very many tensors: built in time linear in their number, in slices with other
 * requests answered in between, and served as the same JSON a single JSON.stringify would give.
 */

const WIDE = 100_000;

function row(name: string): TensorRow {
  return { name, dtype: 'float32', shape: [1], shapeText: '(1,)', parameters: 1, bytes: 4, storedBytes: 4, compression: 'stored', offset: 0 };
}

/** `count` one-element float32 tensors side by side at the root (no data behind them: the overview reads none). */
function wideFile(count: number, onEntries: () => void = () => {}): ArrayFile {
  const entries: NpzEntry[] = Array.from({ length: count }, (_, index) => {
    const name = `t${String(index).padStart(6, '0')}`;
    return {
      format: 'npz',
      isArray: true,
      name,
      memberName: `${name}.npy`,
      compression: 'stored',
      localHeaderOffset: index * 200,
      memberSize: 132,
      compressedSize: 132,
      crc32: 0,
      dtype: 'float32',
      descr: '<f4',
      shape: [1],
      fortranOrder: false,
      byteLength: 4,
      npyVersion: 1,
      dataOffset: index * 200 + 128,
    } as NpzEntry;
  });
  return {
    format: 'npz',
    get entries() {
      onEntries();
      return entries;
    },
    has: () => false,
    get: () => Promise.reject(new Error('no data')),
    chunks: () => (async function* () {})(),
    close: async () => {},
  } as unknown as ArrayFile;
}

describe('the parameter tree', () => {
  // A lookup of each child among its siblings makes this quadratic: 5·10⁹ name comparisons, past any test timeout.
  it(`takes ${WIDE} tensors at one level in linear time, each a child of the root`, () => {
    const tree = parameterTree(Array.from({ length: WIDE }, (_, index) => row(`t${index}`)));
    expect(tree.children).toHaveLength(WIDE);
    expect(tree.tensors).toBe(WIDE);
    expect(tree.children[WIDE - 1]).toMatchObject({ name: `t${WIDE - 1}`, path: `t${WIDE - 1}`, tensors: 1 });
  });

  it('keeps paths of names with empty segments as they are', () => {
    const tree = parameterTree([row('/a'), row('a//b')]);
    expect(tree.children.map((child) => child.path)).toEqual(['', 'a']);
    expect(tree.children[0]!.children[0]!.path).toBe('/a');
    expect(tree.children[1]!.children[0]!.children[0]!.path).toBe('a//b');
  });
});

describe('the overview, in slices', () => {
  it(`pauses every ${ROWS_PER_TURN} rows, and the result does not depend on the pauses`, async () => {
    const count = 10 * ROWS_PER_TURN;
    let pauses = 0;
    const counted = await overviewOf(wideFile(count), async () => void pauses++);
    expect(pauses).toBeGreaterThanOrEqual(10);
    const direct = await overviewOf(wideFile(count), async () => {});
    expect(counted).toEqual(direct);
    expect(counted.arrays).toBe(count);
  });

  it('writes the JSON JSON.stringify writes, pausing as it goes', async () => {
    const values: unknown[] = [
      { a: 1, b: [1, 2, { c: 'x"y' }], d: undefined, e: () => 1, f: null, g: true, h: [] , i: {} },
      [undefined, () => 1, NaN, Infinity, -Infinity, 10n, 'é\u2028'],
      'plain',
      42,
      { nested: { deeper: { list: Array.from({ length: 20_000 }, (_, index) => ({ index, half: index / 2, big: [index, [index]] })) } } },
      Array.from({ length: 3000 }, (_, index) => (index % 7 === 0 ? { wide: Array.from({ length: 40 }, () => index) } : index % 5 === 0 ? undefined : [index, NaN])),
    ];
    for (const value of values) {
      let pauses = 0;
      const pieces = await jsonInSlices(value, jsonNumbers, async () => void pauses++, 100);
      const text = textOf(pieces);
      expect(pieces.length).toBe(pauses + 1);
      expect(text).toBe(JSON.stringify(value, jsonNumbers));
      if (text.length > 100_000) expect(pauses).toBeGreaterThanOrEqual(10);
    }
  });
});

describe('the view server with a 100 000-tensor file', () => {
  it('answers other requests while the first overview is made, then serves the whole overview', async () => {
    let touched: () => void = () => {};
    const started = new Promise<void>((resolve) => (touched = resolve));
    const server = await startViewServer({ files: [{ path: 'wide.npz', file: wideFile(WIDE, () => touched()) }] });
    try {
      const api = (path: string): string => `http://127.0.0.1:${server.port}/api/${path}&token=${server.token}`;
      // The order in which answers begin (fetch resolves on the response head): the overview's head is written
      // only once its JSON is complete.
      const order: string[] = [];
      const overview = fetch(api('overview?file=0')).then(async (response) => {
        order.push('overview');
        return (await response.json()) as { arrays: number; tensors: TensorRow[] };
      });
      await started;
      // Sent once the overview is under way: a server busy with it in one go answers these only afterwards.
      const files = fetch(api('files?x=1')).then(async (response) => {
        order.push('files');
        expect(response.status).toBe(200);
      });
      const entry = fetch(api(`entry?file=0&name=t099999`)).then(async (response) => {
        order.push('entry');
        expect(await response.json()).toMatchObject({ name: 't099999', bytes: 4, offset: 99_999 * 200 });
      });
      const [body] = await Promise.all([overview, files, entry]);
      expect(order.at(-1)).toBe('overview');
      expect(body.arrays).toBe(WIDE);
      expect(body.tensors[WIDE - 1]!.name).toBe('t099999');
    } finally {
      await server.close();
    }
  });
});
