// Drover's web console: plain ES modules, no framework. Every call goes to
// the same /api/v1 as the CLI with a bearer token from POST /api/v1/login,
// kept in this tab's sessionStorage (never a cookie, so other sites cannot
// make the browser use it). The current view refreshes every 2 s.
import { h, clear, fmtMib, stateTag, bar, chart, table } from './ui.js';

const API = '/api/v1';
const POLL_MS = 2000;
let token = sessionStorage.getItem('drover.token');
let view = null;         // { refresh() } of the current route
let pollTimer = null;

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export async function api(method, path, body) {
  const res = await fetch(API + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
  });
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
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
  sessionStorage.removeItem('drover.token');
  showLogin(msg);
}

async function doLogout() {
  try { await api('POST', '/logout'); } catch (e) { /* gone already */ }
  logout('Logged out.');
}

// ---- routing and polling -------------------------------------------------
function stopPolling() { if (pollTimer) clearTimeout(pollTimer); pollTimer = null; }

async function tick() {
  if (!view) return;
  try {
    await view.refresh();
    setStatus('');
  } catch (e) {
    if (e.status !== 401) setStatus(e.message);
  }
  if (token && view) pollTimer = setTimeout(tick, POLL_MS);
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
if (token) start(); else showLogin();

export { h, clear, fmtMib, stateTag, bar, chart, table };
