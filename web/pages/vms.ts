/** VMs: the list (with a protect action for unprotected ones) and the "Add VM" form. */
import { api, ApiError, listOf, seg } from '../api.js';
import { badge, emptyState, errorBox, link, section, table } from '../components.js';
import { field, h, option, replace } from '../dom.js';
import { formatTime } from '../format.js';
import type { Page, PageContext } from '../page.js';
import type { Policy, Vm } from '../types.js';

/** A policy select + Protect button (POST /api/vms/:name/protect). */
export function protectForm(context: PageContext, vmName: string, policies: Policy[]): HTMLElement {
  if (policies.length === 0) return h('span', { class: 'muted' }, 'no policy yet: ', link('#/policies/new', 'create one'));
  const out = h('span', {});
  const select = h('select', { name: 'policy', 'aria-label': `policy for ${vmName}` },
    policies.map((policy) => option(policy.name, policy.name, policy.name === 'default')));
  const button = h('button', { type: 'submit' }, 'Protect');
  const form = h('form', { class: 'inline', 'data-testid': `protect-${vmName}` }, select, button, out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await api.post(`/api/vms/${seg(vmName)}/protect`, { policy: select.value });
      context.reload();
    } catch (error) {
      replace(out, errorBox(error));
      button.disabled = false;
    }
  });
  return form;
}

export const vmsPage: Page = async (context) => {
  const [vms, policies] = await Promise.all([
    api.get<unknown>('/api/vms').then((answer) => listOf<Vm>(answer, 'vms')),
    api.get<unknown>('/api/policies').then((answer) => listOf<Policy>(answer, 'policies')),
  ]);
  const canConfigure = context.can('configure');
  const body = vms.length === 0
    ? emptyState('No VMs yet', 'A VM is a name and its disks (raw image files or block devices inside the allowed directories).',
      canConfigure ? link('#/vms/new', 'Add a VM') : h('span', { class: 'muted' }, 'Ask a contributor or admin to add one.'))
    : table(['VM', 'disks', 'protection', 'policy', 'last backup', 'points', 'latest point'], vms.map((vm) => [
      link(`#/vms/${seg(vm.name)}`, vm.name),
      String(vm.disks.length),
      vm.protection ? badge(vm.protection.state) : canConfigure ? protectForm(context, vm.name, policies) : badge('unprotected'),
      vm.protection?.policyName ?? '—',
      vm.lastBackupJob ? badge(vm.lastBackupJob.status) : 'never',
      String(vm.points ?? 0),
      formatTime(vm.latestPoint?.createdAt ?? null),
    ]));
  return h('div', {},
    h('div', { class: 'page-head' }, h('h1', {}, 'VMs'), canConfigure ? h('a', { href: '#/vms/new', class: 'button primary' }, 'Add VM') : null),
    section('Virtual machines', body));
};

const ROLES = ['os', 'data', 'temp'];

function diskRow(first: boolean): HTMLElement {
  const row = h('div', { class: 'disk-row' },
    h('input', { name: 'disk-path', placeholder: '/var/lib/images/vm.img', required: first, 'aria-label': 'disk path', maxlength: 4096 }),
    h('select', { name: 'disk-role', 'aria-label': 'disk role' }, ROLES.map((role, i) => option(role, role, first ? i === 0 : role === 'data'))));
  if (!first) {
    const remove = h('button', { type: 'button', class: 'small' }, 'remove');
    remove.addEventListener('click', () => row.remove());
    row.append(remove);
  }
  return row;
}

export const addVmPage: Page = async (context) => {
  if (!context.can('configure')) return errorBox(new ApiError(403, 'FORBIDDEN', 'adding a VM needs the contributor or admin role'), 'Not allowed');
  const rows = h('div', { class: 'disk-rows' }, diskRow(true));
  const addDisk = h('button', { type: 'button', class: 'small' }, 'Add another disk');
  addDisk.addEventListener('click', () => rows.append(diskRow(false)));
  const out = h('div', {});
  const form = h('form', { class: 'stacked', 'data-testid': 'add-vm' },
    h('label', {}, 'Name', h('input', { name: 'name', required: true, maxlength: 64, placeholder: 'web-01', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]*' })),
    h('fieldset', {}, h('legend', {}, 'Disks (path and role)'), rows, addDisk),
    h('label', {}, 'Pre-backup script (optional)', h('input', { name: 'preScript', maxlength: 4096, placeholder: 'e.g. fsfreeze -f /data' })),
    h('label', {}, 'Post-backup script (optional)', h('input', { name: 'postScript', maxlength: 4096 })),
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, 'Add VM'), h('a', { href: '#/vms' }, 'Cancel')),
    out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const disks = [...rows.querySelectorAll('.disk-row')].map((row) => ({
      path: (row.querySelector('[name=disk-path]') as HTMLInputElement).value.trim(),
      role: (row.querySelector('[name=disk-role]') as HTMLSelectElement).value,
    })).filter((disk) => disk.path !== '');
    const body: Record<string, unknown> = { name: field(form, 'name'), disks };
    if (field(form, 'preScript') !== '') body.preScript = field(form, 'preScript');
    if (field(form, 'postScript') !== '') body.postScript = field(form, 'postScript');
    try {
      await api.post('/api/vms', body);
      context.navigate(`/vms/${seg(field(form, 'name'))}`);
    } catch (error) {
      replace(out, errorBox(error, 'The VM was not added'));
    }
  });
  return h('div', {}, h('h1', {}, 'Add VM'), section('New VM', form));
};
