/** Pieces every page uses: error and empty states, status badges, job progress bars, tables, tiles, a started job, a result. */
import { ApiError, seg } from './api.js';
import { h, type Child } from './dom.js';
import { onJob } from './events.js';
import { formatBytes, formatRate, progressPercent } from './format.js';
import type { PageContext } from './page.js';
import type { Job } from './types.js';

/** The API's code and message (never a stack trace, never a blank page). */
export function errorBox(error: unknown, what?: string): HTMLElement {
  const code = error instanceof ApiError ? error.code : 'ERROR';
  const message = error instanceof Error ? error.message : String(error);
  return h('div', { class: 'error', role: 'alert' },
    what ? h('strong', {}, `${what}: `) : null,
    h('code', {}, code), ' ', message);
}

export function emptyState(title: string, text: string, ...actions: Child[]): HTMLElement {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), h('p', {}, text), actions.length > 0 ? h('p', {}, actions) : null);
}

export function notice(text: string): HTMLElement {
  return h('div', { class: 'notice', role: 'status' }, text);
}

const STATUS_CLASS: Record<string, string> = {
  queued: 'neutral',
  'in-progress': 'running',
  completed: 'ok',
  'completed-with-warnings': 'warn',
  failed: 'bad',
  cancelled: 'neutral',
  protected: 'ok',
  'stopped-retain': 'warn',
  'soft-deleted': 'bad',
  billed: 'ok',
  'not-started': 'neutral',
  'not-billed': 'neutral',
  active: 'ok',
  disabled: 'bad',
  // Audit outcomes.
  succeeded: 'ok',
  refused: 'warn',
  on: 'ok',
  off: 'warn',
};

/** A headline number with its label (dashboard, usage, vault). */
export function tile(label: string, value: string, testId?: string): HTMLElement {
  return h('div', { class: 'tile', 'data-testid': testId }, h('div', { class: 'tile-value' }, value), h('div', { class: 'tile-label' }, label));
}

export function badge(text: string | null | undefined): HTMLElement {
  const value = text ?? 'none';
  return h('span', { class: `badge ${STATUS_CLASS[value] ?? 'neutral'}`, 'data-status': value }, value);
}

/** A job's progress bar with percent, bytes and rate; `data-job` lets live updates find it. */
export function progressBar(job: Job): HTMLElement {
  const bar = h('div', { class: 'progress', 'data-progress': job.id });
  updateProgressBar(bar, job);
  return bar;
}

export function updateProgressBar(bar: HTMLElement, job: Job): void {
  const finished = job.status !== 'queued' && job.status !== 'in-progress';
  const percent = job.status === 'completed' || job.status === 'completed-with-warnings' ? 100 : progressPercent(job.progress);
  const label = [
    percent === null ? (finished ? '' : 'starting…') : `${percent.toFixed(0)}%`,
    job.progress.bytesDone > 0 ? `${formatBytes(job.progress.bytesDone)}${job.progress.bytesTotal ? ` of ${formatBytes(job.progress.bytesTotal)}` : ''}` : '',
    !finished && job.progress.bytesPerSecond ? formatRate(job.progress.bytesPerSecond) : '',
  ].filter((part) => part !== '').join(' · ');
  bar.replaceChildren(
    h('div', { class: `progress-fill ${job.status}`, style: `width: ${percent ?? 0}%` }),
    h('span', { class: 'progress-label' }, label || job.status),
  );
  bar.setAttribute('aria-valuenow', String(Math.round(percent ?? 0)));
  bar.setAttribute('role', 'progressbar');
}

export function table(headers: string[], rows: Child[][], options: { class?: string } = {}): HTMLElement {
  return h('table', { class: options.class ?? '' },
    h('thead', {}, h('tr', {}, headers.map((header) => h('th', {}, header)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell) => h('td', {}, cell))))));
}

export function link(href: string, text: string): HTMLAnchorElement {
  return h('a', { href }, text);
}

/** A section with a heading. */
export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

/** Runs an action from a button: disables it meanwhile and shows an error or a result below it. */
export function actionButton(label: string, run: () => Promise<Child>, options: { class?: string; confirm?: string; testId?: string } = {}): HTMLElement {
  const out = h('div', { class: 'action-result' });
  const button = h('button', { type: 'button', class: options.class ?? '', 'data-testid': options.testId ?? null }, label);
  button.addEventListener('click', async () => {
    if (options.confirm && !window.confirm(options.confirm)) return;
    button.disabled = true;
    out.replaceChildren();
    try {
      const shown = await run();
      if (shown !== null && shown !== undefined && shown !== false) out.replaceChildren(typeof shown === 'object' && !Array.isArray(shown) ? shown : String(shown));
    } catch (error) {
      out.replaceChildren(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return h('span', { class: 'action' }, button, out);
}

/**
 * A modal confirmation (a <dialog>, not window.confirm) for actions whose consequences need more
 * than a line to explain. Resolves true only when the confirming button is pressed.
 */
export function confirmDialog(title: string, text: Child, confirmLabel: string, options: { testId?: string } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'data-testid': options.testId ?? null });
    const close = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.addEventListener('cancel', (event) => { event.preventDefault(); close(false); });
    dialog.append(
      h('h2', {}, title),
      h('div', { class: 'confirm-text' }, text),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', 'data-action': 'cancel', onclick: () => close(false) }, 'Cancel'),
        h('button', { type: 'button', class: 'danger', 'data-action': 'confirm', onclick: () => close(true) }, confirmLabel)));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Copies `text` to the clipboard; where the Clipboard API is not available (plain http), selects `source` for Ctrl-C. */
export function copyButton(text: string, source: HTMLElement): HTMLElement {
  const status = h('span', { class: 'muted' });
  const button = h('button', { type: 'button', class: 'small', 'data-action': 'copy' }, 'Copy');
  button.addEventListener('click', async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      status.textContent = ' copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      status.textContent = ' selected: press Ctrl-C to copy';
    }
  });
  return h('span', {}, button, status);
}

/** Shows a started job (202 {job}) with a live progress bar and a link to its page. */
export function startedJob(context: PageContext, answer: unknown): HTMLElement {
  const job = ((answer as { job?: Job } | null)?.job ?? answer) as Job;
  const bar = progressBar(job);
  const status = h('span', { class: 'job-status' }, badge(job.status));
  context.onLeave(onJob((changed) => {
    if (changed.id !== job.id) return;
    updateProgressBar(bar, changed);
    status.replaceChildren(badge(changed.status), changed.error ? h('span', { class: 'bad-text' }, ' ', h('code', {}, changed.error.code), ' ', changed.error.message) : '');
  }));
  return h('div', { class: 'started-job', 'data-job': job.id }, `${job.type} job `, link(`#/jobs/${seg(job.id)}`, job.id), ' ', status, bar);
}

/** A dry run's or a result's fields, sizes in bytes shown as such. */
export function resultView(value: unknown): Child {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : h('ul', {}, value.map((item) => h('li', {}, resultView(item))));
  if (typeof value === 'object') {
    return h('dl', { class: 'result' }, Object.entries(value as Record<string, unknown>).map(([key, item]) => [
      h('dt', {}, key),
      h('dd', {}, typeof item === 'number' && /bytes$/i.test(key) ? formatBytes(item) : resultView(item)),
    ]));
  }
  return String(value);
}
