import type { Pause } from './overview.js';

/**
 * JSON text for a large value (an overview of 100 000 tensors is tens of megabytes of JSON) written a slice at a
 * time, pausing between slices so a server stays responsive. Same text as `JSON.stringify(value, replacer)` for
 * the plain data the viewer sends (objects, arrays, strings, numbers, booleans, null; no `toJSON`, no cycles).
 */

/** Values written between two pauses. */
export const VALUES_PER_TURN = 2000;
/** Small items of an array written by one JSON.stringify call. */
const BATCH = 200;

type Replacer = (key: string, value: unknown) => unknown;

type Frame =
  | { kind: 'array'; items: readonly unknown[]; next: number }
  | { kind: 'object'; keys: string[]; source: Record<string, unknown>; next: number; wrote: boolean };

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/** Items or keys of a container small enough to write in one JSON.stringify call (a tensor row, a leaf node). */
const SMALL = 16;

/** True for a value of at most a few dozen parts: written natively, at once, instead of part by part. */
function isSmall(value: unknown, depth = 2): boolean {
  if (!isContainer(value)) return true;
  if (depth === 0) return false;
  if (Array.isArray(value)) return value.length <= SMALL && value.every((item) => isSmall(item, depth - 1));
  const record = value as Record<string, unknown>;
  let keys = 0;
  for (const key in record) {
    if (++keys > SMALL || !isSmall(record[key], depth - 1)) return false;
  }
  return true;
}

/**
 * The JSON text of `value` as UTF-8, in pieces of at most a few hundred kilobytes (one per slice of work), so that
 * neither joining it into one string nor encoding it holds up a server either.
 */
export async function jsonInSlices(value: unknown, replacer: Replacer, pause: Pause, valuesPerTurn = VALUES_PER_TURN): Promise<Uint8Array[]> {
  const encoder = new TextEncoder();
  const pieces: Uint8Array[] = [];
  let parts: string[] = [];
  const stack: Frame[] = [];
  let written = 0;

  /** Writes a value (already through the replacer): at once when it is small, else it opens a frame. */
  const open = (value: unknown): void => {
    if (isSmall(value)) {
      // JSON.stringify applies the replacer once more, to the root under the key '' (the viewer's replacer only
      // looks at numbers, so that is harmless).
      parts.push(JSON.stringify(value, replacer) ?? 'null');
      written++;
      return;
    }
    if (Array.isArray(value)) {
      parts.push('[');
      stack.push({ kind: 'array', items: value, next: 0 });
    } else {
      parts.push('{');
      stack.push({ kind: 'object', keys: Object.keys(value as object), source: value as Record<string, unknown>, next: 0, wrote: false });
    }
  };

  open(replacer('', value));
  while (stack.length > 0) {
    if (written >= valuesPerTurn) {
      written = 0;
      pieces.push(encoder.encode(parts.join('')));
      parts = [];
      await pause();
    }
    const frame = stack[stack.length - 1]!;
    written++;
    if (frame.kind === 'array') {
      if (frame.next >= frame.items.length) {
        parts.push(']');
        stack.pop();
        continue;
      }
      // A run of small items (tensor rows, leaf nodes) goes to JSON.stringify in one call.
      const first = frame.next;
      let end = first;
      while (end < frame.items.length && end - first < BATCH && isSmall(frame.items[end])) end++;
      if (first > 0) parts.push(',');
      if (end > first) {
        const text = JSON.stringify(frame.items.slice(first, end), replacer);
        parts.push(text.slice(1, -1));
        written += end - first;
        frame.next = end;
        continue;
      }
      frame.next++;
      // As JSON.stringify: an array slot the replacer turns into undefined (or a function) is null.
      const replaced = replacer(String(first), frame.items[first]);
      if (replaced === undefined || typeof replaced === 'function') parts.push('null');
      else open(replaced);
      continue;
    }
    if (frame.next >= frame.keys.length) {
      parts.push('}');
      stack.pop();
      continue;
    }
    const key = frame.keys[frame.next++]!;
    const replaced = replacer(key, frame.source[key]);
    // As JSON.stringify: a property that is (or is replaced by) undefined or a function is left out.
    if (replaced === undefined || typeof replaced === 'function') continue;
    parts.push(`${frame.wrote ? ',' : ''}${JSON.stringify(key)}:`);
    frame.wrote = true;
    open(replaced);
  }
  pieces.push(encoder.encode(parts.join('')));
  return pieces;
}

/** The pieces as one string (tests, small values). */
export function textOf(pieces: readonly Uint8Array[]): string {
  const decoder = new TextDecoder();
  return pieces.map((piece) => decoder.decode(piece, { stream: true })).join('') + decoder.decode();
}
