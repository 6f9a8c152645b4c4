/**
 * A small hash router: "#/vms/web" matches "/vms/:name" with { name: "web" }. Hash routes need
 * nothing from the server (every page is index.html) and survive a reload.
 */
export type Params = Record<string, string>;

export interface Route<T> {
  pattern: string;
  value: T;
}

export function matchRoute<T>(routes: Route<T>[], path: string): { value: T; params: Params } | null {
  const parts = path.split('/').filter((p) => p !== '');
  for (const route of routes) {
    const pattern = route.pattern.split('/').filter((p) => p !== '');
    if (pattern.length !== parts.length) continue;
    const params: Params = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i++) {
      const want = pattern[i] ?? '';
      const got = parts[i] ?? '';
      if (want.startsWith(':')) {
        try {
          params[want.slice(1)] = decodeURIComponent(got);
        } catch {
          ok = false; // a malformed escape is no match, not an exception
        }
      } else if (want !== got) ok = false;
      if (!ok) break;
    }
    if (ok) return { value: route.value, params };
  }
  return null;
}

/** The path of the current location's hash ("#/jobs?x" → "/jobs"). */
export function currentPath(hash: string): string {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  return path === '' ? '/' : path;
}
