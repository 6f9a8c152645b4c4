/**
 * Dashboard (GET /api/overview): protected VMs, last backup per VM with failures first, storage
 * used, running jobs with live progress, recent failures.
 */
import { api } from '../api.js';
import { badge, emptyState, link, progressBar, section, table, updateProgressBar } from '../components.js';
import { h } from '../dom.js';
import { onJob } from '../events.js';
import { formatBytes, formatTime } from '../format.js';
import type { Page } from '../page.js';
import type { Job, Vm } from '../types.js';

export interface Overview {
  counts?: Record<string, number>;
  vms?: Vm[];
  runningJobs?: Job[];
  recentFailures?: Job[];
  storage?: Record<string, number | null>;
}

const FAILED = new Set(['failed', 'cancelled', 'completed-with-warnings']);

/** Failures first, then never backed up, then the rest by name. */
export function vmOrder(a: Vm, b: Vm): number {
  const rank = (vm: Vm) => (vm.lastBackup && FAILED.has(vm.lastBackup.status) ? 0 : vm.lastBackup ? 2 : 1);
  return rank(a) - rank(b) || a.name.localeCompare(b.name);
}

function tile(label: string, value: string, testId: string): HTMLElement {
  return h('div', { class: 'tile', 'data-testid': testId }, h('div', { class: 'tile-value' }, value), h('div', { class: 'tile-label' }, label));
}

export const dashboardPage: Page = async (context) => {
  const overview = await api.get<Overview>('/api/overview');
  const vms = [...(overview.vms ?? [])].sort(vmOrder);
  const protectedCount = overview.counts?.protected ?? vms.filter((vm) => vm.protection?.state === 'protected').length;
  const storage = overview.storage ?? {};
  const running = overview.runningJobs ?? [];
  const failures = overview.recentFailures ?? [];

  const tiles = h('div', { class: 'tiles' },
    tile('protected VMs', `${protectedCount} of ${overview.counts?.vms ?? vms.length}`, 'tile-protected'),
    tile('stored in the vault', formatBytes(storage.storedBytes ?? storage.vaultBytes ?? null), 'tile-stored'),
    tile('running jobs', String(running.length), 'tile-running'),
    tile('recent failures', String(failures.length), 'tile-failures'));

  const vmTable = vms.length === 0
    ? emptyState('No VMs yet', 'Add a VM by its disk images, then protect it with a policy.', context.can('configure') ? link('#/vms/new', 'Add a VM') : null)
    : table(['VM', 'protection', 'policy', 'last backup', 'when', 'latest point'], vms.map((vm) => [
      link(`#/vms/${encodeURIComponent(vm.name)}`, vm.name),
      badge(vm.protection?.state ?? 'unprotected'),
      vm.protection?.policyName ?? '—',
      vm.lastBackup ? badge(vm.lastBackup.status) : 'never',
      formatTime(vm.lastBackup?.endedAt ?? vm.lastBackup?.queuedAt ?? null),
      formatTime(vm.latestPoint?.createdAt ?? null),
    ]));

  const bars = new Map<string, HTMLElement>();
  const runningSection = running.length === 0
    ? emptyState('No jobs running', 'Backups, restores, verify and gc show their progress here while they run.')
    : table(['job', 'type', 'VM', 'progress'], running.map((job) => {
      const bar = progressBar(job);
      bars.set(job.id, bar);
      return [link(`#/jobs/${encodeURIComponent(job.id)}`, job.id.slice(0, 8)), job.type, job.item ?? 'vault', bar];
    }));
  context.onLeave(onJob((job) => {
    const bar = bars.get(job.id);
    if (bar) updateProgressBar(bar, job);
  }));

  const failureSection = failures.length === 0
    ? emptyState('No recent failures', 'Failed and cancelled jobs of the last days would be listed here.')
    : table(['job', 'type', 'VM', 'ended', 'error'], failures.map((job) => [
      link(`#/jobs/${encodeURIComponent(job.id)}`, job.id.slice(0, 8)), job.type, job.item ?? 'vault', formatTime(job.endedAt),
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
