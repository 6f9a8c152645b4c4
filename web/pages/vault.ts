/** Vault health: last verify (status, when, problems), last gc, sizes; verify now and gc. */
import { api } from '../api.js';
import { actionButton, badge, emptyState, link, section, table } from '../components.js';
import { h } from '../dom.js';
import { formatTime, shortId } from '../format.js';
import type { Page, PageContext } from '../page.js';
import type { Job } from '../types.js';
import { resultView } from './policies.js';
import { startedJob } from './vm.js';

interface VaultInfo {
  lastVerify?: Job | null;
  lastGc?: Job | null;
  [key: string]: unknown;
}

function jobSummary(job: Job | null | undefined, what: string): HTMLElement {
  if (!job) return emptyState(`No ${what} yet`, what === 'verify' ? 'Verify reads the vault\'s objects and checks them; run it now or let the schedule do it.' : 'Garbage collection frees the space of blocks no point uses.');
  return table(['', ''], [
    ['status', badge(job.status)],
    ['when', formatTime(job.endedAt ?? job.startedAt ?? job.queuedAt)],
    ['job', link(`#/jobs/${encodeURIComponent(job.id)}`, shortId(job.id))],
    ['problems', job.error ? h('span', { class: 'bad-text' }, h('code', {}, job.error.code), ' ', job.error.message) : job.warnings.length > 0 ? h('ul', {}, job.warnings.map((w) => h('li', {}, w))) : 'none'],
    ['result', resultView(job.result)],
  ], { class: 'details' });
}

function actions(context: PageContext): HTMLElement {
  const buttons: HTMLElement[] = [];
  if (context.can('operate')) {
    buttons.push(actionButton('Verify now', async () => startedJob(context, await api.post('/api/vault/verify', {})), { testId: 'verify-now' }));
    buttons.push(actionButton('Verify with data', async () => startedJob(context, await api.post('/api/vault/verify', { readData: true }))));
  }
  if (context.can('configure')) buttons.push(actionButton('Garbage-collect', async () => startedJob(context, await api.post('/api/vault/gc', {})), { confirm: 'Run garbage collection now?', testId: 'gc-now' }));
  return h('div', { class: 'buttons' }, buttons.length > 0 ? buttons : h('span', { class: 'muted' }, 'Your role can view the vault only.'));
}

export const vaultPage: Page = async (context) => {
  const info = await api.get<VaultInfo>('/api/vault');
  const { lastVerify, lastGc, ...rest } = info;
  return h('div', {},
    h('h1', {}, 'Vault health'),
    section('Actions', actions(context)),
    section('Last verify', jobSummary(lastVerify, 'verify')),
    section('Last garbage collection', jobSummary(lastGc, 'gc')),
    section('Vault', resultView(rest)));
};
