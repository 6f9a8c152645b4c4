/**
 * Dashboard (GET /api/overview): protected VMs, last backup per VM with failures first (in the
 * server's order), storage used, running jobs with live progress, recent failures.
 */
import { api, seg } from '../api.js';
import { badge, emptyState, link, progressBar, section, table, tile, updateProgressBar } from '../components.js';
import { h } from '../dom.js';
import { onJob } from '../events.js';
import { formatBytes, formatTime } from '../format.js';
import type { Page } from '../page.js';
import type { Overview } from '../types.js';

export const dashboardPage: Page = async (context) => {
  const overview = await api.get<Overview>('/api/overview');
  // In the server's order: VMs whose last backup failed first, then by name.
  const vms = overview.vms;
  const { counts, storage } = overview;
  const running = overview.runningJobs;
  const failures = overview.recentFailures;

  const tiles = h('div', { class: 'tiles' },
    tile('protected VMs', `${counts.protected} of ${counts.vms}`, 'tile-protected'),
    tile('recovery points', String(counts.points), 'tile-points'),
    tile('protected size', formatBytes(storage.protectedBytes), 'tile-protected-bytes'),
    tile(storage.sampledAt ? `stored in the vault (${formatTime(storage.sampledAt)})` : 'stored in the vault', storage.storedBytes === null ? 'no backup yet' : formatBytes(storage.storedBytes), 'tile-stored'),
    tile('running jobs', String(running.length), 'tile-running'),
    tile('recent failures', String(failures.length), 'tile-failures'));

  const vmTable = vms.length === 0
    ? emptyState('No VMs yet', 'Add a VM by its disk images, then protect it with a policy.', context.can('configure') ? link('#/vms/new', 'Add a VM') : null)
    : table(['VM', 'protection', 'policy', 'last backup', 'ended', 'points', 'latest point', 'protected size'], vms.map((vm) => [
      link(`#/vms/${seg(vm.name)}`, vm.name),
      badge(vm.state ?? 'unprotected'),
      vm.policyName ?? '—',
      vm.lastBackup ? [badge(vm.lastBackup.status), vm.lastBackup.error ? h('div', { class: 'bad-text' }, h('code', {}, vm.lastBackup.error.code), ' ', vm.lastBackup.error.message) : null] : 'never',
      formatTime(vm.lastBackup?.endedAt ?? null),
      String(vm.points),
      formatTime(vm.latestPointAt),
      formatBytes(vm.protectedBytes),
    ]));

  const bars = new Map<string, HTMLElement>();
  const runningSection = running.length === 0
    ? emptyState('No jobs running', 'Backups, restores, verify and gc show their progress here while they run.')
    : table(['job', 'type', 'VM', 'progress'], running.map((job) => {
      const bar = progressBar(job);
      bars.set(job.id, bar);
      return [link(`#/jobs/${seg(job.id)}`, job.id), job.type, job.item ?? 'vault', bar];
    }));
  context.onLeave(onJob((job) => {
    const bar = bars.get(job.id);
    if (bar) updateProgressBar(bar, job);
  }));

  const failureSection = failures.length === 0
    ? emptyState('No recent failures', 'Failed jobs would be listed here, newest first.')
    : table(['job', 'type', 'VM', 'ended', 'error'], failures.map((job) => [
      link(`#/jobs/${seg(job.id)}`, job.id), job.type, job.item ?? 'vault', formatTime(job.endedAt),
      job.error ? h('span', {}, h('code', {}, job.error.code), ' ', job.error.message) : badge(job.status),
    ]));

  return h('div', {},
    h('h1', {}, 'Dashboard'),
    tiles,
    failures.length > 0 ? section('Recent failures', failureSection) : null,
    section('VMs', vmTable),
    section('Running jobs', runningSection),
    failures.length === 0 ? section('Recent failures', failureSection) : null);
};
