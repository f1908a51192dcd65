// DOM helpers: elements are built with textContent, never innerHTML, so
// names and messages from the API cannot inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(
    ['svg', 'polyline', 'line', 'text'].includes(tag) ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
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

// A line chart of values (oldest first) in an SVG of w x hgt.
export function chart(title, values, unit, w = 320, hgt = 90) {
  const vals = values.filter((v) => typeof v === 'number');
  const max = Math.max(1, ...vals);
  const pts = vals.map((v, i) =>
    `${(i / Math.max(1, vals.length - 1)) * (w - 10) + 5},${hgt - 5 - (v / max) * (hgt - 20)}`).join(' ');
  const last = vals.length ? vals[vals.length - 1] : null;
  return h('div', { class: 'chart', 'data-chart': title },
    h('div', {}, h('b', {}, title), ` ${last === null ? 'no samples' : `${last.toFixed(1)} ${unit}`} (max ${max.toFixed(1)})`),
    h('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` },
      h('line', { x1: 5, y1: hgt - 5, x2: w - 5, y2: hgt - 5, stroke: '#c4ccd8' }),
      h('polyline', { points: pts, fill: 'none', stroke: '#1f5fb3', 'stroke-width': 1.5 })));
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
