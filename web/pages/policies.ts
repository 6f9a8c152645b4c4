/**
 * Policies: the list, and the editor (schedule and retention) with "Preview changes"
 * (PUT ?dryRun=true: what a shorter retention would remove and free) before saving.
 */
import { api, listOf, seg } from '../api.js';
import { actionButton, emptyState, errorBox, link, notice, resultView, section, table } from '../components.js';
import { checked, field, h, option, replace } from '../dom.js';
import { formatBytes } from '../format.js';
import type { Page, PageContext } from '../page.js';
import { anchorChoices, fieldsFromPolicy, policyFromFields, WEEKDAYS, type PolicyFields } from '../policy-text.js';
import type { ListedPolicy, Policy } from '../types.js';

export const policiesPage: Page = async (context) => {
  const policies = listOf<ListedPolicy>(await api.get<unknown>('/api/policies'), 'policies');
  const canConfigure = context.can('configure');
  const body = policies.length === 0
    ? emptyState('No policies yet', 'A policy says when VMs are backed up and how long their points are kept.', canConfigure ? link('#/policies/new', 'Create a policy') : null)
    : table(['policy', 'schedule', 'retention', 'description'], policies.map((policy) => [
      link(`#/policies/${seg(policy.name)}`, policy.name), policy.scheduleText, policy.retentionText, policy.description ?? '',
    ]));
  return h('div', {},
    h('div', { class: 'page-head' }, h('h1', {}, 'Policies'), canConfigure ? h('a', { href: '#/policies/new', class: 'button primary' }, 'New policy') : null),
    section('Backup policies', body));
};

interface DryRun {
  preview?: { removedPoints?: number; freedStoredBytes?: number; freedBytes?: number; vms?: unknown[] };
  shortens?: string[];
}

/** "If saved": what the next cleanup would remove and free, and which retention tiers get shorter. */
function previewView(plan: DryRun): HTMLElement {
  const preview = plan.preview;
  const shortens = plan.shortens ?? [];
  const removed = preview?.removedPoints ?? 0;
  return h('div', { class: 'preview' },
    h('h3', {}, 'If saved'),
    h('p', { 'data-testid': 'preview-summary' }, removed === 0
      ? 'No recovery point would be removed.'
      : `The next cleanup would remove ${removed} recovery point(s) and free ${formatBytes(preview?.freedStoredBytes ?? preview?.freedBytes ?? 0)} of vault space.`),
    shortens.length > 0
      ? h('div', { class: 'notice' }, 'This shortens retention (needs the contributor or admin role; audited): ', h('ul', {}, shortens.map((change) => h('li', {}, change))))
      : h('p', { class: 'muted' }, 'Retention is not shortened.'),
    preview && removed > 0 ? h('details', {}, h('summary', {}, 'Details'), resultView(preview)) : null);
}

function input(name: string, value: string, attrs: Record<string, string | number | boolean> = {}): HTMLInputElement {
  return h('input', { name, value, ...attrs });
}

function anchorSelect(name: string, value: string): HTMLSelectElement {
  return h('select', { name }, anchorChoices().map(([v, label]) => option(v, label, v === value)));
}

function readFields(form: HTMLFormElement): PolicyFields {
  return {
    name: field(form, 'name'), description: field(form, 'description'), kind: field(form, 'kind'), time: field(form, 'time'),
    days: WEEKDAYS.filter((day) => checked(form, `day-${day}`)),
    everyHours: field(form, 'everyHours'), windowStart: field(form, 'windowStart'), windowHours: field(form, 'windowHours'), timeZone: field(form, 'timeZone'),
    dailyDays: field(form, 'dailyDays'), weeklyOn: checked(form, 'weeklyOn'), weeks: field(form, 'weeks'), weeklyDay: field(form, 'weeklyDay'),
    monthlyOn: checked(form, 'monthlyOn'), months: field(form, 'months'), monthlyAnchor: field(form, 'monthlyAnchor'),
    yearlyOn: checked(form, 'yearlyOn'), years: field(form, 'years'), yearlyMonth: field(form, 'yearlyMonth'), yearlyAnchor: field(form, 'yearlyAnchor'),
    instantRestoreDays: field(form, 'instantRestoreDays'),
  };
}

function editorForm(context: PageContext, existing: Policy | null): HTMLElement {
  const f = fieldsFromPolicy(existing);
  const canConfigure = context.can('configure');
  const out = h('div', { class: 'policy-result', 'data-testid': 'policy-result' });
  const scheduleFields = {
    time: h('label', { class: 'for-daily for-weekly' }, 'Time (HH:MM)', input('time', f.time, { pattern: '\\d{2}:\\d{2}', class: 'narrow' })),
    days: h('fieldset', { class: 'for-weekly' }, h('legend', {}, 'Days'), WEEKDAYS.map((day) => h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: `day-${day}`, checked: f.days.includes(day) }), ` ${day} `))),
    hourly: h('div', { class: 'for-hourly row' },
      h('label', {}, 'Every', h('select', { name: 'everyHours' }, ['4', '6', '8', '12'].map((v) => option(v, `${v} h`, v === f.everyHours)))),
      h('label', {}, 'Window start', input('windowStart', f.windowStart, { class: 'narrow' })),
      h('label', {}, 'Window hours', input('windowHours', f.windowHours, { type: 'number', min: 1, max: 24, class: 'narrow' }))),
  };
  const kind = h('select', { name: 'kind' }, option('daily', 'daily', f.kind === 'daily'), option('weekly', 'weekly', f.kind === 'weekly'), option('hourly', 'hourly window', f.kind === 'hourly'));
  const form = h('form', { class: 'stacked policy-editor', 'data-testid': 'policy-editor' },
    h('label', {}, 'Name', input('name', f.name, existing ? { readonly: true } : { required: true, maxlength: 64 })),
    h('label', {}, 'Description', input('description', f.description, { maxlength: 500 })),
    h('fieldset', {}, h('legend', {}, 'Schedule'),
      h('div', { class: 'row' }, h('label', {}, 'Kind', kind), h('label', {}, 'Time zone', input('timeZone', f.timeZone, { maxlength: 64 }))),
      scheduleFields.time, scheduleFields.days, scheduleFields.hourly),
    h('fieldset', {}, h('legend', {}, 'Retention'),
      h('label', {}, 'Keep every scheduled point (days)', input('dailyDays', f.dailyDays, { type: 'number', min: 1, class: 'narrow' })),
      h('div', { class: 'row' }, h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'weeklyOn', checked: f.weeklyOn }), ' weekly: keep'),
        input('weeks', f.weeks, { type: 'number', min: 1, class: 'narrow', 'aria-label': 'weeks' }), ' weeks, the point of ',
        h('select', { name: 'weeklyDay' }, WEEKDAYS.map((day) => option(day, day, day === f.weeklyDay)))),
      h('div', { class: 'row' }, h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'monthlyOn', checked: f.monthlyOn }), ' monthly: keep'),
        input('months', f.months, { type: 'number', min: 1, class: 'narrow', 'aria-label': 'months' }), ' months, the point of ', anchorSelect('monthlyAnchor', f.monthlyAnchor)),
      h('div', { class: 'row' }, h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'yearlyOn', checked: f.yearlyOn }), ' yearly: keep'),
        input('years', f.years, { type: 'number', min: 1, class: 'narrow', 'aria-label': 'years' }), ' years, month ',
        input('yearlyMonth', f.yearlyMonth, { type: 'number', min: 1, max: 12, class: 'narrow', 'aria-label': 'month' }), ' ', anchorSelect('yearlyAnchor', f.yearlyAnchor))),
    h('label', {}, 'Instant-restore snapshot (days, 1-5)', input('instantRestoreDays', f.instantRestoreDays, { type: 'number', min: 1, max: 5, class: 'narrow' })),
    canConfigure ? h('div', { class: 'buttons' },
      existing ? h('button', { type: 'button', 'data-action': 'preview' }, 'Preview changes') : null,
      h('button', { type: 'submit', class: 'primary' }, existing ? 'Save' : 'Create policy')) : notice('Changing policies needs the contributor or admin role.'),
    out);
  const showKind = () => {
    for (const element of form.querySelectorAll<HTMLElement>('.for-daily, .for-weekly, .for-hourly')) element.hidden = !element.classList.contains(`for-${kind.value}`);
  };
  kind.addEventListener('change', showKind);
  showKind();
  const path = existing ? `/api/policies/${seg(existing.name)}` : '/api/policies';
  form.querySelector('[data-action=preview]')?.addEventListener('click', async () => {
    try {
      const plan = await api.put<DryRun>(`${path}?dryRun=true`, policyFromFields(readFields(form)));
      replace(out, previewView(plan));
    } catch (error) {
      replace(out, errorBox(error, 'Preview failed'));
    }
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const policy = policyFromFields(readFields(form));
    try {
      if (existing) {
        await api.put(path, policy);
        replace(out, notice(`Policy ${policy.name} saved.`));
      } else {
        await api.post(path, policy);
        context.navigate(`/policies/${seg(policy.name)}`);
      }
    } catch (error) {
      replace(out, errorBox(error, 'Not saved'));
    }
  });
  return form;
}

export const policyPage: Page = async (context) => {
  const name = context.params.name;
  const existing = name === undefined ? null : await api.get<unknown>(`/api/policies/${seg(name)}`).then((answer) => ((answer as { policy?: Policy }).policy ?? answer) as Policy);
  const remove = existing && context.can('configure')
    ? actionButton('Delete policy', async () => {
      await api.delete(`/api/policies/${seg(existing.name)}`);
      context.navigate('/policies');
      return null;
    }, { class: 'danger', confirm: `Delete policy ${existing.name}? A policy still protecting VMs cannot be deleted.` })
    : null;
  return h('div', {},
    h('div', { class: 'page-head' }, h('h1', {}, existing ? `Policy ${existing.name}` : 'New policy'), link('#/policies', '← all policies')),
    section(existing ? 'Edit' : 'Create', editorForm(context, existing)),
    remove ? section('Delete', remove) : null);
};
