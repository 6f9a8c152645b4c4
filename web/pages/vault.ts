/** Vault health: last verify (status, when, problems), last gc, sizes; verify now and gc. */
import { api, seg } from '../api.js';
import { actionButton, badge, emptyState, link, resultView, section, startedJob, table, tile } from '../components.js';
import { h } from '../dom.js';
import { formatBytes, formatTime } from '../format.js';
import type { Page, PageContext } from '../page.js';
import type { Job } from '../types.js';

interface VaultInfo {
  config: Record<string, unknown>;
  lastVerify: Job | null;
  lastGc: Job | null;
  lastCleanup: Job | null;
  size: { storedBytes: number; protectedBytes: number; points: number; sampledAt: string } | null;
}

function jobSummary(job: Job | null | undefined, what: string): HTMLElement {
  if (!job) {
    const why: Record<string, string> = {
      verify: 'Verify checks that every point can be restored; run it now.',
      gc: 'Garbage collection frees the space of blocks no point uses any more.',
      cleanup: 'Cleanup removes the points retention no longer keeps (the server runs it periodically).',
    };
    return emptyState(`No ${what} yet`, why[what] ?? '');
  }
  return table(['', ''], [
    ['status', badge(job.status)],
    ['when', formatTime(job.endedAt ?? job.startedAt ?? job.queuedAt)],
    ['job', link(`#/jobs/${seg(job.id)}`, job.id)],
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
  const size = info.size;
  return h('div', {},
    h('h1', {}, 'Vault health'),
    h('div', { class: 'tiles' },
      tile('stored', size ? formatBytes(size.storedBytes) : '—'),
      tile('protected size', size ? formatBytes(size.protectedBytes) : '—'),
      tile(size ? `points (as of ${formatTime(size.sampledAt)})` : 'points (no backup yet)', size ? String(size.points) : '—')),
    section('Actions', actions(context)),
    section('Last verify', jobSummary(info.lastVerify, 'verify')),
    section('Last garbage collection', jobSummary(info.lastGc, 'gc')),
    section('Last cleanup', jobSummary(info.lastCleanup, 'cleanup')),
    section('Vault configuration', resultView(info.config)));
};
