/** What a page gets from the app shell, and what it gives back. */
import type { Params } from './router.js';
import type { Me, Permission } from './types.js';

export interface PageContext {
  params: Params;
  /** The query of the hash ("#/jobs?vm=web" → vm=web). */
  query: URLSearchParams;
  me: Me;
  can(permission: Permission): boolean;
  navigate(path: string): void;
  /** Re-renders the current page (after an action changed what it shows). */
  reload(): void;
  /** Runs when the user leaves the page (unsubscribe live updates, stop timers). */
  onLeave(cleanup: () => void): void;
}

export type Page = (context: PageContext) => Promise<Node>;
