import { checkPolicy, type PolicyDefinition, type PolicyRecord } from '../core/index.js';
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
