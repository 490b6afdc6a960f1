/**
 * A hand-written SVG bar chart of throughput per case, one panel per benchmark profile, with the raw write and
 * read limits drawn as dashed lines across their groups. No chart library: plain rects, lines and text.
 */
import type { CaseKind } from './cases.js';

export interface ChartBar {
  id: string;
  label: string;
  kind: CaseKind;
  gbps: number;
}

export interface ChartPanel {
  title: string;
  bars: ChartBar[];
}

const WIDTH = 800;
const LABEL_RIGHT = 262;
const PLOT_LEFT = 270;
const PLOT_RIGHT = 700;
const ROW = 22;
const BAR = 14;
const GROUP_GAP = 26;
const PANEL_GAP = 30;

const COLOURS: Record<string, string> = {
  ours: '#2563eb',
  numpy: '#e8890c',
  peer: '#8b5cf6',
  raw: '#9ca3af',
  rawCrc: '#cbd5e1',
};

function family(id: string): keyof typeof COLOURS {
  if (id.endsWith('-crc')) return 'rawCrc';
  if (id.startsWith('raw-') || id.startsWith('plain-')) return 'raw';
  if (id.startsWith('np-')) return 'numpy';
  if (id === 'yazl' || id === 'yauzl') return 'peer';
  return 'ours';
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round tick step giving about five ticks up to `max`. */
function tickStep(max: number): number {
  const rough = max / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const scaled = rough / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

function formatTick(value: number, step: number): string {
  const decimals = step >= 1 ? 0 : Math.ceil(-Math.log10(step));
  return value.toFixed(decimals);
}

function groupSvg(bars: readonly ChartBar[], title: string, limitId: string, limitLabel: string, top: number): { svg: string[]; height: number } {
  const max = Math.max(0.001, ...bars.map((b) => b.gbps));
  const step = tickStep(max * 1.08);
  const axisMax = Math.ceil((max * 1.08) / step) * step;
  const x = (gbps: number): number => PLOT_LEFT + (gbps / axisMax) * (PLOT_RIGHT - PLOT_LEFT);
  const rows: string[] = [`<text x="${LABEL_RIGHT}" y="${top + 12}" class="group" text-anchor="end">${title}</text>`];
  let y = top + 20;
  const barsTop = y;
  for (const bar of bars) {
    const end = x(bar.gbps);
    rows.push(
      `<text x="${LABEL_RIGHT}" y="${y + BAR - 2}" text-anchor="end">${escapeXml(bar.label)}</text>`,
      `<rect x="${PLOT_LEFT}" y="${y}" width="${(end - PLOT_LEFT).toFixed(1)}" height="${BAR}" fill="${COLOURS[family(bar.id)]}"/>`,
      `<text x="${(end + 4).toFixed(1)}" y="${y + BAR - 2}" class="value">${bar.gbps.toFixed(2)}</text>`,
    );
    y += ROW;
  }
  const barsBottom = y - ROW + BAR + 4;
  const ceiling = bars.find((b) => b.id === `${limitId}-crc`);
  if (ceiling !== undefined) {
    const cx = x(ceiling.gbps).toFixed(1);
    rows.push(`<line x1="${cx}" y1="${barsTop - 4}" x2="${cx}" y2="${barsBottom}" class="ceiling"/>`);
  }
  const limit = bars.find((b) => b.id === limitId);
  if (limit !== undefined) {
    const lx = x(limit.gbps).toFixed(1);
    rows.push(
      `<line x1="${lx}" y1="${barsTop - 6}" x2="${lx}" y2="${barsBottom}" class="limit"/>`,
      `<text x="${lx}" y="${barsTop - 9}" class="limit-label" text-anchor="middle">${limitLabel} ${limit.gbps.toFixed(2)} GB/s</text>`,
    );
  }
  // Grid first so the bars draw over it; each group has its own axis, since read and write limits differ ~5×.
  const grid: string[] = [];
  for (let tick = 0; tick <= axisMax + step / 2; tick += step) {
    const tx = x(tick).toFixed(1);
    grid.push(
      `<line x1="${tx}" y1="${barsTop - 4}" x2="${tx}" y2="${barsBottom}" class="grid"/>`,
      `<text x="${tx}" y="${barsBottom + 13}" class="tick" text-anchor="middle">${formatTick(tick, step)}</text>`,
    );
  }
  return { svg: [...grid, ...rows], height: barsBottom + 13 - top };
}

function panelSvg(panel: ChartPanel, top: number): { svg: string[]; height: number } {
  const out: string[] = [`<text x="16" y="${top + 14}" class="title">${escapeXml(panel.title)}</text>`];
  const groups = [
    { kind: 'write', title: 'write', limitId: 'raw-write', limitLabel: 'raw write limit' },
    { kind: 'read', title: 'read', limitId: 'raw-read', limitLabel: 'raw read limit' },
  ] as const;
  let y = top + 28;
  for (const group of groups) {
    const bars = panel.bars.filter((b) => b.kind === group.kind);
    if (bars.length === 0) continue;
    const { svg, height } = groupSvg(bars, group.title, group.limitId, group.limitLabel, y);
    out.push(...svg);
    y += height + GROUP_GAP;
  }
  out.push(`<text x="${(PLOT_LEFT + PLOT_RIGHT) / 2}" y="${y - GROUP_GAP + 20}" class="axis" text-anchor="middle">GB/s (10⁹ bytes per second, median of the timed runs)</text>`);
  return { svg: out, height: y - GROUP_GAP + 26 - top };
}

export function throughputChart(panels: readonly ChartPanel[]): string {
  const body: string[] = [`<text x="16" y="22" class="heading">npz-stream throughput</text>`];
  const legendY = 46;
  const legend: [string, string][] = [
    ['npz-stream', COLOURS['ours']!],
    ['numpy', COLOURS['numpy']!],
    ['yazl / yauzl', COLOURS['peer']!],
    ['raw limit / plain script', COLOURS['raw']!],
    ['raw + CRC-32 (ZIP ceiling)', COLOURS['rawCrc']!],
  ];
  // Each entry as wide as its text (about 6.2 px per character at 12 px), so longer names do not overlap.
  let lx = 16;
  for (const [name, colour] of legend) {
    body.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${colour}"/>`, `<text x="${lx + 17}" y="${legendY}">${name}</text>`);
    lx += 17 + Math.ceil(name.length * 6.2) + 16;
  }
  let top = legendY + 16;
  for (const panel of panels) {
    const { svg, height } = panelSvg(panel, top);
    body.push(...svg);
    top += height + PANEL_GAP;
  }
  const height = Math.ceil(top - PANEL_GAP + 12);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    '<style>',
    '  text { fill: #1f2937; }',
    '  .heading { font-size: 15px; font-weight: bold; }',
    '  .title { font-size: 13px; font-weight: bold; }',
    '  .group { font-weight: bold; fill: #4b5563; }',
    '  .value, .tick, .axis { fill: #4b5563; font-size: 11px; }',
    '  .grid { stroke: #e5e7eb; stroke-width: 1; }',
    '  .limit { stroke: #dc2626; stroke-width: 1.5; stroke-dasharray: 5 3; }',
    '  .limit-label { fill: #dc2626; font-size: 10px; }',
    '  .ceiling { stroke: #64748b; stroke-width: 1.5; stroke-dasharray: 2 3; }',
    '</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
