// DOM helpers: elements are built with textContent, never innerHTML, so
// names and messages from the API cannot inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(
    ['svg', 'polyline', 'line', 'text', 'rect', 'g'].includes(tag) ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export function fmtMib(m) {
  if (m === null || m === undefined) return '-';
  return m >= 1024 ? `${(m / 1024).toFixed(1)} GiB` : `${Math.round(m)} MiB`;
}

export function stateTag(s) { return h('span', { class: `state ${s}`, 'data-state': s }, s ?? '-'); }

export function bar(pct, label) {
  const p = Math.max(0, Math.min(100, Number(pct) || 0));
  return h('div', { title: label ?? `${p.toFixed(0)}%` },
    h('div', { class: 'bar' }, h('div', { style: `width:${p}%` })), label ?? `${p.toFixed(0)}%`);
}

// Byte rates: "1.5 MiB/s".
export function fmtBps(v) {
  if (typeof v !== 'number') return '-';
  const u = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}

// A line chart in SVG: series = [{ label, values (oldest first, null: no
// sample), color }], times = the samples' ISO times, fmt(number) -> text
// for the axis and the legend. Gaps where a value is null. The element
// carries data-chart (title), data-points (samples with a value),
// data-max and data-t1 (ms of the newest sample) for the browser tests.
export function chart(title, series, fmt, times = [], w = 360, hgt = 130) {
  const padL = 70, padR = 8, padT = 8, padB = 18;
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) => s.values.filter((v) => typeof v === 'number'));
  const max = all.length ? Math.max(...all) : 0;
  const top = max > 0 ? max * 1.1 : 1;
  const x = (i) => padL + (n > 1 ? (i / (n - 1)) * (w - padL - padR) : 0);
  const y = (v) => padT + (1 - v / top) * (hgt - padT - padB);
  const lines = [];
  for (const s of series) {
    let run = [];
    const flush = () => {
      if (run.length === 1) run.push(`${run[0].split(',')[0] * 1 + 1},${run[0].split(',')[1]}`);
      if (run.length) lines.push(h('polyline', { points: run.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 1.6, 'data-series': s.label }));
      run = [];
    };
    s.values.forEach((v, i) => { if (typeof v === 'number') run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`); else flush(); });
    flush();
  }
  const grid = [0, 0.5, 1].flatMap((f) => {
    const v = top * f, yy = y(v);
    return [h('line', { x1: padL, y1: yy, x2: w - padR, y2: yy, stroke: f ? '#eef1f5' : '#c4ccd8' }),
      h('text', { x: padL - 4, y: yy + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#67738a' }, fmt(v))];
  });
  const t0 = times.find(Boolean), t1 = times[times.length - 1];
  const tl = (t) => (t ? new Date(t).toLocaleTimeString() : '');
  const axis = [h('text', { x: padL, y: hgt - 4, 'font-size': 10, fill: '#67738a' }, tl(t0)),
    h('text', { x: w - padR, y: hgt - 4, 'text-anchor': 'end', 'font-size': 10, fill: '#67738a' }, tl(t1))];
  const legend = series.map((s) => {
    const vals = s.values.filter((v) => typeof v === 'number');
    const last = vals.length ? vals[vals.length - 1] : null;
    return h('span', { class: 'legend' }, h('i', { style: `background:${s.color}` }), ` ${s.label} `,
      h('b', {}, last === null ? 'no samples' : fmt(last)));
  });
  return h('div', { class: 'chart', 'data-chart': title, 'data-points': all.length, 'data-max': max,
    'data-t1': t1 ? Date.parse(t1) : 0 },
    h('div', {}, h('b', {}, title), ' ', legend),
    h('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` }, grid, axis, lines));
}

// columns: [{ key, label, get(row) -> Node|string, sort(row) -> value }]
export function table(columns, rows, opts = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', {
    class: c.sort ? 'sort' : null,
    onclick: c.sort && opts.onSort ? () => opts.onSort(c.key) : null,
  }, c.label, opts.sortKey === c.key ? (opts.sortDir > 0 ? ' ▲' : ' ▼') : '')));
  const body = rows.map((r) => h('tr', { 'data-row': opts.rowId ? opts.rowId(r) : null },
    columns.map((c) => h('td', {}, c.get(r)))));
  return h('table', { 'data-table': opts.name }, h('thead', {}, head),
    h('tbody', {}, body.length ? body : h('tr', {}, h('td', { colspan: columns.length }, opts.empty || 'none'))));
}
