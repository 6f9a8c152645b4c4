import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReadStream } from 'node:fs';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff', '.map': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
};

/** dist/web next to dist/src: where the build puts the UI. */
export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

export interface StaticFile {
  stream: ReadStream;
  type: string;
  size: number;
}

async function fileAt(path: string): Promise<StaticFile | null> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return null;
    return { stream: createReadStream(path), type: TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', size: info.size };
  } catch {
    return null;
  }
}

/**
 * The file for a URL path under `root`, or index.html for paths that are not files (client-side
 * routes); null when the UI is not built. `..`, encoded slashes and NUL bytes never leave the root.
 */
export async function staticFile(root: string, urlPath: string): Promise<StaticFile | null> {
  const base = resolve(root);
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0]!);
  } catch {
    decoded = '/';
  }
  if (!decoded.includes('\0')) {
    const target = resolve(join(base, decoded));
    if (target.startsWith(base + sep) && !decoded.endsWith('/')) {
      const file = await fileAt(target);
      if (file) return file;
    }
  }
  return fileAt(join(base, 'index.html'));
}
