import { NpzError } from '../errors.js';
import { isLeaf, type Leaf } from '../npy/write.js';

/**
 * Tree naming with big_vision's semantics (`tree_flatten_with_names`, i.e. jax's flatten order): depth first,
 * dict keys sorted by Unicode code point at each level, lists in index order, None and empty containers dropped,
 * names joined with '/'.
 */

/** A nested parameter tree: plain objects and Maps are dicts, arrays are lists, anything `isLeaf` is a leaf. */
export type Tree = Leaf | null | undefined | readonly Tree[] | { readonly [key: string]: Tree } | ReadonlyMap<string, Tree>;

/** An already-flat tree: `[name, leaf]` pairs, in the order they should be written. */
export type FlatTree = Iterable<readonly [string, Leaf]> | AsyncIterable<readonly [string, Leaf]>;

/**
 * Compares by Unicode code point, as Python's `sorted` does for str. JavaScript's default sort compares UTF-16
 * code units, which puts astral characters (surrogate pairs) before U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(j) as number;
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i === 0 ? (b.length - j === 0 ? 0 : -1) : 1;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True for a sync or async iterable of pairs (an already-flat tree), as opposed to a list, Map or typed array. */
export function isFlatTree(tree: unknown): tree is FlatTree {
  if (typeof tree !== 'object' || tree === null) return false;
  if (Array.isArray(tree) || tree instanceof Map || ArrayBuffer.isView(tree)) return false;
  return Symbol.asyncIterator in tree || Symbol.iterator in tree;
}

function checkKey(key: unknown, path: string): string {
  if (typeof key !== 'string') {
    throw new NpzError('ERR_TREE_KEY', `dict keys must be strings; found ${typeof key} key under ${JSON.stringify(path)}`, { entry: path });
  }
  // A '/' inside a key would come back as an extra level of nesting, so the tree would not round-trip.
  if (key.includes('/') || key === '') {
    throw new NpzError('ERR_TREE_KEY', `dict key ${JSON.stringify(key)} under ${JSON.stringify(path)} must be non-empty and contain no '/'`, {
      entry: path,
      actual: key,
    });
  }
  return key;
}

function* walk(node: unknown, path: string, ancestors: Set<object>): Generator<[string, Leaf]> {
  if (node === null || node === undefined) return;
  if (isLeaf(node)) {
    if (path === '') {
      throw new NpzError('ERR_TREE_LEAF', `the tree is a single leaf; give it a name, e.g. { weights: array }`);
    }
    yield [path, node];
    return;
  }
  if (typeof node !== 'object' || (!Array.isArray(node) && !(node instanceof Map) && !isPlainObject(node))) {
    const kind = typeof node === 'object' ? (node.constructor?.name ?? 'object') : typeof node;
    throw new NpzError('ERR_TREE_LEAF', `unsupported value (${kind}) at ${JSON.stringify(path || '<root>')}`, { entry: path });
  }
  if (ancestors.has(node)) throw new NpzError('ERR_TREE_LEAF', `the tree has a cycle at ${JSON.stringify(path)}`, { entry: path });
  ancestors.add(node);
  const prefix = path === '' ? '' : `${path}/`;
  if (Array.isArray(node)) {
    for (let index = 0; index < node.length; index++) yield* walk(node[index], `${prefix}${index}`, ancestors);
  } else {
    const entries: [string, unknown][] =
      node instanceof Map
        ? [...node.entries()].map(([key, value]) => [checkKey(key, path), value])
        : Object.keys(node).map((key) => [checkKey(key, path), (node as Record<string, unknown>)[key]]);
    entries.sort(([a], [b]) => compareCodePoints(a, b));
    for (const [key, value] of entries) yield* walk(value, `${prefix}${key}`, ancestors);
  }
  ancestors.delete(node);
}

/**
 * Yields `[name, leaf]` lazily, in the order big_vision (and so `np.savez` in the PaliGemma notebooks) writes
 * them. A sync or async iterable of pairs is taken as an already-flat tree; its names must be unique.
 */
export async function* flattenWithNames(tree: Tree | FlatTree): AsyncGenerator<[string, Leaf]> {
  if (!isFlatTree(tree)) {
    yield* walk(tree, '', new Set());
    return;
  }
  const seen = new Set<string>();
  for await (const pair of tree as AsyncIterable<readonly [string, Leaf]>) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || pair.length !== 2) {
      throw new NpzError('ERR_TREE_LEAF', `a flat tree must yield [name, leaf] pairs`);
    }
    const [name, leaf] = pair as [string, Leaf];
    if (seen.has(name)) throw new NpzError('ERR_TREE_DUPLICATE_NAME', `duplicate name ${JSON.stringify(name)} in a flat tree`, { entry: name });
    seen.add(name);
    if (!isLeaf(leaf)) throw new NpzError('ERR_TREE_LEAF', `value of ${JSON.stringify(name)} is not an array leaf`, { entry: name });
    yield [name, leaf];
  }
}

function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, not assignment: a name like "__proto__/x" from an untrusted file must not touch prototypes.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

interface PathNode<T> {
  leaves: [string, T][];
  children: Map<string, PathNode<T>>;
}

/**
 * Rebuilds nested plain objects from `[name, value]` pairs with big_vision's `recover_tree` semantics: split on
 * '/', leaves of a level before its subtrees (each in first-appearance order), and a subtree replaces a leaf of
 * the same name in that leaf's position. Index segments stay string keys (no arrays are rebuilt). Iterative, so
 * a name with thousands of levels from an untrusted file cannot exhaust the stack.
 */
export function unflattenWithNames<T>(pairs: Iterable<readonly [string, T]>): Record<string, unknown> {
  const root: PathNode<T> = { leaves: [], children: new Map() };
  for (const [name, value] of pairs) {
    const segments = name.split('/');
    let node = root;
    for (let i = 0; i < segments.length - 1; i++) {
      const segment = segments[i] as string;
      let child = node.children.get(segment);
      if (child === undefined) node.children.set(segment, (child = { leaves: [], children: new Map() }));
      node = child;
    }
    node.leaves.push([segments[segments.length - 1] as string, value]);
  }
  const tree: Record<string, unknown> = {};
  const pending: [PathNode<T>, Record<string, unknown>][] = [[root, tree]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, target] = next;
    for (const [key, value] of node.leaves) defineKey(target, key, value);
    for (const [key, child] of node.children) {
      const subtree: Record<string, unknown> = {};
      defineKey(target, key, subtree);
      pending.push([child, subtree]);
    }
  }
  return tree;
}
