/** Human-readable sizes, numpy-style shapes and aligned text tables for the CLI's stdout. */
import stringWidth from 'string-width';

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '?';
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${UNITS[unit]}`;
}

export { formatShape } from './shape.js';

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** A row whose leading cells fill the first columns and whose `rest` (a note) stands in for the others. */
export interface NoteRow {
  cells: readonly string[];
  rest: string;
}

/** `text` padded with spaces to `width` terminal columns (CJK and emoji take two, combining marks none). */
function pad(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - stringWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Rows padded into columns separated by two spaces; trailing spaces trimmed. Widths are display widths, so names
 * in CJK or with emoji line up in a terminal. A NoteRow's note does not count toward any column's width: a long
 * note runs past the columns instead of widening them.
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[] | NoteRow)[]): string {
  const cellsOf = (row: readonly string[] | NoteRow): readonly string[] => ('rest' in row ? row.cells : (row as readonly string[]));
  const widths = columns.map((column, index) => Math.max(stringWidth(column.header), ...rows.map((row) => stringWidth(cellsOf(row)[index] ?? ''))));
  const line = (cells: readonly string[], count = columns.length): string =>
    columns
      .slice(0, count)
      .map((column, index) => {
        const cell = cells[index] ?? '';
        const width = widths[index] ?? 0;
        return pad(cell, width, column.align);
      })
      .join('  ')
      .trimEnd();
  const render = (row: readonly string[] | NoteRow): string => {
    if (!('rest' in row)) return line(row as readonly string[]);
    return `${pad(line(row.cells, row.cells.length), widths.slice(0, row.cells.length).reduce((sum, width) => sum + width + 2, 0))}${row.rest}`.trimEnd();
  };
  return [line(columns.map((column) => column.header)), ...rows.map(render)].join('\n');
}

/** A float64 result (a statistic or a difference) to 7 significant digits, switching to exponents for extremes. */
export function formatNumber(value: number | undefined): string {
  if (value === undefined) return '-';
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value < 0 ? '-inf' : 'inf';
  const magnitude = Math.abs(value);
  if (value !== 0 && (magnitude >= 1e6 || magnitude < 1e-4)) return value.toExponential(5).replace(/\.?0+e/, 'e');
  return String(Number(value.toPrecision(7)));
}
