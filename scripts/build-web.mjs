// Copies the web UI's static files next to its compiled modules (dist/web/): no bundler, the
// browser loads the ES modules tsc wrote. Run after `tsc -p web/tsconfig.json`.
import { copyFileSync, mkdirSync } from 'node:fs';

const files = ['index.html', 'styles.css', 'favicon.svg'];
mkdirSync('dist/web', { recursive: true });
for (const file of files) copyFileSync(`web/${file}`, `dist/web/${file}`);
console.log(`web ui: copied ${files.join(', ')} to dist/web/`);
