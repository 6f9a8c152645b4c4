/**
 * Bad input never gets a 500 or a stack trace: malformed JSON, wrong content type, unknown ids, huge
 * and odd strings, paths outside the allowed roots (also through `..` and a symlink), wrong or
 * expired tokens, unknown routes — each a 4xx with a code and a clear message.
 */
import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXPIRED_TOKEN, assertClientError, call, startTestServer, writeImage, type TestServer } from './helpers.js';

describe('bad input', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
    await writeImage(join(t.images, 'ok.img'), 128 * 1024);
  });
  after(async () => {
    await t.close();
  });

  it('malformed JSON, an unsupported content type, an empty and a huge body', async () => {
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: '{"name": "x", ' }), 400, 'INVALID_ARGUMENT', /not valid JSON/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: 'name=x', headers: { 'content-type': 'text/plain' } }), 415, 'INVALID_ARGUMENT', /Content-Type/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: '' }), 400, 'INVALID_ARGUMENT', /name/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'x'.repeat(2 * 1024 * 1024), disks: [] } }), 413, 'INVALID_ARGUMENT', /too large/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: [1, 2] }), 400, 'INVALID_ARGUMENT', /object/);
  });

  it('validation names the field: long, odd and extra values', async () => {
    const path = join(t.images, 'ok.img');
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'n'.repeat(65), disks: [{ path }] } }), 400, 'INVALID_ARGUMENT', /body\/name .*64/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path }], extra: 1 } }), 400, 'INVALID_ARGUMENT', /additional properties/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'we\u0000b', disks: [{ path }] } }), 400, 'INVALID_ARGUMENT', /VM name/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'wéb✓', disks: [{ path }] } }), 400, 'INVALID_ARGUMENT', /VM name/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: '../etc', disks: [{ path }] } }), 400, 'INVALID_ARGUMENT');
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: 'p'.repeat(5000) }] } }), 400, 'INVALID_ARGUMENT', /4096/);
    assertClientError(await call(t.server, 'POST', '/api/vms/web/backups', { body: { retainDays: 'soon' } }), 400, 'INVALID_ARGUMENT', /retainDays/);
    assertClientError(await call(t.server, 'GET', '/api/jobs?limit=-4'), 400, 'INVALID_ARGUMENT', /limit/);
    assertClientError(await call(t.server, 'GET', '/api/jobs?status=done'), 400, 'INVALID_ARGUMENT', /status/);
    assertClientError(await call(t.server, 'POST', '/api/policies', { body: { name: 'p', schedule: {}, retention: {}, instantRestoreDays: 2 } }), 400, 'INVALID_ARGUMENT', /policy "p"/);
    assertClientError(await call(t.server, 'PUT', '/api/settings/price-table', { body: { priceTable: { currency: 12 } } }), 400, 'INVALID_ARGUMENT', /currency/);
  });

  it('disk and restore paths outside the allowed roots, through .., a symlink or relative', async () => {
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: '/etc/passwd' }] } }), 400, 'PATH_NOT_ALLOWED', /\/etc\/passwd.*outside/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: `${t.images}/../catalog.db` }] } }), 400, 'PATH_NOT_ALLOWED');
    await symlink('/etc', join(t.images, 'escape'));
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: join(t.images, 'escape', 'passwd') }] } }), 400, 'PATH_NOT_ALLOWED');
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: 'images/ok.img' }] } }), 400, 'INVALID_ARGUMENT', /absolute/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: join(t.images, 'missing.img') }] } }), 404, 'DISK_NOT_FOUND');
    assert.equal((await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: join(t.images, 'ok.img') }] } })).statusCode, 201);
    assertClientError(await call(t.server, 'POST', '/api/vms', { body: { name: 'web', disks: [{ path: join(t.images, 'ok.img') }] } }), 409, 'VM_EXISTS');
    assertClientError(await call(t.server, 'PATCH', '/api/vms/web', { body: { addDisks: [{ path: '/etc/hostname' }] } }), 400, 'PATH_NOT_ALLOWED');
    assertClientError(await call(t.server, 'POST', '/api/vms/web/restores', { body: { target: { kind: 'directory', path: '/tmp/elsewhere' } } }), 400, 'PATH_NOT_ALLOWED', /allow-path/);
    assertClientError(await call(t.server, 'POST', '/api/vms/web/restores', { body: { target: { kind: 'directory', path: join(t.restores, '..', '..') } } }), 400, 'PATH_NOT_ALLOWED');
    assertClientError(await call(t.server, 'POST', '/api/vms/web/restores', { body: { target: { kind: 'elsewhere' } } }), 400, 'INVALID_ARGUMENT');
  });

  it('unknown VMs, jobs, points and policies are 404s naming them', async () => {
    assertClientError(await call(t.server, 'GET', '/api/vms/ghost'), 404, 'VM_NOT_FOUND', /ghost/);
    assertClientError(await call(t.server, 'POST', '/api/vms/ghost/backups', { body: {} }), 404, 'VM_NOT_FOUND', /ghost/);
    assertClientError(await call(t.server, 'GET', '/api/jobs/20990101-000000-000000'), 404, 'JOB_NOT_FOUND');
    assertClientError(await call(t.server, 'GET', '/api/policies/ghost'), 404, 'POLICY_NOT_FOUND', /ghost/);
    assertClientError(await call(t.server, 'POST', '/api/vms/web/protect', { body: { policy: 'ghost' } }), 404, 'POLICY_NOT_FOUND');
    const restore = await call(t.server, 'POST', '/api/vms/web/restores', { body: { point: 'ffffffff', target: { kind: 'directory', path: join(t.restores, 'x') } } });
    assert.equal(restore.statusCode, 202, 'the point is looked up by the job');
    assertClientError(await call(t.server, 'GET', '/api/nothing-here'), 404, 'NOT_FOUND', /GET \/api\/nothing-here/);
    assertClientError(await call(t.server, 'DELETE', '/api/vms'), 404, 'NOT_FOUND');
  });

  it('wrong, expired and malformed tokens are 401s', async () => {
    assertClientError(await call(t.server, 'GET', '/api/vms', { token: 'guess' }), 401, 'AUTH_REQUIRED', /unknown/);
    assertClientError(await call(t.server, 'GET', '/api/vms', { token: EXPIRED_TOKEN }), 401, 'AUTH_REQUIRED', /expired/);
    assertClientError(await t.server.inject({ method: 'GET', url: '/api/vms', headers: { authorization: 'Basic abc' } }), 401, 'AUTH_REQUIRED', /Bearer/);
    assertClientError(await t.server.inject({ method: 'GET', url: '/api/vms', headers: { cookie: 'other=1; boveda_session=' } }), 401, 'AUTH_REQUIRED');
    const health = await call(t.server, 'GET', '/api/health', { role: null });
    assert.equal(health.statusCode, 200);
    assert.equal(health.headers['cache-control'], 'no-store');
    assert.equal(health.headers['x-content-type-options'], 'nosniff');
    assert.match(String(health.headers['content-security-policy']), /default-src 'self'/);
  });

  it('the UI paths answer a note while the UI is not built; no path escapes the web root', async () => {
    const home = await t.server.inject({ method: 'GET', url: '/' });
    assert.equal(home.statusCode, 200);
    assert.match(home.body, /web UI is not built/);
    const escape = await t.server.inject({ method: 'GET', url: '/..%2f..%2fcatalog.db' });
    assert.doesNotMatch(escape.body, /SQLite/);
  });
});
