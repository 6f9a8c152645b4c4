/**
 * Billing, modelled on Azure VM backup: a monthly fee per protected instance, chosen by the
 * instance's size tier, plus storage for the data the vault holds.
 *
 * - Protected instance size: the used (not provisioned) bytes of every disk except temporary ones
 *   (os 17 GB + temp 5 GB + data 30 GB + data 0 GB → 47 GB). When protection is stopped, the size
 *   of the last successful backup is the basis (the caller passes that backup's disks).
 * - Billing starts with the first successful backup, continues while data is kept (protected or
 *   stopped-retain), and stops while the item is soft-deleted (Azure charges nothing for
 *   soft-deleted data) or once its data is gone.
 * - Instance fee: the first tier whose upToBytes holds the size; the last tier (upToBytes null) may
 *   add `pricePerExtra` per started `perExtraBytes` above the previous tier's bound. Azure's
 *   "≤ 50 GB: 5; 50-500 GB: 10; > 500 GB: 10 per 500 GB" is
 *   [{ upToBytes: 50 GB, pricePerMonth: 5 }, { upToBytes: 500 GB, pricePerMonth: 10 },
 *    { upToBytes: null, pricePerMonth: 10, perExtraBytes: 500 GB, pricePerExtra: 10 }]
 *   (1200 GB → 10 + 2 × 10 = 30 = 3 started 500 GB blocks, as Azure bills it).
 * - Storage fee: stored bytes / 2^30 × storagePerGiBMonth.
 */
import { BovedaError } from './errors.js';
import type { ProtectedItem } from './protection.js';

/** The roles of catalog/vm-definition's DiskRole (core cannot import the catalog layer). */
export type BilledDiskRole = 'os' | 'data' | 'temp';
export type BillingState = 'not-started' | 'billed' | 'not-billed';

export interface PriceTier {
  /** Inclusive upper bound of the tier in bytes; null for the last tier (no bound). */
  upToBytes: number | null;
  pricePerMonth: number;
  /** Last tier only: add pricePerExtra per started perExtraBytes above the previous tier's bound. */
  perExtraBytes: number | null;
  pricePerExtra: number | null;
}

export interface PriceTable {
  /** ISO 4217 code, upper case ("EUR"). */
  currency: string;
  /** Ascending by upToBytes; the last has upToBytes null. */
  instanceTiers: PriceTier[];
  storagePerGiBMonth: number;
}

export interface CostEstimate {
  instanceFee: number;
  storageFee: number;
  total: number;
  /** Index into instanceTiers of the tier that priced the instance. */
  tier: number;
}

const GIB = 2 ** 30;

/** The protected instance size: the used bytes of every non-temporary disk. */
export function protectedInstanceBytes(disks: readonly { role: BilledDiskRole; usedBytes: number }[]): number {
  let total = 0;
  disks.forEach((disk, i) => {
    if (disk.role !== 'os' && disk.role !== 'data' && disk.role !== 'temp') {
      throw new BovedaError('INVALID_ARGUMENT', `disks[${i}].role must be os, data or temp, got ${JSON.stringify(disk.role)}`);
    }
    if (typeof disk.usedBytes !== 'number' || !Number.isSafeInteger(disk.usedBytes) || disk.usedBytes < 0) {
      throw new BovedaError('INVALID_ARGUMENT', `disks[${i}].usedBytes must be a non-negative integer, got ${String(disk.usedBytes)}`);
    }
    if (disk.role !== 'temp') total += disk.usedBytes;
  });
  return total;
}

/**
 * Whether an item is billed now. not-started: protected but no successful backup yet. billed:
 * data is kept (protected or stopped-retain, after a successful backup). not-billed: no item,
 * soft-deleted, or stopped without ever having backed up (nothing is stored and nothing will be).
 */
export function billingState(item: ProtectedItem | null, hasSuccessfulBackup: boolean): BillingState {
  if (item === null || item.state === 'soft-deleted') return 'not-billed';
  if (!hasSuccessfulBackup) return item.state === 'protected' ? 'not-started' : 'not-billed';
  return 'billed';
}

function fail(field: string, expectation: string, got: unknown): never {
  let shown: string;
  try {
    shown = got === undefined ? 'nothing' : (JSON.stringify(got) ?? String(got));
  } catch {
    shown = String(got);
  }
  throw new BovedaError('INVALID_ARGUMENT', `price table: ${field} must be ${expectation}, got ${shown}`, { details: { field, value: got } });
}

function price(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(field, 'a non-negative number', value);
  return value;
}

function positiveBytes(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) fail(field, 'a positive integer number of bytes', value);
  return value;
}

/** Validates a price table (e.g. parsed from JSON) and returns a clean copy; errors name the field. */
export function checkPriceTable(input: unknown): PriceTable {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('table', 'an object', input);
  const t = input as Record<string, unknown>;
  if (typeof t.currency !== 'string' || !/^[A-Za-z]{3}$/.test(t.currency)) fail('currency', 'a 3-letter ISO 4217 code such as "EUR"', t.currency);
  const currency = t.currency.toUpperCase();
  if (!Array.isArray(t.instanceTiers) || t.instanceTiers.length === 0) fail('instanceTiers', 'a non-empty list', t.instanceTiers);
  const rawTiers = t.instanceTiers as unknown[];
  const instanceTiers = rawTiers.map((raw, i): PriceTier => {
    const field = `instanceTiers[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(field, 'an object', raw);
    const tier = raw as Record<string, unknown>;
    const isLast = i === rawTiers.length - 1;
    let upToBytes: number | null = null;
    if (isLast) {
      if (tier.upToBytes !== null && tier.upToBytes !== undefined) fail(`${field}.upToBytes`, 'null (the last tier has no bound)', tier.upToBytes);
    } else {
      upToBytes = positiveBytes(tier.upToBytes, `${field}.upToBytes`);
      const previous = i === 0 ? null : (rawTiers[i - 1] as { upToBytes: number }).upToBytes;
      if (previous !== null && upToBytes <= previous) fail(`${field}.upToBytes`, `greater than instanceTiers[${i - 1}].upToBytes (${previous})`, upToBytes);
    }
    const pricePerMonth = price(tier.pricePerMonth, `${field}.pricePerMonth`);
    const hasExtra = (tier.perExtraBytes ?? null) !== null || (tier.pricePerExtra ?? null) !== null;
    if (hasExtra && !isLast) fail(`${field}.perExtraBytes`, 'absent except on the last tier', tier.perExtraBytes ?? tier.pricePerExtra);
    const perExtraBytes = hasExtra ? positiveBytes(tier.perExtraBytes, `${field}.perExtraBytes`) : null;
    const pricePerExtra = hasExtra ? price(tier.pricePerExtra, `${field}.pricePerExtra`) : null;
    return { upToBytes, pricePerMonth, perExtraBytes, pricePerExtra };
  });
  const storagePerGiBMonth = price(t.storagePerGiBMonth, 'storagePerGiBMonth');
  return { currency, instanceTiers, storagePerGiBMonth };
}

/** Rounded to millionths, to drop float noise (0.1 + 0.2); callers format for display. */
function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** The monthly cost of one protected instance of `protectedBytes` storing `storedBytes`. */
export function estimateMonthlyCost(protectedBytes: number, storedBytes: number, table: PriceTable): CostEstimate {
  if (!Number.isFinite(protectedBytes) || protectedBytes < 0) throw new BovedaError('INVALID_ARGUMENT', `protectedBytes must be a non-negative number, got ${protectedBytes}`);
  if (!Number.isFinite(storedBytes) || storedBytes < 0) throw new BovedaError('INVALID_ARGUMENT', `storedBytes must be a non-negative number, got ${storedBytes}`);
  let tier = table.instanceTiers.findIndex((candidate) => candidate.upToBytes === null || protectedBytes <= candidate.upToBytes);
  if (tier < 0) tier = table.instanceTiers.length - 1; // an unchecked table without an open last tier
  const chosen = table.instanceTiers[tier]!;
  let instanceFee = chosen.pricePerMonth;
  if (chosen.perExtraBytes !== null && chosen.pricePerExtra !== null) {
    const floor = tier === 0 ? 0 : (table.instanceTiers[tier - 1]!.upToBytes ?? 0);
    instanceFee += Math.ceil(Math.max(0, protectedBytes - floor) / chosen.perExtraBytes) * chosen.pricePerExtra;
  }
  const storageFee = (storedBytes / GIB) * table.storagePerGiBMonth;
  return { instanceFee: round(instanceFee), storageFee: round(storageFee), total: round(instanceFee + storageFee), tier };
}
