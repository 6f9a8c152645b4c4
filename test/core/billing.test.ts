import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  billingState,
  checkPriceTable,
  estimateMonthlyCost,
  isBovedaError,
  protectedInstanceBytes,
  type PriceTable,
  type ProtectedItem,
} from '../../src/core/index.js';

const GB = 1_000_000_000;
const GIB = 2 ** 30;

/** Azure's published shape: ≤ 50 GB: 5; 50-500 GB: 10; > 500 GB: 10 per started 500 GB. */
const azureLike = {
  currency: 'eur',
  instanceTiers: [
    { upToBytes: 50 * GB, pricePerMonth: 5 },
    { upToBytes: 500 * GB, pricePerMonth: 10 },
    { upToBytes: null, pricePerMonth: 10, perExtraBytes: 500 * GB, pricePerExtra: 10 },
  ],
  storagePerGiBMonth: 0.0224,
};

function item(state: ProtectedItem['state']): ProtectedItem {
  return {
    vmName: 'web-01',
    policyName: 'default',
    state,
    protectedAt: '2026-01-01T00:00:00Z',
    stoppedAt: null,
    softDeletedAt: null,
    purgeAfter: null,
    stateBeforeDelete: null,
  };
}

describe('protectedInstanceBytes', () => {
  it('sums the used bytes of every disk but temporary ones (the seeds\' 47 GB example)', () => {
    const disks = [
      { role: 'os' as const, usedBytes: 17 * GB },
      { role: 'temp' as const, usedBytes: 5 * GB },
      { role: 'data' as const, usedBytes: 30 * GB },
      { role: 'data' as const, usedBytes: 0 },
    ];
    assert.equal(protectedInstanceBytes(disks), 47 * GB);
    assert.equal(protectedInstanceBytes([]), 0);
  });

  it('names the disk at fault', () => {
    assert.throws(() => protectedInstanceBytes([{ role: 'os', usedBytes: 1 }, { role: 'data', usedBytes: -1 }]), { message: 'disks[1].usedBytes must be a non-negative integer, got -1' });
    assert.throws(() => protectedInstanceBytes([{ role: 'swap' as 'temp', usedBytes: 1 }]), /disks\[0\]\.role/);
  });
});

describe('billingState', () => {
  it('does not start before the first successful backup', () => {
    assert.equal(billingState(item('protected'), false), 'not-started');
  });
  it('bills while data is kept', () => {
    assert.equal(billingState(item('protected'), true), 'billed');
    assert.equal(billingState(item('stopped-retain'), true), 'billed');
  });
  it('does not bill soft-deleted items, missing items or items with no data', () => {
    assert.equal(billingState(item('soft-deleted'), true), 'not-billed');
    assert.equal(billingState(item('soft-deleted'), false), 'not-billed');
    assert.equal(billingState(null, true), 'not-billed');
    assert.equal(billingState(null, false), 'not-billed');
    assert.equal(billingState(item('stopped-retain'), false), 'not-billed');
  });
});

describe('price tables', () => {
  it('checks and normalizes a table', () => {
    const table = checkPriceTable(azureLike);
    assert.equal(table.currency, 'EUR');
    assert.deepEqual(table.instanceTiers[0], { upToBytes: 50 * GB, pricePerMonth: 5, perExtraBytes: null, pricePerExtra: null });
    assert.deepEqual(table.instanceTiers[2], { upToBytes: null, pricePerMonth: 10, perExtraBytes: 500 * GB, pricePerExtra: 10 });
    assert.deepEqual(checkPriceTable({ currency: 'USD', instanceTiers: [{ upToBytes: null, pricePerMonth: 0 }], storagePerGiBMonth: 0 }).instanceTiers.length, 1);
  });

  it('names the field at fault', () => {
    const bad = (change: (table: typeof azureLike & Record<string, unknown>) => void, field: string): void => {
      const table = structuredClone(azureLike) as typeof azureLike & Record<string, unknown>;
      change(table);
      assert.throws(
        () => checkPriceTable(table),
        (error) => isBovedaError(error, 'INVALID_ARGUMENT') && error.message.startsWith(`price table: ${field} must be`),
        field,
      );
    };
    assert.throws(() => checkPriceTable(null), /price table: table must be an object/);
    bad((t) => (t.currency = 'euro'), 'currency');
    bad((t) => delete (t as Record<string, unknown>).currency, 'currency');
    bad((t) => (t.instanceTiers = []), 'instanceTiers');
    bad((t) => (t.instanceTiers[1]!.upToBytes = 50 * GB), 'instanceTiers[1].upToBytes');
    bad((t) => (t.instanceTiers[0]!.upToBytes = 0), 'instanceTiers[0].upToBytes');
    bad((t) => (t.instanceTiers[1]!.upToBytes = null as unknown as number), 'instanceTiers[1].upToBytes');
    bad((t) => (t.instanceTiers[2]!.upToBytes = 900 * GB as unknown as null), 'instanceTiers[2].upToBytes');
    bad((t) => (t.instanceTiers[0]!.pricePerMonth = -1), 'instanceTiers[0].pricePerMonth');
    bad((t) => ((t.instanceTiers[0] as Record<string, unknown>).pricePerExtra = 3), 'instanceTiers[0].perExtraBytes');
    bad((t) => ((t.instanceTiers[2] as Record<string, unknown>).perExtraBytes = 0), 'instanceTiers[2].perExtraBytes');
    bad((t) => ((t.instanceTiers[2] as Record<string, unknown>).pricePerExtra = null), 'instanceTiers[2].pricePerExtra');
    bad((t) => (t.storagePerGiBMonth = Number.NaN), 'storagePerGiBMonth');
  });
});

describe('estimateMonthlyCost', () => {
  const table: PriceTable = checkPriceTable(azureLike);

  it('prices the instance by its size tier', () => {
    assert.deepEqual(estimateMonthlyCost(47 * GB, 0, table), { instanceFee: 5, storageFee: 0, total: 5, tier: 0 });
    assert.equal(estimateMonthlyCost(50 * GB, 0, table).tier, 0);
    assert.equal(estimateMonthlyCost(50 * GB + 1, 0, table).instanceFee, 10);
    assert.equal(estimateMonthlyCost(500 * GB, 0, table).instanceFee, 10);
    // Above 500 GB: 10 per started 500 GB, as Azure bills it.
    assert.deepEqual(estimateMonthlyCost(501 * GB, 0, table), { instanceFee: 20, storageFee: 0, total: 20, tier: 2 });
    assert.equal(estimateMonthlyCost(1000 * GB, 0, table).instanceFee, 20);
    assert.equal(estimateMonthlyCost(1200 * GB, 0, table).instanceFee, 30);
  });

  it('adds storage per GiB-month', () => {
    const cost = estimateMonthlyCost(47 * GB, 100 * GIB, table);
    assert.equal(cost.storageFee, 2.24);
    assert.equal(cost.total, 7.24);
    assert.equal(estimateMonthlyCost(0, GIB / 2, table).storageFee, 0.0112);
    assert.throws(() => estimateMonthlyCost(-1, 0, table), /protectedBytes/);
  });
});
