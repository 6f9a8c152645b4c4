import assert from 'node:assert/strict';
import { isBovedaError, type ErrorCode, type PolicyDefinition } from '../../src/core/index.js';
import type { RecoveryPointRecord } from '../../src/catalog/index.js';

export function coded(code: ErrorCode, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(isBovedaError(error, code), `expected ${code}, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

export function dailyPolicy(name: string, overrides: Partial<PolicyDefinition> = {}): PolicyDefinition {
  return {
    name,
    description: 'nightly, GFS',
    schedule: { kind: 'daily', time: '23:00', timeZone: 'Europe/Madrid' },
    retention: {
      dailyDays: 30,
      weekly: { weeks: 12, weekday: 'sun' },
      monthly: { months: 12, on: { kind: 'weekday', which: 'last', weekday: 'fri' } },
      yearly: { years: 5, month: 12, on: { kind: 'day', day: 'last' } },
    },
    instantRestoreDays: 2,
    ...overrides,
  };
}

export function point(id: string, vmName: string, createdAt: string, overrides: Partial<RecoveryPointRecord> = {}): RecoveryPointRecord {
  return {
    id, vmName, createdAt, parentId: null, type: 'full', trigger: 'scheduled', consistency: 'crash', expiresAt: null,
    logicalBytes: 1000, protectedBytes: 470, referencedBytes: 400, introducedBytes: 300, uniqueBytes: 100,
    introducedStoredBytes: 150, uniqueStoredBytes: 50,
    meta: { disks: [{ name: 'disk0', role: 'os', sizeBytes: 1000 }], warnings: [] },
    ...overrides,
  };
}
