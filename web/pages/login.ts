/** The login page: name + password → POST /api/login (sets the session cookie). */
import { api } from '../api.js';
import { errorBox } from '../components.js';
import { field, h, replace } from '../dom.js';

export function loginPage(onLoggedIn: () => void, message?: string): HTMLElement {
  const out = h('div', { class: 'login-result' }, message ? h('div', { class: 'notice' }, message) : null);
  const form = h('form', { class: 'login', autocomplete: 'on' },
    h('h1', {}, 'Boveda'),
    h('p', { class: 'muted' }, 'Sign in to your backup vault.'),
    h('label', {}, 'User name', h('input', { name: 'name', autocomplete: 'username', required: true, autofocus: true, maxlength: 128 })),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 })),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    if (button) button.disabled = true;
    try {
      await api.post('/api/login', { name: field(form, 'name'), password: (form.elements.namedItem('password') as HTMLInputElement).value });
      onLoggedIn();
    } catch (error) {
      replace(out, errorBox(error, 'Sign-in failed'));
    } finally {
      if (button) button.disabled = false;
    }
  });
  return h('main', { class: 'login-page' }, form);
}
