/**
 * The server with the REAL UserService (no test double): login, sessions and their expiry, API
 * tokens, the login throttle, users/tokens/audit routes and VM secrets — every one of those routes
 * for every role, refusals included, and the audit rows they leave.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { accountRoutes, openApiPath, secretRoutes } from '../../src/api/index.js';
import { LoginThrottle, UserService } from '../../src/app/index.js';
import { ROLES, roleRank, type Role } from '../../src/core/index.js';
import { ManualClock } from '../../src/util/index.js';
import { assertClientError, assertNoStack, call, startTestServer, writeImage, type TestServer } from './helpers.js';

const PASSWORD = 'a long enough password';
const ADMIN = { userName: 'setup', source: 'test' };

interface Fixture extends TestServer<UserService> {
  users: UserService;
  clock: ManualClock;
  tokens: Record<Role, string>;
}

async function start(): Promise<Fixture> {
  process.env.BOVEDA_SCRYPT_N ??= '1024';
  const clock = new ManualClock(new Date('2027-03-01T10:00:00Z'));
  const t = await startTestServer({
    clock,
    auth: (catalog) => new UserService(catalog, clock, { throttle: new LoginThrottle(clock, { maxFailures: 3, windowMs: 60_000 }) }),
    extraRoutes: (users) => [...accountRoutes(users), ...secretRoutes()],
  });
  const users = t.auth;
  const tokens = {} as Record<Role, string>;
  for (const role of ROLES) {
    await users.addUser({ name: `${role}1`, role, password: PASSWORD }, ADMIN);
    tokens[role] = (await users.createApiToken(`${role}1`, { name: 'tests' }, ADMIN)).token;
  }
  return { ...t, users, clock, tokens };
}

/** A call with a real token of `role` (admin by default); `token: null` sends none. */
function send(f: Fixture, method: string, url: string, options: { token?: string | null; role?: Role; body?: unknown; cookie?: string; ip?: string } = {}): Promise<LightMyRequestResponse> {
  const token = options.token === undefined ? f.tokens[options.role ?? 'admin'] : options.token;
  return call(f.server, method, url, {
    role: null, token: token ?? undefined, body: options.body, headers: options.cookie ? { cookie: options.cookie } : {}, remoteAddress: options.ip,
  });
}

describe('server accounts with the real UserService', () => {
  let f: Fixture;
  before(async () => {
    f = await start();
  });
  after(async () => {
    await f.close();
  });

  it('logs in with a password, uses the session cookie, and the session expires after 12 hours', async () => {
    const login = await send(f, 'POST', '/api/login', { token: null, body: { name: 'operator1', password: PASSWORD } });
    assert.equal(login.statusCode, 200, login.body);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    assert.match(cookie, /^boveda_session=bvd_/);
    assert.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
    // Max-Age is measured on the app clock (which expiresAt comes from), not the system's.
    assert.match(String(login.headers['set-cookie']), /; Max-Age=43200$/);
    const me = await send(f, 'GET', '/api/me', { token: null, cookie });
    assert.equal(me.statusCode, 200);
    assert.deepEqual(me.json<{ name: string; role: string }>().role, 'operator');
    // A cookie request that changes something must be JSON (CSRF guard).
    const form = await f.server.inject({ method: 'POST', url: '/api/logout', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=b' });
    assert.equal(form.statusCode, 400);
    f.clock.advance(12 * 3_600_000 + 1000);
    assertClientError(await send(f, 'GET', '/api/me', { token: null, cookie }), 401, 'AUTH_REQUIRED');
    // API tokens without expiry still work.
    assert.equal((await send(f, 'GET', '/api/me', { role: 'operator' })).statusCode, 200);
  });

  it('refuses a wrong password and a wrong or forged token with the same clear 401s, and logs out', async () => {
    assertClientError(await send(f, 'POST', '/api/login', { token: null, body: { name: 'reader1', password: 'wrong password!!' }, ip: '10.0.0.9' }), 401, 'AUTH_FAILED', /wrong user name or password/);
    assertClientError(await send(f, 'POST', '/api/login', { token: null, body: { name: 'nobody', password: 'wrong password!!' }, ip: '10.0.0.9' }), 401, 'AUTH_FAILED', /wrong user name or password/);
    assertClientError(await send(f, 'GET', '/api/vms', { token: 'bvd_0000_forged' }), 401, 'AUTH_REQUIRED');
    assertClientError(await send(f, 'GET', '/api/vms', { token: `${f.tokens.admin}x` }), 401, 'AUTH_REQUIRED');
    const login = await send(f, 'POST', '/api/login', { token: null, body: { name: 'reader1', password: PASSWORD } });
    const token = login.json<{ token: string }>().token;
    assert.equal((await send(f, 'POST', '/api/logout', { token })).statusCode, 200);
    assertClientError(await send(f, 'GET', '/api/me', { token }), 401, 'AUTH_REQUIRED');
  });

  it('rate-limits logins: 429 with Retry-After after repeated failures, until the window passes', async () => {
    for (let i = 0; i < 3; i++) assertClientError(await send(f, 'POST', '/api/login', { token: null, body: { name: 'contributor1', password: 'not the password' }, ip: '10.1.1.1' }), 401, 'AUTH_FAILED');
    const limited = await send(f, 'POST', '/api/login', { token: null, body: { name: 'contributor1', password: PASSWORD }, ip: '10.1.1.1' });
    assertClientError(limited, 429, 'RATE_LIMITED', /try again/);
    assert.ok(Number(limited.headers['retry-after']) > 0, `Retry-After ${limited.headers['retry-after']}`);
    f.clock.advance(61_000);
    assert.equal((await send(f, 'POST', '/api/login', { token: null, body: { name: 'contributor1', password: PASSWORD }, ip: '10.1.1.1' })).statusCode, 200);
    const failed = await f.app.catalog.audit.list({ action: 'session.login', target: 'user:contributor1' });
    assert.ok(failed.some((entry) => entry.outcome === 'failed' && entry.source === '10.1.1.1'), JSON.stringify(failed));
  });

  it('admin manages users: add (password shown once, never stored in clear), change role, LAST_ADMIN, remove — audited', async () => {
    const added = await send(f, 'POST', '/api/users', { body: { name: 'dora', role: 'reader' } });
    assert.equal(added.statusCode, 201, added.body);
    const password = added.json<{ password: string }>().password;
    assert.ok(password.length >= 20);
    assert.ok(!(await send(f, 'GET', '/api/users')).body.includes(password));
    assert.equal((await send(f, 'POST', '/api/login', { token: null, body: { name: 'dora', password } })).statusCode, 200);
    assertClientError(await send(f, 'POST', '/api/users', { body: { name: 'dora', role: 'reader' } }), 409, 'USER_EXISTS');
    assertClientError(await send(f, 'POST', '/api/users', { body: { name: 'eve', role: 'root' } }), 400, 'INVALID_ARGUMENT', /role/);
    assertClientError(await send(f, 'POST', '/api/users', { body: { name: 'eve', role: 'reader', password: 'short' } }), 400, 'INVALID_ARGUMENT');
    const changed = await send(f, 'PATCH', '/api/users/dora', { body: { role: 'operator' } });
    assert.equal(changed.json<{ user: { role: string } }>().user.role, 'operator');
    assertClientError(await send(f, 'PATCH', '/api/users/admin1', { body: { role: 'reader' } }), 409, 'LAST_ADMIN');
    assertClientError(await send(f, 'DELETE', '/api/users/nobody'), 404, 'USER_NOT_FOUND');
    assert.equal((await send(f, 'DELETE', '/api/users/dora')).statusCode, 200);
    const actions = (await send(f, 'GET', '/api/audit?limit=50')).json<{ entries: Array<{ action: string; target: string; userName: string; outcome: string }> }>().entries;
    for (const action of ['user.add', 'user.update', 'user.remove']) {
      assert.ok(actions.some((entry) => entry.action === action && entry.target === 'user:dora' && entry.userName === 'admin1'), `${action} in ${JSON.stringify(actions)}`);
    }
    assert.ok(actions.some((entry) => entry.action === 'user.update' && entry.outcome === 'refused'), 'LAST_ADMIN refusal audited');
  });

  it('a user changes their own password with the current one; sessions end; a wrong one is refused and audited', async () => {
    await f.users.addUser({ name: 'pat', role: 'operator', password: PASSWORD }, ADMIN);
    const session = (await send(f, 'POST', '/api/login', { token: null, body: { name: 'pat', password: PASSWORD } })).json<{ token: string }>().token;
    assertClientError(await send(f, 'POST', '/api/me/password', { token: session, body: { currentPassword: 'not it at all', newPassword: 'a brand new password' } }), 401, 'AUTH_FAILED', /current password/);
    assertClientError(await send(f, 'POST', '/api/me/password', { token: session, body: { currentPassword: PASSWORD, newPassword: 'short' } }), 400, 'INVALID_ARGUMENT');
    assert.equal((await send(f, 'POST', '/api/me/password', { token: session, body: { currentPassword: PASSWORD, newPassword: 'a brand new password' } })).statusCode, 200);
    assertClientError(await send(f, 'GET', '/api/me', { token: session }), 401, 'AUTH_REQUIRED');
    assertClientError(await send(f, 'POST', '/api/login', { token: null, body: { name: 'pat', password: PASSWORD } }), 401, 'AUTH_FAILED');
    assert.equal((await send(f, 'POST', '/api/login', { token: null, body: { name: 'pat', password: 'a brand new password' } })).statusCode, 200);
    const entries = await f.app.catalog.audit.list({ action: 'user.password', target: 'user:pat' });
    assert.deepEqual(entries.map((entry) => entry.outcome).reverse(), ['failed', 'failed', 'succeeded']);
  });

  it('every user manages their own API tokens; only an admin sees or revokes another\'s', async () => {
    const created = await send(f, 'POST', '/api/tokens', { role: 'reader', body: { name: 'laptop', expiresInDays: 1 } });
    assert.equal(created.statusCode, 201, created.body);
    const { token, record } = created.json<{ token: string; record: { id: string; expiresAt: string } }>();
    assert.equal((await send(f, 'GET', '/api/me', { token })).statusCode, 200);
    assert.ok((await send(f, 'GET', '/api/tokens', { role: 'reader' })).json<{ tokens: Array<{ id: string }> }>().tokens.some((t) => t.id === record.id));
    assert.ok(!(await send(f, 'GET', '/api/tokens', { role: 'reader' })).body.includes(token.split('_')[2]!), 'the secret is never listed');
    assertClientError(await send(f, 'GET', '/api/tokens?user=admin1', { role: 'operator' }), 403, 'FORBIDDEN');
    assertClientError(await send(f, 'DELETE', `/api/tokens/${record.id}`, { role: 'operator' }), 404, 'TOKEN_NOT_FOUND');
    assert.equal((await send(f, 'GET', '/api/tokens?user=reader1')).statusCode, 200);
    f.clock.advance(86_400_000 + 1000);
    assertClientError(await send(f, 'GET', '/api/me', { token }), 401, 'AUTH_REQUIRED');
    assert.equal((await send(f, 'DELETE', `/api/tokens/${record.id}`, { role: 'reader' })).statusCode, 200);
  });

  it('VM secrets: readers see names only; values need restore-keys; every read and refusal is audited', async () => {
    const image = join(f.dir, 'images', 'crypt.img');
    await writeImage(image, 256 * 1024, 7);
    assert.equal((await send(f, 'POST', '/api/vms', { body: { name: 'crypt', disks: [{ path: image }] } })).statusCode, 201);
    const value = Buffer.from('luks passphrase: correct horse battery staple');
    assertClientError(await send(f, 'PUT', '/api/vms/crypt/secrets/root', { role: 'operator', body: { kind: 'luks-passphrase', valueBase64: value.toString('base64') } }), 403, 'FORBIDDEN');
    assertClientError(await send(f, 'PUT', '/api/vms/crypt/secrets/root', { role: 'contributor', body: { kind: 'luks-passphrase', valueBase64: '***' } }), 400, 'INVALID_ARGUMENT');
    const set = await send(f, 'PUT', '/api/vms/crypt/secrets/root', { role: 'contributor', body: { kind: 'luks-passphrase', valueBase64: value.toString('base64') } });
    assert.equal(set.statusCode, 200, set.body);
    const listed = await send(f, 'GET', '/api/vms/crypt/secrets', { role: 'reader' });
    assert.deepEqual(listed.json<{ secrets: Array<{ name: string; sizeBytes: number }> }>().secrets.map((s) => [s.name, s.sizeBytes]), [['root', value.length]]);
    assert.ok(!listed.body.includes(value.toString('base64')));

    const started = await send(f, 'POST', '/api/vms/crypt/backups', { role: 'operator', body: {} });
    assert.equal(started.statusCode, 202, started.body);
    const jobId = started.json<{ job: { id: string } }>().job.id;
    let status = 'queued';
    for (let i = 0; i < 600 && ['queued', 'in-progress'].includes(status); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await send(f, 'GET', `/api/jobs/${jobId}`, { role: 'reader' })).json<{ job: { status: string } }>().job.status;
    }
    assert.match(status, /^completed/); // with a warning where the file system cannot clone the image
    const pointId = (await send(f, 'GET', '/api/vms/crypt/points', { role: 'reader' })).json<{ points: Array<{ id: string }> }>().points[0]!.id;
    const names = await send(f, 'GET', `/api/vms/crypt/points/${pointId}/secrets`, { role: 'reader' });
    assert.deepEqual(names.json<{ secrets: Array<{ name: string }> }>().secrets.map((s) => s.name), ['root']);

    for (const role of ['reader', 'operator', 'contributor'] as const) {
      assertClientError(await send(f, 'POST', `/api/vms/crypt/points/${pointId}/secrets/restore`, { role, body: {} }), 403, 'FORBIDDEN', /restore-keys/);
    }
    const read = await send(f, 'POST', `/api/vms/crypt/points/${pointId}/secrets/restore`, { role: 'admin', body: {} });
    assert.equal(read.statusCode, 200, read.body);
    assert.equal(Buffer.from(read.json<{ secrets: Array<{ valueBase64: string }> }>().secrets[0]!.valueBase64, 'base64').toString(), value.toString());
    // A user given keyRestore without being admin may read them too.
    await f.users.updateUser('reader1', { keyRestore: true }, ADMIN);
    assert.equal((await send(f, 'POST', `/api/vms/crypt/points/${pointId}/secrets/restore`, { role: 'reader', body: {} })).statusCode, 200);
    await f.users.updateUser('reader1', { keyRestore: false }, ADMIN);
    assertClientError(await send(f, 'POST', '/api/vms/crypt/points/abcdef12/secrets/restore', { role: 'admin', body: {} }), 404, 'POINT_NOT_FOUND');

    const reads = await f.app.catalog.audit.list({ action: 'secrets.read' });
    assert.deepEqual(reads.map((entry) => [entry.userName, entry.outcome]).reverse(), [
      ['reader1', 'refused'], ['operator1', 'refused'], ['contributor1', 'refused'], ['admin1', 'succeeded'], ['reader1', 'succeeded'], ['admin1', 'failed'],
    ]);
    assertClientError(await send(f, 'DELETE', '/api/vms/crypt/secrets/root', { role: 'operator' }), 403, 'FORBIDDEN');
    assert.equal((await send(f, 'DELETE', '/api/vms/crypt/secrets/root', { role: 'contributor' })).statusCode, 200);
    assertClientError(await send(f, 'DELETE', '/api/vms/crypt/secrets/root', { role: 'contributor' }), 404, 'SECRET_NOT_FOUND');
  });

  /** The least role of each account and secret route (like roles.test.ts for the built-in ones). */
  const EXPECTED: Record<string, Role> = {
    'GET /api/users': 'admin', 'POST /api/users': 'admin', 'PATCH /api/users/:name': 'admin', 'DELETE /api/users/:name': 'admin',
    'POST /api/me/password': 'reader', 'GET /api/tokens': 'reader', 'POST /api/tokens': 'reader', 'DELETE /api/tokens/:id': 'reader', 'GET /api/audit': 'admin',
    'GET /api/vms/:name/secrets': 'reader', 'PUT /api/vms/:name/secrets/:secret': 'contributor', 'DELETE /api/vms/:name/secrets/:secret': 'contributor',
    'GET /api/vms/:name/points/:point/secrets': 'reader', 'POST /api/vms/:name/points/:point/secrets/restore': 'admin',
  };

  it('the table names exactly the account and secret routes', async () => {
    const routes = [...accountRoutes(f.users), ...secretRoutes()].map((route) => `${route.method} ${route.url}`).sort();
    assert.deepEqual(routes, Object.keys(EXPECTED).sort());
    const openapi = (await send(f, 'GET', '/api/openapi.json', { role: 'reader' })).json<{ paths: Record<string, unknown> }>();
    for (const key of routes) {
      const path = openApiPath(key.split(' ')[1]!);
      assert.ok(openapi.paths[path], `${path} in the OpenAPI document`);
    }
  });

  for (const [key, least] of Object.entries(EXPECTED)) {
    it(`${key}: ${least} and above; 401 without a token`, async () => {
      const [method, url] = key.split(' ') as [string, string];
      const path = url.replace(':name', 'nope').replace(':secret', 'nope').replace(':point', 'nope').replace(':id', 'nope');
      const body = method === 'GET' || method === 'DELETE' ? undefined : {};
      assertClientError(await send(f, method, path, { token: null, body }), 401, 'AUTH_REQUIRED');
      for (const role of ROLES) {
        const response = await send(f, method, path, { role, body });
        assertNoStack(response);
        assert.ok(response.statusCode < 500, `${key} as ${role}: ${response.body}`);
        if (roleRank(role) >= roleRank(least)) assert.ok(![401, 403].includes(response.statusCode), `${key} as ${role} should be allowed: ${response.body}`);
        else assertClientError(response, 403, 'FORBIDDEN');
      }
    });
  }
});
