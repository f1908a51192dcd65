// The console's views. Each route makes a view: it builds its static part
// once and returns { refresh(), leave?() }; refresh() runs every 2 s.
import { api } from './app.js';
import { h, clear, fmtMib, fmtBps, stateTag, bar, chart, table } from './ui.js';

const link = (kind, name) => h('a', { href: `#/${kind}/${encodeURIComponent(name)}` }, name);
const when = (t) => (t ? new Date(t).toLocaleTimeString() : '-');
const countBy = (xs, f) => xs.reduce((m, x) => ((m[f(x)] = (m[f(x)] || 0) + 1), m), {});
const swap = (el, ...nodes) => { clear(el); el.append(...nodes); };
const memPct = (x) => (x.memory_mib ? (100 * (x.memory_used_mib || 0)) / x.memory_mib : 0);

function hostsTable(hosts) {
  return table([
    { key: 'name', label: 'Host', get: (x) => link('hosts', x.name) },
    { key: 'state', label: 'State', get: (x) => stateTag(x.state) },
    { key: 'cpu', label: 'CPU use', get: (x) => bar(x.cpu_usage_pct, `${(x.cpu_usage_pct ?? 0).toFixed(0)}% of ${x.cpus}`) },
    { key: 'mem', label: 'Memory use', get: (x) => bar(memPct(x), `${fmtMib(x.memory_used_mib)} / ${fmtMib(x.memory_mib)}`) },
    { key: 'vms', label: 'VMs', get: (x) => x.vm_count ?? 0 },
    { key: 'accel', label: 'Accel', get: (x) => x.accel },
  ], hosts, { name: 'hosts', rowId: (x) => x.name });
}

function tasksTable(tasks) {
  return table([
    { key: 'op', label: 'Operation', get: (t) => t.op },
    { key: 'target', label: 'Target', get: (t) => `${t.target?.kind ?? ''} ${t.target?.name ?? ''}` },
    { key: 'state', label: 'State', get: (t) => stateTag(t.state) },
    { key: 'progress', label: 'Progress', get: (t) => bar(t.progress, `${t.progress ?? 0}%`) },
    { key: 'message', label: 'Message', get: (t) => t.error ? `${t.error.code}: ${t.error.message}` : (t.message || '') },
    { key: 'user', label: 'User', get: (t) => t.user },
    { key: 'created', label: 'Created', get: (t) => when(t.created_at) },
  ], tasks, { name: 'tasks', rowId: (t) => t.id, empty: 'no tasks' });
}

function alarmsTable(alarms) {
  return table([
    { key: 'sev', label: 'Severity', get: (a) => stateTag(a.severity) },
    { key: 'kind', label: 'Kind', get: (a) => a.kind },
    { key: 'target', label: 'Target', get: (a) => `${a.target?.kind ?? ''} ${a.target?.name ?? ''}` },
    { key: 'msg', label: 'Message', get: (a) => a.message },
    { key: 'since', label: 'Since', get: (a) => when(a.since) },
  ], alarms, { name: 'alarms', empty: 'no open alarms' });
}

// ---- dashboard ----------------------------------------------------------
function dashboard(root) {
  const cards = h('div', { class: 'cards' }), hosts = h('div'), tasks = h('div'), alarms = h('div');
  root.append(h('h1', {}, 'Cluster'), cards, h('h2', {}, 'Hosts'), hosts,
    h('h2', {}, 'Active tasks'), tasks, h('h2', {}, 'Open alarms'), alarms);
  return {
    async refresh() {
      const [hs, vs, ts, as] = await Promise.all([api('GET', '/hosts'), api('GET', '/vms'),
        api('GET', '/tasks?limit=50'), api('GET', '/alarms')]);
      const byState = countBy(vs.vms, (v) => v.state);
      const hostStates = countBy(hs.hosts, (x) => x.state);
      const active = ts.tasks.filter((t) => t.state === 'queued' || t.state === 'running');
      swap(cards,
        h('div', { class: 'card', 'data-card': 'hosts' }, h('div', { class: 'n' }, hs.hosts.length), 'hosts: ',
          Object.entries(hostStates).map(([s, n]) => `${n} ${s}`).join(', ')),
        h('div', { class: 'card', 'data-card': 'vms' }, h('div', { class: 'n' }, vs.vms.length), 'VMs: ',
          Object.entries(byState).map(([s, n]) => h('span', {}, stateTag(s), ` ${n} `))),
        h('div', { class: 'card', 'data-card': 'tasks' }, h('div', { class: 'n' }, active.length), 'active tasks'),
        h('div', { class: 'card', 'data-card': 'alarms' }, h('div', { class: 'n' }, as.alarms.length), 'open alarms'));
      swap(hosts, hostsTable(hs.hosts));
      swap(tasks, tasksTable(active));
      swap(alarms, alarmsTable(as.alarms));
    },
  };
}

// ---- hosts ---------------------------------------------------------------
function hostList(root) {
  const list = h('div');
  root.append(h('h1', {}, 'Hosts'), list);
  return { async refresh() { swap(list, hostsTable((await api('GET', '/hosts')).hosts)); } };
}

// The four performance charts of a host or a VM from GET .../metrics
// (the last 60 heartbeats). The disk and network charts plot bytes per
// second; the operation and packet rates of the last sample are the line
// under them.
const ops = (v) => (typeof v === 'number' ? `${v < 10 ? v.toFixed(1) : Math.round(v)}/s` : '-');
function metricCharts(m, cpuLabel) {
  const s = m.samples || [];
  const t = s.map((x) => x.t);
  const col = (k) => s.map((x) => x[k] ?? null);
  return h('div', { class: 'charts' },
    chart('CPU', [{ label: cpuLabel, values: col('cpu_pct'), color: '#1f5fb3' }], (v) => `${v.toFixed(v < 10 ? 1 : 0)}%`, t),
    chart('Memory', [{ label: 'resident', values: col('memory_mib'), color: '#7a3fb0' }], fmtMib, t),
    chart('Disk', [{ label: 'read', values: col('disk_read_bps'), color: '#1c8a5a' },
      { label: 'write', values: col('disk_write_bps'), color: '#d2691e' }], fmtBps, t),
    chart('Network', [{ label: 'rx', values: col('net_rx_bps'), color: '#1f5fb3' },
      { label: 'tx', values: col('net_tx_bps'), color: '#c0392b' }], fmtBps, t),
    h('p', { class: 'chart-note', id: 'io-rates' },
      `now: disk ${ops(m.disk_read_iops?.now)} reads, ${ops(m.disk_write_iops?.now)} writes; ` +
      `network ${ops(m.net_rx_pps?.now)} packets in, ${ops(m.net_tx_pps?.now)} out`));
}

function hostDetail(root, name) {
  const info = h('div'), charts = h('div'), vms = h('div'), msg = h('p', { class: 'msg', id: 'host-msg' });
  const maint = async (action) => {
    msg.textContent = '';
    try { await api('POST', `/hosts/${encodeURIComponent(name)}/maintenance`, { action }); }
    catch (e) { msg.textContent = e.message; }
  };
  root.append(h('h1', {}, `Host ${name}`),
    h('div', { class: 'actions' },
      h('button', { id: 'maint-enter', onclick: () => maint('enter') }, 'Enter maintenance'),
      h('button', { id: 'maint-exit', onclick: () => maint('exit') }, 'Exit maintenance')),
    msg, info, h('h2', {}, 'Performance (last 60 heartbeats)'), charts, h('h2', {}, 'VMs on this host'), vms);
  return {
    async refresh() {
      const [x, m, vs] = await Promise.all([api('GET', `/hosts/${encodeURIComponent(name)}`),
        api('GET', `/hosts/${encodeURIComponent(name)}/metrics`).catch(() => ({ samples: [] })), api('GET', '/vms')]);
      swap(info, h('table', { class: 'kv' }, h('tbody', {},
        [['State', h('span', { id: 'host-state' }, stateTag(x.state))], ['CPUs', `${x.cpus} x ${x.cpu_mhz} MHz (${x.cpu_model})`],
          ['CPU use', bar(x.cpu_usage_pct)], ['Memory', `${fmtMib(x.memory_used_mib)} used of ${fmtMib(x.memory_mib)}`],
          ['Accel', x.accel], ['Address', x.url], ['Last heartbeat', when(x.last_heartbeat)],
          ['Maintenance', x.maintenance ? `since ${when(x.maintenance.since)}` : 'no'], ['Version', x.version]]
          .map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v))))));
      swap(charts, metricCharts(m, 'VM demand, % of the host'));
      swap(vms, vmTable(vs.vms.filter((v) => v.host === x.name)));
    },
  };
}

// ---- VMs -----------------------------------------------------------------
const ip = (v) => (v.nics || []).map((n) => n.ip).filter(Boolean).join(', ');

function vmTable(vms, opts = {}) {
  return table([
    { key: 'name', label: 'Name', get: (v) => link('vms', v.name), sort: (v) => v.name },
    { key: 'state', label: 'State', get: (v) => stateTag(v.state), sort: (v) => v.state },
    { key: 'host', label: 'Host', get: (v) => v.host || '-', sort: (v) => v.host || '' },
    { key: 'cpus', label: 'vCPUs', get: (v) => v.cpus, sort: (v) => v.cpus },
    { key: 'memory', label: 'Memory', get: (v) => fmtMib(v.memory_mib), sort: (v) => v.memory_mib },
    { key: 'tools', label: 'Tools', get: (v) => v.tools?.state, sort: (v) => v.tools?.state },
    { key: 'ip', label: 'IP', get: ip, sort: ip },
    { key: 'ha', label: 'HA', get: (v) => (v.ha ? 'on' : 'off'), sort: (v) => (v.ha ? 1 : 0) },
  ], vms, { name: 'vms', rowId: (v) => v.name, empty: 'no VMs', ...opts });
}

function vmList(root) {
  const st = { filter: '', sortKey: 'name', sortDir: 1, vms: [] };
  const list = h('div');
  const render = () => {
    const f = st.filter.toLowerCase();
    const cols = { name: (v) => v.name, state: (v) => v.state, host: (v) => v.host || '', cpus: (v) => v.cpus,
      memory: (v) => v.memory_mib, tools: (v) => v.tools?.state || '', ip, ha: (v) => (v.ha ? 1 : 0) };
    const key = cols[st.sortKey];
    const rows = st.vms.filter((v) => !f || [v.name, v.state, v.host, ip(v)].some((s) => (s || '').toLowerCase().includes(f)))
      .sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * st.sortDir);
    swap(list, vmTable(rows, { sortKey: st.sortKey, sortDir: st.sortDir,
      onSort: (k) => { st.sortDir = st.sortKey === k ? -st.sortDir : 1; st.sortKey = k; render(); } }));
  };
  root.append(h('h1', {}, 'Virtual machines'),
    h('div', { class: 'filter' }, h('input', { id: 'vm-filter', placeholder: 'filter by name, state, host, IP',
      oninput: (e) => { st.filter = e.target.value; render(); } })), list);
  return { async refresh() { st.vms = (await api('GET', '/vms')).vms; render(); } };
}

function taskPanel(el, taskId, label) {
  // Follows a task until it ends; the view's refresh calls it.
  return async () => {
    if (!taskId()) return;
    const t = await api('GET', `/tasks/${taskId()}`);
    // What the panel showed, in order (the browser tests read it).
    const seen = `${t.op} ${t.state} ${t.progress ?? 0}%${t.message ? ` ${t.message}` : ''}`;
    const hist = (window.droverTaskLog ||= []);
    if (hist[hist.length - 1] !== seen) hist.push(seen);
    swap(el, h('div', { class: 'panel', id: 'task-panel', 'data-task-state': t.state, 'data-task-op': t.op },
      h('b', {}, `${label()}: ${t.op} `), stateTag(t.state), ' ', bar(t.progress, `${t.progress ?? 0}% ${t.message || ''}`),
      t.error ? h('p', { class: 'msg' }, `${t.error.code}: ${t.error.message}`) : null));
  };
}

function precheckTable(res) {
  return h('div', { class: 'panel', id: 'precheck', 'data-ok': String(!!res.ok) },
    h('b', {}, res.ok ? 'Every precheck passes.' : `Blocked by: ${(res.blockers || []).join(', ')}`),
    table([
      { key: 'code', label: 'Check', get: (c) => c.code },
      { key: 'status', label: 'Status', get: (c) => stateTag(c.status) },
      { key: 'reason', label: 'Reason', get: (c) => c.reason },
      { key: 'fix', label: 'Fix', get: (c) => c.fix || '' },
    ], res.checks || [], { name: 'prechecks', rowId: (c) => c.code }));
}

function vmDetail(root, name) {
  const st = { task: null, taskLabel: '', guest: null, guestAt: 0 };
  const N = encodeURIComponent(name);
  const info = h('div'), charts = h('div'), taskEl = h('div'), migrateEl = h('div'), msg = h('p', { class: 'msg', id: 'vm-msg' });
  const follow = taskPanel(taskEl, () => st.task, () => st.taskLabel);
  // A task just submitted is followed every 0.4 s until it ends (the
  // view's 2 s refresh would miss the progress of a short one).
  const act = async (label, method, path, body) => {
    msg.textContent = '';
    try {
      const r = await api(method, path, body);
      if (!r.task) return;
      st.task = r.task.id; st.taskLabel = label;
      const id = st.task;
      for (let i = 0; i < 1500 && st.task === id && !st.left; i++) {
        await follow();
        const state = taskEl.querySelector('#task-panel')?.dataset.taskState;
        if (state !== 'queued' && state !== 'running') break;
        await new Promise((res) => setTimeout(res, 400));
      }
    } catch (e) { msg.textContent = e.message; }
  };
  const confirmDelete = () => swap(migrateEl, h('div', { class: 'panel' }, `Delete VM ${name} and its disks? `,
    h('button', { class: 'danger', id: 'delete-confirm', onclick: () => { clear(migrateEl); act('delete', 'DELETE', `/vms/${N}`); } }, 'Delete'),
    h('button', { onclick: () => clear(migrateEl) }, 'Cancel')));
  const migrate = async () => {
    const hosts = (await api('GET', '/hosts')).hosts;
    const sel = h('select', { id: 'migrate-host' }, hosts.map((x) => h('option', { value: x.name }, `${x.name} (${x.state})`)));
    const out = h('div');
    const check = async () => {
      const res = await api('POST', `/vms/${N}/migrate`, { host: sel.value, check: true }).catch((e) => ({ error: e }));
      if (res.error) { swap(out, h('p', { class: 'msg' }, res.error.message)); return; }
      swap(out, precheckTable(res), h('div', { class: 'actions' },
        h('button', { class: 'primary', id: 'migrate-confirm', disabled: !res.ok,
          onclick: () => { clear(migrateEl); act(`migrate to ${sel.value}`, 'POST', `/vms/${N}/migrate`, { host: sel.value }); } },
        `Migrate to ${sel.value}`), h('button', { onclick: () => clear(migrateEl) }, 'Cancel')));
    };
    swap(migrateEl, h('div', { class: 'panel' }, 'Migrate to host ', sel, ' ',
      h('button', { id: 'migrate-check', onclick: check }, 'Run prechecks'), out));
  };
  root.append(h('h1', {}, `VM ${name}`),
    h('div', { class: 'actions' },
      h('button', { id: 'vm-start', onclick: () => act('start', 'POST', `/vms/${N}/start`) }, 'Start'),
      h('button', { id: 'vm-stop', onclick: () => act('stop', 'POST', `/vms/${N}/stop`, {}) }, 'Stop'),
      h('button', { id: 'vm-reboot', onclick: () => act('reboot', 'POST', `/vms/${N}/reboot`) }, 'Reboot'),
      h('button', { id: 'vm-migrate', onclick: migrate }, 'Migrate…'),
      h('a', { href: `#/console/${N}` }, h('button', { id: 'vm-console' }, 'Console')),
      h('button', { class: 'danger', id: 'vm-delete', onclick: confirmDelete }, 'Delete')),
    msg, migrateEl, taskEl, info, h('h2', {}, 'Performance'), charts);
  return {
    async refresh() {
      const [v, m] = await Promise.all([api('GET', `/vms/${N}`),
        api('GET', `/vms/${N}/metrics`).catch(() => ({ samples: [] }))]);
      if (v.tools?.state === 'running' && Date.now() - st.guestAt > 10000) {
        st.guestAt = Date.now();
        api('GET', `/vms/${N}/guest`).then((g) => { st.guest = g.guest; }).catch(() => {});
      }
      const g = st.guest;
      const q = v.cpu_qos || {};
      swap(info, h('table', { class: 'kv', id: 'vm-info' }, h('tbody', {},
        [['State', h('span', { id: 'vm-state' }, stateTag(v.state), v.state_reason ? ` (${v.state_reason})` : '')],
          ['Host', v.host ? link('hosts', v.host) : '-'], ['vCPUs', `${v.cpus} (max ${v.max_cpus})`],
          ['Memory', fmtMib(v.memory_mib)],
          ['Tools', `${v.tools?.state ?? '-'}${v.tools?.version ? ` ${v.tools.version}` : ''}${v.tools?.reason ? ` (${v.tools.reason})` : ''}`],
          ['Guest', g ? `${g.os?.pretty_name ?? g.os?.name ?? '?'}, kernel ${g.kernel?.release ?? '?'}, hostname ${g.hostname ?? '-'}, up ${g.uptime_s ?? '?'} s${g.memory ? `, ${Math.round(g.memory.available_kib / 1024)} of ${Math.round(g.memory.total_kib / 1024)} MiB available` : ''}${g.firewall ? `, firewall ${g.firewall.rules ? `${g.firewall.rule_count} rules` : 'no rules'}` : ''}, gateway ${g.gateway?.address ?? 'none'}` : '-'],
          ['Guest addresses', g ? (g.nics || []).map((n) => `${n.name ?? ''} ${(n.addresses || []).map((a) => a.address ? `${a.address}/${a.prefix}` : a).join(' ')}`).join('; ') : '-'],
          ['Disks', table([{ key: 'n', label: 'Disk', get: (d) => d.name }, { key: 's', label: 'Size', get: (d) => `${d.size_gib} GiB` },
            { key: 'ds', label: 'Datastore', get: (d) => d.datastore }, { key: 'i', label: 'IOPS max', get: (d) => d.iops_max || 'none' },
            { key: 'b', label: 'B/s max', get: (d) => d.bps_max || 'none' }], v.disks || [], { name: 'disks' })],
          ['NICs', table([{ key: 'n', label: 'NIC', get: (n) => n.name }, { key: 'pg', label: 'Port group', get: (n) => n.portgroup },
            { key: 'mac', label: 'MAC', get: (n) => n.mac }, { key: 'ip', label: 'IP', get: (n) => (n.ip ? `${n.ip}/${n.prefix}` : '-') },
            { key: 'gw', label: 'Gateway', get: (n) => n.gateway || '-' }], v.nics || [], { name: 'nics' })],
          ['CPU QoS', `shares ${q.shares ?? '-'}, limit ${q.limit_mhz ? `${q.limit_mhz} MHz` : q.limit_pct ? `${q.limit_pct}%` : 'none'}, reservation ${q.reservation_mhz || 0} MHz${q.affinity ? `, CPUs ${q.affinity}` : ''}`],
          ['HA', v.ha ? `on (priority ${v.ha_priority ?? 0})` : 'off']]
          .map(([k, val]) => h('tr', {}, h('td', {}, k), h('td', {}, val))))));
      swap(charts, metricCharts(m, '% of one host CPU'));
      await follow();
    },
    leave() { st.left = true; },
  };
}

// ---- console (noVNC) -------------------------------------------------------
function vmConsole(root, name) {
  const N = encodeURIComponent(name);
  const status = h('span', { id: 'console-status' }, 'connecting…');
  const screen = h('div', { id: 'screen' });
  let rfb = null;
  root.append(h('h1', {}, `Console of ${name}`), h('p', {}, status, ' ', h('a', { href: `#/vms/${N}` }, 'back to the VM')), screen);
  (async () => {
    try {
      const { default: RFB } = await import('./vendor/novnc.js');
      const c = await api('POST', `/vms/${N}/console`);
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${c.ws}`;
      rfb = new RFB(screen, url, { credentials: { password: c.ticket }, wsProtocols: ['binary'] });
      rfb.scaleViewport = false;
      rfb.addEventListener('connect', () => { status.textContent = 'connected'; status.dataset.state = 'connected'; });
      rfb.addEventListener('disconnect', (e) => { status.textContent = e.detail.clean ? 'disconnected' : 'connection lost'; status.dataset.state = 'disconnected'; });
      rfb.addEventListener('securityfailure', (e) => { status.textContent = `refused: ${e.detail.reason || e.detail.status}`; });
      window.droverConsole = rfb; // for the browser tests
    } catch (e) { status.textContent = `cannot open the console: ${e.message}`; }
  })();
  return { async refresh() {}, leave() { if (rfb) rfb.disconnect(); rfb = null; } };
}

// ---- networking ------------------------------------------------------------
function network(root) {
  const st = { diag: null, vms: [] };
  const dvsEl = h('div'), pgEl = h('div'), diagOut = h('div', { id: 'diag-out' });
  const s1 = h('select', { id: 'diag-vm1' }), s2 = h('select', { id: 'diag-vm2' });
  const run = async () => {
    swap(diagOut, h('p', {}, 'diagnosing…'));
    try {
      const d = await api('POST', '/net/diagnose', { vms: [s1.value, s2.value] });
      const c = d.conclusion || {};
      swap(diagOut, h('div', { class: 'panel', id: 'diagnosis', 'data-fault': c.fault },
        h('p', {}, h('b', {}, 'Conclusion: '), h('span', { id: 'diag-fault' }, c.fault), ` — ${c.summary ?? ''}`),
        c.fix ? h('p', {}, h('b', {}, 'Fix: '), c.fix) : null,
        h('p', {}, `Can talk: ${d.can_talk === null ? 'not tested' : d.can_talk ? 'yes' : 'no'}`),
        table([
          { key: 'id', label: 'Check', get: (x) => x.id },
          { key: 'on', label: 'On', get: (x) => x.vm ? `vm ${x.vm}` : x.host ? `host ${x.host}` : '' },
          { key: 'status', label: 'Result', get: (x) => stateTag(x.status) },
          { key: 'summary', label: 'Summary', get: (x) => x.summary },
          { key: 'ev', label: 'Evidence', get: (x) => (x.evidence ? h('span', { class: 'mono' }, JSON.stringify(x.evidence)) : '') },
        ], d.checks || [], { name: 'checks', rowId: (x) => `${x.id}:${x.vm ?? x.host ?? ''}` })));
    } catch (e) { swap(diagOut, h('p', { class: 'msg' }, e.message)); }
  };
  root.append(h('h1', {}, 'Networking'), h('h2', {}, 'Distributed virtual switches'), dvsEl,
    h('h2', {}, 'Port groups'), pgEl,
    h('h2', {}, 'Diagnose two VMs'), h('div', { class: 'actions' }, s1, s2, h('button', { id: 'diag-run', class: 'primary', onclick: run }, 'Diagnose')),
    diagOut);
  return {
    async refresh() {
      const [d, p, v] = await Promise.all([api('GET', '/dvs'), api('GET', '/portgroups'), api('GET', '/vms')]);
      swap(dvsEl, table([
        { key: 'n', label: 'DVS', get: (x) => x.name },
        { key: 'b', label: 'Bridge', get: (x) => x.bridge },
        { key: 'h', label: 'Hosts (uplink)', get: (x) => (x.hosts || []).map((y) => `${y.host} (${y.uplink})`).join(', ') },
        { key: 'p', label: 'Port groups', get: (x) => (x.portgroups || []).join(', ') },
        { key: 'hl', label: 'Health', get: (x) => (x.health ? stateTag(x.health.ok ? 'pass' : 'fail') : 'not checked') },
      ], d.dvs, { name: 'dvs', rowId: (x) => x.name }));
      swap(pgEl, table([
        { key: 'n', label: 'Port group', get: (x) => x.name },
        { key: 'd', label: 'DVS', get: (x) => x.dvs },
        { key: 'v', label: 'VLAN', get: (x) => x.vlan },
        { key: 's', label: 'Subnet', get: (x) => x.subnet || '-' },
        { key: 'g', label: 'Gateway', get: (x) => x.gateway || '-' },
        { key: 'vms', label: 'VMs', get: (x) => v.vms.filter((m) => (m.nics || []).some((n) => n.portgroup === x.name)).map((m) => m.name).join(', ') },
      ], p.portgroups, { name: 'portgroups', rowId: (x) => x.name }));
      const names = v.vms.map((m) => m.name).join(',');
      if (names !== st.vms.join(',')) {
        st.vms = v.vms.map((m) => m.name);
        for (const [s, i] of [[s1, 0], [s2, 1]]) {
          const keep = s.value;
          swap(s, ...st.vms.map((n) => h('option', { value: n }, n)));
          s.value = keep || st.vms[i] || '';
        }
      }
    },
  };
}

// ---- datastores, tasks, events ----------------------------------------------
function datastores(root) {
  const el = h('div');
  root.append(h('h1', {}, 'Datastores'), el);
  return {
    async refresh() {
      const [hs, vs] = await Promise.all([api('GET', '/hosts'), api('GET', '/vms')]);
      const rows = hs.hosts.flatMap((x) => (x.datastores || []).map((d) => ({ ...d, host: x.name })));
      swap(el, table([
        { key: 'n', label: 'Datastore', get: (d) => d.name },
        { key: 'h', label: 'Host', get: (d) => d.host },
        { key: 'p', label: 'Path', get: (d) => h('span', { class: 'mono' }, d.path) },
        { key: 'c', label: 'Capacity', get: (d) => `${d.capacity_gib ?? '?'} GiB` },
        { key: 'f', label: 'Free', get: (d) => bar(d.capacity_gib ? (100 * (d.capacity_gib - d.free_gib)) / d.capacity_gib : 0, `${d.free_gib ?? '?'} GiB free`) },
        { key: 'v', label: 'Disks of VMs', get: (d) => vs.vms.flatMap((m) => (m.disks || []).filter((k) => k.datastore === d.name).map(() => m.name)).join(', ') },
      ], rows, { name: 'datastores' }));
    },
  };
}

function tasks(root) {
  const el = h('div');
  root.append(h('h1', {}, 'Tasks'), el);
  return { async refresh() { swap(el, tasksTable((await api('GET', '/tasks?limit=50')).tasks)); } };
}

function events(root) {
  const al = h('div'), ev = h('div');
  root.append(h('h1', {}, 'Alarms'), al, h('h1', {}, 'Events'), ev);
  return {
    async refresh() {
      const [a, e] = await Promise.all([api('GET', '/alarms'), api('GET', '/events?limit=100')]);
      swap(al, alarmsTable(a.alarms));
      swap(ev, table([
        { key: 't', label: 'Time', get: (x) => when(x.time) },
        { key: 'k', label: 'Kind', get: (x) => x.kind },
        { key: 'u', label: 'User', get: (x) => x.user },
        { key: 'm', label: 'Message', get: (x) => x.message },
      ], [...e.events].sort((x, y) => y.id - x.id), { name: 'events' }));
    },
  };
}

export const routes = {
  dashboard, hosts: (r, a) => (a ? hostDetail(r, a) : hostList(r)), vms: (r, a) => (a ? vmDetail(r, a) : vmList(r)),
  console: vmConsole, network, datastores, tasks, events,
};
