// Copies the web UI's static files next to its compiled modules (dist/web/): no bundler, the
// browser loads the ES modules tsc wrote. Run after `tsc -p web/tsconfig.json`. Source maps the
// root build leaves there (tests import web/ modules) are removed: they describe other output.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const files = ['index.html', 'styles.css', 'favicon.svg'];
mkdirSync('dist/web', { recursive: true });
for (const file of files) copyFileSync(`web/${file}`, `dist/web/${file}`);
for (const entry of readdirSync('dist/web', { recursive: true })) {
  if (String(entry).endsWith('.map')) rmSync(join('dist/web', String(entry)));
}
console.log(`web ui: copied ${files.join(', ')} to dist/web/`);
