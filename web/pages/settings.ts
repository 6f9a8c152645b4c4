/**
 * Settings: soft delete and the price table. Everyone sees the values; a contributor (configure)
 * changes them. Turning soft delete off is destructive (deleted data goes at once), so it asks
 * through a dialog that says so and sends confirmPermanentDeletion; the API's refusal (e.g. while
 * items are soft-deleted) is shown as it comes.
 */
import { api, ApiError } from '../api.js';
import { badge, confirmDialog, emptyState, errorBox, section, table } from '../components.js';
import { h, replace } from '../dom.js';
import { formatBytes, formatMoney } from '../format.js';
import type { Page, PageContext } from '../page.js';

interface PriceTier { upToBytes: number | null; pricePerMonth: number; perExtraBytes: number | null; pricePerExtra: number | null }
interface PriceTable { currency: string; instanceTiers: PriceTier[]; storagePerGiBMonth: number }
interface Settings { softDelete: boolean; priceTable: PriceTable | null }

/** What the editor starts with when no table is stored: a valid table to adapt. */
const EXAMPLE_TABLE: PriceTable = {
  currency: 'EUR',
  instanceTiers: [
    { upToBytes: 50 * 2 ** 30, pricePerMonth: 5, perExtraBytes: null, pricePerExtra: null },
    { upToBytes: 500 * 2 ** 30, pricePerMonth: 10, perExtraBytes: null, pricePerExtra: null },
    { upToBytes: null, pricePerMonth: 10, perExtraBytes: 500 * 2 ** 30, pricePerExtra: 10 },
  ],
  storagePerGiBMonth: 0.02,
};

function softDeleteSection(context: PageContext, enabled: boolean): HTMLElement {
  const out = h('div', { 'data-testid': 'soft-delete-result' });
  const set = async (on: boolean) => {
    if (!on) {
      const confirmed = await confirmDialog('Turn soft delete off?',
        [h('p', {}, 'With soft delete off, deleting a VM\'s backup data removes its recovery points at once: they cannot be undeleted.'),
          h('p', {}, 'The server refuses this change while any VM is soft-deleted (undelete it, or wait for its purge).')],
        'Turn off: delete at once', { testId: 'soft-delete-dialog' });
      if (!confirmed) return;
    }
    try {
      await api.put('/api/settings/soft-delete', on ? { enabled: true } : { enabled: false, confirmPermanentDeletion: true });
      context.reload();
    } catch (error) {
      replace(out, errorBox(error, on ? 'Soft delete was not turned on' : 'Soft delete was not turned off'));
    }
  };
  let action: HTMLElement | null = null;
  if (enabled && context.can('destroy')) action = h('button', { type: 'button', class: 'danger', 'data-action': 'soft-delete-off', onclick: () => void set(false) }, 'Turn soft delete off…');
  else if (!enabled && context.can('configure')) action = h('button', { type: 'button', class: 'primary', 'data-action': 'soft-delete-on', onclick: () => void set(true) }, 'Turn soft delete on');
  return section('Soft delete',
    h('p', { 'data-testid': 'soft-delete-state' }, badge(enabled ? 'on' : 'off'), enabled
      ? ' Deleted backup data is kept for 14 days and can be undeleted meanwhile.'
      : ' Deleted backup data is removed at once.'),
    action ?? h('p', { class: 'muted' }, 'Changing this needs the contributor role.'),
    out);
}

function priceTableView(priceTable: PriceTable | null): HTMLElement {
  if (!priceTable) return emptyState('No price table', 'Usage shows no monthly estimate until a price table is stored.');
  const currency = priceTable.currency;
  let from = 0;
  const rows = priceTable.instanceTiers.map((tier) => {
    const range = tier.upToBytes === null ? (from === 0 ? 'any' : `over ${formatBytes(from)}`) : `${formatBytes(from)} – ${formatBytes(tier.upToBytes)}`;
    if (tier.upToBytes !== null) from = tier.upToBytes;
    const extra = tier.perExtraBytes !== null && tier.pricePerExtra !== null ? ` + ${formatMoney(tier.pricePerExtra, currency)} per ${formatBytes(tier.perExtraBytes)} more` : '';
    return [range, `${formatMoney(tier.pricePerMonth, currency)}${extra}`];
  });
  return h('div', { 'data-testid': 'price-table' },
    table(['protected size of a VM', 'per VM and month'], rows),
    h('p', {}, `Storage: ${formatMoney(priceTable.storagePerGiBMonth, currency)} per GiB stored and month.`));
}

function priceTableEditor(context: PageContext, priceTable: PriceTable | null): HTMLElement {
  const out = h('div', { 'data-testid': 'price-table-result' });
  const textarea = h('textarea', { name: 'priceTable', class: 'code', spellcheck: 'false', 'aria-label': 'price table (JSON)' });
  textarea.value = JSON.stringify(priceTable ?? EXAMPLE_TABLE, null, 2);
  const form = h('form', { class: 'stacked', 'data-testid': 'price-table-form' },
    h('p', { class: 'muted' }, 'JSON: currency (ISO code), instanceTiers (upToBytes ascending, the last null; only the last may charge per extra bytes), storagePerGiBMonth.'),
    textarea,
    h('div', { class: 'buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Save price table'),
      priceTable ? h('button', { type: 'button', 'data-action': 'remove-price-table', onclick: () => void save(null) }, 'Remove price table') : null),
    out);
  const save = async (value: unknown) => {
    try {
      await api.put('/api/settings/price-table', { priceTable: value });
      context.reload();
    } catch (error) {
      replace(out, errorBox(error, 'The price table was not saved'));
    }
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(textarea.value);
    } catch (error) {
      // Caught here, with the same code the API gives malformed JSON: nothing is sent.
      replace(out, errorBox(new ApiError(0, 'INVALID_ARGUMENT', `the price table is not valid JSON: ${error instanceof Error ? error.message : String(error)}`), 'The price table was not saved'));
      return;
    }
    void save(parsed);
  });
  return form;
}

export const settingsPage: Page = async (context) => {
  const settings = await api.get<Settings>('/api/settings');
  return h('div', {},
    h('h1', {}, 'Settings'),
    softDeleteSection(context, settings.softDelete),
    section('Price table', priceTableView(settings.priceTable),
      context.can('configure') ? [h('h3', {}, settings.priceTable ? 'Change' : 'Store one'), priceTableEditor(context, settings.priceTable)] : h('p', { class: 'muted' }, 'Changing the price table needs the contributor role.')));
};
