// Builds web/dist from web/src and the noVNC package (npm ci first).
// Our own files are plain ES modules, copied as they are. noVNC's npm
// package ships CommonJS (lib/); it is bundled here into one ES module,
// dist/vendor/novnc.js, with a small module table and require() - no
// bundler needed. Run: npm ci && npm run build
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');
const novnc = path.join(here, 'node_modules', '@novnc', 'novnc');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'vendor'), { recursive: true });
for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dist, f));

// Walk noVNC's require() graph from lib/rfb.js.
const lib = path.join(novnc, 'lib');
const mods = new Map();
const visit = (file) => {
  const id = path.relative(novnc, file); // ids under the package root: lib/inflator.js requires ../lib/vendor/...
  if (mods.has(id)) return;
  const code = fs.readFileSync(file, 'utf8');
  mods.set(id, code);
  for (const m of code.matchAll(/require\("(\.[^"]+)"\)/g)) {
    let dep = path.resolve(path.dirname(file), m[1]);
    if (!dep.endsWith('.js')) dep += '.js';
    visit(dep);
  }
};
visit(path.join(lib, 'rfb.js'));
let out = `// noVNC ${JSON.parse(fs.readFileSync(path.join(novnc, 'package.json'))).version} (MPL-2.0, see novnc-LICENSE.txt), bundled by web/build.mjs\n`;
out += 'const defs = {\n';
for (const [id, code] of [...mods].sort()) {
  // async: util/browser.js awaits at its top level (a feature probe).
  out += `${JSON.stringify(id)}: async function (module, exports, require) {\n${code}\n},\n`;
}
out += `};
const cache = {};
const pending = [];
function load(id) {
  if (cache[id]) return cache[id].exports;
  const module = { exports: {} };
  cache[id] = module;
  const dir = id.includes('/') ? id.slice(0, id.lastIndexOf('/') + 1) : '';
  pending.push(defs[id](module, module.exports, (rel) => {
    const parts = (dir + rel).split('/');
    const stack = [];
    for (const p of parts) { if (p === '..') stack.pop(); else if (p !== '.' && p !== '') stack.push(p); }
    let r = stack.join('/'); if (!r.endsWith('.js')) r += '.js';
    return load(r);
  }));
  return module.exports;
}
const RFB = load('lib/rfb.js').default;
await Promise.all(pending);
export default RFB;
`;
fs.writeFileSync(path.join(dist, 'vendor', 'novnc.js'), out);
fs.copyFileSync(path.join(novnc, 'LICENSE.txt'), path.join(dist, 'vendor', 'novnc-LICENSE.txt'));
console.log(`dist: ${fs.readdirSync(dist).length} files, noVNC: ${mods.size} modules`);
