/**
 * Jobs: newest first, with live progress bars (SSE), status and errors; a job's own page; cancel
 * for running or queued jobs (operate permission).
 */
import { api, listOf, query, seg } from '../api.js';
import { actionButton, badge, emptyState, link, progressBar, section, table, updateProgressBar } from '../components.js';
import { h } from '../dom.js';
import { onJob } from '../events.js';
import { formatDuration, formatTime } from '../format.js';
import type { Page, PageContext } from '../page.js';
import type { Job } from '../types.js';

const ACTIVE = new Set(['queued', 'in-progress']);

function cancelButton(context: PageContext, job: Job): HTMLElement | null {
  if (!context.can('operate') || !ACTIVE.has(job.status)) return null;
  return actionButton('Cancel', async () => {
    await api.post(`/api/jobs/${seg(job.id)}/cancel`, {});
    return 'cancel requested';
  }, { class: 'small', confirm: `Cancel ${job.type} job ${job.id}?` });
}

function jobRow(context: PageContext, job: Job): HTMLTableRowElement {
  const row = h('tr', { 'data-job': job.id, 'data-status': job.status });
  fillRow(context, row, job);
  return row;
}

function fillRow(context: PageContext, row: HTMLTableRowElement, job: Job): void {
  row.setAttribute('data-status', job.status);
  const cells = [
    link(`#/jobs/${seg(job.id)}`, job.id),
    job.type,
    job.item ? link(`#/vms/${seg(job.item)}`, job.item) : 'vault',
    job.trigger,
    badge(job.status),
    progressBar(job),
    formatTime(job.queuedAt),
    formatDuration(job.durationSeconds),
    job.error ? h('span', { class: 'bad-text' }, h('code', {}, job.error.code), ' ', job.error.message) : job.warnings.length > 0 ? h('span', { class: 'warn-text' }, job.warnings.join('; ')) : '',
    cancelButton(context, job),
  ];
  row.replaceChildren(...cells.map((cell) => h('td', {}, cell)));
}

export const jobsPage: Page = async (context) => {
  const filter = { vm: context.query.get('vm'), status: context.query.get('status'), type: context.query.get('type'), limit: 100 };
  const jobs = listOf<Job>(await api.get<unknown>(`/api/jobs${query(filter)}`), 'jobs');
  const body = h('tbody', {}, jobs.map((job) => jobRow(context, job)));
  const empty = emptyState('No jobs yet', 'Every backup, restore, cleanup, verify and gc run is recorded here.');
  const tableElement = h('table', { class: 'jobs' },
    h('thead', {}, h('tr', {}, ['job', 'type', 'VM', 'trigger', 'status', 'progress', 'queued', 'duration', 'error', ''].map((header) => h('th', {}, header)))),
    body);
  const holder = h('div', {}, jobs.length === 0 ? empty : tableElement);
  context.onLeave(onJob((job) => {
    if (filter.vm && job.item !== filter.vm) return;
    if (filter.type && job.type !== filter.type) return;
    const row = body.querySelector<HTMLTableRowElement>(`tr[data-job="${CSS.escape(job.id)}"]`);
    if (row) {
      const bar = row.querySelector<HTMLElement>('.progress');
      // Progress-only changes update the bar in place; a status change redraws the row.
      if (bar && row.getAttribute('data-status') === job.status) updateProgressBar(bar, job);
      else fillRow(context, row, job);
    } else {
      // A listed job keeps updating whatever its status becomes; a new one joins only if it matches ?status=.
      if (filter.status && job.status !== filter.status) return;
      body.prepend(jobRow(context, job));
      if (!tableElement.isConnected) holder.replaceChildren(tableElement);
    }
  }));
  return h('div', {},
    h('h1', {}, 'Jobs'),
    filter.vm ? h('p', {}, `Jobs of VM ${filter.vm} · `, link('#/jobs', 'all jobs')) : null,
    section('Newest first', holder));
};

export const jobPage: Page = async (context) => {
  const id = context.params.id ?? '';
  const answer = await api.get<unknown>(`/api/jobs/${seg(id)}`);
  const job = ((answer as { job?: Job }).job ?? answer) as Job;
  const details = h('div', {});
  const draw = (current: Job) => {
    details.replaceChildren(
      table(['', ''], [
        ['id', h('code', {}, current.id)],
        ['type', current.type],
        ['VM', current.item ? link(`#/vms/${seg(current.item)}`, current.item) : 'vault'],
        ['trigger', current.trigger],
        ['status', badge(current.status)],
        ['progress', progressBar(current)],
        ['queued', formatTime(current.queuedAt)],
        ['started', formatTime(current.startedAt)],
        ['ended', formatTime(current.endedAt)],
        ['duration', formatDuration(current.durationSeconds)],
        ['error', current.error ? h('span', { class: 'bad-text' }, h('code', {}, current.error.code), ' ', current.error.message) : '—'],
        ['warnings', current.warnings.length === 0 ? '—' : h('ul', {}, current.warnings.map((warning) => h('li', {}, warning)))],
        ['result', current.result ? h('pre', {}, JSON.stringify(current.result, null, 2)) : '—'],
      ], { class: 'details' }),
      h('div', { class: 'buttons' }, cancelButton(context, current)));
  };
  draw(job);
  context.onLeave(onJob((changed) => {
    if (changed.id === id) draw(changed);
  }));
  return h('div', {}, h('div', { class: 'page-head' }, h('h1', {}, `${job.type} job ${job.id}`), link('#/jobs', '← all jobs')), section('Job', details));
};
