/**
 * The npy header is a Python literal that numpy reads with `ast.literal_eval` (v3.0 headers as they are, v1.0 and
 * v2.0 after re-tokenizing them). Hand-written and damaged headers, judged by numpy's own header reader in both
 * versions: ours must accept exactly what numpy accepts, with the same shape, but for the documented differences.
 */
import { describe, expect, it } from 'vitest';
import { decodeNpyHeader } from '../../src/npy/header.js';
import { hasNumpy, NO_NUMPY, runPython, withSkipReason } from '../helpers/python.js';

const D = "'descr': '<f4'";
const F = "'fortran_order': False";
const S = "'shape': (2,)";
const dict = (descr = D, fortran = F, shape = S) => `{${descr}, ${fortran}, ${shape}, }`;

const TEXTS: string[] = [
  dict(),
  dict("'descr': u'<f4'"),
  dict("'descr': U'<f4'"),
  dict("'descr': r'<f4'"),
  dict("'descr': R'<f\\x34'"),
  dict("'descr': b'<f4'"),
  dict("'descr': rb'<f4'"),
  dict("'descr': f'<f4'"),
  dict("'descr': ur'<f4'"),
  dict("'descr': '''<f4'''"),
  dict("'descr': \"\"\"<f4\"\"\""),
  dict("'descr': '''<f\n4'''"),
  dict("'descr': '<' \"f4\""),
  dict("'descr': '<' u'f' r'4'"),
  dict("'descr': '<f\\x34'"),
  dict("'descr': '<f\\64'"),
  dict("'descr': '<f\\u0034'"),
  dict("'descr': '<f\\\n4'"),
  dict("'descr': '<f4\\q'"),
  dict("'descr': '<f\\N{DIGIT FOUR}'"),
  dict("'descr': '<f4\r'"),
  `{${D},\x0b${F}, ${S}, }`,
  `{${D}, # a comment\n${F}, ${S}, }`,
  `{${D}, \\\n${F}, ${S}, }`,
  `{${D}, \\\r\n${F}, ${S}, }`,
  `{${D},\n${F},\n  ${S},\n}`,
  dict(D, F, "'shape': (0x2,)"),
  dict(D, F, "'shape': (0X2,)"),
  dict(D, F, "'shape': (0o2,)"),
  dict(D, F, "'shape': (0b10,)"),
  dict(D, F, "'shape': (0b_1_0,)"),
  dict(D, F, "'shape': (0x,)"),
  dict(D, F, "'shape': (+2,)"),
  dict(D, F, "'shape': (- 0,)"),
  dict(D, F, "'shape': (--2,)"),
  dict(D, F, "'shape': (00,)"),
  dict(D, F, "'shape': (0_0,)"),
  dict(D, F, "'shape': (02,)"),
  dict(D, F, "'shape': (2_,)"),
  dict(D, F, "'shape': (2__0,)"),
  dict(D, F, "'shape': (2.,)"),
  dict(D, F, "'shape': (2j,)"),
  dict(D, F, "'shape': (2e0,)"),
  dict(D, F, "'shape': (2L,)"),
  dict(D, F, "'shape': (2 L,)"),
  dict(D, F, "'shape': (2l,)"),
  dict(D, F, "'shape': (2 l,)"),
  dict(D, F, "'shape': (2 La,)"),
  dict("'descr': [('a\\q', '<f4'), (r'b\\x41', '<f4'), ('c\\x41', '<f4'), (u'd\\101', '<f4')]"),
  dict("'descr': [('a\nb', '<f4')]"),
  dict("'descr': [('a\\x4', '<f4')]"),
  dict("'descr': [('a\\x4g', '<f4')]"),
  dict("'descr': [('a\\U00110000', '<f4')]"),
  dict("'descr': [(r'\\'', '<f4')]"),
  dict("'descr': [('''a\nb''', '<f4')]"),
  "{1: '<f4', 'fortran_order': False, 'shape': (2,), }",
  dict(D, F, "'shape': (0x2L,)"),
  dict(D, F, "'shape': (2La,)"),
  dict(D, F, "'shape': (True,)"),
  dict(D, F, "'shape': ((2),)"),
  dict(D, "'fortran_order': (False)"),
  dict(D, "'fortran_order': 0"),
  `${dict()}\n`,
  `${dict()} \n`,
  `${dict()}\n `,
  `${dict()}\n\t`,
  `${dict()}\n\n `,
  `${dict()}\n \n`,
  `${dict()}\r`,
  `${dict()}\r `,
  `${dict()}\r\n `,
  `${dict()}\n\f `,
  `${dict()}\n \f`,
  `${dict()}\x0b`,
  `${dict()}\\\n`,
  `${dict()} \\\n\n`,
  `${dict()}\n \\\n`,
  `${dict()}\n# tail`,
  `${dict()}\n  # tail`,
  `${dict()} # tail\n`,
  `${dict()};`,
  ` \n${dict()}`,
  `\n ${dict()}`,
  `\t${dict()}`,
  `\\\n${dict()}`,
  `(${dict()})`,
  `(\n${dict()}\n)`,
  `{${D}, ${F},\n ${S}}\n`,
];

/**
 * Deliberately refused although numpy reads them (docs/ERRORS.md, ERR_NPY_HEADER_SYNTAX and ERR_NPY_DTYPE): a
 * \N{name} escape (it needs Python's table of character names), a descr string outside the form np.save writes.
 */
const REFUSED_ON_PURPOSE = new Map([
  [dict("'descr': '<f\\N{DIGIT FOUR}'"), 'ERR_NPY_HEADER_SYNTAX'],
  [dict("'descr': '''<f\n4'''"), 'ERR_NPY_DTYPE'],
]);

function header(text: string, version: 1 | 3): Uint8Array {
  const body = Buffer.from(text, version === 1 ? 'latin1' : 'utf8');
  const prefix = Buffer.alloc(version === 1 ? 10 : 12);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = version;
  if (version === 1) prefix.writeUInt16LE(body.length, 8);
  else prefix.writeUInt32LE(body.length, 8);
  return new Uint8Array(Buffer.concat([prefix, body]));
}

const JUDGE = String.raw`
import io, json, sys, warnings
import numpy as np
from numpy.lib import _format_impl as fmt
warnings.simplefilter('ignore')
out = []
for hexed in json.load(sys.stdin):
    f = io.BytesIO(bytes.fromhex(hexed))
    try:
        version = fmt.read_magic(f)
        shape, fortran, dtype = fmt._read_array_header(f, version)
        # Then the whole load, with exactly the data the header asks for.
        count = 1
        for dim in shape:
            count *= dim
        np.load(io.BytesIO(bytes.fromhex(hexed) + bytes(count * dtype.itemsize)))
        out.append([list(shape), fortran, list(dtype.names) if dtype.names is not None else None])
    except Exception as e:
        out.append(type(e).__name__)
print(json.dumps(out))
`;

describe.skipIf(!hasNumpy())(withSkipReason(!hasNumpy(), NO_NUMPY, 'npy header literals against numpy'), () => {
  it(`${TEXTS.length} header texts in v1.0 and v3.0 get numpy's verdict`, () => {
    const inputs = TEXTS.flatMap((text) => [header(text, 1), header(text, 3)]);
    const numpy = JSON.parse(runPython(JUDGE, [], JSON.stringify(inputs.map((bytes) => Buffer.from(bytes).toString('hex'))))) as (
      | [number[], boolean]
      | string
    )[];
    const table = inputs.map((bytes, i) => {
      const text = TEXTS[i >> 1]!;
      const label = `v${i % 2 === 0 ? 1 : 3} ${JSON.stringify(text)}`;
      let ours: string;
      try {
        const decoded = decodeNpyHeader(bytes);
        const names = typeof decoded.descr === 'string' ? null : (decoded.descr as [string | [string, string], unknown][]).map(([name]) => (typeof name === 'string' ? name : name[1]));
        ours = JSON.stringify([decoded.shape, decoded.fortranOrder, names]);
      } catch (error) {
        ours = `refused (${(error as { code?: string }).code})`;
      }
      const theirs = typeof numpy[i] === 'string' ? 'refused' : JSON.stringify(numpy[i]);
      const documented = REFUSED_ON_PURPOSE.get(text);
      if (documented !== undefined) return `${label}: ${theirs !== 'refused' && ours === `refused (${documented})` ? 'as documented' : `ours ${ours}, numpy ${theirs}`}`;
      return `${label}: ${(theirs === 'refused' ? ours.startsWith('refused') : ours === theirs) ? 'agrees' : `ours ${ours}, numpy ${theirs}`}`;
    });
    expect(table.filter((line) => !line.endsWith(': agrees') && !line.endsWith(': as documented'))).toEqual([]);
    expect(table.filter((line) => line.endsWith(': as documented'))).toHaveLength(2 * REFUSED_ON_PURPOSE.size);
    // Both verdicts must occur, or the table tests nothing.
    expect(numpy.filter((v) => typeof v === 'string').length).toBeGreaterThan(10);
    expect(numpy.filter((v) => typeof v !== 'string').length).toBeGreaterThan(40);
  });
});
