// How the page writes sizes, counts and numbers. Sizes use the same binary units as the command line (KiB,
// MiB, GiB: powers of 1024), to the same digits; test/view/units.test.ts holds the two to each other.

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes) {
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

/** A count in full below 10 000 (`2,088`), else in three digits (`10.5k`, `2.92B`). */
export function formatCount(count) {
  if (count < 1e4) return count.toLocaleString('en-US');
  const [divisor, suffix] = count >= 1e9 ? [1e9, 'B'] : count >= 1e6 ? [1e6, 'M'] : [1e3, 'k'];
  return `${(count / divisor).toPrecision(3)}${suffix}`;
}

/** `1 tensor`, `2 tensors`, `2,088 tensors`. */
export function plural(count, word) {
  return `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
}

export function formatNumber(value) {
  if (value === null || value === undefined) return '–';
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value < 0 ? '-inf' : 'inf';
  const magnitude = Math.abs(value);
  if (value !== 0 && (magnitude >= 1e6 || magnitude < 1e-4)) return value.toExponential(4);
  return String(Number(value.toPrecision(6)));
}

export function percent(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '–';
}
