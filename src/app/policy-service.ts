import { checkPolicy, type PolicyDefinition, type PolicyRecord, type RetentionRules } from '../core/index.js';
import type { AppContext } from './app-context.js';
import { runCleanup, type CleanupReport } from './cleanup-service.js';

export async function createPolicy(app: AppContext, definition: PolicyDefinition): Promise<PolicyRecord> {
  return app.catalog.policies.create(checkPolicy(definition));
}

export interface PolicyUpdate {
  policy: PolicyRecord | PolicyDefinition;
  /** What the next cleanup would remove under the new definition (VMs using the policy only); with dryRun only. */
  preview: CleanupReport | null;
}

/**
 * Changes a policy; the change applies to existing points at the next cleanup (retention is
 * computed from the policy each time, never stored per point). With dryRun nothing changes and the
 * preview says which points of the VMs using the policy the next cleanup would remove, and the
 * bytes that would free.
 */
export async function updatePolicy(app: AppContext, definition: PolicyDefinition, options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<PolicyUpdate> {
  const checked = checkPolicy(definition);
  await app.catalog.policies.get(checked.name);
  if (!options.dryRun) return { policy: await app.catalog.policies.update(checked), preview: null };
  const vmNames = await app.catalog.policies.itemsUsing(checked.name);
  const preview = await runCleanup(app, { dryRun: true, vmNames, policyOverrides: new Map([[checked.name, checked]]), signal: options.signal });
  return { policy: checked, preview };
}

/**
 * How a policy change shortens retention, one phrase per tier (empty when it does not): fewer days,
 * weeks, months or years, a tier dropped, or its anchor moved (points kept for the old anchor lose
 * their slot). A shortening is a destructive change: the server asks for the destroy permission
 * and audits it.
 */
export function retentionShortenings(before: RetentionRules, after: RetentionRules): string[] {
  const found: string[] = [];
  if (after.dailyDays < before.dailyDays) found.push(`daily ${before.dailyDays} → ${after.dailyDays} days`);
  const tier = (name: string, old: { count: number; anchor: unknown } | null, next: { count: number; anchor: unknown } | null) => {
    if (old === null) return;
    if (next === null) found.push(`${name} tier removed`);
    else if (next.count < old.count) found.push(`${name} ${old.count} → ${next.count}`);
    else if (JSON.stringify(next.anchor) !== JSON.stringify(old.anchor)) found.push(`${name} anchor changed`);
  };
  const weekly = (rules: RetentionRules) => (rules.weekly ? { count: rules.weekly.weeks, anchor: rules.weekly.weekday } : null);
  const monthly = (rules: RetentionRules) => (rules.monthly ? { count: rules.monthly.months, anchor: rules.monthly.on } : null);
  const yearly = (rules: RetentionRules) => (rules.yearly ? { count: rules.yearly.years, anchor: [rules.yearly.month, rules.yearly.on] } : null);
  tier('weekly', weekly(before), weekly(after));
  tier('monthly', monthly(before), monthly(after));
  tier('yearly', yearly(before), yearly(after));
  return found;
}
