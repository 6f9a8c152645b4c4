// Keeps the layer arrows pointing downward (see src/index.ts and ../shared/notes/architecture.md):
// a file in src/<layer>/ may import only from the layers listed for it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';

const allowed = {
  core: [],
  util: ['core'],
  crypto: ['core', 'util'],
  format: ['core', 'util'],
  storage: ['core', 'util'],
  sources: ['core', 'util'],
  catalog: ['core', 'util'],
  repository: ['core', 'util', 'crypto', 'format', 'storage'],
  engine: ['core', 'util', 'repository', 'sources', 'catalog'],
  scheduler: ['core', 'util', 'catalog'],
  app: ['core', 'util', 'crypto', 'format', 'storage', 'sources', 'catalog', 'repository', 'engine', 'scheduler'],
  api: ['core', 'util', 'app'],
  cli: ['core', 'util', 'app', 'api'],
};
// Only `boveda serve` runs the HTTP server; every other command talks to the app layer.
const apiImporters = new Set([join('cli', 'commands', 'serve.ts')]);

const root = resolve('src');
const problems = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.ts')) check(path);
  }
}
function layerOf(path) {
  return relative(root, path).split(sep)[0];
}
function check(file) {
  const layer = layerOf(file);
  if (layer === 'index.ts') return; // the package entry re-exports the app layer
  if (!(layer in allowed)) {
    problems.push(`${file}: folder src/${layer} is not a known layer (add it to scripts/check-layers.mjs)`);
    return;
  }
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), match[1]);
    if (!target.startsWith(root + sep)) {
      problems.push(`${file}: imports ${match[1]} from outside src/`);
      continue;
    }
    const targetLayer = layerOf(target);
    if (layer === 'cli' && targetLayer === 'api' && !apiImporters.has(relative(root, file))) {
      problems.push(`${file}: only src/cli/commands/serve.ts may import the api layer (${match[1]})`);
      continue;
    }
    if (targetLayer !== layer && !allowed[layer].includes(targetLayer)) {
      problems.push(`${file}: layer "${layer}" may not import from "${targetLayer}" (${match[1]})`);
    }
  }
}
walk(root);
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('layers ok');
