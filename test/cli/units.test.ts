import { describe, expect, it } from 'vitest';
import { parseRename, renameWith } from '../../src/cli/convert-records.js';
import { itemChunks, pairedChunks } from '../../src/cli/elements.js';
import { globToRegExp, nameFilter } from '../../src/cli/glob.js';
import { formatDuration, progressLine } from '../../src/cli/progress.js';
import { unsafeNameReason } from '../../src/cli/safe-path.js';
import { addValues, emptySummary } from '../../src/cli/commands/stats.js';
import { formatBytes, formatShape, renderTable } from '../../src/cli/table.js';
import { collect } from '../helpers/streams.js';

async function* fromArrays(...chunks: number[][]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield Uint8Array.from(chunk);
}

describe('globs', () => {
  it('* and ? stay within a segment, ** crosses segments and may match none', () => {
    const cases: [string, string, boolean][] = [
      ['img/*', 'img/head', true],
      ['img/*', 'img/head/bias', false],
      ['img/**', 'img/head/bias', true],
      ['**/bias', 'bias', true],
      ['**/bias', 'img/head/bias', true],
      ['**/bias', 'img/head/bias2', false],
      ['llm/layers/*/w', 'llm/layers/attn/w', true],
      ['llm/layers/?ttn/**', 'llm/layers/attn/q/w', true],
      ['a.b', 'axb', false],
      ['(x)+[y]', '(x)+[y]', true],
    ];
    for (const [glob, name, matches] of cases) expect(globToRegExp(glob).test(name), `${glob} ~ ${name}`).toBe(matches);
  });

  it('includes narrow, excludes remove', () => {
    const keep = nameFilter(['img/**', 'llm/embedder/*'], ['**/bias']);
    expect(['img/head/kernel', 'img/head/bias', 'llm/embedder/input_embedding', 'llm/final_norm/scale'].filter(keep)).toEqual([
      'img/head/kernel',
      'llm/embedder/input_embedding',
    ]);
    expect(nameFilter([], [])('anything')).toBe(true);
  });
});

describe('renames', () => {
  it('strip, rename in order, then add the prefix; REGEX=REPL splits at the last =', () => {
    const rename = renameWith({
      stripPrefix: 'params/',
      renames: [parseRename('^img/(.*)$=vision/$1'), parseRename('(?=kernel)=w_')],
      addPrefix: 'model/',
    });
    expect(rename('params/img/head/kernel')).toBe('model/vision/head/w_kernel');
    expect(rename('other/bias')).toBe('model/other/bias');
    expect(() => parseRename('no-equals')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/REGEX=REPLACEMENT/) }));
    expect(() => parseRename('([=x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/invalid regular expression/) }));
  });
});

describe('element streams', () => {
  it('re-cut chunks on item boundaries, aligned for typed views', async () => {
    const pieces = await collect(itemChunks(fromArrays([1, 2, 3], [4, 5], [], [6, 7, 8, 9, 10, 11, 12]), 4, 'x'));
    expect(pieces.map((piece) => [...piece])).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
    for (const piece of pieces) expect(piece.byteOffset % 4).toBe(0);
    await expect(collect(itemChunks(fromArrays([1, 2, 3, 4, 5]), 4, 'x'))).rejects.toMatchObject({ code: 'ERR_NPY_SIZE_MISMATCH' });
  });

  it('copies misaligned pieces and held remainders, from Node Buffers too (their slice() is a view)', async () => {
    const pool = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const aligned = await collect(itemChunks((async function* () {
      yield pool.subarray(1, 9);
    })(), 4, 'x'));
    expect(aligned.map((piece) => [...piece])).toEqual([[1, 2, 3, 4, 5, 6, 7, 8]]);
    for (const piece of aligned) expect(piece.byteOffset % 4).toBe(0);
    // A reader that recycles its buffer: the remainder held over must not change with it.
    const recycled = Buffer.from([1, 2, 3, 4, 5, 6]);
    const pieces = await collect(itemChunks((async function* () {
      yield recycled;
      recycled.fill(9);
      yield Buffer.from([7, 8]);
    })(), 4, 'x'), (piece) => [...piece]);
    expect(pieces).toEqual([[1, 2, 3, 4], [5, 6, 7, 8]]);
  });

  it('pair two streams into equal pieces and notice a length mismatch', async () => {
    const pairs = await collect(pairedChunks(fromArrays([1, 2, 3], [4]), fromArrays([5], [6, 7, 8]), 'x'));
    expect(pairs.map(([a, b]) => [[...a], [...b]])).toEqual([
      [[1], [5]],
      [[2, 3], [6, 7]],
      [[4], [8]],
    ]);
    await expect(collect(pairedChunks(fromArrays([1, 2]), fromArrays([1]), 'x'))).rejects.toMatchObject({ code: 'ERR_NPY_SIZE_MISMATCH' });
    await expect(collect(pairedChunks(fromArrays([1]), fromArrays([1, 2]), 'x'))).rejects.toMatchObject({ code: 'ERR_NPY_SIZE_MISMATCH' });
  });
});

describe('streamed statistics', () => {
  it('merging chunks gives the two-pass result, even with a large offset', () => {
    const values = Array.from({ length: 10_001 }, (_, i) => 1e9 + Math.sin(i) * 0.001);
    const summary = emptySummary();
    for (let start = 0; start < values.length; start += 997) addValues(summary, values.slice(start, start + 997));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(summary.count).toBe(values.length);
    expect(Math.abs(summary.mean - mean)).toBeLessThan(1e-6);
    expect(Math.abs(Math.sqrt(summary.m2 / summary.count) - Math.sqrt(variance)) / Math.sqrt(variance)).toBeLessThan(1e-6);
  });
});

describe('extract names', () => {
  it('accepts plain relative names and refuses every escape', () => {
    expect(unsafeNameReason('img/head/kernel')).toBeUndefined();
    expect(unsafeNameReason('a..b/c')).toBeUndefined();
    for (const name of ['', '../x', 'a/../../x', '/etc/passwd', 'C:/x', 'c:x', 'a\\b', 'a\0b', 'a//b', './a', 'a/.', 'a/']) {
      expect(unsafeNameReason(name), JSON.stringify(name)).toBeTypeOf('string');
    }
  });
});

describe('text helpers', () => {
  it('sizes, shapes, durations and tables', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5.5 * 2 ** 30)]).toEqual(['0 B', '1023 B', '1.50 KiB', '5.50 GiB']);
    expect([formatShape([]), formatShape([6]), formatShape([2, 6])]).toEqual(['()', '(6,)', '(2, 6)']);
    expect([formatDuration(5), formatDuration(125), formatDuration(3725), formatDuration(Number.NaN)]).toEqual(['0:05', '2:05', '1:02:05', '--:--']);
    expect(renderTable([{ header: 'A' }, { header: 'NUM', align: 'right' }], [['long-name', '1'], ['x', '100']])).toBe(
      'A          NUM\nlong-name    1\nx          100',
    );
  });

  it('tables align by display width: CJK and emoji take two columns, combining marks none', () => {
    const table = renderTable(
      [{ header: 'NAME' }, { header: 'DTYPE' }, { header: 'SIZE', align: 'right' }],
      [['嵌入/权重', 'bfloat16', '1'], ['w😀', 'float32', '22'], ['cafe\u0301', 'int8', '333'], ['plain_name', 'uint8', '4']],
    );
    // Every DTYPE cell starts at the same terminal column: the display width of what precedes it is the same.
    const columnOf = (line: string, cell: string): number => {
      const before = line.slice(0, line.indexOf(cell));
      let width = 0;
      for (const char of before) width += /\p{Mn}/u.test(char) ? 0 : /[\u4e00-\u9fff]|\p{Extended_Pictographic}/u.test(char) ? 2 : 1;
      return width;
    };
    const lines = table.split('\n');
    expect(lines.map((line, i) => columnOf(line, ['DTYPE', 'bfloat16', 'float32', 'int8', 'uint8'][i]!))).toEqual([12, 12, 12, 12, 12]);
    expect(lines[1]).toBe('嵌入/权重   bfloat16     1');
    expect(lines[2]).toBe('w😀         float32     22');
  });

  it('a progress line shows bytes done/total, rate and ETA, and fits the terminal', () => {
    const line = progressLine('verify', 512 * 2 ** 20, 2 ** 30, 2, 'llm/x', 200);
    expect(line).toBe('verify [############------------]  50% 512 MiB/1.00 GiB 256 MiB/s ETA 0:02 llm/x');
    expect(progressLine('verify', 1, 2, 1, 'a-very-long-entry-name', 30)).toHaveLength(29);
  });
});
