/** Usage and billing: per-VM sizes, billing state and monthly estimate; charts over time. */
import { api, listOf, query } from '../api.js';
import { badge, emptyState, section, table, tile } from '../components.js';
import { lineChart, type Series } from '../charts.js';
import { h, svg } from '../dom.js';
import { formatBytes, formatMoney, formatTime } from '../format.js';
import type { Page } from '../page.js';
import type { Usage, UsageSample } from '../types.js';

/** One series per VM (samples without a VM are vault totals). */
export function seriesByVm(samples: UsageSample[], value: (sample: UsageSample) => number): Series[] {
  const byVm = new Map<string, Series>();
  for (const sample of samples) {
    const label = sample.vmName ?? 'all VMs';
    const at = Date.parse(sample.time);
    if (Number.isNaN(at)) continue;
    let series = byVm.get(label);
    if (!series) byVm.set(label, (series = { label, points: [] }));
    series.points.push({ x: at, y: value(sample) });
  }
  return [...byVm.values()];
}

const MAX_CHARTED_VMS = 5;

export const usagePage: Page = async (context) => {
  const days = Number(context.query.get('days') ?? '90') || 90;
  const usage = await api.get<Usage>('/api/usage');
  // The history route answers the vault totals, or one VM's samples with ?vm=: the totals and the
  // first VMs (a chart with more lines than this is unreadable anyway).
  const charted = usage.vms.slice(0, MAX_CHARTED_VMS).map((vm) => vm.vmName);
  const histories = await Promise.all([undefined, ...charted].map((vm) =>
    api.get<unknown>(`/api/usage/history${query({ days, vm })}`).then((answer) => listOf<UsageSample>(answer, 'samples'))));
  const history = histories.flat();
  const currency = usage.priceTable?.currency ?? null;
  const totals = usage.totals;
  const vmTable = usage.vms.length === 0
    ? emptyState('Nothing stored yet', 'Usage appears after the first backup of a VM.')
    : table(['VM', 'state', 'policy', 'points', 'latest point', 'protected size', 'stored', 'billing', 'monthly estimate'], usage.vms.map((vm) => [
      vm.vmName, badge(vm.state ?? 'unprotected'), vm.policyName ?? '—', String(vm.points), formatTime(vm.latestPointAt),
      formatBytes(vm.protectedBytes), formatBytes(vm.storedBytes), badge(vm.billing), vm.cost ? formatMoney(vm.cost.total, currency) : '—',
    ]));
  const charts: HTMLElement[] = [];
  if (history.length === 0) {
    charts.push(emptyState('No history yet', 'The server samples usage periodically; charts appear once samples exist.'));
  } else {
    charts.push(h('h3', {}, 'Stored bytes'), svg(lineChart(seriesByVm(history, (s) => s.storedBytes), { title: 'stored bytes over time' }), 'stored bytes over time'));
    charts.push(h('h3', {}, 'Protected size'), svg(lineChart(seriesByVm(history, (s) => s.protectedBytes), { title: 'protected bytes over time' }), 'protected bytes over time'));
  }
  return h('div', {},
    h('h1', {}, 'Usage & billing'),
    h('div', { class: 'tiles' },
      tile('billed VMs', `${totals.billedVms} / ${totals.vms}`),
      tile('protected size', formatBytes(totals.protectedBytes)),
      tile('stored', formatBytes(totals.storedBytes)),
      tile('monthly estimate', totals.cost ? formatMoney(totals.cost.total, currency) : 'no price table')),
    section('Per VM', vmTable),
    section(`Over the last ${days} days`, charts));
};
