/**
 * The API end to end in process: add a VM backed by an image file, protect it, back it up on
 * demand (202, job followed to completed, also through the job event source), list its points,
 * restore it to an allowed directory (file equal to the source), usage history and overview; the
 * audit of destructive actions (refused and succeeded); OpenAPI lists every route with its schemas.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiRoutes, jobEvents, openApiPath } from '../../src/api/index.js';
import type { StoredJob } from '../../src/app/index.js';
import { defaultPolicy } from '../../src/core/index.js';
import { assertClientError, call, startTestServer, waitForJob, writeImage, type TestServer } from './helpers.js';

describe('API workflow', () => {
  let t: TestServer;
  let source: Buffer;
  let backupJob: StoredJob;
  before(async () => {
    t = await startTestServer();
    source = await writeImage(join(t.images, 'web.img'));
  });
  after(async () => {
    await t.close();
  });

  it('adds a VM, protects it, backs it up on demand and follows the job to completed', async () => {
    const added = await call(t.server, 'POST', '/api/vms', { role: 'contributor', body: { name: 'web', disks: [{ path: join(t.images, 'web.img') }] } });
    assert.equal(added.statusCode, 201, added.body);
    assert.equal(added.json<{ vm: { disks: { path: string }[] } }>().vm.disks[0]!.path, join(t.images, 'web.img'));
    const policy = await call(t.server, 'POST', '/api/policies', { role: 'contributor', body: defaultPolicy('gold') });
    assert.equal(policy.statusCode, 201, policy.body);
    const protect = await call(t.server, 'POST', '/api/vms/web/protect', { role: 'contributor', body: { policy: 'gold' } });
    assert.equal(protect.statusCode, 200, protect.body);

    const started = await call(t.server, 'POST', '/api/vms/web/backups', { role: 'operator', body: { retainDays: 7, snapshot: false } });
    assert.equal(started.statusCode, 202, started.body);
    const queued = started.json<{ job: StoredJob }>().job;
    assert.equal(queued.type, 'backup');
    assert.ok(['queued', 'in-progress'].includes(queued.status));
    // Follow it through the event source: the last event is the finished job.
    const seen: StoredJob[] = [];
    for await (const job of jobEvents(t.app.catalog, { jobId: queued.id, pollMs: 20, signal: AbortSignal.timeout(60_000) })) seen.push(job);
    // With warnings on file systems without reflink clones (no point-in-time snapshot): still a good point.
    const done = ['completed', 'completed-with-warnings'];
    assert.ok(done.includes(seen.at(-1)!.status), JSON.stringify(seen.at(-1)));
    assert.ok(seen.length >= 2, 'the event source saw the job before it finished');
    backupJob = await waitForJob(t.server, queued.id);
    assert.ok(done.includes(backupJob.status));
    assert.equal(backupJob.progress.bytesDone, source.length);
  });

  it('lists the point with retention and bytes; the VM, overview and usage history show it', async () => {
    const points = (await call(t.server, 'GET', '/api/vms/web/points', { role: 'reader' })).json<{ points: { id: string; retention: { keep: boolean }; disks: unknown[] }[] }>().points;
    assert.equal(points.length, 1);
    assert.equal(points[0]!.id, backupJob.result!.pointId);
    assert.equal(points[0]!.retention.keep, true);
    const vm = (await call(t.server, 'GET', '/api/vms/web', { role: 'reader' })).json<{ vm: { points: number; protection: { state: string } }; disks: { exists: boolean }[] }>();
    assert.equal(vm.vm.points, 1);
    assert.equal(vm.vm.protection.state, 'protected');
    assert.equal(vm.disks[0]!.exists, true);
    const overview = (await call(t.server, 'GET', '/api/overview', { role: 'reader' })).json<{ counts: { protected: number; points: number }; vms: { lastBackup: { status: string } }[] }>();
    assert.equal(overview.counts.protected, 1);
    assert.equal(overview.counts.points, 1);
    assert.match(overview.vms[0]!.lastBackup.status, /^completed/);
    const history = (await call(t.server, 'GET', '/api/usage/history?days=1', { role: 'reader' })).json<{ samples: { points: number; storedBytes: number; vmName: null }[] }>().samples;
    assert.equal(history.length, 1);
    assert.equal(history[0]!.points, 1);
    assert.ok(history[0]!.storedBytes > 0);
    const perVm = (await call(t.server, 'GET', '/api/usage/history?vm=web', { role: 'reader' })).json<{ samples: { vmName: string }[] }>().samples;
    assert.equal(perVm[0]!.vmName, 'web');
  });

  it('restores the point to an allowed directory: the image equals the source', async () => {
    const started = await call(t.server, 'POST', '/api/vms/web/restores', { role: 'operator', body: { target: { kind: 'directory', path: join(t.restores, 'r1') } } });
    assert.equal(started.statusCode, 202, started.body);
    const job = await waitForJob(t.server, started.json<{ job: StoredJob }>().job.id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.deepEqual(await readFile(join(t.restores, 'r1', 'disk0.img')), source);
    // Again without force: the job fails naming the existing file; with force it completes.
    const again = await waitForJob(t.server, (await call(t.server, 'POST', '/api/vms/web/restores', { body: { target: { kind: 'directory', path: join(t.restores, 'r1') } } })).json<{ job: StoredJob }>().job.id);
    assert.equal(again.status, 'failed');
    assert.equal(again.error!.code, 'RESTORE_TARGET_EXISTS');
  });

  it('verifies the vault and runs gc as jobs; GET /api/vault shows the last verify', async () => {
    const verify = await waitForJob(t.server, (await call(t.server, 'POST', '/api/vault/verify', { role: 'operator', body: {} })).json<{ job: StoredJob }>().job.id);
    assert.equal(verify.status, 'completed');
    assert.equal(verify.result!.ok, true);
    const gc = await waitForJob(t.server, (await call(t.server, 'POST', '/api/vault/gc', { role: 'contributor', body: {} })).json<{ job: StoredJob }>().job.id);
    assert.equal(gc.status, 'completed', JSON.stringify(gc.error));
    const vault = (await call(t.server, 'GET', '/api/vault', { role: 'reader' })).json<{ lastVerify: StoredJob; lastGc: StoredJob; config: { vaultId: string } }>();
    assert.equal(vault.lastVerify.id, verify.id);
    assert.equal(vault.lastGc.id, gc.id);
    assert.ok(vault.config.vaultId);
    const plan = await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { dryRun: true } });
    assert.equal(plan.statusCode, 200, plan.body);
  });

  it('a shortened retention is audited; a refused delete-data is audited as refused, an allowed one as succeeded', async () => {
    const shorter = { ...defaultPolicy('gold'), retention: { ...defaultPolicy('gold').retention, dailyDays: 7 } };
    const preview = await call(t.server, 'PUT', '/api/policies/gold?dryRun=true', { role: 'contributor', body: shorter });
    assert.equal(preview.statusCode, 200, preview.body);
    assert.deepEqual(preview.json<{ shortens: string[] }>().shortens, ['daily 30 → 7 days']);
    assert.equal((await t.app.catalog.policies.get('gold')).retention.dailyDays, 30, 'a dry run changes nothing');
    assert.equal((await call(t.server, 'PUT', '/api/policies/gold', { role: 'contributor', body: shorter })).statusCode, 200);

    assertClientError(await call(t.server, 'POST', '/api/vms/web/delete-data', { role: 'operator', body: {} }), 403, 'FORBIDDEN', /contributor/);
    const deleted = await call(t.server, 'POST', '/api/vms/web/stop-protection', { role: 'contributor', body: { deleteData: true } });
    assert.equal(deleted.statusCode, 200, deleted.body);
    const audit = await t.app.catalog.audit.list();
    const summary = audit.map((entry) => `${entry.action} ${entry.target} ${entry.outcome} ${entry.userName}`).reverse();
    assert.deepEqual(summary, [
      'policy.shorten-retention policy:gold succeeded contributor-user',
      'protection.delete-data vm:web refused operator-user',
      'protection.delete-data vm:web succeeded contributor-user',
    ]);
    assert.equal((await t.app.catalog.items.get('web')).state, 'soft-deleted');
    // Soft delete off: refused without the confirmation, audited when done.
    await t.app.catalog.items.transition('web', ['soft-deleted'], { state: 'stopped-retain', softDeletedAt: null, purgeAfter: null, stateBeforeDelete: null });
    assertClientError(await call(t.server, 'PUT', '/api/settings/soft-delete', { role: 'contributor', body: { enabled: false } }), 400, 'INVALID_ARGUMENT', /confirmPermanentDeletion/);
    assert.equal((await call(t.server, 'PUT', '/api/settings/soft-delete', { role: 'contributor', body: { enabled: false, confirmPermanentDeletion: true } })).statusCode, 200);
    assert.equal((await call(t.server, 'GET', '/api/settings', { role: 'reader' })).json<{ softDelete: boolean }>().softDelete, false);
    assert.equal((await t.app.catalog.audit.list({ action: 'settings.soft-delete-off' })).filter((entry) => entry.outcome === 'succeeded').length, 1);
  });

  it('login sets the session cookie; the cookie authenticates; cookie writes need JSON; logout clears it', async () => {
    const login = await call(t.server, 'POST', '/api/login', { role: null, body: { name: 'operator-user', password: 'right password' } });
    assert.equal(login.statusCode, 200, login.body);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /^boveda_session=tok-operator; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/);
    const me = await call(t.server, 'GET', '/api/me', { role: null, headers: { cookie: 'boveda_session=tok-operator' } });
    assert.deepEqual(me.json(), { name: 'operator-user', role: 'operator', keyRestore: false, permissions: ['view', 'operate'] });
    const form = await t.server.inject({ method: 'POST', url: '/api/logout', headers: { cookie: 'boveda_session=tok-operator', 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=b' });
    assertClientError(form, 400, 'INVALID_ARGUMENT', /Content-Type: application\/json/);
    const logout = await call(t.server, 'POST', '/api/logout', { role: null, headers: { cookie: 'boveda_session=tok-operator', 'content-type': 'application/json' } });
    assert.equal(logout.statusCode, 200, logout.body);
    assert.match(String(logout.headers['set-cookie']), /Max-Age=0/);
    assert.deepEqual(t.auth.logouts, ['id-operator']);
    const wrong = await call(t.server, 'POST', '/api/login', { role: null, body: { name: 'operator-user', password: 'nope' } });
    assertClientError(wrong, 401, 'AUTH_FAILED');
    const throttled = await call(t.server, 'POST', '/api/login', { role: null, body: { name: 'slow', password: 'x' } });
    assertClientError(throttled, 429, 'RATE_LIMITED');
    assert.equal(throttled.headers['retry-after'], '30');
  });

  it('the OpenAPI document lists every route with its permission and the schemas fastify validates with', async () => {
    const response = await call(t.server, 'GET', '/api/openapi.json', { role: 'reader' });
    const document = JSON.parse(response.body) as { openapi: string; paths: Record<string, Record<string, { 'x-permission': string | null; requestBody?: { content: { 'application/json': { schema: { properties: Record<string, unknown>; additionalProperties: boolean } } } }; parameters: { name: string }[] }>> };
    assert.equal(document.openapi, '3.1.0');
    for (const route of apiRoutes()) {
      const operation = document.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${route.url} is missing`);
      assert.equal(operation['x-permission'], route.permission);
      if (route.schema.body) assert.ok(operation.requestBody, `${route.method} ${route.url} has no request body schema`);
      if (route.schema.params) assert.ok(operation.parameters.length > 0);
    }
    const addVm = document.paths['/api/vms']!.post!.requestBody!.content['application/json'].schema;
    assert.equal(addVm.additionalProperties, false);
    assert.deepEqual(addVm.properties.name, { minLength: 1, maxLength: 64, description: 'VM name', type: 'string' });
    assert.deepEqual(document.paths['/api/vms/{name}']!.get!.parameters.map((parameter) => parameter.name), ['name']);
  });
});
