// Drover's web console: plain ES modules, no framework. Every call goes to
// the same /api/v1 as the CLI with a bearer token from POST /api/v1/login,
// kept in this tab's sessionStorage (never a cookie, so other sites cannot
// make the browser use it). The current view refreshes every 2 s while the
// tab is visible; GETs are conditional (If-None-Match on the ETag droverd
// gives every JSON answer): an unchanged document comes back as an empty
// 304 and the copy kept here is used.
import { h, clear, fmtMib, stateTag, bar, chart, table } from './ui.js';

const API = '/api/v1';
const POLL_MS = 2000;
let token = sessionStorage.getItem('drover.token');
let view = null;         // { refresh() } of the current route
let pollTimer = null;
const ETAG_MAX = 64;     // documents kept for conditional GETs
const etags = new Map(); // path -> { etag, data }, oldest first
const stats = { gets: 0, notModified: 0 }; // for the browser tests
window.droverPoll = stats;

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function api(method, path, body) {
  const kept = method === 'GET' ? etags.get(path) : undefined;
  const res = await fetch(API + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}),
      ...(kept ? { 'If-None-Match': kept.etag } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
  });
  if (method === 'GET') stats.gets++;
  if (res.status === 304 && kept) {
    stats.notModified++;
    etags.delete(path);
    etags.set(path, kept); // most recently used last
    return structuredClone(kept.data);
  }
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  const etag = res.headers.get('ETag');
  if (method === 'GET' && res.ok && etag) {
    etags.delete(path);
    etags.set(path, { etag, data: structuredClone(data) });
    if (etags.size > ETAG_MAX) etags.delete(etags.keys().next().value);
  }
  if (res.status === 401 && path !== '/login') {
    logout('Your session has expired or is not valid; log in again.');
    throw new ApiError(401, 'unauthorized', 'session expired');
  }
  if (!res.ok) throw new ApiError(res.status, data.error?.code, data.error?.message || res.statusText);
  return data;
}

// ---- login ---------------------------------------------------------------
function showLogin(msg) {
  document.getElementById('top').hidden = true;
  clear(document.getElementById('main'));
  const f = document.getElementById('login');
  f.hidden = false;
  document.getElementById('login-msg').textContent = msg || '';
  document.getElementById('password').value = '';
  document.getElementById('password').focus();
}

async function login(ev) {
  ev.preventDefault();
  const user = document.getElementById('user').value;
  const password = document.getElementById('password').value;
  const res = await fetch(API + '/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    document.getElementById('login-msg').textContent =
      data.error?.code === 'bad-credentials' ? 'Wrong user name or password.' : (data.error?.message || 'Login failed.');
    return;
  }
  token = data.token;
  sessionStorage.setItem('drover.token', token);
  sessionStorage.setItem('drover.user', data.user);
  start();
}

function logout(msg) {
  stopPolling();
  if (view?.leave) view.leave();
  view = null;
  token = null;
  etags.clear();
  sessionStorage.removeItem('drover.token');
  showLogin(msg);
}

async function doLogout() {
  try { await api('POST', '/logout'); } catch (e) { /* gone already */ }
  logout('Logged out.');
}

// ---- routing and polling -------------------------------------------------
function stopPolling() { if (pollTimer) clearTimeout(pollTimer); pollTimer = null; }

// A hidden tab does not poll; it refreshes at once when shown again.
let ticking = false;
async function tick() {
  pollTimer = null;
  if (!view || document.hidden) return;
  ticking = true;
  try {
    await view.refresh();
    setStatus('');
  } catch (e) {
    if (e.status !== 401) setStatus(e.message);
  }
  ticking = false;
  if (token && view && !pollTimer) pollTimer = setTimeout(tick, POLL_MS);
}

function setStatus(text) {
  const s = document.getElementById('status');
  if (s) s.textContent = text;
}

async function route() {
  if (!token) return showLogin();
  stopPolling();
  if (view?.leave) view.leave();
  const [name, arg] = (location.hash.replace(/^#\//, '') || 'dashboard').split('/').map(decodeURIComponent);
  const views = await import('./views.js');
  const make = views.routes[name] || views.routes.dashboard;
  document.querySelectorAll('header nav a').forEach((a) =>
    a.classList.toggle('active', a.getAttribute('href') === `#/${name}`));
  const main = document.getElementById('main');
  clear(main);
  main.append(h('p', { id: 'status', class: 'msg' }));
  const root = h('div', { id: `view-${name}` });
  main.append(root);
  view = make(root, arg);
  tick();
}

function start() {
  document.getElementById('login').hidden = true;
  document.getElementById('top').hidden = false;
  document.getElementById('who').textContent = sessionStorage.getItem('drover.user') || '';
  route();
}

document.getElementById('login').addEventListener('submit', login);
document.getElementById('logout').addEventListener('click', doLogout);
window.addEventListener('hashchange', route);
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && token && view && !pollTimer && !ticking) tick();
});
if (token) start(); else showLogin();

export { h, clear, fmtMib, stateTag, bar, chart, table };
