import { Type } from '@sinclair/typebox';
import { checkCleanupVms, PRICE_TABLE_SETTING, previewGc, runCleanup, runCleanupJob, runGcJob, runVerifyJob, setSoftDelete, SOFT_DELETE_SETTING } from '../../app/index.js';
import { BovedaError, checkPriceTable } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { AnyObject, Body, JOB_STARTED, Name } from '../schemas.js';

export function vaultRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/vault', summary: 'vault info and health: last verify job and its result, last gc job, size', permission: 'view', schema: {},
      handler: async ({ app }) => {
        const vault = await app.vault();
        const { mac: _mac, ...config } = vault.config as typeof vault.config & { mac?: unknown };
        const [lastVerify] = await app.catalog.jobs.list({ type: 'verify', limit: 1 });
        const [lastGc] = await app.catalog.jobs.list({ type: 'gc', limit: 1 });
        const [lastCleanup] = await app.catalog.jobs.list({ type: 'cleanup', limit: 1 });
        const [sample] = await app.catalog.usage.list({ vmName: null, limit: 1 });
        return {
          body: {
            config, lastVerify: lastVerify ?? null, lastGc: lastGc ?? null, lastCleanup: lastCleanup ?? null,
            size: sample ? { storedBytes: sample.storedBytes, protectedBytes: sample.protectedBytes, points: sample.points, sampledAt: sample.time } : null,
          },
        };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/vault/verify', summary: 'check every point can be restored (readData: also read every stored byte): a job (202)', permission: 'operate',
      schema: { body: Body({ readData: Type.Optional(Type.Boolean()) }), response: JOB_STARTED },
      handler: async ({ app, body, startJob }) => ({
        status: 202, body: { job: await startJob({ type: 'verify', item: null, trigger: 'on-demand' }, (queued, signal) => runVerifyJob(app, { readData: body.readData, signal }, queued)) },
      }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vault/gc', summary: 'remove blocks no point references and rewrite sparse packs: a job (202); dryRun answers what it would free (200)', permission: 'configure',
      schema: { body: Body({ repackBelow: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })), dryRun: Type.Optional(Type.Boolean()) }), response: { 200: AnyObject, ...JOB_STARTED } },
      handler: async ({ app, body, startJob, signal }) => {
        if (body.dryRun) return { body: { report: await previewGc(app, { repackBelow: body.repackBelow, signal }) } };
        return { status: 202, body: { job: await startJob({ type: 'gc', item: null, trigger: 'on-demand' }, (queued, jobSignal) => runGcJob(app, { repackBelow: body.repackBelow, signal: jobSignal }, queued)) } };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/cleanup', summary: 'remove what retention no longer keeps (vm: only that VM or those VMs): dryRun answers the plan (200), else a job (202)', permission: 'configure',
      schema: {
        body: Body({
          dryRun: Type.Optional(Type.Boolean()),
          vm: Type.Optional(Type.Union([Name('VM name'), Type.Array(Name('VM name'), { minItems: 1, maxItems: 64 })], { description: 'only this VM (or these), like cleanup --vm' })),
        }),
        response: { 200: AnyObject, ...JOB_STARTED },
      },
      handler: async ({ app, body, startJob, signal }) => {
        const vmNames = body.vm === undefined ? undefined : await checkCleanupVms(app, typeof body.vm === 'string' ? [body.vm] : body.vm);
        if (body.dryRun) return { body: { plan: await runCleanup(app, { dryRun: true, vmNames, signal }) } };
        const item = vmNames?.length === 1 ? vmNames[0]! : null;
        const job = await startJob({ type: 'cleanup', item, trigger: 'on-demand' }, (queued, jobSignal) => runCleanupJob(app, 'on-demand', { vmNames, signal: jobSignal }, queued));
        return { status: 202, body: { job } };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/settings', summary: 'soft delete and the price table', permission: 'view', schema: {},
      handler: async ({ app }) => ({ body: { softDelete: await app.catalog.settings.get(SOFT_DELETE_SETTING, true), priceTable: await app.catalog.settings.get(PRICE_TABLE_SETTING, null) } }),
    }),
    defineRoute({
      method: 'PUT', url: '/api/settings/soft-delete', summary: 'turn soft delete on, or off (destroy, audited; needs confirmPermanentDeletion:true)', permission: 'configure',
      schema: { body: Body({ enabled: Type.Boolean(), confirmPermanentDeletion: Type.Optional(Type.Boolean()) }) },
      handler: async (context) => {
        const { app, body } = context;
        if (!body.enabled) context.require('destroy', { action: 'settings.soft-delete-off', target: null });
        if (!body.enabled && body.confirmPermanentDeletion !== true) {
          throw new BovedaError('INVALID_ARGUMENT', 'turning soft delete off makes deleted backup data unrecoverable at once: repeat with "confirmPermanentDeletion": true');
        }
        await setSoftDelete(app, body.enabled, body.confirmPermanentDeletion === true);
        return { body: { softDelete: body.enabled } };
      },
    }),
    defineRoute({
      method: 'PUT', url: '/api/settings/price-table', summary: 'store the price table usage estimates use (null removes it)', permission: 'configure',
      schema: { body: Body({ priceTable: Type.Union([AnyObject, Type.Null()]) }) },
      handler: async ({ app, body }) => {
        const table = body.priceTable === null ? null : checkPriceTable(body.priceTable);
        await app.catalog.settings.set(PRICE_TABLE_SETTING, table);
        return { body: { priceTable: table } };
      },
    }),
  ];
}
