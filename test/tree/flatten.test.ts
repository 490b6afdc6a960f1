import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { compareCodePoints, flattenWithNames, unflattenWithNames, type Tree } from '../../src/tree/flatten.js';
import { normalizeLeaf, type Leaf } from '../../src/npy/write.js';
import { hasNumpy, runPython, withSkipReason, NO_NUMPY } from '../helpers/python.js';

async function names(tree: unknown): Promise<string[]> {
  const out: string[] = [];
  for await (const [name] of flattenWithNames(tree as Tree)) out.push(name);
  return out;
}

const leaf = (value: number): Leaf => Float32Array.of(value);

/** Keys chosen to defeat naive orders: path-string sort, UTF-16 sort, numeric sort, case-insensitive sort. */
function trickyTree(): Record<string, unknown> {
  return {
    b: { x: leaf(1), 'a.b': leaf(2), 'a-c': [leaf(3), null, [leaf(4), leaf(5)]], a: { z: leaf(6) } },
    B: leaf(7),
    layers: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [String(i), leaf(i)])),
    list: Array.from({ length: 12 }, (_, i) => leaf(i)),
    é: leaf(8),
    Ａ: leaf(9),
    '😀': leaf(10),
    '\uffff': leaf(11),
    none: null,
    empty: {},
    emptyList: [],
    nested: { empty: { deeper: {} } },
  };
}

describe('flattenWithNames', () => {
  it('walks depth first with keys sorted by code point at each level', async () => {
    const result = await names(trickyTree());
    expect(result.slice(0, 7)).toEqual(['B', 'b/a/z', 'b/a-c/0', 'b/a-c/2/0', 'b/a-c/2/1', 'b/a.b', 'b/x']);
    expect(result.filter((n) => n.startsWith('layers/')).slice(0, 4)).toEqual(['layers/0', 'layers/1', 'layers/10', 'layers/11']);
    expect(result.filter((n) => n.startsWith('list/')).slice(0, 4)).toEqual(['list/0', 'list/1', 'list/2', 'list/3']);
    // U+FFFF sorts before U+1F600 by code point, although its UTF-16 unit is larger than the surrogate 0xD83D.
    expect(result.slice(-4)).toEqual(['é', 'Ａ', '\uffff', '😀']);
    expect(result.some((n) => n.startsWith('none') || n.startsWith('empty') || n.startsWith('nested'))).toBe(false);
  });

  it('treats Maps as dicts and accepts flat iterables, sync or async', async () => {
    expect(await names(new Map<string, unknown>([['z', leaf(1)], ['a', { b: 2 }]]))).toEqual(['a/b', 'z']);
    expect(await names([['z', leaf(1)], ['a', leaf(2)]][Symbol.iterator]())).toEqual(['z', 'a']);
    async function* pairs() {
      yield ['x/y', leaf(1)] as const;
      yield ['w', 3] as const;
    }
    expect(await names(pairs())).toEqual(['x/y', 'w']);
  });

  it('rejects keys with a slash, non-string Map keys, duplicates, cycles and odd values with codes', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const cases: [unknown, string][] = [
      [{ 'k/slash': leaf(1) }, 'ERR_TREE_KEY'],
      [{ '': leaf(1) }, 'ERR_TREE_KEY'],
      [new Map<unknown, unknown>([[1, leaf(1)]]), 'ERR_TREE_KEY'],
      [[['a', leaf(1)], ['a', leaf(2)]][Symbol.iterator](), 'ERR_TREE_DUPLICATE_NAME'],
      [cyclic, 'ERR_TREE_LEAF'],
      [{ when: new Date() }, 'ERR_TREE_LEAF'],
      [{ f: () => 1 }, 'ERR_TREE_LEAF'],
      [leaf(1), 'ERR_TREE_LEAF'],
    ];
    for (const [tree, code] of cases) {
      const error = await names(tree).catch((err: unknown) => err);
      expect(isNpzError(error), String(error)).toBe(true);
      expect((error as { code: string }).code).toBe(code);
    }
  });

  it('is lazy: a subtree is opened only when the consumer pulls its first leaf', async () => {
    const log: string[] = [];
    // Proxies record when the walk lists a dict's keys or reads a list element.
    const watchedDict = (name: string, dict: Record<string, unknown>): Record<string, unknown> =>
      new Proxy(dict, {
        ownKeys(target) {
          log.push(`open ${name}`);
          return Reflect.ownKeys(target);
        },
      });
    const watchedList = (name: string, list: unknown[]): unknown[] =>
      new Proxy(list, {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) log.push(`read ${name}[${key}]`);
          return Reflect.get(target, key, receiver) as unknown;
        },
      });
    const tree = {
      a: { x: leaf(1) },
      b: watchedDict('b', { y: leaf(2), z: watchedDict('b/z', { w: leaf(3) }) }),
      c: watchedList('c', [leaf(4), leaf(5)]),
    };
    for await (const [name] of flattenWithNames(tree as Tree)) log.push(`got ${name}`);
    expect(log).toEqual(['got a/x', 'open b', 'got b/y', 'open b/z', 'got b/z/w', 'read c[0]', 'got c/0', 'read c[1]', 'got c/1']);

    // A consumer that stops after the first leaf never makes the walk look at the rest.
    log.length = 0;
    const iterator = flattenWithNames(tree as Tree);
    const first = await iterator.next();
    log.push(`got ${(first.value as [string, Leaf])[0]}`);
    await iterator.return(undefined);
    expect(log).toEqual(['got a/x']);
  });

  it('compareCodePoints orders like Python str comparison', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const expected = [...a].map((c) => c.codePointAt(0)!);
        const other = [...b].map((c) => c.codePointAt(0)!);
        let sign = 0;
        for (let i = 0; i < Math.min(expected.length, other.length) && sign === 0; i++) sign = Math.sign(expected[i]! - other[i]!);
        if (sign === 0) sign = Math.sign(expected.length - other.length);
        expect(Math.sign(compareCodePoints(a, b))).toBe(sign);
      }),
    );
  });
});

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'flatten order against big_vision semantics in Python'), () => {
  it('matches _traverse_with_names on the tricky tree', async () => {
    // A transcription of big_vision's traversal (sorted dict keys, list indices, None/empty dropped).
    const script = String.raw`
import json, sys
def trav(tree):
    if tree is None: return
    if isinstance(tree, dict):
        for k in sorted(tree.keys()):
            for p, v in trav(tree[k]): yield (k + "/" + p).rstrip("/"), v
    elif isinstance(tree, list):
        for i, x in enumerate(tree):
            for p, v in trav(x): yield (str(i) + "/" + p).rstrip("/"), v
    else: yield "", tree
tree = json.loads(sys.stdin.read())
print(json.dumps([n for n, _ in trav(tree)]))
`;
    const toJson = (node: unknown): unknown => {
      if (node instanceof Float32Array) return node[0];
      if (Array.isArray(node)) return node.map(toJson);
      if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, toJson(v)]));
      return node;
    };
    const expected = JSON.parse(runPython(script, [], JSON.stringify(toJson(trickyTree())))) as string[];
    expect(await names(trickyTree())).toEqual(expected);
  });
});

describe('unflattenWithNames', () => {
  it('follows recover_tree: leaves first, subtrees replace same-named leaves, no prototype pollution', () => {
    const tree = unflattenWithNames([
      ['a/x', 1],
      ['b', 2],
      ['a', 3],
      ['a/y/z', 4],
      ['__proto__/polluted', 5],
    ]);
    expect(Object.keys(tree)).toEqual(['b', 'a', '__proto__']);
    expect(tree['a']).toEqual({ x: 1, y: { z: 4 } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(tree, '__proto__')?.value).toEqual({ polluted: 5 });
  });

  it.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'matches big_vision recover_tree on awkward names (order and overwrites)'), () => {
    const names = ['b/x', 'a', 'b', 'c//d', 'c/', 'a/y/z', 'e/f', 'a/w', 'é/ü', 'b/x/deeper'];
    const script = String.raw`
import collections, json, sys
def recover_tree(keys, values):
    tree = {}; sub_trees = collections.defaultdict(list)
    for k, v in zip(keys, values):
        if "/" not in k: tree[k] = v
        else:
            k_left, k_right = k.split("/", 1); sub_trees[k_left].append((k_right, v))
    for k, kv_pairs in sub_trees.items():
        k_subtree, v_subtree = zip(*kv_pairs); tree[k] = recover_tree(k_subtree, v_subtree)
    return tree
names = json.loads(sys.stdin.read())
print(json.dumps(recover_tree(names, list(range(len(names)))), separators=(",", ":"), ensure_ascii=False))
`;
    const expected = runPython(script, [], JSON.stringify(names)).trim();
    expect(JSON.stringify(unflattenWithNames(names.map((name, i) => [name, i] as const)))).toBe(expected);
  });

  it('survives names nested far deeper than the call stack', () => {
    const depth = 200_000;
    const tree = unflattenWithNames([[`${'a/'.repeat(depth)}leaf`, 1]]);
    let node: unknown = tree;
    for (let i = 0; i < depth; i++) node = (node as Record<string, unknown>)['a'];
    expect(node).toEqual({ leaf: 1 });
  });

  it('inverts flatten for trees of dicts', async () => {
    const tree = { img: { head: { bias: leaf(1), kernel: leaf(2) } }, llm: { final_norm: { scale: leaf(3) } } };
    const pairs: [string, Leaf][] = [];
    for await (const pair of flattenWithNames(tree)) pairs.push(pair);
    expect(unflattenWithNames(pairs)).toEqual(tree);
  });
});

describe('normalizeLeaf', () => {
  it('turns scalars into 0-d arrays and typed arrays into 1-D ones, without copying', () => {
    expect(normalizeLeaf('f', 1.5)).toMatchObject({ dtype: 'float64', shape: [], byteLength: 8 });
    expect(normalizeLeaf('i', 5n)).toMatchObject({ dtype: 'int64', shape: [] });
    expect(normalizeLeaf('b', true).bytes).toEqual(Uint8Array.of(1));
    const data = new Float32Array(6);
    const normalized = normalizeLeaf('t', data);
    expect(normalized).toMatchObject({ dtype: 'float32', shape: [6], descr: '<f4' });
    expect(normalized.bytes?.buffer).toBe(data.buffer);
    expect(normalizeLeaf('h', { dtype: 'bfloat16', shape: [2], data: new Uint16Array(2) }).descr).toBe('<V2');
    expect(normalizeLeaf('r', { dtype: 'raw', descr: '|S3', shape: [2], data: new Uint8Array(6) }).byteLength).toBe(6);
  });

  it('rejects mismatched sizes, unknown dtypes and bad shapes before writing', () => {
    const codes = [
      [() => normalizeLeaf('x', { dtype: 'float32', shape: [3], data: new Float32Array(2) }), 'ERR_NPY_SIZE_MISMATCH'],
      [() => normalizeLeaf('x', { dtype: 'float128' as never, shape: [1], data: new Uint8Array(16) }), 'ERR_NPY_DTYPE'],
      [() => normalizeLeaf('x', { dtype: 'float32', shape: [-1], data: new Uint8Array(0) }), 'ERR_NPY_SHAPE'],
      [() => normalizeLeaf('x', { dtype: 'float32', descr: '<f8', shape: [1], data: new Uint8Array(8) }), 'ERR_NPY_DTYPE'],
      [() => normalizeLeaf('x', 2n ** 64n), 'ERR_TREE_LEAF'],
    ] as const;
    for (const [fn, code] of codes) expect(fn).toThrow(expect.objectContaining({ code }));
  });
});
