import type { ArrayFile } from '../../index.js';
import { elementCount, isArrayEntry, isDamagedEntry, memberNameOf, placementOf, type TensorEntry } from '../entries.js';
import { formatShape } from '../shape.js';

/**
 * The overview of one checkpoint from its central directory and npy headers alone (no data is read): totals, bytes
 * by dtype, the parameter tree by path segment, where the bytes go by subtree, and one row per member.
 */

export interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
  shapeText: string;
  parameters: number;
  /** Data bytes (after the npy header). */
  bytes: number;
  /** Bytes the member occupies in the file (differs from `bytes` when compressed). */
  storedBytes: number;
  compression: string;
  /** File offset of the member's local header. */
  offset: number;
  /** Why the entry cannot be read, for an entry that carries its error (a damaged member); the page marks it. */
  error?: { code: string; message: string };
}

export interface TreeNode {
  /** The path segment; the root's is ''. */
  name: string;
  /** The full path of the subtree or tensor. */
  path: string;
  parameters: number;
  bytes: number;
  tensors: number;
  children: TreeNode[];
}

export interface Overview {
  arrays: number;
  /** Members that are not .npy arrays (listed only). */
  otherMembers: string[];
  /** Members that could not be read as arrays (a damaged header...): each with its error. Not among `tensors`. */
  damaged: { name: string; member: string; error: { code: string; message: string } }[];
  parameters: number;
  bytes: number;
  bytesByDtype: { dtype: string; bytes: number; parameters: number; tensors: number }[];
  tree: TreeNode;
  /** Subtrees two or three segments deep (`img/Transformer`, `llm/layers/attn`), largest first. */
  byteGroups: { path: string; bytes: number }[];
  tensors: TensorRow[];
}

export function rowOf(entry: TensorEntry): TensorRow {
  const parameters = elementCount(entry.shape);
  const placement = placementOf(entry);
  return {
    name: entry.name,
    dtype: entry.dtype === 'raw' ? JSON.stringify(entry.descr) : entry.dtype,
    shape: entry.shape,
    shapeText: formatShape(entry.shape),
    parameters,
    bytes: entry.byteLength,
    storedBytes: placement.compressedSize,
    compression: placement.compression,
    offset: placement.offset,
    ...errorOf(entry),
  };
}

/** The error an entry carries, if the reader marks damaged entries with one. */
function errorOf(entry: object): { error?: { code: string; message: string } } {
  const error = (entry as { error?: { code?: unknown; message?: unknown } }).error;
  if (error === undefined || error === null) return {};
  return { error: { code: String(error.code ?? 'ERR_IO'), message: String(error.message ?? '') } };
}

/** Gives other work a turn: the event loop's next turn on a server, a frame in a page. */
export type Pause = () => Promise<void>;

/** The next turn of the event loop, wherever `setTimeout` exists (Node and browsers alike). */
export const nextTurn: Pause = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Rows handled between two pauses: a few milliseconds of work, so no request waits long behind an overview. */
export const ROWS_PER_TURN = 2000;

function newNode(name: string, path: string): TreeNode {
  return { name, path, parameters: 0, bytes: 0, tensors: 0, children: [] };
}

/**
 * Builds the parameter tree one row at a time, each in time proportional to its number of path segments: every
 * node finds its children by name in a map (a checkpoint may hold 100 000 tensors side by side).
 */
export class TreeBuilder {
  readonly root = newNode('', '');
  readonly #childrenByName = new Map<TreeNode, Map<string, TreeNode>>();

  add(row: Pick<TensorRow, 'name' | 'parameters' | 'bytes'>): void {
    let node = this.root;
    node.parameters += row.parameters;
    node.bytes += row.bytes;
    node.tensors++;
    const segments = row.name.split('/');
    let path = '';
    for (let depth = 0; depth < segments.length; depth++) {
      const segment = segments[depth]!;
      path = depth === 0 ? segment : `${path}/${segment}`;
      let children = this.#childrenByName.get(node);
      if (children === undefined) {
        children = new Map();
        this.#childrenByName.set(node, children);
      }
      let child = children.get(segment);
      if (child === undefined) {
        child = newNode(segment, path);
        children.set(segment, child);
        node.children.push(child);
      }
      child.parameters += row.parameters;
      child.bytes += row.bytes;
      child.tensors++;
      node = child;
    }
  }
}

export function parameterTree(rows: readonly TensorRow[]): TreeNode {
  const builder = new TreeBuilder();
  for (const row of rows) builder.add(row);
  return builder.root;
}

/**
 * Where the bytes go, in groups a person recognises: two path segments (`img/Transformer`, `llm/embedder`),
 * or three under a group that holds most of a model (`llm/layers/attn`), so one bar never swallows the chart.
 * Rows are added one at a time; which groups are split is decided at the end, from the totals.
 */
export class ByteGroups {
  /** Bytes by the first two segments. */
  readonly #twoDeep = new Map<string, number>();
  /** Bytes by the first three segments, under each two-segment group. */
  readonly #threeDeep = new Map<string, Map<string, number>>();

  add(row: Pick<TensorRow, 'name' | 'bytes'>): void {
    const segments = row.name.split('/', 3);
    const two = segments.length > 2 ? `${segments[0]}/${segments[1]}` : row.name;
    const three = segments.join('/');
    this.#twoDeep.set(two, (this.#twoDeep.get(two) ?? 0) + row.bytes);
    let under = this.#threeDeep.get(two);
    if (under === undefined) {
      under = new Map();
      this.#threeDeep.set(two, under);
    }
    under.set(three, (under.get(three) ?? 0) + row.bytes);
  }

  groups(total: number): { path: string; bytes: number }[] {
    const groups: { path: string; bytes: number }[] = [];
    for (const [two, bytes] of this.#twoDeep) {
      if (total > 0 && bytes > total / 3) for (const [path, part] of this.#threeDeep.get(two)!) groups.push({ path, bytes: part });
      else groups.push({ path: two, bytes });
    }
    return groups.sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

export function byteGroups(rows: readonly TensorRow[], total: number): { path: string; bytes: number }[] {
  const counter = new ByteGroups();
  for (const row of rows) counter.add(row);
  return counter.groups(total);
}

/**
 * The overview of a file, in time linear in its number of entries, pausing every ROWS_PER_TURN rows so that a
 * server answers other requests meanwhile (pass a `pause` that resolves at once to run it in one go).
 */
export async function overviewOf(file: Pick<ArrayFile, 'entries'>, pause: Pause = nextTurn): Promise<Overview> {
  const tensors: TensorRow[] = [];
  const otherMembers: string[] = [];
  const damaged: Overview['damaged'] = [];
  const tree = new TreeBuilder();
  const groups = new ByteGroups();
  const byDtype = new Map<string, { dtype: string; bytes: number; parameters: number; tensors: number }>();
  let parameters = 0;
  let bytes = 0;
  let sinceTurn = 0;
  for (const entry of file.entries) {
    if (++sinceTurn >= ROWS_PER_TURN) {
      sinceTurn = 0;
      await pause();
    }
    if (isDamagedEntry(entry)) {
      damaged.push({ name: entry.name, member: memberNameOf(entry), error: entry.error });
      continue;
    }
    if (!isArrayEntry(entry)) {
      otherMembers.push(memberNameOf(entry));
      continue;
    }
    const row = rowOf(entry);
    tensors.push(row);
    tree.add(row);
    groups.add(row);
    const slot = byDtype.get(row.dtype) ?? { dtype: row.dtype, bytes: 0, parameters: 0, tensors: 0 };
    slot.bytes += row.bytes;
    slot.parameters += row.parameters;
    slot.tensors++;
    byDtype.set(row.dtype, slot);
    parameters += row.parameters;
    bytes += row.bytes;
  }
  await pause();
  return {
    arrays: tensors.length,
    otherMembers,
    damaged,
    parameters,
    bytes,
    bytesByDtype: [...byDtype.values()].sort((a, b) => b.bytes - a.bytes),
    tree: tree.root,
    byteGroups: groups.groups(bytes),
    tensors,
  };
}
