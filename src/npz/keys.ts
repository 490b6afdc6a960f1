import { NpzError } from '../errors.js';
import type { ZipEntry } from '../zip/random/archive.js';
import { METHOD_DEFLATED, METHOD_STORED } from '../zip/format/records.js';

/** What to do when two members share a key: `'error'` (default) refuses the file, `'last'` keeps the last, as np.load does. */
export type DuplicateNamePolicy = 'error' | 'last';

export type Compression = 'stored' | 'deflate' | 'unsupported';

/**
 * A member name as np.load sees it: CPython's zipfile cuts a name at its first NUL byte (an old trick to hide a
 * name's real ending), so 'w.npy\0.exe' is the array 'w'. Both readers derive keys and array-ness from this.
 */
export function nameAsNumpySees(memberName: string): string {
  const nul = memberName.indexOf('\0');
  return nul === -1 ? memberName : memberName.slice(0, nul);
}

/** The array key of a member: numpy's `name.removesuffix('.npy')`, of the name cut at a NUL. */
export function keyOfMember(memberName: string): string {
  const name = nameAsNumpySees(memberName);
  return name.endsWith('.npy') ? name.slice(0, -'.npy'.length) : name;
}

/**
 * Members by key, after the duplicate policy. The one duplicate check of the reader: two members with the same
 * name have the same key, and 'x.npy' and a non-array member 'x' share the key 'x' too. `kept` lists the
 * surviving members in central directory order.
 */
export function indexByKey(entries: readonly ZipEntry[], policy: DuplicateNamePolicy): { byKey: Map<string, ZipEntry>; kept: ZipEntry[] } {
  const byKey = new Map<string, ZipEntry>();
  for (const entry of entries) {
    const key = keyOfMember(entry.name);
    const previous = byKey.get(key);
    if (previous !== undefined && policy === 'error') {
      const sameName = previous.name === entry.name;
      const what = sameName
        ? `member name ${JSON.stringify(entry.name)} appears more than once (entries ${previous.index} and ${entry.index})`
        : `members ${JSON.stringify(previous.name)} and ${JSON.stringify(entry.name)} both have the key ${JSON.stringify(key)}`;
      throw new NpzError('ERR_NPZ_DUPLICATE_NAME', `${what}; option duplicates: 'last' keeps the last`, { entry: sameName ? entry.name : key });
    }
    byKey.set(key, entry);
  }
  return { byKey, kept: entries.filter((entry) => byKey.get(keyOfMember(entry.name)) === entry) };
}

export function isArrayMember(entry: Pick<ZipEntry, 'name'>): boolean {
  return nameAsNumpySees(entry.name).endsWith('.npy');
}

export function compressionOf(entry: Pick<ZipEntry, 'method'>): Compression {
  return entry.method === METHOD_STORED ? 'stored' : entry.method === METHOD_DEFLATED ? 'deflate' : 'unsupported';
}
