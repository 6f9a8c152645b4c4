import { Type } from '@sinclair/typebox';
import { createPolicy, retentionShortenings, updatePolicy } from '../../app/index.js';
import { BovedaError, checkPolicy, describeRetention, describeSchedule, type PolicyDefinition, type PolicyRecord } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { AnyObject, Body, Name, PolicyParams } from '../schemas.js';

/** The policy shape of core/policy.ts; core's checkPolicy validates the nested schedule and retention. */
const Policy = Body({
  name: Name('policy name'),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
  schedule: AnyObject,
  retention: AnyObject,
  instantRestoreDays: Type.Integer({ minimum: 1, maximum: 5 }),
});

/** A policy as the API gives it: its fields plus core's wording of schedule and retention (one text for CLI and UI). */
function described<T extends PolicyRecord>(policy: T): T & { scheduleText: string; retentionText: string } {
  return { ...policy, scheduleText: describeSchedule(policy.schedule), retentionText: describeRetention(policy.retention) };
}

export function policyRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/policies', summary: 'every policy, with the VMs it protects', permission: 'view', schema: {},
      handler: async ({ app }) => ({
        body: { policies: await Promise.all((await app.catalog.policies.list()).map(async (policy) => ({ ...described(policy), usedBy: await app.catalog.policies.itemsUsing(policy.name) }))) },
      }),
    }),
    defineRoute({
      method: 'POST', url: '/api/policies', summary: 'create a policy (core/policy.ts shape)', permission: 'configure', schema: { body: Policy },
      handler: async ({ app, body }) => ({ status: 201, body: { policy: await createPolicy(app, { ...body, description: body.description ?? null } as PolicyDefinition) } }),
    }),
    defineRoute({
      method: 'GET', url: '/api/policies/:name', summary: 'one policy', permission: 'view', schema: { params: PolicyParams },
      handler: async ({ app, params }) => ({ body: { policy: described(await app.catalog.policies.get(params.name)), usedBy: await app.catalog.policies.itemsUsing(params.name) } }),
    }),
    defineRoute({
      method: 'PUT', url: '/api/policies/:name', summary: 'change a policy; ?dryRun=true previews what the next cleanup would remove; shorter retention needs destroy (audited)', permission: 'configure',
      schema: { params: PolicyParams, querystring: Type.Object({ dryRun: Type.Optional(Type.Boolean()) }, { additionalProperties: false }), body: Policy },
      handler: async (context) => {
        const { app, params, query, body, signal } = context;
        if (body.name !== params.name) throw new BovedaError('INVALID_ARGUMENT', `body/name "${body.name}" differs from the policy in the path ("${params.name}"): policies cannot be renamed`);
        const definition = { ...body, description: body.description ?? null } as PolicyDefinition;
        // Compared in checkPolicy's normal form: an invalid body is INVALID_ARGUMENT, not a shortening, and
        // an anchor written with its keys in another order is the same anchor.
        const { retention } = checkPolicy(definition);
        const current = await app.catalog.policies.get(params.name);
        const shortened = retentionShortenings(current.retention, retention);
        if (query.dryRun) return { body: { ...(await updatePolicy(app, definition, { dryRun: true, signal })), shortens: shortened } };
        if (shortened.length > 0) context.require('destroy', { action: 'policy.shorten-retention', target: `policy:${params.name}`, details: { changes: shortened } });
        return { body: { ...(await updatePolicy(app, definition)), shortens: shortened } };
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/policies/:name', summary: 'delete a policy no protected VM uses', permission: 'configure', schema: { params: PolicyParams },
      handler: async ({ app, params }) => ({ body: { policy: await app.catalog.policies.delete(params.name) } }),
    }),
  ];
}
