/** Users (admin): list, add (the generated password is shown once), change role, disable, delete. */
import { api, ApiError, listOf, seg } from '../api.js';
import { actionButton, badge, errorBox, section, table } from '../components.js';
import { checked, field, h, option, replace } from '../dom.js';
import { formatTime } from '../format.js';
import type { Page, PageContext } from '../page.js';
import type { Role, User } from '../types.js';

const ROLES: Role[] = ['reader', 'operator', 'contributor', 'admin'];

function roleSelect(context: PageContext, user: User): HTMLElement {
  const select = h('select', { 'aria-label': `role of ${user.name}` }, ROLES.map((role) => option(role, role, role === user.role)));
  const out = h('span', {});
  select.addEventListener('change', async () => {
    try {
      await api.patch(`/api/users/${seg(user.name)}`, { role: select.value });
      context.reload();
    } catch (error) {
      replace(out, errorBox(error));
      select.value = user.role;
    }
  });
  return h('span', {}, select, out);
}

export const usersPage: Page = async (context) => {
  if (!context.can('administer')) return errorBox(new ApiError(403, 'FORBIDDEN', 'managing users needs the admin role'), 'Not allowed');
  const users = listOf<User>(await api.get<unknown>('/api/users'), 'users');
  const list = table(['user', 'role', 'key restore', 'state', 'created', ''], users.map((user) => [
    user.name, user.name === context.me.name ? `${user.role} (you)` : roleSelect(context, user), user.keyRestore ? 'yes' : 'no', badge(user.disabled ? 'disabled' : 'active'), formatTime(user.createdAt ?? null),
    h('span', {},
      actionButton(user.disabled ? 'Enable' : 'Disable', async () => { await api.patch(`/api/users/${seg(user.name)}`, { disabled: !user.disabled }); context.reload(); return null; }, { class: 'small' }),
      actionButton('Delete', async () => { await api.delete(`/api/users/${seg(user.name)}`); context.reload(); return null; }, { class: 'small danger', confirm: `Delete user ${user.name}?` })),
  ]));
  const out = h('div', {});
  const form = h('form', { class: 'inline', 'data-testid': 'add-user' },
    h('input', { name: 'name', placeholder: 'name', required: true, maxlength: 64, 'aria-label': 'new user name' }),
    h('select', { name: 'role', 'aria-label': 'new user role' }, ROLES.map((role) => option(role, role, role === 'reader'))),
    h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'keyRestore' }), ' may restore keys'),
    h('button', { type: 'submit', class: 'primary' }, 'Add user'), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const answer = await api.post<{ password?: string; user?: User }>('/api/users', { name: field(form, 'name'), role: field(form, 'role'), keyRestore: checked(form, 'keyRestore') });
      replace(out, h('div', { class: 'notice', 'data-testid': 'new-user' }, `User ${field(form, 'name')} added. Password (shown once): `, h('code', { 'data-testid': 'new-password' }, answer.password ?? '(as given)')));
    } catch (error) {
      replace(out, errorBox(error, 'Not added'));
    }
  });
  return h('div', {}, h('h1', {}, 'Users'), section('Users and roles', list), section('Add a user', form));
};
