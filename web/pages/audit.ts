/**
 * The audit log (admin): newest first, filtered by action and target, paged backwards with
 * beforeId ("Older"). The filters live in the hash query so a filtered view survives a reload.
 */
import { api, ApiError, listOf, query } from '../api.js';
import { badge, emptyState, errorBox, link, section, table } from '../components.js';
import { field, h } from '../dom.js';
import { formatTime } from '../format.js';
import type { Page } from '../page.js';
import type { AuditEntry } from '../types.js';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

/** Details as "key=value" pairs (strings unquoted, objects as JSON), kept short. */
function detailsText(details: Record<string, unknown> | null): string {
  if (!details) return '';
  const text = Object.entries(details).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' ');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function route(params: Record<string, string | number | undefined>): string {
  return `#/audit${query(params)}`;
}

export const auditPage: Page = async (context) => {
  if (!context.can('administer')) return errorBox(new ApiError(403, 'FORBIDDEN', 'reading the audit log needs the admin role (permission administer)'), 'Not allowed');
  const action = context.query.get('action') ?? undefined;
  const target = context.query.get('target') ?? undefined;
  const beforeText = context.query.get('beforeId');
  const beforeId = beforeText && /^[1-9][0-9]*$/.test(beforeText) ? Number(beforeText) : undefined;
  // ?limit= in the hash changes the page size (kept while paging).
  const limitText = context.query.get('limit');
  const limit = limitText && /^[1-9][0-9]{0,3}$/.test(limitText) ? Math.min(Number(limitText), MAX_PAGE_SIZE) : undefined;
  const pageSize = limit ?? DEFAULT_PAGE_SIZE;
  // One more than shown: whether an "Older" page exists.
  const entries = listOf<AuditEntry>(await api.get<unknown>(`/api/audit${query({ limit: pageSize + 1, beforeId, action, target })}`), 'entries');
  const shown = entries.slice(0, pageSize);
  const older = entries.length > pageSize ? shown[shown.length - 1]?.id : undefined;

  const filters = h('form', { class: 'inline', 'data-testid': 'audit-filter' },
    h('input', { name: 'action', placeholder: 'action, e.g. secrets.read', value: action ?? '', maxlength: 128, 'aria-label': 'action' }),
    h('input', { name: 'target', placeholder: 'target, e.g. vm:web', value: target ?? '', maxlength: 200, 'aria-label': 'target' }),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    action || target ? link('#/audit', 'clear filters') : null);
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = route({ action: field(filters, 'action'), target: field(filters, 'target'), limit });
  });

  let list: HTMLElement;
  if (shown.length === 0) {
    list = action || target || beforeId
      ? emptyState('No matching entries', 'Nothing in the audit log matches these filters on this page.', link('#/audit', 'Show all'))
      : emptyState('The audit log is empty', 'Sign-ins, user and token changes, destructive actions and secret reads are recorded here.');
  } else {
    list = table(['#', 'time', 'user', 'from', 'action', 'target', 'outcome', 'details'], shown.map((entry) => [
      String(entry.id), formatTime(entry.time), entry.userName, entry.source, h('code', {}, entry.action), entry.target ?? '—', badge(entry.outcome), h('span', { class: 'muted' }, detailsText(entry.details)),
    ]), { class: 'audit' });
    list.querySelectorAll('tbody tr').forEach((row, i) => {
      const entry = shown[i];
      if (!entry) return;
      row.setAttribute('data-action', entry.action);
      row.setAttribute('data-outcome', entry.outcome);
      row.classList.add(`outcome-${entry.outcome}`);
    });
  }
  const paging = h('p', { class: 'buttons' },
    beforeId !== undefined ? h('a', { class: 'button', href: route({ action, target, limit }) }, '← Newest') : null,
    older !== undefined ? h('a', { class: 'button', href: route({ action, target, limit, beforeId: older }), 'data-action': 'older' }, 'Older →') : null);
  return h('div', {},
    h('h1', {}, 'Audit log'),
    section(beforeId !== undefined ? `Entries before #${beforeId}` : 'Newest entries', filters, list, paging));
};
