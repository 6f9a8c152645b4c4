/**
 * One VM: disks (present or missing), protection, a timeline of recovery points (an SVG bar per
 * point), on-demand backup, restore, stop protection / delete data (with the right permission and
 * a confirmation), the names of its disk-encryption secrets, and its recent jobs.
 */
import { api, ApiError, listOf, query, seg } from '../api.js';
import { actionButton, badge, emptyState, errorBox, link, notice, progressBar, section, startedJob, table, updateProgressBar } from '../components.js';
import { barChart } from '../charts.js';
import { checked, field, h, option, replace, svg, type Child } from '../dom.js';
import { onJob } from '../events.js';
import { formatBytes, formatTime, shortId } from '../format.js';
import type { Page, PageContext } from '../page.js';
import type { Job, Point, Policy, RestoredSecret, Secret, Vm, VmDetail } from '../types.js';
import { base64ToBytes, bytesToBase64, readableText } from '../secret-bytes.js';
import { protectForm } from './vms.js';

/** What a point cost the vault: the stored bytes of the blocks it added. */
function pointBytes(point: Point): number {
  return point.introducedStoredBytes ?? point.disks?.reduce((sum, disk) => sum + disk.storedBytes, 0) ?? 0;
}

function pointSize(point: Point): number | null {
  return point.disks ? point.disks.reduce((sum, disk) => sum + disk.sizeBytes, 0) : null;
}

function expiry(point: Point): HTMLElement | string {
  const retention = point.retention;
  if (retention && !retention.keep) return h('span', { class: 'warn-text' }, `expired ${formatTime(retention.keepUntil)}; removed by the next cleanup`);
  const until = retention ? retention.keepUntil : point.expiresAt;
  const why = retention && retention.reasons.length > 0 ? ` (${retention.reasons.join(', ')})` : '';
  return until ? `${formatTime(until)}${why}` : `kept${why}`;
}

function timeline(context: PageContext, vm: Vm, points: Point[]): HTMLElement {
  if (points.length === 0) return emptyState('No recovery points yet', 'Run an on-demand backup, or wait for the policy\'s next scheduled one.');
  const sorted = [...points].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const chart = barChart(sorted.map((point) => ({
    label: point.createdAt.slice(5, 10),
    value: pointBytes(point),
    kind: point.type,
    title: `${point.type} ${formatTime(point.createdAt)}: ${formatBytes(pointBytes(point))} new in the vault`,
  })), { title: 'bytes added to the vault per recovery point' });
  // The values of a point's secrets are shown in one panel below the table (restore-keys only).
  const canRestoreKeys = context.can('restore-keys');
  const keysPanel = h('div', { 'data-testid': 'restored-keys' });
  context.onLeave(() => showInKeysPanel(keysPanel, []));
  const rows = [...sorted].reverse().map((point) => [
    h('code', { title: point.id }, shortId(point.id)),
    formatTime(point.createdAt),
    h('span', { class: `kind ${point.type}` }, point.type),
    point.trigger,
    h('span', { title: point.consistencyNote ?? '' }, point.consistency),
    expiry(point),
    formatBytes(pointSize(point)),
    formatBytes(pointBytes(point)),
    canRestoreKeys ? h('button', { type: 'button', class: 'small', 'data-action': 'restore-keys', 'data-point': point.id, onclick: () => void restoreKeys(context, vm, point, keysPanel) }, 'Restore keys') : null,
  ]);
  return h('div', {},
    svg(chart, 'bytes per recovery point'),
    h('p', { class: 'legend-row' }, h('span', { class: 'swatch full' }), ' full ', h('span', { class: 'swatch incremental' }), ' incremental'),
    table(['point', 'created', 'type', 'trigger', 'consistency', 'expiry', 'disk size', 'new in vault', canRestoreKeys ? 'keys' : ''], rows, { class: 'points' }),
    keysPanel);
}

const SECRET_KINDS = ['luks-passphrase', 'key-file', 'other'];

/** The download URLs of the secret values a keys panel shows. */
const keysPanelUrls = new WeakMap<HTMLElement, string[]>();

/**
 * Replaces what the keys panel shows (no children: hides the values), revoking the download URLs of those
 * it showed before; `urls` are those of the new content.
 */
function showInKeysPanel(panel: HTMLElement, urls: string[], ...children: Child[]): void {
  for (const url of keysPanelUrls.get(panel) ?? []) URL.revokeObjectURL(url);
  keysPanelUrls.set(panel, urls);
  replace(panel, ...children);
}

/** POST …/points/:point/secrets/restore: the values, as text and as a download each (the read is audited). */
async function restoreKeys(context: PageContext, vm: Vm, point: Point, panel: HTMLElement): Promise<void> {
  showInKeysPanel(panel, [], h('p', { class: 'muted' }, `Reading the secrets of point ${shortId(point.id)}…`));
  let answer: { pointId: string; secrets: RestoredSecret[] };
  try {
    answer = await api.post(`/api/vms/${seg(vm.name)}/points/${seg(point.id)}/secrets/restore`, {});
  } catch (error) {
    showInKeysPanel(panel, [], errorBox(error, 'The keys were not restored'));
    return;
  }
  const audited = notice(`This read of the secrets of point ${shortId(answer.pointId)} was recorded in the audit log (secrets.read, by ${context.me.name}).`);
  if (answer.secrets.length === 0) {
    showInKeysPanel(panel, [], section(`Keys of point ${shortId(answer.pointId)}`, audited, emptyState('This point holds no secrets', 'Secrets set on the VM are carried by the backups taken after they were set.')));
    return;
  }
  const urls: string[] = [];
  const rows = answer.secrets.map((secret) => {
    const bytes = base64ToBytes(secret.valueBase64);
    const text = readableText(bytes);
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
    urls.push(url);
    return [
      h('code', {}, secret.name), secret.kind, `${bytes.length} bytes`,
      text !== null ? h('pre', { class: 'secret-value', 'data-secret': secret.name }, text) : h('span', { class: 'muted', 'data-secret': secret.name }, 'binary: use the download'),
      h('a', { href: url, download: `${vm.name}-${secret.name}`, 'data-download': secret.name }, 'Download'),
    ];
  });
  showInKeysPanel(panel, urls, section(`Keys of point ${shortId(answer.pointId)}`, audited,
    table(['secret', 'kind', 'size', 'value', ''], rows),
    h('p', {}, h('button', { type: 'button', class: 'small', onclick: () => showInKeysPanel(panel, []) }, 'Hide values'))));
}

function secretForm(context: PageContext, vm: Vm): HTMLElement {
  const out = h('div', {});
  const form = h('form', { class: 'stacked', 'data-testid': 'secret-form' },
    h('div', { class: 'row' },
      h('label', {}, 'Name ', h('input', { name: 'secret-name', required: true, maxlength: 64, placeholder: 'e.g. root-luks' })),
      h('label', {}, 'Kind ', h('select', { name: 'secret-kind' }, SECRET_KINDS.map((kind, i) => option(kind, kind, i === 0))))),
    h('label', {}, 'Value (text)', h('textarea', { name: 'secret-value', rows: 3, spellcheck: 'false', autocomplete: 'off' })),
    h('label', {}, 'or from a file (a key file; used instead of the text)', h('input', { name: 'secret-file', type: 'file' })),
    h('div', {}, h('button', { type: 'submit', class: 'primary' }, 'Set secret')), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = field(form, 'secret-name');
    const file = (form.elements.namedItem('secret-file') as HTMLInputElement | null)?.files?.[0];
    // The text as typed (not trimmed: a passphrase may end in a space).
    const text = (form.elements.namedItem('secret-value') as HTMLTextAreaElement | null)?.value ?? '';
    try {
      const bytes = file ? new Uint8Array(await file.arrayBuffer()) : new TextEncoder().encode(text);
      if (bytes.length === 0) throw new ApiError(0, 'INVALID_ARGUMENT', 'the secret is empty: type a value or choose a file');
      await api.put(`/api/vms/${seg(vm.name)}/secrets/${seg(name)}`, { kind: field(form, 'secret-kind'), valueBase64: bytesToBase64(bytes) });
      context.reload();
    } catch (error) {
      replace(out, errorBox(error, 'The secret was not set'));
    }
  });
  return form;
}

function secretsSection(context: PageContext, vm: Vm, secrets: Secret[] | unknown): HTMLElement {
  let list: HTMLElement;
  if (!Array.isArray(secrets)) list = errorBox(secrets, 'The secrets could not be listed');
  else if (secrets.length === 0) list = emptyState('No disk-encryption secrets', 'A LUKS passphrase or key file stored with the VM is kept, encrypted, with every point taken after it is set.');
  else {
    list = table(['secret', 'kind', 'size', 'set', ''], (secrets as Secret[]).map((secret) => [
      h('code', {}, secret.name), secret.kind, secret.sizeBytes !== undefined ? `${secret.sizeBytes} bytes` : '—', formatTime(secret.updatedAt ?? null),
      context.can('destroy') ? actionButton('Remove', async () => { await api.delete(`/api/vms/${seg(vm.name)}/secrets/${seg(secret.name)}`); context.reload(); return null; },
        { class: 'small danger', confirm: `Remove the secret ${secret.name} from ${vm.name}? Backups taken from now on no longer carry it; existing points keep theirs.` }) : null,
    ]), { class: 'secrets' });
  }
  return section('Disk-encryption secrets',
    h('p', { class: 'muted' }, 'Values are never shown here; they are sealed into each backup under the vault\'s secrets key. Restore them from a recovery point (admin, or a user allowed to restore keys).'),
    list,
    context.can('configure') ? [h('h3', {}, 'Set a secret'), secretForm(context, vm)] : null);
}

function backupForm(context: PageContext, vm: Vm): HTMLElement {
  const out = h('div', {});
  const form = h('form', { class: 'inline', 'data-testid': 'backup-form' },
    h('label', {}, 'keep for ', h('input', { name: 'retainDays', type: 'number', min: 1, max: 36500, value: 30, class: 'narrow' }), ' days'),
    h('button', { type: 'submit', class: 'primary' }, 'Back up now'), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const days = Number(field(form, 'retainDays'));
    try {
      const answer = await api.post(`/api/vms/${seg(vm.name)}/backups`, field(form, 'retainDays') === '' ? {} : { retainDays: days });
      replace(out, startedJob(context, answer));
    } catch (error) {
      replace(out, errorBox(error, 'The backup did not start'));
    }
  });
  return form;
}

function restoreForm(context: PageContext, vm: Vm, points: Point[]): HTMLElement {
  if (points.length === 0) return emptyState('Nothing to restore yet', 'Restores need a recovery point.');
  const out = h('div', {});
  const newest = [...points].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const form = h('form', { class: 'stacked', 'data-testid': 'restore-form' },
    h('label', {}, 'Recovery point', h('select', { name: 'point' }, newest.map((point, i) => option(point.id, `${formatTime(point.createdAt)} · ${point.type} · ${shortId(point.id)}${i === 0 ? ' (latest)' : ''}`, i === 0)))),
    h('fieldset', {}, h('legend', {}, 'Target'),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'kind', value: 'directory', checked: true }), ' new images in a directory'),
      h('label', {}, 'Directory', h('input', { name: 'path', placeholder: '/srv/restores/web', maxlength: 4096 })),
      h('label', {}, 'Format', h('select', { name: 'format' }, option('raw', 'raw (sparse)', true), option('qcow2', 'qcow2'))),
      h('label', { class: 'radio' }, h('input', { type: 'checkbox', name: 'force' }), ' overwrite existing files'),
      h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'kind', value: 'replace' }), ' replace the VM\'s own disks (only differing blocks are written)')),
    h('button', { type: 'submit', class: 'primary' }, 'Restore'), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const kind = (form.querySelector('input[name=kind]:checked') as HTMLInputElement | null)?.value ?? 'directory';
    let target: Record<string, unknown>;
    if (kind === 'replace') {
      if (!window.confirm(`Replace the disks of ${vm.name} with the point's contents? What they hold now is overwritten.`)) return;
      target = { kind: 'replace' };
    } else {
      target = { kind: 'directory', path: field(form, 'path'), format: field(form, 'format'), force: checked(form, 'force') };
    }
    try {
      const answer = await api.post(`/api/vms/${seg(vm.name)}/restores`, { point: field(form, 'point'), target });
      replace(out, startedJob(context, answer));
    } catch (error) {
      replace(out, errorBox(error, 'The restore did not start'));
    }
  });
  return form;
}

function protectionSection(context: PageContext, vm: Vm, policies: Policy[]): HTMLElement {
  const protection = vm.protection ?? null;
  const path = `/api/vms/${seg(vm.name)}`;
  const done = async () => {
    context.reload();
    return null;
  };
  const actions: HTMLElement[] = [];
  if (!protection) {
    if (context.can('configure')) actions.push(protectForm(context, vm.name, policies));
  } else if (protection.state === 'protected') {
    if (context.can('configure')) actions.push(actionButton('Stop protection (keep data)', async () => { await api.post(`${path}/stop-protection`, { deleteData: false }); return done(); }, { confirm: `Stop scheduled backups of ${vm.name}? Its points are kept.` }));
    if (context.can('destroy')) actions.push(actionButton('Stop and delete data', async () => { await api.post(`${path}/stop-protection`, { deleteData: true }); return done(); }, { class: 'danger', confirm: `Stop protecting ${vm.name} and delete its recovery points? With soft delete on they can be undeleted for 14 days.` }));
  } else if (protection.state === 'stopped-retain') {
    if (context.can('configure')) actions.push(actionButton('Resume protection', async () => { await api.post(`${path}/resume`, {}); return done(); }));
    if (context.can('destroy')) actions.push(actionButton('Delete data', async () => { await api.post(`${path}/delete-data`, {}); return done(); }, { class: 'danger', confirm: `Delete every recovery point of ${vm.name}?` }));
  } else if (protection.state === 'soft-deleted') {
    if (context.can('configure')) actions.push(actionButton('Undelete', async () => { await api.post(`${path}/undelete`, {}); return done(); }));
  }
  return section('Protection',
    h('p', {}, protection ? [badge(protection.state), ' policy ', protection.policyName ? link(`#/policies/${seg(protection.policyName)}`, protection.policyName) : '—',
      protection.purgeAfter ? ` · purged after ${formatTime(protection.purgeAfter)}` : ''] : [badge('unprotected'), ' not protected: no scheduled backups.']),
    h('div', { class: 'buttons' }, actions));
}

export const vmPage: Page = async (context) => {
  const name = context.params.name ?? '';
  const path = `/api/vms/${seg(name)}`;
  const detail = await api.get<VmDetail>(path);
  const vm = detail.vm;
  const [points, policies, secrets, jobs] = await Promise.all([
    api.get<unknown>(`${path}/points`).then((answer) => listOf<Point>(answer, 'points')),
    api.get<unknown>('/api/policies').then((answer) => listOf<Policy>(answer, 'policies')),
    api.get<unknown>(`${path}/secrets`).then((answer) => listOf<Secret>(answer, 'secrets')).catch((error: unknown) => error),
    api.get<unknown>(`/api/jobs${query({ vm: name, limit: 10 })}`).then((answer) => listOf<Job>(answer, 'jobs')),
  ]);
  const disks = table(['disk', 'path', 'role', 'present', 'size', 'problem'], detail.disks.map((disk) => [
    disk.name, h('code', {}, disk.path), disk.backedUp === false ? `${disk.role} (not backed up)` : disk.role,
    disk.exists === false ? h('span', { class: 'bad-text' }, 'missing') : disk.exists ? 'present' : '—',
    formatBytes(disk.sizeBytes ?? null),
    disk.problem ? h('span', { class: 'bad-text' }, disk.problem) : '',
  ]));
  const bars = new Map<string, HTMLElement>();
  const jobRows = jobs.map((job) => {
    const bar = progressBar(job);
    bars.set(job.id, bar);
    return [link(`#/jobs/${seg(job.id)}`, job.id), job.type, badge(job.status), bar, formatTime(job.queuedAt), job.error ? `${job.error.code}: ${job.error.message}` : ''];
  });
  context.onLeave(onJob((job) => {
    const bar = bars.get(job.id);
    if (bar) updateProgressBar(bar, job);
  }));
  return h('div', {},
    h('div', { class: 'page-head' }, h('h1', {}, `VM ${vm.name}`), link('#/vms', '← all VMs')),
    protectionSection(context, vm, policies),
    detail.qemu ? section('QEMU', h('p', {}, detail.qemu.reachable ? `running QEMU answers (${detail.qemu.status ?? 'unknown state'})` : h('span', { class: 'warn-text' }, `QEMU not reachable${detail.qemu.problem ? `: ${detail.qemu.problem}` : ''}`))) : null,
    section('Disks', disks, vm.preScript || vm.postScript ? h('p', { class: 'muted' }, `scripts: pre ${vm.preScript ?? '—'} · post ${vm.postScript ?? '—'}`) : null),
    section('Recovery points', timeline(context, vm, points)),
    context.can('operate') ? section('On-demand backup', backupForm(context, vm)) : null,
    context.can('operate') ? section('Restore', restoreForm(context, vm, points)) : null,
    section('Recent jobs', jobRows.length === 0 ? emptyState('No jobs yet', 'Backups and restores of this VM will be listed here.') : table(['job', 'type', 'status', 'progress', 'queued', 'error'], jobRows)),
    secretsSection(context, vm, secrets));
};
