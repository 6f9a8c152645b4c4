import { Type } from '@sinclair/typebox';
import { overview, usageHistory, usageReport } from '../../app/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { checkPriceTable } from '../../core/index.js';
import { AnyObject, Body, Name } from '../schemas.js';

export function overviewRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/overview', summary: 'dashboard: counts, VMs (failures first), running jobs, recent failures, storage', permission: 'view', schema: {},
      handler: async ({ app }) => ({ body: await overview(app) }),
    }),
    defineRoute({
      method: 'GET', url: '/api/usage', summary: 'usage per VM and vault totals, with a billing estimate from the price table', permission: 'view', schema: {},
      handler: async ({ app, signal }) => ({ body: await usageReport(app, { signal }) }),
    }),
    defineRoute({
      method: 'POST', url: '/api/usage/estimate', summary: 'the usage report priced with the given table instead of the stored one (changes nothing; like usage --prices)', permission: 'view',
      schema: { body: Body({ priceTable: AnyObject }) },
      handler: async ({ app, body, signal }) => ({ body: await usageReport(app, { priceTable: checkPriceTable(body.priceTable), signal }) }),
    }),
    defineRoute({
      method: 'GET', url: '/api/usage/history', summary: 'usage samples over time (oldest first): the vault totals, or one VM with ?vm=', permission: 'view',
      schema: { querystring: Type.Object({ vm: Type.Optional(Name('VM name')), days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3660 })) }, { additionalProperties: false }) },
      handler: async ({ app, query }) => ({ body: { samples: await usageHistory(app, { vmName: query.vm, days: query.days }) } }),
    }),
  ];
}
