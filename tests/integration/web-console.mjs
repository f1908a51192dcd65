// Browser half of web-console.sh: Debian's Chromium driven by playwright-core
// against the lab's droverd. Prints "ok: ..." / "FAIL: ..." lines; exits 1
// on any failure. Env: URL, PASSWORD, SHOTS (screenshot dir), HOSTS, VMS
// (what the CLI sees, comma-separated), CONSOLE_LOG (web1's serial log).
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(process.env.WEB_DIR + '/package.json');
const { chromium } = require('playwright-core');
const { URL: base, PASSWORD, SHOTS, HOSTS, VMS } = process.env;
let fails = 0;
const t0 = Date.now();
const log = (s) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}`);
const check = (desc, ok, extra = '') => { log(`${ok ? 'ok' : 'FAIL'}: ${desc}${extra ? ` (${extra})` : ''}`); if (!ok) fails++; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(desc, f, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { const v = await f(); if (v) return v; } catch (e) { /* retry */ }
    if (Date.now() > end) { log(`timed out waiting for: ${desc}`); return null; }
    await sleep(250);
  }
}
// A websocket upgrade with node's http: resolves to the status (101 or the refusal).
function wsStatus(path) {
  return new Promise((resolve) => {
    const u = new URL(base);
    const req = http.request({ host: u.hostname, port: u.port, path, headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Origin: base } });
    req.on('upgrade', (res, sock) => { sock.destroy(); resolve({ status: res.statusCode, headers: res.headers }); });
    req.on('response', (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve({ status: res.statusCode, body: b })); });
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
    req.end();
  });
}

// A raw websocket client: the handshake, then frames as given; resolves to
// the close code the server sent (or null).
function wsCloseCode(path, frames) {
  return new Promise((resolve) => {
    const u = new URL(base);
    const s = net.connect(+u.port, u.hostname);
    let buf = Buffer.alloc(0), upgraded = false;
    const done = (v) => { s.destroy(); resolve(v); };
    s.setTimeout(5000, () => done(null));
    s.on('error', () => done(null));
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        upgraded = true;
        buf = buf.subarray(i + 4);
        for (const f of frames) s.write(f);
      }
      // Look for a close frame (0x88) among the server's frames.
      let off = 0;
      while (off + 2 <= buf.length) {
        let len = buf[off + 1] & 0x7f, hl = 2;
        if (len === 126) { len = buf.readUInt16BE(off + 2); hl = 4; }
        if (off + hl + len > buf.length) break;
        if ((buf[off] & 0x0f) === 8) return done(len >= 2 ? buf.readUInt16BE(off + hl) : 1005);
        off += hl + len;
      }
    });
  });
}
function wsFrame(payload, { opcode = 2, mask = true } = {}) {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | n])
    : n < 65536 ? Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | 126, n >> 8, n & 255])
    : Buffer.concat([Buffer.from([0x80 | opcode, (mask ? 0x80 : 0) | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  if (!mask) return Buffer.concat([head, payload]);
  const key = crypto.randomBytes(4);
  return Buffer.concat([head, key, Buffer.from(payload.map((b, i) => b ^ key[i % 4]))]);
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
const shot = async (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const token = () => page.evaluate(() => sessionStorage.getItem('drover.token'));
const apiGet = async (path, tok) => {
  const r = await fetch(`${base}/api/v1${path}`, { headers: { Authorization: `Bearer ${tok ?? await token()}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
};
const rows = (name) => page.$$eval(`table[data-table="${name}"] tbody tr[data-row]`, (trs) => trs.map((t) => t.dataset.row));

try {
  // --- login ---------------------------------------------------------------
  await page.goto(base + '/');
  await page.fill('#password', 'not-the-password');
  await page.click('#login-btn');
  const bad = await until('login refusal', async () => (await page.textContent('#login-msg')).includes('Wrong'));
  check('a wrong password is refused with a message', !!bad);
  await shot('01-login-refused');
  await page.fill('#password', PASSWORD);
  await page.click('#login-btn');
  await page.waitForSelector('table[data-table="hosts"] tbody tr[data-row]');
  const seenHosts = (await rows('hosts')).sort().join(',');
  check('the dashboard lists the hosts the CLI sees', seenHosts === HOSTS, `${seenHosts} vs ${HOSTS}`);
  check('the session token is in sessionStorage, no cookie is set',
    !!(await token()) && (await page.context().cookies()).length === 0);
  await shot('02-dashboard');

  // --- VMs list ----------------------------------------------------------------
  await page.goto(base + '/#/vms');
  await page.waitForSelector('table[data-table="vms"] tbody tr[data-row]');
  const seenVms = (await rows('vms')).sort().join(',');
  check('the VM list shows the VMs the CLI sees', seenVms === VMS, `${seenVms} vs ${VMS}`);
  await page.fill('#vm-filter', 'web');
  check('the filter narrows the list', (await rows('vms')).join(',') === 'web1');
  await page.fill('#vm-filter', '');
  await page.click('table[data-table="vms"] th:has-text("Name")');
  const desc = await rows('vms');
  check('a click on a column header sorts (descending now)', desc.join(',') === [...desc].sort().reverse().join(','));
  await shot('03-vms');

  // --- start web1 and watch its state change ------------------------------------
  await page.goto(base + '/#/vms/web1');
  await page.waitForSelector('#vm-state [data-state]');
  const states = new Set([await page.getAttribute('#vm-state [data-state]', 'data-state')]);
  await page.click('#vm-start');
  const running = await until('web1 running in the page', async () => {
    const s = await page.getAttribute('#vm-state [data-state]', 'data-state');
    states.add(s);
    return s === 'running';
  }, 60000);
  check('start: the page shows web1 running without a reload', !!running, [...states].join(' -> '));
  check('... after being stopped first', [...states][0] === 'stopped');
  await until('web1 Tools running', async () => (await apiGet('/vms/web1')).body.tools.state === 'running', 90000);
  await page.waitForTimeout(2500);
  await shot('04-vm-running');

  // --- migrate with prechecks, watch the task --------------------------------------
  await page.click('#vm-migrate');
  await page.selectOption('#migrate-host', 'host2');
  await page.click('#migrate-check');
  await page.waitForSelector('#precheck table[data-table="prechecks"] tbody tr[data-row]');
  const pre = await page.$$eval('table[data-table="prechecks"] tbody tr[data-row]', (t) => t.length);
  check('the precheck result is shown check by check before confirming', pre >= 5, `${pre} checks`);
  check('... and the prechecks pass', (await page.getAttribute('#precheck', 'data-ok')) === 'true');
  await shot('05-migrate-precheck');
  await page.evaluate(() => { window.droverTaskLog = []; });
  await page.click('#migrate-confirm');
  let shotTaken = false;
  const done = await until('migration task finished', async () => {
    if ((await page.getAttribute('#task-panel', 'data-task-op')) !== 'vm.migrate') return null;
    const st = await page.getAttribute('#task-panel', 'data-task-state');
    if (!shotTaken && (st === 'running' || st === 'queued')) { shotTaken = true; await shot('06-migrate-progress'); }
    return st === 'succeeded' || st === 'failed' ? st : null;
  }, 120000);
  const shown = (await page.evaluate(() => window.droverTaskLog)).filter((x) => x.startsWith('vm.migrate '))
    .map((x) => x.slice('vm.migrate '.length));
  log(`the task panel showed: ${shown.join(' | ')}`);
  check('the migration task succeeded in the page', done === 'succeeded');
  check('... its progress was shown live while it ran (queued or running before succeeded)',
    shown.length >= 2 && /^(queued|running)/.test(shown[0]) && /^succeeded/.test(shown[shown.length - 1]));
  const onHost2 = await until('web1 on host2 in the page', async () => (await page.textContent('#vm-info')).includes('host2'), 10000);
  check('the page shows web1 on host2', !!onHost2);
  await shot('07-vm-migrated');

  // --- console --------------------------------------------------------------------
  await page.goto(base + '/#/console/web1');
  const conn = await until('console connected', async () => (await page.getAttribute('#console-status', 'data-state')) === 'connected', 30000);
  check('the console connects (noVNC, websocket through the manager, VNC password)', !!conn,
    await page.textContent('#console-status'));
  const lit = () => page.evaluate(() => {
    const c = document.querySelector('#screen canvas');
    if (!c || !c.width) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 150) n++;
    return n;
  });
  // Which pixels are lit, kept in the page to compare with later.
  const keepLit = () => page.evaluate(() => {
    const c = document.querySelector('#screen canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    window.droverLit = Array.from({ length: d.length / 4 }, (_, i) => d[4 * i] + d[4 * i + 1] + d[4 * i + 2] > 150);
  });
  const changedLit = () => page.evaluate(() => {
    const c = document.querySelector('#screen canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length / 4; i++) if ((d[4 * i] + d[4 * i + 1] + d[4 * i + 2] > 150) !== window.droverLit[i]) n++;
    return n;
  });
  await page.click('#screen canvas');
  await page.keyboard.press('Enter');
  const before = await until('text on the console canvas', async () => ((await lit()) > 200 ? lit() : 0), 20000);
  check("the guest's text is drawn on the canvas", (before || 0) > 200, `${before} lit pixels`);
  await shot('08-console');
  await keepLit();
  const marker = `webcon-${Math.floor(Math.random() * 1e6)}`;
  // noVNC sends QEMU the physical keys (extended key events), so shifted
  // characters need a real Shift: type them as key combinations.
  const typeLine = async (line) => {
    for (const c of line) {
      if (c >= 'A' && c <= 'Z') await page.keyboard.press(`Shift+Key${c}`);
      else if (c === '>') await page.keyboard.press('Shift+Period');
      else if (c === '&') await page.keyboard.press('Shift+Digit7');
      else await page.keyboard.type(c);
      await sleep(10);
    }
    await page.keyboard.press('Enter');
  };
  await typeLine(`echo ${marker} > /dev/ttyS0; echo typed ${marker}`);
  const consoleLog = (await apiGet('/vms/web1')).body.console_log; // on host2 now
  const echoed = await until('marker in the serial log', () => fs.readFileSync(consoleLog, 'utf8').includes(marker), 20000);
  check('keys typed into the console reach the guest shell (it wrote the marker to its serial log)', !!echoed, marker);
  // The typed command and its output are drawn (they may scroll the
  // screen, so the number of lit pixels can go either way: count changes).
  const changed = await until('the canvas redrawn', async () => ((await changedLit()) > 200 ? changedLit() : 0), 10000);
  check('the typed command and its echo changed the canvas', (changed || 0) > 200, `${changed} pixels changed`);
  await shot('09-console-typed');

  // --- disk and network activity, seen in the charts -------------------------------------
  // The guest writes and reads a file on its data disk (O_DIRECT, past
  // its page cache) from the console's shell, and says when done on its
  // serial log, while it pings va through Tools. Only samples taken after
  // this count (the guest formatted its disk at boot: activity too).
  const ioFrom = Math.floor(Date.now() / 1000) * 1000;
  const pinging = fetch(`${base}/api/v1/vms/web1/ping`, { method: 'POST',
    headers: { Authorization: `Bearer ${await token()}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ address: '10.10.0.11', count: 4 }) }).then((r) => r.status).catch(() => 0);
  const ioMarker = `io-done-${Math.floor(Math.random() * 1e6)}`;
  await typeLine('dd if=/dev/zero of=/mnt/vda/io bs=64k count=100 oflag=direct && ' +
    `dd if=/mnt/vda/io of=/dev/null bs=64k iflag=direct && rm /mnt/vda/io && echo ${ioMarker} > /dev/ttyS0`);
  const ioDone = await until('the guest did its disk I/O', () => fs.readFileSync(consoleLog, 'utf8').includes(ioMarker), 30000);
  check('the guest wrote and read 6.4 MB on its disk (its shell said so on the serial log)', !!ioDone);
  await shot('09-console-io');
  await page.goto(base + '/#/vms/web1');
  const seriesMax = (m, k) => Math.max(0, ...(m.samples || []).filter((x) => Date.parse(x.t) >= ioFrom).map((x) => x[k] ?? 0));
  let ioSeen = 0; // ms of the newest sample when the rates were found
  const vmIo = await until('disk and network rates of web1', async () => {
    const m = (await apiGet('/vms/web1/metrics')).body;
    const v = Object.fromEntries(['disk_read_bps', 'disk_write_bps', 'disk_read_iops', 'disk_write_iops', 'net_rx_bps', 'net_tx_bps']
      .map((k) => [k, seriesMax(m, k)]));
    ioSeen = Date.parse(m.samples?.[m.samples.length - 1]?.t ?? 0);
    return Object.values(v).every((x) => x > 0) ? v : null;
  }, 30000);
  check('the metrics API has disk read/write and network rx/tx rates for web1 since the activity began', !!vmIo, JSON.stringify(vmIo));
  check('... the write rate is of the order of what was written (6.4 MB within the last minute)',
    !!vmIo && vmIo.disk_write_bps > 100000, `${vmIo?.disk_write_bps} B/s at most`);
  log(`ping of va from web1: ${await pinging}`);
  const chartOk = (name) => page.evaluate((n) => {
    const c = document.querySelector(`#view-vms [data-chart="${n}"], #view-hosts [data-chart="${n}"]`);
    return c && +c.dataset.points > 0 && +c.dataset.max > 0 && c.querySelectorAll('polyline').length > 0
      ? { points: +c.dataset.points, max: +c.dataset.max } : null;
  }, name);
  for (const name of ['CPU', 'Memory', 'Disk', 'Network']) {
    const got = await until(`web1's ${name} chart`, () => chartOk(name), 15000);
    check(`the VM's ${name} chart shows data (live, no reload)`, !!got, JSON.stringify(got));
  }
  const writeLine = await page.$$eval('[data-chart="Disk"] polyline[data-series="write"]', (p) => p.length);
  check('... the disk chart draws the write series', writeLine > 0);
  const redrawn = await until('the page redrawn with the activity', () => page.evaluate((t) =>
    +document.querySelector('#view-vms [data-chart="Disk"]').dataset.t1 >= t, ioSeen), 10000);
  check('... and is redrawn with the samples of the activity without a reload', !!redrawn);
  await shot('13-vm-charts');
  const host2 = await until('host2 disk and network rates', async () => {
    const m = (await apiGet('/hosts/host2/metrics')).body;
    // Since the activity began: the guest's I/O reaches the host's disk,
    // its pings and the heartbeats the host's interfaces.
    return seriesMax(m, 'net_rx_bps') > 0 && seriesMax(m, 'disk_write_bps') + seriesMax(m, 'disk_read_bps') > 0;
  }, 20000);
  check("host2's metrics have disk and network rates (its disks, its uplink)", !!host2);
  await page.goto(base + '/#/hosts/host2');
  for (const name of ['CPU', 'Memory', 'Disk', 'Network']) {
    const got = await until(`host2's ${name} chart`, () => chartOk(name), 15000);
    check(`the host's ${name} chart shows data`, !!got, JSON.stringify(got));
  }
  await page.waitForTimeout(500);
  await shot('14-host-charts');

  // --- console tickets: once, one VM -----------------------------------------------------
  const tok = await token();
  const ticket = async (vm) => (await (await fetch(`${base}/api/v1/vms/${vm}/console`, { method: 'POST', headers: { Authorization: `Bearer ${tok}` } })).json());
  const c1 = await ticket('web1');
  const first = await wsStatus(c1.ws);
  check('a fresh console ticket opens the websocket (101)', first.status === 101, `${first.status}`);
  const again = await wsStatus(c1.ws);
  check('the same ticket used again is refused (401)', again.status === 401 && again.body.includes('invalid-ticket'), `${again.status} ${again.body}`);
  const cva = await ticket('va');
  const web1Id = (await apiGet('/vms/web1', tok)).body.id;
  const other = await wsStatus(`/api/v1/vms/${web1Id}/console/ws?ticket=${cva.ws_ticket}`);
  check("a ticket for another VM is refused (403)", other.status === 403 && other.body.includes('ticket-mismatch'), `${other.status} ${other.body}`);
  const cva2 = await ticket('va');
  const afterMismatch = await wsStatus(cva.ws);
  check('... and is used up by that attempt', afterMismatch.status === 401, `${afterMismatch.status}`);
  const none = await wsStatus(`/api/v1/vms/${web1Id}/console/ws`);
  check('no ticket: refused (401)', none.status === 401, `${none.status}`);
  const code = async (frames) => wsCloseCode((await ticket('web1')).ws, frames);
  check('websocket: a close is answered with 1000', (await code([wsFrame(Buffer.from([3, 232]), { opcode: 8 })])) === 1000);
  check('websocket: an unmasked client frame closes with 1002', (await code([wsFrame(Buffer.from('RFB'), { mask: false })])) === 1002);
  check('websocket: a frame over 64 KiB closes with 1009', (await code([wsFrame(Buffer.alloc(70000, 120))])) === 1009);
  const u = new URL(base);
  const crossOrigin = await new Promise((resolve) => {
    const req = http.request({ host: u.hostname, port: u.port, path: cva2.ws, headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Origin: 'http://evil.example' } });
    req.on('upgrade', (res, s) => { s.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.end();
  });
  check('a websocket from another origin is refused (403)', crossOrigin === 403, `${crossOrigin}`);

  // --- diagnosis --------------------------------------------------------------------------
  await page.goto(base + '/#/network');
  await page.waitForSelector('table[data-table="portgroups"] tbody tr[data-row]');
  const pgVms = await page.textContent('table[data-table="portgroups"] tr[data-row="pg10"]');
  check('the port group pg10 shows VLAN 10 and its VMs', pgVms.includes('10') && pgVms.includes('va') && pgVms.includes('vf'));
  await page.selectOption('#diag-vm1', 'va');
  await page.selectOption('#diag-vm2', 'vf');
  await page.click('#diag-run');
  const fault = await until('diagnosis', async () => (await page.$('#diag-fault')) && page.textContent('#diag-fault'), 60000);
  check('the diagnosis names the fault: guest-firewall', fault === 'guest-firewall', fault);
  const nchecks = await page.$$eval('table[data-table="checks"] tbody tr[data-row]', (t) => t.length);
  check('... with its checks laid out one by one', nchecks >= 8, `${nchecks} checks`);
  await shot('10-network-diagnosis');
  // Polling is cheap: unchanged documents (the DVSs, the port groups) come
  // back as 304 without a body.
  const p0 = await page.evaluate(() => ({ ...window.droverPoll }));
  await page.waitForTimeout(4500);
  const p1 = await page.evaluate(() => ({ ...window.droverPoll }));
  check('polling uses conditional GETs: unchanged documents come back 304', p1.notModified - p0.notModified >= 2,
    `${p1.gets - p0.gets} GETs, ${p1.notModified - p0.notModified} not modified`);
  const etagRes = await fetch(`${base}/api/v1/portgroups`, { headers: { Authorization: `Bearer ${await token()}` } });
  const etag = etagRes.headers.get('etag');
  const again304 = await fetch(`${base}/api/v1/portgroups`, { headers: { Authorization: `Bearer ${await token()}`, 'If-None-Match': etag } });
  check('the API answers If-None-Match with 304 and its ETag with 200', etagRes.status === 200 && !!etag && again304.status === 304,
    `${etagRes.status} ${etag} ${again304.status}`);

  // --- the other views ------------------------------------------------------------------------
  for (const [name, sel] of [['hosts/host1', '[data-chart="CPU"]'], ['datastores', 'table[data-table="datastores"]'],
    ['tasks', 'table[data-table="tasks"] tbody tr[data-row]'], ['events', 'table[data-table="events"]']]) {
    await page.goto(`${base}/#/${name}`);
    const ok = await until(name, () => page.$(sel), 10000);
    check(`the ${name} view renders`, !!ok);
    await page.waitForTimeout(500);
    await shot(`11-${name.replace('/', '-')}`);
    if (name === 'tasks') {
      const migTask = await page.textContent('table[data-table="tasks"]');
      check('the tasks view lists the migration, succeeded', /vm\.migrate.*succeeded/s.test(migTask));
    }
  }

  // --- maintenance mode from the host's page ---------------------------------------------------
  await page.goto(base + '/#/hosts/host1');
  await page.waitForSelector('#host-state [data-state]');
  await page.click('#maint-enter');
  const inMaint = await until('host1 in maintenance', async () =>
    (await page.getAttribute('#host-state [data-state]', 'data-state')) === 'maintenance', 20000);
  check('enter maintenance: the page shows host1 in maintenance', !!inMaint);
  await until('the maintenance task finished', async () => (await apiGet('/tasks?limit=20')).body.tasks
    .some((t) => t.op === 'host.maintenance' && t.state === 'succeeded'), 60000);
  await page.waitForTimeout(2500);
  await shot('11-host-maintenance');
  await page.click('#maint-exit');
  const back = await until('host1 connected', async () =>
    (await page.getAttribute('#host-state [data-state]', 'data-state')) === 'connected', 20000);
  check('exit maintenance: host1 is connected again', !!back);

  // --- sessions: expired, logged out ---------------------------------------------------------------
  const short = await (await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: 'admin', password: PASSWORD, ttl_s: 2 }) })).json();
  check('a short session works at first', (await apiGet('/hosts', short.token)).status === 200);
  await page.evaluate((t) => sessionStorage.setItem('drover.token', t), short.token);
  await sleep(2500);
  check('an expired session is refused by the API (401)', (await apiGet('/hosts', short.token)).status === 401);
  await page.goto(base + '/#/dashboard');
  await page.reload();
  const expired = await until('login form after expiry', async () => (await page.textContent('#login-msg')).includes('expired'), 10000);
  check('the page sends an expired session back to the login form', !!expired);
  await shot('12-session-expired');
  await page.fill('#password', PASSWORD);
  await page.click('#login-btn');
  await page.waitForSelector('table[data-table="hosts"] tbody tr[data-row]');
  const t2 = await token();
  check('logged in again', !!t2 && t2 !== short.token);
  await page.click('#logout');
  await until('logged out', async () => (await page.textContent('#login-msg')).includes('Logged out'), 5000);
  check('a logged-out token is refused (401)', (await apiGet('/hosts', t2)).status === 401);
  const wrongUser = await fetch(`${base}/api/v1/login`, { method: 'POST', body: JSON.stringify({ user: 'root', password: PASSWORD }) });
  check('a wrong user name is refused (401)', wrongUser.status === 401);
} catch (e) {
  check(`no exception in the browser test: ${e.stack}`, false);
  await shot('99-failure').catch(() => {});
}
await browser.close();
log(`${fails} failures`);
process.exit(fails ? 1 : 0);
