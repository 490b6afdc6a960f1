import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeNpyHeader, encodeNpyHeader, type Descr } from '../../src/npy/header.js';

interface GoldenRecord {
  label: string;
  descr: Descr;
  shape: number[];
  fortran_order: boolean;
  version: number;
  header_hex: string;
  data_offset: number;
}

// Written by test/fixtures/gen/make_fixtures.py with real numpy (np.save headers for a dtype × shape × order grid).
const golden = JSON.parse(readFileSync(new URL('../fixtures/npy-headers.json', import.meta.url), 'utf8')) as { records: GoldenRecord[] };

describe('npy headers against the committed numpy golden grid', () => {
  it('has a grid covering every version', () => {
    expect(golden.records.length).toBeGreaterThan(300);
    expect(new Set(golden.records.map((r) => r.version))).toEqual(new Set([1, 2, 3]));
  });

  it('encodes every record byte for byte and decodes it back', () => {
    for (const record of golden.records) {
      const ours = encodeNpyHeader({ descr: record.descr, shape: record.shape, fortranOrder: record.fortran_order });
      expect(Buffer.from(ours).toString('hex'), record.label).toBe(record.header_hex);
      expect(ours.length).toBe(record.data_offset);
      const decoded = decodeNpyHeader(Buffer.from(record.header_hex, 'hex'), { maxHeaderSize: 1 << 20 });
      expect(decoded.version).toBe(record.version);
      expect(decoded.shape).toEqual(record.shape);
      expect(decoded.fortranOrder).toBe(record.fortran_order);
      expect(decoded.descr).toEqual(record.descr);
    }
  });
});
