/**
 * A `FileSystemCalls` that does the real work and records each step of an atomic write in order, naming files by
 * role ('temp' for the temp file, 'dir' for its directory, the target's own name after a rename), and can make a
 * step fail. Lets a test pin the order the durability of a save depends on:
 * write, fsync, close, rename, directory fsync; and what happens on every failure.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { nodeFileSystem, type FileSystemCalls } from '../../src/node/files.js';

/** A recorded step: 'open temp wx 666', 'sync temp', 'close temp', 'rename temp ckpt.npz', 'open dir r', 'rm temp'. */
export type Step = string;

export interface Recording {
  calls: FileSystemCalls;
  steps: Step[];
  /** Paths the temp files had, in the order they were opened. */
  temps: string[];
}

export interface Faults {
  /** Fails the first step whose text starts with this, with `error`. */
  failOn?: string;
  error?: Error;
  /** Runs before a step is done (e.g. to abort a signal at a precise moment). */
  before?: (step: Step) => void;
}

export function recordingCalls(faults: Faults = {}): Recording {
  const steps: Step[] = [];
  const temps: string[] = [];
  let failed = false;
  const role = (path: string): string => {
    if (temps.includes(path)) return 'temp';
    return temps.some((temp) => dirname(temp) === path) ? 'dir' : basename(path);
  };
  /**
   * Records `step` and does it, or fails it when it is the one to fail: instead of doing it, except a close, which
   * is done first (a descriptor is released even when its close reports an error).
   */
  const step = async <T>(text: Step, work: () => Promise<T>): Promise<T> => {
    faults.before?.(text);
    steps.push(text);
    const failing = !failed && faults.failOn !== undefined && text.startsWith(faults.failOn);
    if (!failing) return work();
    failed = true;
    if (text.startsWith('close')) await work();
    throw faults.error ?? Object.assign(new Error(`injected failure: ${text}`), { code: 'EIO' });
  };
  const wrap = (handle: FileHandle, name: string): FileHandle =>
    new Proxy(handle, {
      get(target, property) {
        if (property === 'sync') return () => step(`sync ${name}`, () => target.sync());
        if (property === 'close') return () => step(`close ${name}`, () => target.close());
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const calls: FileSystemCalls = {
    async open(path, flags, mode) {
      if (flags === 'wx') temps.push(path);
      const name = role(path);
      const handle = await step(`open ${name} ${flags}${mode === undefined ? '' : ` ${mode.toString(8)}`}`, () => nodeFileSystem.open(path, flags, mode));
      return wrap(handle, name);
    },
    rename: (from, to) => step(`rename ${role(from)} ${basename(to)}`, () => nodeFileSystem.rename(from, to)),
    rm: (path, options) => step(`rm ${role(path)}`, () => nodeFileSystem.rm(path, options)),
  };
  return { calls, steps, temps };
}
