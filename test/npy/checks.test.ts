/**
 * One test per check of the npy descr, header and literal code that no other test in test/npy pins down: each was
 * found by removing or loosening the check and seeing test/npy still pass. Offline: no numpy needed.
 */
import { describe, expect, it } from 'vitest';
import { isNpzError } from '../../src/errors.js';
import { byteSwapInPlace, dtypeOfTypedArray, parseDescrString, typedArrayFor } from '../../src/npy/dtype.js';
import { float16BitsToNumber } from '../../src/npy/half.js';
import { decodeNpyHeader, encodeNpyHeader, npyHeaderLength, type Descr } from '../../src/npy/header.js';
import { pythonStringRepr } from '../../src/npy/pyliteral.js';

/** The code `work` fails with: an NpzError's code, or the text of anything else (which no check may throw). */
function codeOf(work: () => unknown): string {
  try {
    work();
    return 'resolved';
  } catch (error) {
    return isNpzError(error) ? error.code : `non-NpzError: ${String(error)}`;
  }
}

/** An npy header with any text, in any version; the length field says exactly the text's length. */
function header(text: string, version: 1 | 2 | 3 = 1, encoding: BufferEncoding = version === 3 ? 'utf8' : 'latin1'): Uint8Array {
  const body = Buffer.from(text, encoding);
  const prefix = Buffer.alloc(version === 1 ? 10 : 12);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = version;
  if (version === 1) prefix.writeUInt16LE(Math.min(body.length, 0xffff), 8);
  else prefix.writeUInt32LE(body.length, 8);
  return new Uint8Array(Buffer.concat([prefix, body]));
}

const dict = (descr: string, shape = '(2,)') => `{'descr': ${descr}, 'fortran_order': False, 'shape': ${shape}, }`;
const decode = (descr: string, shape?: string, options = {}) => decodeNpyHeader(header(dict(descr, shape)), options);

describe('descr strings', () => {
  it('refuses pickles, with or without a size, as ERR_NPY_PICKLE', () => {
    for (const descr of ['|O', '<O', '|O8', 'O4']) expect(codeOf(() => parseDescrString(descr)), descr).toBe('ERR_NPY_PICKLE');
  });

  it('refuses unknown datetime units, sizes no kind has, and sizes past 2^53', () => {
    for (const descr of ['<M8[foo]', '<m8[2x]', '|b2', '<i3', '<f3', '<c12']) expect(codeOf(() => parseDescrString(descr)), descr).toBe('ERR_NPY_DTYPE');
    expect(codeOf(() => parseDescrString(`|S${'9'.repeat(400)}`))).toBe('ERR_NPY_DTYPE');
    expect(codeOf(() => parseDescrString(`|V${2 ** 53}`))).toBe('ERR_NPY_DTYPE');
    expect(parseDescrString('|S0').itemsize).toBe(0);
  });

  it('gives one-byte types no byte order, whatever the descr says', () => {
    for (const descr of ['>i1', '<u1', '>b1', '>S1']) expect(parseDescrString(descr), descr).toMatchObject({ byteOrder: '|', swapUnit: 1 });
    expect(decode("'>i1'")).toMatchObject({ byteOrder: '|', swapUnit: 1 });
    expect(parseDescrString('>S3').byteOrder).toBe('>');
  });

  it('refuses a typed-array view that is not aligned to its element size', () => {
    const buffer = new ArrayBuffer(16);
    expect(codeOf(() => typedArrayFor('float32', buffer, 2, 8))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => typedArrayFor('float64', buffer, 0, 12))).toBe('ERR_INVALID_ARGUMENT');
    expect(typedArrayFor('raw', buffer, 3, 5).length).toBe(5);
  });

  it('refuses to byte-swap a partial item', () => {
    expect(codeOf(() => byteSwapInPlace(new Uint8Array(3), 2))).toBe('ERR_INVALID_ARGUMENT');
    expect(codeOf(() => byteSwapInPlace(new Uint8Array(12), 8))).toBe('ERR_INVALID_ARGUMENT');
    const bytes = Uint8Array.of(1, 2, 3, 4, 5, 6);
    byteSwapInPlace(bytes, 3);
    expect(Array.from(bytes)).toEqual([3, 2, 1, 6, 5, 4]);
  });

  it('takes a Uint8ClampedArray leaf as uint8', () => {
    expect(dtypeOfTypedArray(new Uint8ClampedArray(2))).toBe('uint8');
    expect(dtypeOfTypedArray(new DataView(new ArrayBuffer(2)))).toBeUndefined();
  });
});

describe('header prefix and caps', () => {
  const prefix = (bytes: number[]) => Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, ...bytes]);

  it('is truncated inside the magic, the version or the length field', () => {
    expect(codeOf(() => npyHeaderLength(prefix([1])))).toBe('ERR_NPY_TRUNCATED');
    expect(codeOf(() => npyHeaderLength(prefix([2, 0, 1, 0])))).toBe('ERR_NPY_TRUNCATED');
    expect(codeOf(() => npyHeaderLength(prefix([3, 0, 1, 0, 0])))).toBe('ERR_NPY_TRUNCATED');
    expect(npyHeaderLength(prefix([2, 0, 1, 0, 0, 0]))).toBe(13);
  });

  it('checks every byte of the magic and both version bytes', () => {
    const good = prefix([1, 0, 0, 0]);
    for (let i = 0; i < 6; i++) {
      const bad = good.slice();
      bad[i] ^= 0x20;
      expect(codeOf(() => npyHeaderLength(bad)), `byte ${i}`).toBe('ERR_NPY_MAGIC');
    }
    expect(codeOf(() => npyHeaderLength(prefix([1, 1, 0, 0])))).toBe('ERR_NPY_VERSION');
    expect(codeOf(() => npyHeaderLength(prefix([0, 0, 0, 0])))).toBe('ERR_NPY_VERSION');
  });

  it('caps v1/v2 headers by their byte length, v3 by up to 4 bytes a character, before reading them', () => {
    expect(codeOf(() => npyHeaderLength(prefix([1, 0, 0x11, 0x27])))).toBe('ERR_NPY_HEADER_TOO_LARGE'); // 10001
    expect(codeOf(() => npyHeaderLength(prefix([2, 0, 0x11, 0x27, 0, 0])))).toBe('ERR_NPY_HEADER_TOO_LARGE');
    expect(npyHeaderLength(prefix([1, 0, 0x10, 0x27]))).toBe(10 + 10_000);
    expect(npyHeaderLength(prefix([3, 0, 0x40, 0x9c, 0, 0]))).toBe(12 + 40_000);
    expect(codeOf(() => npyHeaderLength(prefix([3, 0, 0x41, 0x9c, 0, 0])))).toBe('ERR_NPY_HEADER_TOO_LARGE');
  });

  it('a v3 header within the cap in characters loads, one over it in characters does not', () => {
    // 3-byte characters: 15 000 bytes are 5 000 characters.
    const wide = dict(`[('${'名'.repeat(4900)}', '<f4')]`);
    expect(Buffer.byteLength(wide)).toBeGreaterThan(10_000);
    expect(decodeNpyHeader(header(wide, 3)).itemsize).toBe(4);
    const long = dict("'<f4'") + ' '.repeat(10_001);
    expect(codeOf(() => decodeNpyHeader(header(long, 3)))).toBe('ERR_NPY_HEADER_TOO_LARGE');
  });

  it('decodes escapes in an otherwise canonical header (the fast path leaves them to the parser)', () => {
    const text = "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3,), }";
    const padded = text.padEnd(128 - 10 - 1, ' ') + '\n';
    const bytes = header(padded);
    expect(bytes.length).toBe(128);
    expect(decodeNpyHeader(bytes)).toMatchObject({ dtype: 'float32', descr: '<f4', shape: [3] });
  });

  it('is truncated when the bytes end before the declared header does', () => {
    const whole = encodeNpyHeader({ descr: '<f4', shape: [2] });
    expect(codeOf(() => decodeNpyHeader(whole.subarray(0, whole.length - 5)))).toBe('ERR_NPY_TRUNCATED');
  });

  it('a v3 header must be UTF-8', () => {
    const bytes = header(dict("[('ab', '<f4')]"), 3);
    bytes[bytes.indexOf(0x61)] = 0xff; // the 'a' of the field name
    expect(codeOf(() => decodeNpyHeader(bytes))).toBe('ERR_NPY_HEADER_SYNTAX');
    expect(decodeNpyHeader(header(dict("[('\xffb', '<f4')]"), 1)).descr).toEqual([['\xffb', '<f4']]);
  });
});

describe('header values', () => {
  it('wants exactly three string keys', () => {
    expect(codeOf(() => decodeNpyHeader(header("{['descr']: '<f4', 'fortran_order': False, 'shape': (2,), }")))).toBe('ERR_NPY_HEADER_KEYS');
    expect(codeOf(() => decodeNpyHeader(header("{1: '<f4', 'fortran_order': False, 'shape': (2,), }")))).toBe('ERR_NPY_HEADER_KEYS');
  });

  it('wants a shape of integers', () => {
    for (const shape of ['(True,)', "('2',)", '(None,)', '(2, (3,))']) expect(codeOf(() => decode("'<f4'", shape)), shape).toBe('ERR_NPY_HEADER_VALUE');
  });

  it('refuses a dimension past 2^53 even in an empty array', () => {
    expect(codeOf(() => decode("'<f4'", '(1152921504606846976, 0)'))).toBe('ERR_NPY_TOO_LARGE');
    expect(decode("'<f4'", '(9007199254740991, 0)').byteLength).toBe(0);
  });

  it('wants a sub-array descr of exactly (base, shape), and an item size within 2^53', () => {
    expect(codeOf(() => decode("[('a', ('<f4', (2,), 5))]"))).toBe('ERR_NPY_DTYPE');
    expect(codeOf(() => decode("[('a', '<f8', (4503599627370496, 4))]", '(0,)'))).toBe('ERR_NPY_TOO_LARGE');
    expect(codeOf(() => decode("[('a', ('<f8', (4503599627370496, 4)))]", '(0,)'))).toBe('ERR_NPY_TOO_LARGE');
  });
});

describe('Python literals in headers', () => {
  const names = (descr: Descr) => (descr as [string, string][]).map(([name]) => name);

  it('bounds nesting, so a deep header cannot exhaust the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(codeOf(() => decode(deep, '(2,)', { maxHeaderSize: 1e6 }))).toBe('ERR_NPY_HEADER_SYNTAX');
  });

  it('decodes escapes as Python does, and refuses the malformed ones', () => {
    expect(names(decode("[('a\\q', '<f4'), (r'b\\x41', '<f4'), ('c\\x41', '<f4'), (R'\\'', '<f4')]").descr)).toEqual(['a\\q', 'b\\x41', 'cA', "\\'"]);
    expect(names(decode("[('\\101\\1012', '<f4'), ('\\u00e9\\U0001F600', '<f4')]").descr)).toEqual(['AA2', 'é😀']);
    for (const bad of ["[('a\\x4', '<f4')]", "[('a\\x4g', '<f4')]", "[('a\\u12G4', '<f4')]", "[('a\\U00110000', '<f4')]", "[('a\\N{LATIN SMALL LETTER A}', '<f4')]", "[('a\nb', '<f4')]", "[('a\rb', '<f4')]"]) {
      expect(codeOf(() => decode(bad)), JSON.stringify(bad)).toBe('ERR_NPY_HEADER_SYNTAX');
    }
  });

  it("drops only a Python 2 upper-case L after a number, blanks allowed before it", () => {
    expect(decode("'<f4'", '(2 L,)').shape).toEqual([2]);
    for (const shape of ['(2 l,)', '(2 La,)', '(2l,)']) expect(codeOf(() => decode("'<f4'", shape)), shape).toBe('ERR_NPY_HEADER_SYNTAX');
  });

  it('writes strings as Python repr does', () => {
    expect(pythonStringRepr('a\u200bb')).toBe("'a\\u200bb'");
    expect(pythonStringRepr('\x7f\x00')).toBe("'\\x7f\\x00'");
    expect(pythonStringRepr('\u{e0001}')).toBe("'\\U000e0001'");
    expect(pythonStringRepr("it's")).toBe('"it\'s"');
    expect(pythonStringRepr('é 名 😀')).toBe("'é 名 😀'");
  });

  it('widens float16 NaN and infinities', () => {
    expect(float16BitsToNumber(0x7e00)).toBeNaN();
    expect(float16BitsToNumber(0xfc01)).toBeNaN();
    expect(float16BitsToNumber(0x7c00)).toBe(Infinity);
    expect(float16BitsToNumber(0xfc00)).toBe(-Infinity);
  });
});
