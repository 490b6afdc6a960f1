// The page of `npz-stream view`. Plain DOM and hand-drawn SVG: the charts are bars and a histogram, which need a
// few dozen lines, not a library (and nothing may be fetched from the network). All numbers come from the server,
// or, on the static page (`npz-stream view --static DIR`), from a Worker in the page running the same code.

const TOKEN = document.querySelector('meta[name="npz-view-token"]')?.content ?? '';
/** The static page computes in the page: no server, files chosen or dropped, or URLs beside the page. */
const STATIC = document.querySelector('meta[name="npz-view-mode"]')?.content === 'static';
/** Histogram bins the static page asks for (`view --static DIR --bins N`); the worker's default otherwise. */
const STATIC_BINS = Number(document.querySelector('meta[name="npz-view-bins"]')?.content) || undefined;
/** The static page's data source (assets/local.js), once files are open. */
let local;
// Every request carries the token, so the formatting module is imported with it.
const { formatBytes, formatCount, formatNumber, percent, plural } = await import(`./format.js?token=${encodeURIComponent(TOKEN)}`);
const main = document.getElementById('main');
const tabs = document.getElementById('tabs');

// ---------------------------------------------------------------- data

/** Statistics that the server sends as 'nan' / 'inf' / '-inf' strings (JSON has no such numbers). */
const NUMERIC_KEYS = new Set(['min', 'max', 'mean', 'std', 'relative', 'normA', 'normDiff', 'maxAbs']);
const SPECIAL = { nan: NaN, inf: Infinity, '-inf': -Infinity };

function revive(key, value) {
  return NUMERIC_KEYS.has(key) && typeof value === 'string' && value in SPECIAL ? SPECIAL[value] : value;
}

function apiUrl(path, params = {}) {
  return `/api/${path}?${new URLSearchParams({ ...params, token: TOKEN })}`;
}

class ServerError extends Error {
  /** `damaged`: the server said the entry is a damaged member (its error is this one). */
  constructor(error, damaged = false) {
    super(error.message);
    this.code = error.code;
    this.damaged = damaged;
  }
}

async function getJson(path, params, signal) {
  if (STATIC) return localSource().request(path, params, signal);
  const response = await fetch(apiUrl(path, params), { signal });
  const body = JSON.parse(await response.text(), revive);
  if (!response.ok) throw new ServerError(body.error ?? { code: `HTTP ${response.status}`, message: response.statusText }, body.damaged === true);
  return body;
}

/** Long work: NDJSON progress lines, then the result (or the error). Aborting `signal` cancels it on the server. */
async function runJob(path, params, signal, onProgress) {
  if (STATIC) return localSource().request(path, params, signal, onProgress);
  const response = await fetch(apiUrl(path, params), { signal });
  if (!response.ok) {
    const body = JSON.parse(await response.text());
    throw new ServerError(body.error ?? { code: `HTTP ${response.status}`, message: response.statusText });
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let end;
    while ((end = buffered.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffered.slice(0, end), revive);
      buffered = buffered.slice(end + 1);
      if (message.type === 'progress') onProgress(message);
      else if (message.type === 'result') return message.result;
      else if (message.type === 'error') throw new ServerError(message.error);
    }
  }
  throw new ServerError({ code: 'ERR_IO', message: 'the server closed the connection before answering' });
}

function localSource() {
  if (local === undefined) throw new ServerError({ code: 'ERR_INVALID_ARGUMENT', message: 'no file is open' });
  return local;
}

// ---------------------------------------------------------------- DOM

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.flat().filter((child) => child !== undefined && child !== null).map((child) => (child instanceof Node ? child : String(child))));
  return element;
}

const SVG = 'http://www.w3.org/2000/svg';

function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined) element.setAttribute(name, String(value));
  element.append(...children.flat().map((child) => (child instanceof Node ? child : String(child))));
  return element;
}

/** Replaces the page's content; absent parts (null, undefined, false) are left out, never shown as text. */
function show(...nodes) {
  main.replaceChildren(...nodes.filter((node) => node !== undefined && node !== null && node !== false));
}

/** A damaged entry's mark (`error`: { code, message } on a tensor or diff row), or nothing. */
function damagedBadge(error, where) {
  if (!error) return null;
  return h('span', { class: 'badge badge-damaged', title: error.message }, `damaged${where ? ` in ${where}` : ''}${error.code ? ` (${error.code})` : ''}`);
}

function errorPanel(title, error) {
  return h(
    'section',
    { class: 'error', role: 'alert' },
    h('h2', {}, title),
    h('p', { class: 'error-message' }, error.message),
    error.code ? h('p', {}, 'code ', h('code', { class: 'error-code' }, error.code)) : null,
  );
}

function progressView() {
  const bar = h('progress', { max: 1, value: 0 });
  const text = h('span', { class: 'progress-text' }, 'starting…');
  const element = h('div', { class: 'progress', role: 'status' }, bar, text);
  return {
    element,
    update({ done, total, detail }) {
      bar.max = Math.max(total, 1);
      bar.value = done;
      text.textContent = `${detail ? `${detail}: ` : ''}${formatBytes(done)} of ${formatBytes(total)}`;
    },
  };
}

// ---------------------------------------------------------------- charts (SVG)

/** Horizontal bars: label on the left, value text at the bar's end. `rows`: { label, value, text, href?, kind? }. */
function barChart(rows, { label, width = 860 }) {
  const rowHeight = 22;
  const labelWidth = 330;
  const valueWidth = 150;
  const barSpace = width - labelWidth - valueWidth;
  const max = Math.max(...rows.map((row) => (Number.isFinite(row.value) ? row.value : 0)), 0);
  const height = rows.length * rowHeight + 6;
  const svg = s('svg', { class: 'bars', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  rows.forEach((row, index) => {
    const y = index * rowHeight + 3;
    const finite = Number.isFinite(row.value);
    const length = max > 0 ? (finite ? row.value / max : 1) * barSpace : 0;
    const text = row.label.length > 46 ? `…${row.label.slice(-45)}` : row.label;
    const group = s('g', { class: `bar-row ${row.kind ?? ''}` });
    group.append(
      s('title', {}, `${row.label}: ${row.text}`),
      s('text', { x: labelWidth - 8, y: y + 15, 'text-anchor': 'end', class: 'bar-label' }, text),
      s('rect', { x: labelWidth, y: y + 3, width: Math.max(length, 1), height: rowHeight - 6, rx: 2, class: 'bar' }),
      s('text', { x: labelWidth + Math.max(length, 1) + 6, y: y + 15, class: 'bar-value' }, row.text),
    );
    if (row.href) {
      const link = s('a', { href: row.href });
      link.append(group);
      svg.append(link);
    } else svg.append(group);
  });
  return svg;
}

/** The histogram: one bar per bin, each with a tooltip naming its range and count. */
function histogramChart(histogram, logScale) {
  const width = 860;
  const height = 260;
  const left = 64;
  const bottom = 36;
  const top = 12;
  const plotWidth = width - left - 16;
  const plotHeight = height - top - bottom;
  const { counts, edges } = histogram;
  const scale = (count) => (logScale ? Math.log10(count + 1) : count);
  const peak = Math.max(...counts.map(scale), 1e-9);
  const barWidth = plotWidth / counts.length;
  const svg = s('svg', { class: 'histogram', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'histogram' });
  svg.append(
    s('line', { x1: left, y1: top + plotHeight, x2: left + plotWidth, y2: top + plotHeight, class: 'axis' }),
    s('line', { x1: left, y1: top, x2: left, y2: top + plotHeight, class: 'axis' }),
  );
  counts.forEach((count, index) => {
    const barHeight = (scale(count) / peak) * plotHeight;
    const closing = index === counts.length - 1 ? ']' : ')';
    svg.append(
      s(
        'rect',
        {
          class: 'bin',
          x: left + index * barWidth + 0.5,
          y: top + plotHeight - barHeight,
          width: Math.max(barWidth - 1, 0.5),
          height: barHeight,
          'data-count': count,
        },
        s('title', {}, `[${formatNumber(edges[index])}, ${formatNumber(edges[index + 1])}${closing}: ${count}`),
      ),
    );
  });
  const maxCount = Math.max(...counts);
  svg.append(
    s('text', { x: left - 6, y: top + 10, 'text-anchor': 'end', class: 'tick' }, formatCount(maxCount)),
    s('text', { x: left - 6, y: top + plotHeight, 'text-anchor': 'end', class: 'tick' }, '0'),
    s('text', { x: left, y: height - 12, class: 'tick' }, formatNumber(edges[0])),
    s('text', { x: left + plotWidth / 2, y: height - 12, 'text-anchor': 'middle', class: 'tick' }, formatNumber((edges[0] + edges[edges.length - 1]) / 2)),
    s('text', { x: left + plotWidth, y: height - 12, 'text-anchor': 'end', class: 'tick' }, formatNumber(edges[edges.length - 1])),
    s('text', { x: 14, y: top + plotHeight / 2, class: 'tick', transform: `rotate(-90 14 ${top + plotHeight / 2})`, 'text-anchor': 'middle' }, logScale ? 'count (log)' : 'count'),
  );
  return svg;
}

// ---------------------------------------------------------------- views

let files = [];

function tensorHref(fileIndex, name) {
  return `#tensor/${fileIndex}/${encodeURIComponent(name)}`;
}

function renderTabs(route) {
  const links = files.map((file, index) =>
    h('a', { href: `#overview/${index}`, class: route.view !== 'diff' && route.file === index ? 'active' : undefined }, `${files.length > 1 ? `${file.label}: ` : ''}${file.path}`),
  );
  if (files.length > 1) links.push(h('a', { href: '#diff', class: route.view === 'diff' ? 'active' : undefined }, 'What changed (A → B)'));
  if (STATIC) links.push(h('a', { href: '#open', class: route.view === 'open' ? 'active' : undefined }, 'Open…'));
  tabs.replaceChildren(...links);
}

/** A summary card; a detail that only repeats the value is left out. */
function card(label, value, detail) {
  const shown = detail && String(detail) !== String(value) ? detail : null;
  return h('div', { class: 'card' }, h('div', { class: 'card-value' }, value), h('div', { class: 'card-label' }, label), shown ? h('div', { class: 'card-detail' }, shown) : null);
}

function treeView(node, fileIndex, total, depth = 0) {
  if (node.children.length === 0) {
    return h('li', { class: 'leaf' }, h('a', { href: tensorHref(fileIndex, node.path) }, node.name), h('span', { class: 'size' }, `${formatCount(node.parameters)} · ${formatBytes(node.bytes)}`));
  }
  const summary = h(
    'summary',
    {},
    h('span', { class: 'segment' }, node.name === '' ? '(all)' : `${node.name}/`),
    h('span', { class: 'size' }, `${plural(node.tensors, 'tensor')} · ${formatCount(node.parameters)} params · ${formatBytes(node.bytes)} · ${percent(node.bytes, total)}`),
  );
  const children = h('ul', {}, node.children.map((child) => treeView(child, fileIndex, total, depth + 1)));
  return h('li', {}, h('details', { open: depth < 2 }, summary, children));
}

function tensorTable(overview, fileIndex) {
  const filter = h('input', { type: 'search', placeholder: 'filter by name, e.g. llm/layers/attn', class: 'filter', 'aria-label': 'filter tensors' });
  const count = h('span', { class: 'count' });
  const body = h('tbody');
  const rows = overview.tensors.map((tensor) => ({
    name: tensor.name,
    row: h(
      'tr',
      {},
      h('td', { class: 'name' }, h('a', { href: tensorHref(fileIndex, tensor.name) }, tensor.name), damagedBadge(tensor.error)),
      h('td', {}, tensor.dtype),
      h('td', {}, tensor.shapeText),
      h('td', { class: 'num' }, formatBytes(tensor.bytes)),
      h('td', { class: 'num' }, tensor.offset.toLocaleString('en-US')),
    ),
  }));
  const apply = () => {
    const needle = filter.value.trim().toLowerCase();
    const shown = rows.filter(({ name }) => name.toLowerCase().includes(needle));
    body.replaceChildren(...shown.map(({ row }) => row));
    count.textContent = needle === '' ? plural(rows.length, 'tensor') : `${shown.length.toLocaleString('en-US')} of ${plural(rows.length, 'tensor')}`;
  };
  filter.addEventListener('input', apply);
  apply();
  return h(
    'section',
    {},
    h('h2', {}, 'Tensors'),
    h('div', { class: 'toolbar' }, filter, count),
    h(
      'table',
      { class: 'tensors' },
      h('thead', {}, h('tr', {}, h('th', {}, 'name'), h('th', {}, 'dtype'), h('th', {}, 'shape'), h('th', { class: 'num' }, 'size'), h('th', { class: 'num' }, 'offset'))),
      body,
    ),
  );
}

async function overviewView(fileIndex, signal) {
  const file = files[fileIndex];
  if (file === undefined) return show(errorPanel('No such file', { message: `there is no file ${fileIndex}` }));
  if (file.error) return show(errorPanel(`Cannot read ${file.path}`, file.error));
  const overview = await getJson('overview', { file: fileIndex }, signal);
  const groups = overview.byteGroups.slice(0, 14);
  const rest = overview.byteGroups.slice(14).reduce((sum, group) => sum + group.bytes, 0);
  if (rest > 0) groups.push({ path: `${overview.byteGroups.length - 14} more groups`, bytes: rest });
  show(
    h('h1', {}, file.path),
    h(
      'section',
      { class: 'cards' },
      card('tensors', overview.arrays.toLocaleString('en-US'), overview.otherMembers.length ? `+ ${plural(overview.otherMembers.length, 'other member')}` : undefined),
      card('parameters', formatCount(overview.parameters), overview.parameters.toLocaleString('en-US')),
      card('data', formatBytes(overview.bytes), file.size !== null ? `file ${formatBytes(file.size)}` : undefined),
      ...overview.bytesByDtype.map((slot) => card(slot.dtype, formatBytes(slot.bytes), `${plural(slot.tensors, 'tensor')} · ${percent(slot.bytes, overview.bytes)}`)),
    ),
    h(
      'section',
      {},
      h('h2', {}, 'Where the bytes go'),
      barChart(
        groups.map((group) => ({ label: `${group.path}/…`, value: group.bytes, text: `${formatBytes(group.bytes)} · ${percent(group.bytes, overview.bytes)}` })),
        { label: 'bytes by subtree' },
      ),
    ),
    damagedCallout(overview.damaged),
    h('section', {}, h('h2', {}, 'Parameter tree'), h('ul', { class: 'tree' }, treeView(overview.tree, fileIndex, overview.bytes))),
    tensorTable(overview, fileIndex),
  );
}

/** The members that could not be read as arrays, each with its error; nothing when there are none. */
function damagedCallout(damaged) {
  if (!damaged || damaged.length === 0) return null;
  return h(
    'section',
    { class: 'error damaged', role: 'alert' },
    h('h2', {}, `${damaged.length} damaged ${damaged.length === 1 ? 'tensor' : 'tensors'}`),
    h('ul', {}, damaged.map((entry) => h('li', {}, h('code', {}, entry.name), `: ${entry.error.message} `, h('code', { class: 'error-code' }, entry.error.code)))),
  );
}

function statsTable(stats) {
  const cells = [
    ['min', formatNumber(stats.min)],
    ['max', formatNumber(stats.max)],
    ['mean', formatNumber(stats.mean)],
    ['std', formatNumber(stats.std)],
    ['NaN', stats.nan],
    ['+inf', stats.posInf],
    ['-inf', stats.negInf],
  ];
  return h('dl', { class: 'stats' }, cells.map(([label, value]) => h('div', { class: `stat stat-${label.replace(/\W/g, '')}` }, h('dt', {}, label), h('dd', {}, String(value)))));
}

async function tensorView(fileIndex, name, signal) {
  const file = files[fileIndex];
  if (file === undefined || file.error) return show(errorPanel(`Cannot read ${file?.path ?? 'the file'}`, file?.error ?? { message: 'no such file' }));
  let tensor;
  try {
    tensor = await getJson('entry', { file: fileIndex, name }, signal);
  } catch (error) {
    if (signal.aborted) return;
    if (error.damaged) return show(errorPanel(`${name} is damaged in ${file.path}`, error));
    // Only in the other file of a pair: the page still shows what changed.
    if (error.code !== 'ERR_NPZ_NOT_FOUND' || files.length < 2) return show(errorPanel('No such tensor', { code: error.code, message: `${name} is not in ${file.path}` }));
  }
  if (tensor === undefined) {
    const changeSlot = h('section', { class: 'tensor-diff' }, h('h2', {}, 'Change A → B'), h('p', { class: 'loading' }, 'comparing…'));
    show(h('p', { class: 'crumbs' }, h('a', { href: '#diff' }, '← what changed')), h('h1', { class: 'tensor-name' }, name), h('p', { class: 'note' }, `not in ${file.label}: ${file.path}`), changeSlot);
    return tensorDiffInto(changeSlot, name, signal);
  }
  const progress = progressView();
  const statsSlot = h('section', { class: 'tensor-stats' }, h('h2', {}, 'Statistics'), progress.element);
  const previewSlot = h('section', {}, h('h2', {}, 'First values'), h('p', { class: 'loading' }, 'reading…'));
  const changeSlot = files.length > 1 ? h('section', { class: 'tensor-diff' }, h('h2', {}, 'Change A → B'), h('p', { class: 'loading' }, 'comparing…')) : null;
  const others = files.map((other, index) => (index !== fileIndex && !other.error ? h('a', { href: tensorHref(index, name) }, `same tensor in ${other.label}`) : null));
  show(
    h('p', { class: 'crumbs' }, h('a', { href: `#overview/${fileIndex}` }, `← ${file.path}`), ...others.filter(Boolean).map((link) => [' · ', link])),
    h('h1', { class: 'tensor-name' }, name, damagedBadge(tensor.error)),
    h(
      'dl',
      { class: 'meta' },
      [
        ['dtype', tensor.dtype],
        ['shape', tensor.shapeText],
        ['parameters', tensor.parameters.toLocaleString('en-US')],
        ['size', formatBytes(tensor.bytes)],
        ['stored', `${tensor.compression}, ${formatBytes(tensor.storedBytes)} at offset ${tensor.offset.toLocaleString('en-US')}`],
      ].map(([label, value]) => h('div', {}, h('dt', {}, label), h('dd', {}, value))),
    ),
    changeSlot,
    statsSlot,
    previewSlot,
  );
  if (changeSlot) void tensorDiffInto(changeSlot, name, signal);
  getJson('preview', { file: fileIndex, name }, signal).then(
    (preview) => previewSlot.replaceChildren(h('h2', {}, 'First values'), h('pre', { class: 'preview' }, preview.text)),
    (error) => {
      if (!signal.aborted) previewSlot.replaceChildren(errorPanel('Cannot print the values', error));
    },
  );
  let report;
  try {
    report = await runJob('tensor', { file: fileIndex, name }, signal, (message) => progress.update(message));
  } catch (error) {
    if (signal.aborted) return;
    statsSlot.replaceChildren(errorPanel(`Cannot read ${name}`, error));
    return;
  }
  if (report.note) {
    statsSlot.replaceChildren(h('h2', {}, 'Statistics'), h('p', {}, report.note));
    return;
  }
  const chartSlot = h('div', { class: 'chart' });
  let logScale = false;
  const toggle = h('button', { type: 'button', class: 'scale-toggle' }, 'log counts');
  const draw = () => {
    chartSlot.replaceChildren(histogramChart(report.histogram, logScale));
    toggle.textContent = logScale ? 'linear counts' : 'log counts';
  };
  toggle.addEventListener('click', () => {
    logScale = !logScale;
    draw();
  });
  draw();
  statsSlot.replaceChildren(
    h('h2', {}, 'Statistics'),
    statsTable(report.stats),
    h('p', { class: 'note' }, `${report.stats.count.toLocaleString('en-US')} finite values; std with ddof=0 (np.std). ${report.histogram.counts.length} bins over [min, max], as np.histogram.`),
    h('div', { class: 'toolbar' }, h('h3', {}, 'Histogram'), toggle),
    chartSlot,
  );
}

/** What changed in one tensor of a pair, filled into `slot` when the comparison is done. */
async function tensorDiffInto(slot, name, signal) {
  const progress = progressView();
  slot.replaceChildren(h('h2', {}, 'Change A → B'), progress.element);
  let diff;
  try {
    diff = await runJob('tensor-diff', { name }, signal, (message) => progress.update(message));
  } catch (error) {
    if (!signal.aborted) slot.replaceChildren(h('h2', {}, 'Change A → B'), errorPanel(`Cannot compare ${name}`, error));
    return;
  }
  const structural = diff.kind !== 'changed' && diff.kind !== 'equal';
  const facts = structural
    ? [['A', diff.a ?? '(none)'], ['B', diff.b ?? '(none)']]
    : [
        ['‖a − b‖ / ‖a‖', diff.relative === undefined ? '–' : formatNumber(diff.relative)],
        ['max |a − b|', diff.maxAbs === undefined ? '–' : formatNumber(diff.maxAbs)],
        ['values changed', diff.differing === undefined ? '–' : `${diff.differing.toLocaleString('en-US')} of ${diff.items.toLocaleString('en-US')}`],
      ];
  slot.replaceChildren(
    h('h2', {}, 'Change A → B'),
    h('p', {}, h('span', { class: `badge badge-${diff.kind}` }, KIND_TEXT[diff.kind]), ' ', damagedBadge(diff.error, diff.damaged), ' ', h('a', { href: '#diff' }, 'every tensor')),
    h('dl', { class: 'meta diff-facts' }, facts.map(([label, value]) => h('div', {}, h('dt', {}, label), h('dd', {}, value)))),
  );
}

const KIND_TEXT = {
  'only-a': 'only in A',
  'only-b': 'only in B',
  dtype: 'dtype changed',
  shape: 'shape changed',
  damaged: 'damaged',
  changed: 'changed',
  equal: 'unchanged',
};

/** What a structural change is: A's and B's types, or which file a damaged tensor cannot be read in. */
function changeText(diff) {
  if (diff.kind === 'damaged') return `damaged in ${diff.damaged}: ${diff.error.message} [${diff.error.code}]`;
  return `${diff.a ?? '(none)'} → ${diff.b ?? '(none)'}`;
}

function diffRow(diff, rank) {
  const structural = diff.kind !== 'changed' && diff.kind !== 'equal';
  const links = [diff.kind !== 'only-b' ? h('a', { href: tensorHref(0, diff.name) }, 'A') : null, diff.kind !== 'only-a' ? h('a', { href: tensorHref(1, diff.name) }, 'B') : null].filter(Boolean);
  return h(
    'tr',
    { class: `diff-${diff.kind}` },
    h('td', { class: 'num' }, rank),
    h('td', { class: 'name' }, diff.name, structural ? h('div', { class: 'change' }, changeText(diff)) : null),
    h('td', {}, h('span', { class: `badge badge-${diff.kind}` }, KIND_TEXT[diff.kind])),
    h('td', { class: 'num relative' }, diff.relative === undefined ? '–' : formatNumber(diff.relative)),
    h('td', { class: 'num' }, diff.maxAbs === undefined ? '–' : formatNumber(diff.maxAbs)),
    h('td', { class: 'num' }, diff.differing === undefined ? '–' : `${diff.differing.toLocaleString('en-US')} of ${diff.items.toLocaleString('en-US')}`),
    h('td', { class: 'links' }, links.flatMap((link, index) => (index === 0 ? [link] : [' ', link]))),
  );
}

async function diffView(signal) {
  const broken = files.find((file) => file.error);
  if (broken) return show(errorPanel(`Cannot read ${broken.path}`, broken.error));
  const progress = progressView();
  show(h('h1', {}, `What changed: ${files[0].path} → ${files[1].path}`), h('section', {}, h('p', {}, 'Comparing every tensor value by value…'), progress.element));
  let diffs;
  try {
    diffs = await runJob('diff', {}, signal, (message) => progress.update(message));
  } catch (error) {
    if (!signal.aborted) show(errorPanel('Cannot compare the files', error));
    return;
  }
  const structural = diffs.filter((diff) => diff.kind !== 'changed' && diff.kind !== 'equal');
  const changed = diffs.filter((diff) => diff.kind === 'changed');
  const equal = diffs.filter((diff) => diff.kind === 'equal');
  const chartRows = changed.slice(0, 25).map((diff) => ({
    label: diff.name,
    value: diff.relative,
    text: formatNumber(diff.relative),
    href: tensorHref(1, diff.name),
  }));
  show(
    h('h1', {}, `What changed: ${files[0].path} → ${files[1].path}`),
    h(
      'section',
      { class: 'cards' },
      card('changed', changed.length.toLocaleString('en-US'), `${changed.length === 1 ? 'tensor' : 'tensors'} with different values`),
      card('unchanged', equal.length.toLocaleString('en-US'), 'byte-identical values'),
      card('structure', structural.length.toLocaleString('en-US'), 'only in one file, or new dtype/shape'),
    ),
    structural.length
      ? h(
          'section',
          { class: 'callout', role: 'note' },
          h('h2', {}, 'Structure changes'),
          h('ul', {}, structural.map((diff) => h('li', {}, h('strong', {}, KIND_TEXT[diff.kind]), ' ', h('code', {}, diff.name), ` (${changeText(diff)})`))),
        )
      : null,
    changed.length
      ? h('section', {}, h('h2', {}, 'Relative change ‖a − b‖ / ‖a‖, largest first'), barChart(chartRows, { label: 'relative change per tensor' }))
      : h('p', { class: 'note' }, 'No tensor values changed.'),
    h(
      'section',
      {},
      h('h2', {}, 'Every tensor'),
      h(
        'table',
        { class: 'diffs' },
        h(
          'thead',
          {},
          h('tr', {}, h('th', { class: 'num' }, '#'), h('th', {}, 'name'), h('th', {}, 'status'), h('th', { class: 'num' }, '‖a − b‖ / ‖a‖'), h('th', { class: 'num' }, 'max |a − b|'), h('th', { class: 'num' }, 'values changed'), h('th', {}, 'open')),
        ),
        h('tbody', {}, diffs.map((diff, index) => diffRow(diff, index + 1))),
      ),
    ),
  );
}

// ---------------------------------------------------------------- routing

function parseRoute() {
  const [view, file, ...rest] = location.hash.replace(/^#/, '').split('/');
  if (STATIC && (view === 'open' || files.length === 0)) return { view: 'open' };
  if (view === 'tensor') return { view, file: Number(file), name: decodeURIComponent(rest.join('/')) };
  if (view === 'overview') return { view, file: Number(file) };
  if (view === 'diff' && files.length > 1) return { view };
  return files.length > 1 ? { view: 'diff' } : { view: 'overview', file: 0 };
}

let current;

async function render() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const route = parseRoute();
  renderTabs(route);
  main.setAttribute('aria-busy', 'true');
  try {
    if (route.view === 'open') openView();
    else if (route.view === 'tensor') await tensorView(route.file, route.name, controller.signal);
    else if (route.view === 'diff') await diffView(controller.signal);
    else await overviewView(route.file, controller.signal);
  } catch (error) {
    if (!controller.signal.aborted) show(errorPanel('Something went wrong', error));
  } finally {
    if (current === controller) main.setAttribute('aria-busy', 'false');
  }
}

// ---------------------------------------------------------------- the static page: opening files

let opening = false;

/** Opens Files or URLs (one, or A and B) in a fresh worker, then shows them. */
async function openInputs(values) {
  if (opening) return;
  opening = true;
  show(h('p', { class: 'loading', role: 'status' }, `opening ${values.map((value) => (typeof value === 'string' ? value : value.name)).join(' and ')}…`));
  try {
    const { openLocal } = await import('./local.js');
    const opened = await openLocal(values, STATIC_BINS === undefined ? {} : { bins: STATIC_BINS });
    local?.close();
    local = opened;
    files = opened.files;
  } catch (error) {
    show(errorPanel('Cannot open', error));
    return;
  } finally {
    opening = false;
  }
  const target = files.length > 1 ? '#diff' : '#overview/0';
  if (location.hash === target) await render();
  else location.hash = target;
}

function openView() {
  const picker = h('input', { type: 'file', multiple: true, accept: '.npz,.safetensors,.json', id: 'open-files', 'aria-label': 'choose files' });
  picker.addEventListener('change', () => {
    if (picker.files.length > 0) void openInputs([...picker.files]);
  });
  const urlA = h('input', { type: 'text', name: 'a', placeholder: 'URL of A, e.g. checkpoints/base.npz', class: 'url', 'aria-label': 'URL of A' });
  const urlB = h('input', { type: 'text', name: 'b', placeholder: 'URL of B (optional)', class: 'url', 'aria-label': 'URL of B' });
  const form = h('form', { class: 'open-urls' }, urlA, urlB, h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const urls = [urlA.value.trim(), urlB.value.trim()].filter((value) => value !== '');
    if (urls.length > 0) void openInputs(urls);
  });
  const zone = h('div', { class: 'drop-zone' }, 'Drop one file here, or two (A, then B) to see what changed');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const dropped = [...(event.dataTransfer?.files ?? [])];
    if (dropped.length > 0) void openInputs(dropped);
  });
  show(
    h('h1', {}, 'Open a checkpoint'),
    h('p', {}, 'An .npz or .safetensors file (or a shard index chosen with its shards); two files (A, then B) show what changed between them. Everything is read and computed in this page: nothing is uploaded.'),
    h('section', { class: 'open-panel' }, h('h2', {}, 'From this computer'), picker, zone),
    h('section', { class: 'open-panel' }, h('h2', {}, 'By URL'), h('p', { class: 'note' }, `Files served beside this page (${location.origin}), by a server that answers Range requests.`), form),
  );
}

async function startStatic() {
  // Test and scripting hook: the same requests as the server's API, answered in the page.
  window.npzView = { open: openInputs, request: (path, params) => localSource().request(path, params) };
  window.addEventListener('hashchange', render);
  // `index.html?a=URL&b=URL` opens those at once.
  const query = new URLSearchParams(location.search);
  const urls = [query.get('a'), query.get('b')].filter((value) => value);
  if (urls.length > 0) return openInputs(urls);
  await render();
}

async function start() {
  if (STATIC) return startStatic();
  try {
    files = (await getJson('files', {})).files;
  } catch (error) {
    show(errorPanel('Cannot reach the npz-stream view server', error));
    return;
  }
  window.addEventListener('hashchange', render);
  await render();
}

start();
