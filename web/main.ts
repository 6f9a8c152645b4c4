/**
 * The app shell: asks GET /api/me who is signed in (401 → the login page), draws the navigation
 * for that role, and renders the page the hash names. Pages get a context with permission checks
 * and clean up their live subscriptions when left.
 */
import { api, ApiError, setUnauthorizedHandler } from './api.js';
import { errorBox } from './components.js';
import { h, replace } from './dom.js';
import { closeEvents, openEvents } from './events.js';
import type { Page, PageContext } from './page.js';
import { accountPage } from './pages/account.js';
import { auditPage } from './pages/audit.js';
import { dashboardPage } from './pages/dashboard.js';
import { jobPage, jobsPage } from './pages/jobs.js';
import { loginPage } from './pages/login.js';
import { policiesPage, policyPage } from './pages/policies.js';
import { settingsPage } from './pages/settings.js';
import { usagePage } from './pages/usage.js';
import { usersPage } from './pages/users.js';
import { vaultPage } from './pages/vault.js';
import { vmPage } from './pages/vm.js';
import { addVmPage, vmsPage } from './pages/vms.js';
import { currentPath, matchRoute, type Route } from './router.js';
import type { Me, Permission } from './types.js';

const routes: Route<Page>[] = [
  { pattern: '/', value: dashboardPage },
  { pattern: '/vms', value: vmsPage },
  { pattern: '/vms/new', value: addVmPage },
  { pattern: '/vms/:name', value: vmPage },
  { pattern: '/jobs', value: jobsPage },
  { pattern: '/jobs/:id', value: jobPage },
  { pattern: '/policies', value: policiesPage },
  { pattern: '/policies/new', value: policyPage },
  { pattern: '/policies/:name', value: policyPage },
  { pattern: '/usage', value: usagePage },
  { pattern: '/vault', value: vaultPage },
  { pattern: '/users', value: usersPage },
  { pattern: '/settings', value: settingsPage },
  { pattern: '/audit', value: auditPage },
  { pattern: '/account', value: accountPage },
];

const NAV: { path: string; label: string; needs: Permission }[] = [
  { path: '/', label: 'Dashboard', needs: 'view' },
  { path: '/vms', label: 'VMs', needs: 'view' },
  { path: '/jobs', label: 'Jobs', needs: 'view' },
  { path: '/policies', label: 'Policies', needs: 'view' },
  { path: '/usage', label: 'Usage & billing', needs: 'view' },
  { path: '/vault', label: 'Vault health', needs: 'view' },
  { path: '/settings', label: 'Settings', needs: 'view' },
  { path: '/users', label: 'Users', needs: 'administer' },
  { path: '/audit', label: 'Audit log', needs: 'administer' },
];

const root = document.getElementById('app') as HTMLElement;
let me: Me | null = null;
let cleanups: (() => void)[] = [];
let renderCount = 0;

function leavePage(): void {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
}

function showLogin(message?: string): void {
  leavePage();
  closeEvents();
  me = null;
  document.title = 'Sign in · Boveda';
  replace(root, loginPage(() => void start(), message));
}

async function logout(): Promise<void> {
  try {
    await api.post('/api/logout', {});
  } catch {
    // Signed out either way: the page below asks for a new login.
  }
  // The next user starts at the dashboard, not on a page of the previous one's role.
  history.replaceState(null, '', '#/');
  showLogin('Signed out.');
}

function shell(user: Me, path: string, content: Node): HTMLElement {
  const nav = h('nav', { class: 'nav' },
    h('a', { href: '#/', class: 'brand' }, 'Boveda'),
    NAV.filter((item) => user.permissions.includes(item.needs)).map((item) => {
      const active = item.path === '/' ? path === '/' : path === item.path || path.startsWith(`${item.path}/`);
      return h('a', { href: `#${item.path}`, class: active ? 'active' : '' }, item.label);
    }),
    h('span', { class: 'spacer' }),
    // Every user's own page (tokens, password): reached from their name.
    h('a', { href: '#/account', class: path === '/account' ? 'who active' : 'who', 'data-testid': 'who', title: 'My account: API tokens and password' }, `${user.name} (${user.role})`),
    h('button', { type: 'button', class: 'small', onclick: () => void logout() }, 'Sign out'));
  return h('div', { class: 'layout' }, nav, h('main', { class: 'content' }, content));
}

async function render(): Promise<void> {
  if (!me) return;
  const user = me;
  leavePage();
  const number = ++renderCount;
  const path = currentPath(location.hash);
  const query = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const match = matchRoute(routes, path);
  const pageCleanups: (() => void)[] = [];
  cleanups = pageCleanups;
  const context: PageContext = {
    params: match?.params ?? {},
    query,
    me: user,
    can: (permission) => user.permissions.includes(permission),
    navigate: (to) => { location.hash = `#${to}`; },
    reload: () => void render(),
    onLeave: (cleanup) => { pageCleanups.push(cleanup); },
  };
  // data-page says which route is fully drawn (tests and scripts wait on it).
  delete document.body.dataset.page;
  const loading = h('p', { class: 'muted loading' }, 'Loading…');
  replace(root, shell(user, path, loading));
  let content: Node;
  try {
    content = match ? await match.value(context) : errorBox(new ApiError(404, 'NOT_FOUND', `no page at ${path}`), 'Not found');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the handler shows the login page
    content = errorBox(error, 'This page could not be loaded');
  }
  if (number !== renderCount) {
    for (const cleanup of pageCleanups) cleanup(); // a newer render replaced this one meanwhile
    return;
  }
  loading.replaceWith(content);
  document.body.dataset.page = location.hash === '' ? '#/' : location.hash;
  const heading = root.querySelector('h1')?.textContent;
  document.title = heading ? `${heading} · Boveda` : 'Boveda';
}

async function start(): Promise<void> {
  try {
    me = await api.get<Me>('/api/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return showLogin();
    replace(root, h('main', { class: 'content' }, errorBox(error, 'The server could not be reached')));
    return;
  }
  openEvents();
  await render();
}

setUnauthorizedHandler(() => {
  if (me) showLogin('Your session ended; please sign in again.');
});
window.addEventListener('hashchange', () => void render());
void start();
