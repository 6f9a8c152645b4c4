/**
 * My account (every user): who I am and what my role may do, my password, my API tokens (create —
 * the secret is shown once, with a copy button —, list, revoke).
 */
import { api, listOf, seg } from '../api.js';
import { actionButton, copyButton, emptyState, errorBox, section, table } from '../components.js';
import { field, h, replace } from '../dom.js';
import { formatTime } from '../format.js';
import type { Page } from '../page.js';
import type { ApiToken } from '../types.js';

async function tokenList(holder: HTMLElement): Promise<void> {
  const tokens = listOf<ApiToken>(await api.get<unknown>('/api/tokens'), 'tokens');
  const refresh = () => tokenList(holder).catch((error: unknown) => replace(holder, errorBox(error, 'The tokens could not be listed')));
  if (tokens.length === 0) {
    replace(holder, emptyState('No API tokens', 'Create one for scripts and the remote CLI (BOVEDA_SERVER, BOVEDA_TOKEN).'));
    return;
  }
  const rows = tokens.map((token) => [
    h('code', {}, token.id), token.name ?? '—', formatTime(token.createdAt),
    token.expiresAt ? formatTime(token.expiresAt) : 'never', formatTime(token.lastUsedAt), token.createdFrom ?? '—',
    actionButton('Revoke', async () => { await api.delete(`/api/tokens/${seg(token.id)}`); await refresh(); return null; },
      { class: 'small danger', confirm: `Revoke the token ${token.name ?? token.id}? Scripts using it stop working at once.` }),
  ]);
  const list = table(['id', 'name', 'created', 'expires', 'last used', 'created from', ''], rows, { class: 'tokens' });
  list.querySelectorAll('tbody tr').forEach((row, i) => row.setAttribute('data-token-id', tokens[i]?.id ?? ''));
  replace(holder, list);
}

function createTokenForm(holder: HTMLElement): HTMLElement {
  const out = h('div', {});
  const form = h('form', { class: 'inline', 'data-testid': 'create-token' },
    h('input', { name: 'name', placeholder: 'name, e.g. nightly-script', required: true, maxlength: 64, 'aria-label': 'token name' }),
    h('label', {}, 'expires after ', h('input', { name: 'expiresInDays', type: 'number', min: 1, max: 3650, class: 'narrow', placeholder: 'never' }), ' days'),
    h('button', { type: 'submit', class: 'primary' }, 'Create token'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const days = field(form, 'expiresInDays');
    try {
      const answer = await api.post<{ token: string; record: ApiToken }>('/api/tokens', { name: field(form, 'name'), ...(days === '' ? {} : { expiresInDays: Number(days) }) });
      const secret = h('code', { class: 'token-once', 'data-testid': 'new-token' }, answer.token);
      replace(out, h('div', { class: 'notice', 'data-testid': 'new-token-notice' },
        h('p', {}, h('strong', {}, `Token ${answer.record.name ?? answer.record.id} created. `), 'Copy it now: it is shown this once and cannot be shown again (only its id is kept).'),
        h('p', {}, secret, ' ', copyButton(answer.token, secret)),
        h('p', { class: 'muted' }, `Use it as "Authorization: Bearer …", or export BOVEDA_TOKEN=… with BOVEDA_SERVER=${location.origin} for the CLI.`)));
      form.reset();
      await tokenList(holder);
    } catch (error) {
      replace(out, errorBox(error, 'The token was not created'));
    }
  });
  return h('div', {}, form, out);
}

/** Change my password: the current one is needed; the server then ends every session, this one too. */
function passwordForm(): HTMLElement {
  const out = h('div', {});
  const form = h('form', { class: 'stacked', 'data-testid': 'change-password' },
    h('label', {}, 'Current password', h('input', { name: 'currentPassword', type: 'password', required: true, autocomplete: 'current-password', maxlength: 1024 })),
    h('label', {}, 'New password (at least 12 characters)', h('input', { name: 'newPassword', type: 'password', required: true, minlength: 12, autocomplete: 'new-password', maxlength: 1024 })),
    h('label', {}, 'New password again', h('input', { name: 'repeat', type: 'password', required: true, autocomplete: 'new-password', maxlength: 1024 })),
    h('button', { type: 'submit', class: 'primary' }, 'Change password'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    // Passwords are never trimmed: read the raw values.
    const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value;
    if (value('newPassword') !== value('repeat')) {
      replace(out, h('p', { class: 'error', role: 'alert' }, 'The two new passwords differ.'));
      return;
    }
    try {
      await api.post('/api/me/password', { currentPassword: value('currentPassword'), newPassword: value('newPassword') });
      form.reset();
      replace(out, h('div', { class: 'notice', 'data-testid': 'password-changed' },
        h('p', {}, h('strong', {}, 'Password changed. '), 'Every session of yours has ended, this one too: sign in again with the new password.'),
        h('button', { type: 'button', class: 'primary', onclick: () => location.reload() }, 'Sign in again')));
    } catch (error) {
      replace(out, errorBox(error, 'The password was not changed'));
    }
  });
  return h('div', {}, form, out);
}

export const accountPage: Page = async (context) => {
  const holder = h('div', { 'data-testid': 'token-list' });
  await tokenList(holder);
  const me = context.me;
  return h('div', {},
    h('h1', {}, 'My account'),
    section('Who I am', table(['', ''], [
      ['user', me.name],
      ['role', me.role],
      ['may', me.permissions.join(', ')],
    ], { class: 'details' })),
    section('Password', passwordForm()),
    section('API tokens', createTokenForm(holder), holder));
};
