import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { isNpzError } from '../../src/errors.js';
import type { NpyArray } from '../../src/npy/array.js';
import { parseDescrString } from '../../src/npy/dtype.js';
import { openNpz, readNpz, type NpzFile } from '../../src/index.js';
import { runPython } from '../helpers/python.js';
import { seededRandom } from '../helpers/bytes.js';

const GOOD_DIR = fileURLToPath(new URL('../fixtures/good/', import.meta.url));

/**
 * Differential fuzzing of npz damage against numpy and CPython's zipfile. numpy-written archives (plain,
 * deflated, written to a pipe with data descriptors, zip64 end records and extras, unicode names, a name with a
 * NUL byte, a plain member, duplicate names, many members) are damaged (truncations, bit flips and byte writes biased to structure, edits of single fields of
 * local headers, central directory entries, end records, zip64 records, data descriptors, edits of npy header text
 * with the CRCs made to match, inserted junk). One Python process judges a whole batch: np.load reading every key,
 * and zipfile's namelist + testzip. Our three readers (openNpz + get of every array, readNpz over the file, readNpz
 * over a stream) are judged key by key against numpy:
 *
 * - numpy loads an array: we return the same descr, shape, order and stored bytes (big-endian data is converted
 *   to little-endian, as documented), or refuse; a refusal of an archive numpy and zipfile read without any
 *   complaint must fall in a class of STRICTER (a check CPython does not make);
 * - numpy refuses (the archive or the key): we refuse too, but for the classes of LENIENT (zipfile reads it and
 *   numpy only refuses by its own sniffing) and PENDING (to be closed by the shared ZIP rules);
 * - never different bytes, never data numpy rejects as corrupt; a stream reader that ends in an error may have
 *   handed out members before it, as documented.
 *
 * The classes are in docs/ERRORS.md ("Differences from numpy and zipfile on damaged archives").
 */

export type Reader = 'openNpz' | 'readNpz' | 'stream';
export const READERS: readonly Reader[] = ['openNpz', 'readNpz', 'stream'];

// ---------------------------------------------------------------------------------------------------------------
// Bases

const MAKE_BASES = String.raw`
import io, struct, sys, zipfile
import numpy as np, ml_dtypes
out = sys.argv[1]
rng = np.random.default_rng(2121)
arrays = {
    'w': rng.standard_normal((3, 4)).astype('<f4'),
    'big': np.arange(6, dtype='>i4').reshape(2, 3),
    'fortran': np.asfortranarray(np.arange(6, dtype='<u2').reshape(2, 3)),
    'rec': np.zeros(2, [('x', '<f4', (2,)), ('y', '|u1')]),
    'c': np.array(3.5 + 1j, dtype='>c16'),
    'empty': np.zeros((0, 3), '<f8'),
    'text': np.array(['ab', 'c'], '<U2'),
    'bf16': rng.standard_normal(5).astype(ml_dtypes.bfloat16),
    'long': rng.integers(0, 255, 6000, dtype=np.uint8),
}
np.savez(out + '/plain.npz', **arrays)
np.savez_compressed(out + '/deflated.npz', **arrays)

class Pipe(io.RawIOBase):
    def __init__(self): self.parts = []
    def writable(self): return True
    def seekable(self): return False
    def write(self, b): self.parts.append(bytes(b)); return len(b)
pipe = Pipe()
np.savez(pipe, **{k: arrays[k] for k in ['w', 'big', 'rec', 'empty']})
open(out + '/pipe.npz', 'wb').write(b''.join(pipe.parts))

# A member name with a NUL byte: zipfile (so np.load) cuts it there, 'n.npy\0olds' is the array 'n'.
np.savez(out + '/nul.npz', nxxxxx=np.arange(4, dtype='<i2'), rec=arrays['rec'])
data = open(out + '/nul.npz', 'rb').read()
assert data.count(b'nxxxxx.npy') == 2
open(out + '/nul.npz', 'wb').write(data.replace(b'nxxxxx.npy', b'n.npy\0olds'))
assert np.load(out + '/nul.npz').files == ['n', 'rec']

# zip64: the central directory entries carry every size and offset in a zip64 extra (32-bit fields 0xFFFFFFFF),
# and the end records are a zip64 end record, its locator and an EOCD of sentinels. zipfile and np.load read it.
data = open(out + '/plain.npz', 'rb').read()
eocd = data.rindex(b'PK\x05\x06')
_, _, _, count, _, cd_size, cd_offset, _ = struct.unpack('<IHHHHIIH', data[eocd:eocd + 22])
at, cd = cd_offset, b''
for _ in range(count):
    fixed = list(struct.unpack('<IHHHHHHIIIHHHHHII', data[at:at + 46]))
    n, m, k = fixed[10], fixed[11], fixed[12]
    name = data[at + 46:at + 46 + n]
    csize, usize, offset = fixed[8], fixed[9], fixed[16]
    extra = struct.pack('<HHQQQ', 1, 24, usize, csize, offset)
    fixed[8] = fixed[9] = fixed[16] = 0xFFFFFFFF
    fixed[11] = len(extra)
    cd += struct.pack('<IHHHHHHIIIHHHHHII', *fixed) + name + extra + data[at + 46 + n + m:at + 46 + n + m + k]
    at += 46 + n + m + k
zip64_at = cd_offset + len(cd)
record = struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, count, count, len(cd), cd_offset)
locator = struct.pack('<IIQI', 0x07064b50, 0, zip64_at, 1)
end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
open(out + '/zip64.npz', 'wb').write(data[:cd_offset] + cd + record + locator + end)
with np.load(out + '/zip64.npz') as d:
    assert [d[k].tobytes() for k in d.files] == [np.load(out + '/plain.npz')[k].tobytes() for k in d.files]
assert zipfile.ZipFile(out + '/zip64.npz').testzip() is None
`;

/** numpy-written fixtures of the repository that add what the generated bases lack. */
const FIXTURE_BASES = ['pipe-compressed.npz', 'unicode-names.npz', 'with-notes.npz', 'npy-v3.npz', 'dup-names.npz', 'paligemma-tiny.npz'];
const GENERATED_BASES = ['plain.npz', 'deflated.npz', 'pipe.npz', 'zip64.npz', 'nul.npz'];

export interface Base {
  name: string;
  bytes: Uint8Array;
  layout: Layout;
}

export function makeBases(dir: string): Base[] {
  runPython(MAKE_BASES, [dir]);
  const files = [...GENERATED_BASES.map((name) => join(dir, name)), ...FIXTURE_BASES.map((name) => join(GOOD_DIR, name))];
  return files.map((path) => {
    const bytes = new Uint8Array(readFileSync(path));
    return { name: path.split('/').at(-1) as string, bytes, layout: layoutOf(bytes) };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Where things are in an intact archive (walked here, independently of the code under test)

export interface Field {
  what: string;
  at: number;
  size: 1 | 2 | 4 | 8;
}

interface StoredMember {
  name: string;
  /** Start of the npy stream (the member's data). */
  dataStart: number;
  size: number;
  /** CRC fields that must match the data: the central directory's, the local header's (unless zero), the descriptor's. */
  crcAt: number[];
}

export interface Layout {
  fields: Field[];
  stored: StoredMember[];
  /** Byte ranges of zip and npy structure (headers, directory, end records). */
  structure: [number, number][];
  /** Offsets where records start (local headers, the directory, the end records). */
  boundaries: number[];
  /** What each byte range is, for telling which part of the archive a mutation touched. */
  regions: { region: Region; start: number; end: number; member?: number }[];
  /** Member names in directory order. */
  members: string[];
}

/**
 * The part of an archive a mutation touched: a local header (its extras included), member data, a data
 * descriptor, the central directory, the end records; 'npy' is a stored member's npy header (rewritten with its
 * CRCs fixed); 'layout' is an insertion or a truncation, which moves or removes whatever follows.
 */
export type Region = 'local' | 'data' | 'descriptor' | 'directory' | 'end' | 'npy' | 'layout';

function layoutOf(bytes: Uint8Array): Layout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  const fields: Field[] = [];
  const add = (what: string, at: number, sizes: [string, 1 | 2 | 4 | 8][]) => {
    for (const [name, size] of sizes) {
      fields.push({ what: `${what}.${name}`, at, size });
      at += size;
    }
  };
  const eocd = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
  add('eocd', eocd, [['sig', 4], ['disk', 2], ['cdDisk', 2], ['entriesHere', 2], ['entries', 2], ['cdSize', 4], ['cdOffset', 4], ['commentLength', 2]]);
  const structure: [number, number][] = [[eocd, eocd + 22]];
  const regions: Layout['regions'] = [{ region: 'end', start: eocd, end: bytes.length }];
  const boundaries = [eocd];
  let cdOffset = u32(eocd + 16);
  let count = u16(eocd + 10);
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const locator = eocd - 20;
    add('locator', locator, [['sig', 4], ['disk', 4], ['offset', 8], ['disks', 4]]);
    const record = u64(locator + 8);
    add('zip64eocd', record, [['sig', 4], ['size', 8], ['madeBy', 2], ['version', 2], ['disk', 4], ['cdDisk', 4], ['entriesHere', 8], ['entries', 8], ['cdSize', 8], ['cdOffset', 8]]);
    structure.push([record, eocd]);
    regions.push({ region: 'end', start: record, end: eocd });
    boundaries.push(record, locator);
    cdOffset = u64(record + 48);
    count = u64(record + 32);
  }
  structure.push([cdOffset, eocd]);
  boundaries.push(cdOffset);
  const stored: StoredMember[] = [];
  const members: string[] = [];
  let at = cdOffset;
  for (let index = 0; index < count; index++) {
    const what = `cd[${index}]`;
    add(what, at, [['sig', 4], ['madeBy', 2], ['version', 2], ['flags', 2], ['method', 2], ['time', 2], ['date', 2], ['crc', 4], ['csize', 4], ['usize', 4], ['nameLength', 2], ['extraLength', 2], ['commentLength', 2], ['disk', 2], ['internal', 2], ['external', 4], ['offset', 4]]);
    const [flags, method, n, m, k] = [u16(at + 8), u16(at + 10), u16(at + 28), u16(at + 30), u16(at + 32)];
    let [csize, usize, offset] = [u32(at + 20), u32(at + 24), u32(at + 42)];
    const name = Buffer.from(bytes.subarray(at + 46, at + 46 + n)).toString('utf8');
    fields.push({ what: `${what}.name[0]`, at: at + 46, size: 1 }, { what: `${what}.name[-1]`, at: at + 46 + n - 1, size: 1 });
    for (let e = at + 46 + n; e + 4 <= at + 46 + n + m; e += 4 + u16(e + 2)) {
      if (u16(e) !== 1) continue;
      add(`${what}.zip64`, e, [['id', 2], ['length', 2]]);
      let f = e + 4;
      for (const [key, value] of [['usize', usize], ['csize', csize], ['offset', offset]] as const) {
        if (value !== 0xffffffff) continue;
        fields.push({ what: `${what}.zip64.${key}`, at: f, size: 8 });
        if (key === 'usize') usize = u64(f);
        else if (key === 'csize') csize = u64(f);
        else offset = u64(f);
        f += 8;
      }
    }
    const crcAt = [at + 16];
    const local = offset;
    add(`local[${index}]`, local, [['sig', 4], ['version', 2], ['flags', 2], ['method', 2], ['time', 2], ['date', 2], ['crc', 4], ['csize', 4], ['usize', 4], ['nameLength', 2], ['extraLength', 2]]);
    const [ln, lm] = [u16(local + 26), u16(local + 28)];
    fields.push({ what: `local[${index}].name[0]`, at: local + 30, size: 1 });
    for (let e = local + 30 + ln; e + 4 <= local + 30 + ln + lm; e += 4 + u16(e + 2)) {
      if (u16(e) === 1) add(`local[${index}].zip64`, e, [['id', 2], ['length', 2], ['usize', 8], ['csize', 8]]);
    }
    if (u32(local + 14) !== 0) crcAt.push(local + 14);
    const dataStart = local + 30 + ln + lm;
    structure.push([local, dataStart + Math.min(csize, 128)]);
    regions.push({ region: 'local', start: local, end: dataStart, member: index }, { region: 'data', start: dataStart, end: dataStart + csize, member: index });
    members.push(name);
    boundaries.push(local);
    if ((flags & 8) !== 0 && u32(dataStart + csize) === 0x08074b50) {
      const zip64 = usize >= 0xffffffff || csize >= 0xffffffff || u32(local + 18) === 0xffffffff;
      add(`dd[${index}]`, dataStart + csize, [['sig', 4], ['crc', 4], ['csize', zip64 ? 8 : 4], ['usize', zip64 ? 8 : 4]]);
      crcAt.push(dataStart + csize + 4);
      structure.push([dataStart + csize, dataStart + csize + (zip64 ? 24 : 16)]);
      regions.push({ region: 'descriptor', start: dataStart + csize, end: dataStart + csize + (zip64 ? 24 : 16), member: index });
    }
    if (method === 0 && usize >= 10 && u32(dataStart) === 0x4d554e93) {
      stored.push({ name, dataStart, size: usize, crcAt });
      add(`npy[${index}]`, dataStart + 6, [['major', 1], ['minor', 1], ['headerLength', 2]]);
    }
    regions.push({ region: 'directory', start: at, end: at + 46 + n + m + k, member: index });
    at += 46 + n + m + k;
  }
  regions.push({ region: 'directory', start: cdOffset, end: at });
  return { fields, stored, structure, boundaries: [...new Set(boundaries)].sort((a, b) => a - b), regions, members };
}

/** Indexes of members a later member of the same name hides from np.load. */
function shadowedMembers(layout: Layout): Set<number> {
  const out = new Set<number>();
  layout.members.forEach((name, i) => {
    if (layout.members.indexOf(name, i + 1) !== -1) out.add(i);
  });
  return out;
}

/** The member whose local header, data or descriptor holds `offset`, if any. */
function memberAt(layout: Layout, offset: number): number | undefined {
  return layout.regions.find((r) => r.member !== undefined && offset >= r.start && offset < r.end)?.member;
}

/** Where damage at `offset` lies; a member numpy never reads counts as 'shadowed'. */
export function whereIs(layout: Layout, offset: number): Region | 'shadowed' {
  const member = memberAt(layout, offset);
  if (member !== undefined && shadowedMembers(layout).has(member)) return 'shadowed';
  return regionOf(layout, offset);
}

export function regionOf(layout: Layout, offset: number): Region {
  const found = layout.regions.find((r) => offset >= r.start && offset < r.end);
  return found?.region ?? 'layout';
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

export const KINDS = ['truncate', 'bitflip', 'bytewrite', 'field', 'npyheader', 'insert'] as const;
export type Kind = (typeof KINDS)[number];

export interface Case {
  index: number;
  base: string;
  kind: Kind;
  detail: string;
  region: Region;
  /** `region`, or 'shadowed' for damage to a member numpy never reads. */
  where: Region | 'shadowed';
  bytes: Uint8Array;
}

function setField(bytes: Uint8Array, field: Field, value: bigint): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const masked = BigInt.asUintN(field.size * 8, value);
  if (field.size === 1) view.setUint8(field.at, Number(masked));
  else if (field.size === 2) view.setUint16(field.at, Number(masked), true);
  else if (field.size === 4) view.setUint32(field.at, Number(masked), true);
  else view.setBigUint64(field.at, masked, true);
}

function getField(bytes: Uint8Array, field: Field): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (field.size === 1) return BigInt(view.getUint8(field.at));
  if (field.size === 2) return BigInt(view.getUint16(field.at, true));
  if (field.size === 4) return BigInt(view.getUint32(field.at, true));
  return view.getBigUint64(field.at, true);
}

const HEADER_ALPHABET = "'\"<>|=fiucbVSUMmO0123456789(),:[] TrueFalsLjx\\\n";

/** Rewrites one stored member's npy header text, then makes every CRC of the member match again. */
function editNpyHeader(bytes: Uint8Array, member: StoredMember, random: () => number): string {
  const pick = (n: number) => Math.floor(random() * n);
  const start = member.dataStart;
  const major = bytes[start + 6]!;
  const prefix = major === 1 ? 10 : 12;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = major === 1 ? view.getUint16(start + 8, true) : view.getUint32(start + 8, true);
  const textAt = start + prefix;
  const text = Buffer.from(bytes.subarray(textAt, textAt + length)).toString('latin1');
  const dict = text.trimEnd().length;
  let detail: string;
  const choice = random();
  const replace = (from: number, to: number, value: string): string => {
    // Same length keeps the data where it was; a longer or shorter text eats into or pads the data.
    const patched = (text.slice(0, from) + value + text.slice(to)).slice(0, length).padEnd(length, ' ');
    bytes.set(Buffer.from(patched, 'latin1'), textAt);
    return `${JSON.stringify(text.slice(from, to))} -> ${JSON.stringify(value)}`;
  };
  const tokens: [RegExp, () => string][] = [
    [/[<>|]/g, () => '<>|='[pick(4)]!],
    [/(?<=[a-zA-Z])\d+/g, () => String([0, 1, 2, 3, 4, 8, 16, 32][pick(8)])],
    [/True|False/g, () => ['True', 'False', '0', '1', 'None'][pick(5)]!],
    [/\d+(?=[,)])/g, () => String([0, 1, 2, 3, 5, 7, 100, 2 ** 31, 2 ** 53, 2 ** 64][pick(10)])],
    [/'(descr|shape|fortran_order)'/g, () => ["'descr'", "'shape'", "'fortran_order'", "'x'"][pick(4)]!],
    [/, \}/g, () => ['}', ', }', ',}', ' }'][pick(4)]!],
    [/\(/g, () => ['(', '[', '((', ''][pick(4)]!],
  ];
  if (choice < 0.55) {
    const [pattern, value] = tokens[pick(tokens.length)]!;
    const matches = [...text.slice(0, dict).matchAll(pattern)];
    if (matches.length === 0) detail = 'no token';
    else {
      const match = matches[pick(matches.length)]!;
      detail = `token at ${match.index}: ${replace(match.index!, match.index! + match[0].length, value())}`;
    }
  } else if (choice < 0.8) {
    const at = pick(Math.max(1, dict));
    detail = `char ${at}: ${replace(at, at + 1, HEADER_ALPHABET[pick(HEADER_ALPHABET.length)]!)}`;
  } else if (choice < 0.9) {
    const delta = [-64, -1, 1, 64, 0x10000][pick(5)]!;
    const next = Math.max(0, length + delta);
    if (major === 1) view.setUint16(start + 8, Math.min(0xffff, next), true);
    else view.setUint32(start + 8, next, true);
    detail = `header length ${length} -> ${next}`;
  } else {
    const [at, value] = [[6, [0, 1, 2, 3, 4][pick(5)]!], [7, [0, 1][pick(2)]!]][pick(2)] as [number, number];
    bytes[start + at] = value;
    detail = `version byte ${at} = ${value}`;
  }
  const crc = crc32(bytes.subarray(start, start + member.size));
  for (const at of member.crcAt) view.setUint32(at, crc, true);
  return `member ${JSON.stringify(member.name)} ${detail}, CRC fixed`;
}

export function mutate(base: Base, kind: Kind, random: () => number): { detail: string; region: Region; at?: number; bytes: Uint8Array } {
  const pick = (n: number) => Math.floor(random() * n);
  const bytes = base.bytes.slice();
  const { layout } = base;
  const position = (): number => {
    if (random() < 0.3) return pick(bytes.length);
    const [start, end] = layout.structure[pick(layout.structure.length)]!;
    return start + pick(Math.max(1, end - start));
  };
  switch (kind) {
    case 'truncate': {
      const at = random() < 0.5 ? pick(bytes.length) : Math.max(0, layout.boundaries[pick(layout.boundaries.length)]! + pick(5) - 2);
      return { detail: `length ${at}`, region: 'layout', bytes: bytes.subarray(0, at) };
    }
    case 'bitflip': {
      const at = position();
      const bit = pick(8);
      bytes[at]! ^= 1 << bit;
      return { detail: `bit ${bit} of byte ${at}`, region: regionOf(layout, at), at, bytes };
    }
    case 'bytewrite': {
      const at = position();
      bytes[at] = pick(256);
      return { detail: `byte ${at} = ${bytes[at]}`, region: regionOf(layout, at), at, bytes };
    }
    case 'field': {
      const field = layout.fields[pick(layout.fields.length)]!;
      const old = getField(bytes, field);
      const max = (1n << BigInt(field.size * 8)) - 1n;
      const choices = [0n, 1n, old - 1n, old + 1n, old ^ (1n << BigInt(pick(field.size * 8))), max, 0xffffn, 0xffffffffn, old + 20n, old - 20n, old + 22n, old - 22n, old + 56n, old - 56n, BigInt(pick(1 << 16))];
      const value = choices[pick(choices.length)]!;
      setField(bytes, field, value);
      return { detail: `${field.what} ${old} -> ${BigInt.asUintN(field.size * 8, value)}`, region: regionOf(layout, field.at), at: field.at, bytes };
    }
    case 'npyheader': {
      if (layout.stored.length === 0) return mutate(base, 'field', random);
      const member = layout.stored[pick(layout.stored.length)]!;
      return { detail: editNpyHeader(bytes, member, random), region: 'npy', at: member.dataStart, bytes };
    }
    case 'insert': {
      const places = [0, ...layout.boundaries, bytes.length];
      const at = places[pick(places.length)]!;
      const length = 1 + pick(40);
      const junk = Uint8Array.from({ length }, () => pick(256));
      if (random() < 0.3 && length >= 4) junk.set([0x50, 0x4b, [1, 3, 5, 7][pick(4)]!, [2, 4, 6, 8][pick(4)]!]);
      const out = new Uint8Array(bytes.length + length);
      out.set(bytes.subarray(0, at));
      out.set(junk, at);
      out.set(bytes.subarray(at), at + length);
      return { detail: `${length} bytes at ${at}`, region: 'layout', bytes: out };
    }
  }
}

export function makeCases(bases: readonly Base[], count: number, seed: number, dir: string): (Case & { path: string })[] {
  const random = seededRandom(seed);
  const cases: (Case & { path: string })[] = [];
  for (let index = 0; index < count; index++) {
    const base = bases[index % bases.length]!;
    const kind = KINDS[Math.floor(random() * KINDS.length)]!;
    const { detail, region, at, bytes } = mutate(base, kind, random);
    const path = join(dir, `case-${index}.npz`);
    writeFileSync(path, bytes);
    const shadowed = at !== undefined && whereIs(base.layout, at) === 'shadowed';
    cases.push({ index, base: base.name, kind, detail, region, where: shadowed ? 'shadowed' : region, bytes, path });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------------------------
// Verdicts

/** One key's result: an array (descr as JSON, shape, order, sha256 of the bytes as stored), raw bytes, or a refusal. */
export type KeyResult =
  | { array: { descr: unknown; shape: number[]; fortran: boolean | null; sha: string | null } }
  | { bytes: true }
  | { other: true }
  | { error: string };

export interface NumpyVerdict {
  zip: { names: string[]; bad: string | null } | { error: string };
  np: { error: string } | { files: string[]; keys: Record<string, KeyResult> };
}

const JUDGE = String.raw`
import ast, hashlib, json, sys, warnings, zipfile
import numpy as np
warnings.simplefilter('ignore')

from numpy.lib import _format_impl as fmt

def header_of(raw):
    # As numpy's _read_array_header: literal_eval, and for v1/v2 a second try after re-tokenizing.
    major = raw[6]
    prefix = 10 if major == 1 else 12
    length = int.from_bytes(raw[8:prefix], 'little')
    text = raw[prefix:prefix + length].decode('utf8' if major == 3 else 'latin1')
    try:
        return prefix + length, ast.literal_eval(text)
    except SyntaxError:
        return prefix + length, ast.literal_eval(fmt._filter_header(text))

def error(e):
    return type(e).__name__ + ': ' + str(e).replace('\n', ' ')[:160]

for path in sys.argv[1:]:
    verdict = {}
    try:
        with zipfile.ZipFile(path) as z:
            verdict['zip'] = {'names': z.namelist(), 'bad': z.testzip()}
    except Exception as e:
        verdict['zip'] = {'error': error(e)}
    try:
        d = np.load(path, allow_pickle=False)
        if not isinstance(d, np.lib.npyio.NpzFile):
            raise ValueError('not an npz: np.load returned ' + type(d).__name__)
        with d:
            keys = {}
            for key in dict.fromkeys(d.files):
                try:
                    value = d[key]
                except Exception as e:
                    keys[key] = {'error': error(e)}
                    continue
                if isinstance(value, bytes):
                    keys[key] = {'bytes': True}
                    continue
                # The descr as written and the bytes as stored (np.load does not keep the bytes of padding
                # between struct fields), read the way np.load read them; None where this judge cannot tell.
                descr, fortran, sha = None, None, None
                try:
                    with d.zip.open(d._files[key]) as member:
                        length, header = header_of(member.read(16 + 65536))
                        descr, fortran = header['descr'], header['fortran_order']
                        member.seek(0)
                        sha = hashlib.sha256(member.read(length + value.nbytes)[length:]).hexdigest()
                except Exception:
                    pass
                keys[key] = {'array': {'descr': descr, 'shape': list(value.shape), 'fortran': fortran, 'sha': sha}}
            verdict['np'] = {'files': d.files, 'keys': keys}
    except Exception as e:
        verdict['np'] = {'error': error(e)}
    print(json.dumps(verdict, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))
`;

export function judgeWithNumpy(paths: readonly string[]): NumpyVerdict[] {
  const lines = runPython(JUDGE, [...paths]).trim().split('\n');
  if (lines.length !== paths.length) throw new Error(`the judge answered ${lines.length} of ${paths.length} cases`);
  return lines.map((line) => JSON.parse(line) as NumpyVerdict);
}

export interface OurVerdict {
  /** Results by key; a key read twice (duplicates) keeps the last. */
  keys: Record<string, KeyResult | { data: NpyArray }>;
  /** The refusal that ended the read (openNpz: of the open itself), if any. */
  error?: string;
}

function codeOf(error: unknown): string {
  if (isNpzError(error)) return error.code;
  throw error;
}

async function viaOpen(path: string): Promise<OurVerdict> {
  const keys: OurVerdict['keys'] = {};
  let file;
  try {
    file = await openNpz(path, { duplicates: 'last' });
  } catch (error) {
    return { keys, error: codeOf(error) };
  }
  try {
    for (const entry of file.entries) {
      if (entry.damaged === true) keys[entry.name] = { error: await damagedRead(file, entry.name, entry.error.code) };
      else if (!entry.isArray) keys[entry.name] = { other: true };
      else {
        try {
          keys[entry.name] = { data: await file.get(entry.name) };
        } catch (error) {
          keys[entry.name] = { error: codeOf(error) };
        }
      }
    }
  } finally {
    await file.close();
  }
  return { keys };
}

/**
 * A member openNpz lists as damaged (its default, `damaged: 'list'`) counts as a refusal of that key, with its
 * code, once reading it throws that very error; a read that returns data or another error is a failure
 * (`judge` fails any code that is not an ERR_ code).
 */
async function damagedRead(file: NpzFile, name: string, listed: string): Promise<string> {
  try {
    await file.get(name);
    return 'DAMAGED_ENTRY_READ_AS_DATA';
  } catch (error) {
    const code = codeOf(error);
    return code === listed ? code : `DAMAGED_ENTRY_THREW_${code}_NOT_${listed}`;
  }
}

async function viaRead(input: string | Readable): Promise<OurVerdict> {
  const keys: OurVerdict['keys'] = {};
  try {
    for await (const [key, array] of readNpz(input, { duplicates: 'last' })) keys[key] = { data: array };
  } catch (error) {
    return { keys, error: codeOf(error) };
  }
  return { keys };
}

export async function ourVerdicts(c: { path: string; bytes: Uint8Array }): Promise<Record<Reader, OurVerdict>> {
  return {
    openNpz: await viaOpen(c.path),
    readNpz: await viaRead(c.path),
    stream: await viaRead(Readable.from([c.bytes])),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison

function reversedGroups(bytes: Uint8Array, unit: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i - (i % unit) + (unit - 1 - (i % unit))]!;
  return out;
}

/** Our array in numpy's terms: the descr and bytes as stored (undoing the documented big-endian conversion). */
function asStored(array: NpyArray, headerDescr: unknown): { descr: unknown; sha: string } {
  let bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  let descr: unknown = array.descr;
  if (typeof headerDescr === 'string') {
    try {
      const { byteOrder, swapUnit } = parseDescrString(headerDescr);
      if (byteOrder === '>' && swapUnit > 1 && array.descr === headerDescr.replace(/^>/, '<')) {
        bytes = reversedGroups(bytes, swapUnit);
        descr = headerDescr;
      }
    } catch {
      // a descr we do not parse: compared as it is
    }
  }
  return { descr: JSON.parse(JSON.stringify(descr)) as unknown, sha: createHash('sha256').update(bytes).digest('hex') };
}

export type Pair = string;

/**
 * Key-level verdict pairs for one reader: 'same' (same array, or the same non-array member), 'both refuse',
 * 'numpy loads, ours ERR_X', 'numpy refuses, ours returns data', 'DIFFERENT ...' (always a failure).
 */
export function comparePairs(numpy: NumpyVerdict, ours: OurVerdict): Pair[] {
  const pairs: Pair[] = [];
  if ('error' in numpy.np) {
    const returned = Object.values(ours.keys).filter((r) => 'data' in r).length;
    if (returned > 0) pairs.push(`numpy refuses the archive, ours returns ${returned === 1 ? 'an array' : 'arrays'}`);
    else pairs.push(`both refuse the archive${ours.error === undefined ? ' (ours lists members but returns none)' : ''}`);
    return pairs;
  }
  const keys = numpy.np.keys;
  for (const [key, theirs] of Object.entries(keys)) {
    const mine = ours.keys[key];
    if ('error' in theirs) {
      if (mine !== undefined && 'data' in mine) pairs.push(`numpy refuses the key (${theirs.error.split(':')[0]}), ours returns data`);
      else pairs.push('both refuse the key');
      continue;
    }
    if ('bytes' in theirs) {
      // numpy hands back raw bytes for any member not starting with the npy magic.
      if (mine === undefined) pairs.push(ours.error !== undefined ? `numpy reads raw bytes, ours stopped: ${ours.error}` : 'numpy reads raw bytes, ours has no such key');
      else if ('other' in mine) pairs.push('same (non-array member)');
      else if ('error' in mine) pairs.push(`numpy reads raw bytes, ours ${mine.error}`);
      else pairs.push('DIFFERENT: numpy reads raw bytes, ours returns an array');
      continue;
    }
    if (!('array' in theirs)) continue;
    if (mine === undefined) {
      pairs.push(ours.error !== undefined ? `numpy loads, ours ${ours.error}` : 'DIFFERENT: numpy loads, ours has no such key');
      continue;
    }
    if ('error' in mine) {
      pairs.push(`numpy loads, ours ${mine.error}`);
      continue;
    }
    if ('other' in mine) {
      pairs.push('numpy loads, ours lists a non-array member');
      continue;
    }
    if (!('data' in mine)) continue;
    const expected = theirs.array;
    const got = asStored(mine.data, expected.descr);
    const problems: string[] = [];
    if (expected.descr !== null && JSON.stringify(got.descr) !== JSON.stringify(expected.descr)) problems.push(`descr ${JSON.stringify(got.descr)} vs ${JSON.stringify(expected.descr)}`);
    if (JSON.stringify(mine.data.shape) !== JSON.stringify(expected.shape)) problems.push(`shape ${JSON.stringify(mine.data.shape)} vs ${JSON.stringify(expected.shape)}`);
    if (expected.fortran !== null && mine.data.fortranOrder !== expected.fortran) problems.push('order');
    if (expected.sha !== null && got.sha !== expected.sha) problems.push('bytes');
    pairs.push(problems.length === 0 ? 'same' : `DIFFERENT: ${problems.join(', ')}`);
  }
  // Keys we return that numpy does not have at all.
  for (const [key, mine] of Object.entries(ours.keys)) {
    if (!(key in keys) && 'data' in mine) pairs.push('DIFFERENT: ours returns a key numpy does not list');
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------------------------
// Judgement

/**
 * A class of deliberate difference: where numpy and zipfile find nothing wrong but npz-stream refuses, because
 * it checks something CPython does not. Each is a row of the table in docs/ERRORS.md ("Differences from numpy
 * and zipfile on damaged archives"); a refusal of a clean archive that no class covers fails the test.
 */
export interface Difference {
  readers: readonly Reader[];
  /** Our codes in this class (any, when absent). */
  codes?: readonly string[];
  /** Where the damage was (anywhere, when absent); 'shadowed' is a member numpy never reads. */
  regions?: readonly (Region | 'shadowed')[];
}

const ALL: readonly Reader[] = READERS;

export const STRICTER: Record<string, Difference> = {
  // numpy reads prod(shape) x itemsize bytes after the header and ignores the rest of the member.
  'trailing bytes in a member': { readers: ALL, codes: ['ERR_NPY_SIZE_MISMATCH'] },
  // zipfile reads a member by its compressed size and checks the CRC; it never compares the uncompressed size,
  // and never reads local sizes.
  'sizes that disagree with the data': { readers: ALL, codes: ['ERR_ZIP_SIZE_MISMATCH', 'ERR_ZIP_BOMB', 'ERR_ZIP_INFLATE', 'ERR_NPY_SIZE_MISMATCH', 'ERR_NPY_TRUNCATED'] },
  // zipfile walks the directory by its size, reading an entry's name, extra and comment past the directory's end.
  'a directory entry past the directory': { readers: ALL, codes: ['ERR_ZIP_BOUNDS', 'ERR_ZIP_TRUNCATED', 'ERR_ZIP_CENTRAL_DIRECTORY', 'ERR_ZIP_NAME_MISMATCH'], regions: ['directory'] },
  // zipfile ignores bytes after the end record, a comment length that runs past them, the entry counts, and the
  // zip64 locator's offset (it looks for the zip64 record 56 bytes before the locator).
  'end record extras': { readers: ALL, codes: ['ERR_ZIP_EOCD', 'ERR_ZIP_TRUNCATED', 'ERR_ZIP_BOUNDS', 'ERR_ZIP_CENTRAL_DIRECTORY', 'ERR_ZIP_ZIP64'], regions: ['end', 'layout'] },
  // zipfile stops inflating once it has the member's size; damage after the last byte of output goes unseen.
  'a deflate stream damaged after its output': { readers: ALL, codes: ['ERR_ZIP_INFLATE', 'ERR_ZIP_SIZE_MISMATCH', 'ERR_ZIP_BOMB'], regions: ['data'] },
  // zipfile ignores the disk numbers of the end record and of directory entries.
  'disk numbers': { readers: ALL, codes: ['ERR_ZIP_MULTIDISK'], regions: ['end', 'directory'] },
  // With no zip64 extra at all, zipfile takes a 0xFFFFFFFF size as it is.
  'a zip64 sentinel without a zip64 extra': { readers: ALL, codes: ['ERR_ZIP_ZIP64'], regions: ['directory'] },
  // zipfile reads only the signature, name and extra length of a local header.
  'local header fields zipfile ignores': { readers: ['openNpz', 'readNpz'], codes: ['ERR_ZIP_ZIP64', 'ERR_ZIP_TOO_LARGE', 'ERR_ZIP_SIZE_MISMATCH'], regions: ['local'] },
  // The stream reader has nothing but the local header (and data descriptor) when it reads a member.
  'the stream trusts local headers': { readers: ['stream'], regions: ['local', 'descriptor'] },
  // zipfile shifts every offset by the gap between where the directory is and where the end record says it is.
  'data inserted or prepended': { readers: ALL, regions: ['layout'] },
  // np.load reads the last of two same-named members; every reader here checks both.
  'a member numpy never reads': { readers: ALL, regions: ['shadowed'] },
  // numpy's dtype parser takes spellings np.save never writes ('1f8', '<f', 'd'); see ERR_NPY_DTYPE.
  'a descr in another spelling than dtype.str': { readers: ALL, codes: ['ERR_NPY_DTYPE'], regions: ['npy'] },
  // CPython 3.11 has no overlap check (3.12 and the security releases do).
  'members that overlap': { readers: ALL, codes: ['ERR_ZIP_OVERLAP'] },
};

/**
 * Where numpy refuses and a reader here hands out data on purpose: np.load decides by the first four bytes
 * whether a file is an npz; where they are not 'PK\x03\x04' it tries a pickle, while zipfile (and npz-stream)
 * find the end record and read the archive.
 */
export const LENIENT: Record<string, { numpy: RegExp }> = {
  "np.load's look at the first four bytes": { numpy: /pickled|not an npz/ },
};

/**
 * Where numpy or zipfile refuse and a reader here still hands out data, pending the shared ZIP rules of issue 21
 * (item 1, end-record consistency, being done in parallel): each entry says what numpy says. Remove an entry
 * once the rules are merged; the test then proves the reader refuses.
 */
export const PENDING: Record<string, { readers: readonly Reader[]; numpy: RegExp; regions?: readonly Region[] }> = {
  // Also where numpy has no complaint: a directory size of 0 is an empty archive to zipfile, not to the entry count.
  'end records that do not frame the directory': {
    readers: ALL,
    numpy: /Bad offset for central directory|Bad magic number for central directory|File is not a zip file|Truncated central directory|Bad magic number for file header|Corrupt zip64 end of central directory/,
    regions: ['end'],
  },
  'a version needed above 6.3': { readers: ALL, numpy: /zip file version/ },
  'the patched-data flag (bit 5)': { readers: ALL, numpy: /patched data/ },
  'a multi-disk zip64 locator (stream)': { readers: ['stream'], numpy: /span multiple disks/ },
  'encryption and patch flags in the directory (stream)': { readers: ['stream'], numpy: /encrypted|patched data|strong encryption/ },
};

export interface Judgement {
  /** One verdict pair per key (and per archive-level outcome), in the categories of the report. */
  tally: string[];
  failures: string[];
}

function damaged(numpy: NumpyVerdict): boolean {
  if ('error' in numpy.zip || numpy.zip.bad !== null || 'error' in numpy.np) return true;
  return Object.values(numpy.np.keys).some((key) => 'error' in key);
}

function numpyComplaint(numpy: NumpyVerdict): string {
  const parts: string[] = [];
  if ('error' in numpy.zip) parts.push(numpy.zip.error);
  if ('error' in numpy.np) parts.push(numpy.np.error);
  else for (const key of Object.values(numpy.np.keys)) if ('error' in key) parts.push(key.error);
  return parts.join(' | ');
}

export function judge(reader: Reader, numpy: NumpyVerdict, ours: OurVerdict, where: Region | 'shadowed'): Judgement {
  const tally: string[] = [];
  const failures: string[] = [];
  const complaint = numpyComplaint(numpy);
  // A stream hands out each member as it passes; one that ends in an error may have handed out arrays that the
  // central directory, read last, then contradicts (docs/ERRORS.md: what a stream cannot know yet).
  const streamFailedLate = reader === 'stream' && ours.error !== undefined;
  for (const pair of comparePairs(numpy, ours)) {
    // readNpz yields arrays only: a member numpy hands back as raw bytes is simply not among them.
    const notYielded = reader !== 'openNpz' && pair === 'numpy reads raw bytes, ours has no such key';
    if (pair === 'same' || pair === 'same (non-array member)' || notYielded || pair.startsWith('both refuse')) {
      tally.push(pair.startsWith('both refuse') ? 'both refuse' : 'same');
      continue;
    }
    if (pair.startsWith('DIFFERENT') || pair.includes('ours returns')) {
      const extraKey = pair.includes('ours returns a key numpy does not list');
      const lenient = Object.keys(LENIENT).find((id) => 'error' in numpy.np && LENIENT[id]!.numpy.test(numpy.np.error) && !('error' in numpy.zip) && numpy.zip.bad === null);
      const known = Object.keys(PENDING).find((id) => {
        const p = PENDING[id]!;
        return p.readers.includes(reader) && (p.numpy.test(complaint) || (extraKey && p.regions?.includes(where as Region) === true));
      });
      if (streamFailedLate) tally.push('numpy refuses, the stream handed it out before failing');
      else if (pair.startsWith('DIFFERENT') && !extraKey) failures.push(`${pair} (numpy: ${complaint.slice(0, 200)})`);
      else if (lenient !== undefined) tally.push(`numpy refuses, ours reads: ${lenient}`);
      else if (known !== undefined) tally.push(`numpy refuses, ours reads: PENDING ${known}`);
      else failures.push(`${pair} (numpy: ${complaint.slice(0, 200)})`);
      continue;
    }
    const refusal = /^numpy (?:loads|reads raw bytes), ours (?:stopped: )?(ERR_[A-Z0-9_]+)$/.exec(pair);
    if (refusal === null) {
      failures.push(pair);
      continue;
    }
    if (damaged(numpy)) {
      // openNpz checks every member when it opens, readNpz and the stream stop at the first damaged one.
      tally.push('numpy loads, ours refuses: the archive is damaged elsewhere');
      continue;
    }
    const code = refusal[1] as string;
    const covered = Object.keys(STRICTER).find((id) => {
      const d = STRICTER[id]!;
      return d.readers.includes(reader) && (d.codes === undefined || d.codes.includes(code)) && (d.regions === undefined || d.regions.includes(where));
    });
    if (covered === undefined) failures.push(`${pair} (damage in: ${where}), though numpy and zipfile read the archive without complaint`);
    else tally.push(`numpy loads, ours refuses: ${covered}`);
  }
  return { tally, failures };
}
