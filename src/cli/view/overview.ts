import type { ArrayFile } from '../../index.js';
import { elementCount, isArrayEntry, isDamagedEntry, memberNameOf, placementOf, type TensorEntry } from '../npz-input.js';
import { formatShape } from '../table.js';

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

function rowOf(entry: TensorEntry): TensorRow {
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
  };
}

function newNode(name: string, path: string): TreeNode {
  return { name, path, parameters: 0, bytes: 0, tensors: 0, children: [] };
}

export function parameterTree(rows: readonly TensorRow[]): TreeNode {
  const root = newNode('', '');
  for (const row of rows) {
    const segments = row.name.split('/');
    let node = root;
    const visit = (target: TreeNode): void => {
      target.parameters += row.parameters;
      target.bytes += row.bytes;
      target.tensors++;
    };
    visit(node);
    segments.forEach((segment, depth) => {
      let child = node.children.find((candidate) => candidate.name === segment);
      if (child === undefined) {
        child = newNode(segment, segments.slice(0, depth + 1).join('/'));
        node.children.push(child);
      }
      visit(child);
      node = child;
    });
  }
  return root;
}

/**
 * Where the bytes go, in groups a person recognises: two path segments (`img/Transformer`, `llm/embedder`),
 * or three under a group that holds most of a model (`llm/layers/attn`), so one bar never swallows the chart.
 */
export function byteGroups(rows: readonly TensorRow[], total: number): { path: string; bytes: number }[] {
  const twoDeep = new Map<string, number>();
  for (const row of rows) {
    const key = row.name.split('/').slice(0, 2).join('/');
    twoDeep.set(key, (twoDeep.get(key) ?? 0) + row.bytes);
  }
  const dominant = new Set([...twoDeep].filter(([, bytes]) => total > 0 && bytes > total / 3).map(([path]) => path));
  const groups = new Map<string, number>();
  for (const row of rows) {
    const segments = row.name.split('/');
    const key = segments.slice(0, dominant.has(segments.slice(0, 2).join('/')) ? 3 : 2).join('/');
    groups.set(key, (groups.get(key) ?? 0) + row.bytes);
  }
  return [...groups].map(([path, bytes]) => ({ path, bytes })).sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
}

export function overviewOf(file: ArrayFile): Overview {
  const tensors = file.entries.filter(isArrayEntry).map(rowOf);
  const byDtype = new Map<string, { dtype: string; bytes: number; parameters: number; tensors: number }>();
  for (const row of tensors) {
    const slot = byDtype.get(row.dtype) ?? { dtype: row.dtype, bytes: 0, parameters: 0, tensors: 0 };
    slot.bytes += row.bytes;
    slot.parameters += row.parameters;
    slot.tensors++;
    byDtype.set(row.dtype, slot);
  }
  const bytes = tensors.reduce((sum, row) => sum + row.bytes, 0);
  return {
    arrays: tensors.length,
    otherMembers: file.entries.flatMap((entry) => (entry.isArray || isDamagedEntry(entry) ? [] : [memberNameOf(entry)])),
    damaged: file.entries.filter(isDamagedEntry).map((entry) => ({ name: entry.name, member: memberNameOf(entry), error: entry.error })),
    parameters: tensors.reduce((sum, row) => sum + row.parameters, 0),
    bytes,
    bytesByDtype: [...byDtype.values()].sort((a, b) => b.bytes - a.bytes),
    tree: parameterTree(tensors),
    byteGroups: byteGroups(tensors, bytes),
    tensors,
  };
}
