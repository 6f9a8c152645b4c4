import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LoginThrottle, UserService, type AuditActor } from '../../src/app/index.js';
import { hashPassword, verifyPassword } from '../../src/app/password-hash.js';
import { Catalog } from '../../src/catalog/index.js';
import { allows } from '../../src/core/index.js';
import { ManualClock } from '../../src/util/index.js';

// Fast key derivation, as every test with passwords or vault keys does.
process.env.BOVEDA_SCRYPT_N = '1024';

const ROOT: AuditActor = { userName: 'root', source: '10.0.0.9' };
const PASSWORD = 'a long enough password';

async function withService(body: (service: UserService, catalog: Catalog, clock: ManualClock) => Promise<void>, options: { throttle?: (clock: ManualClock) => LoginThrottle } = {}): Promise<void> {
  const clock = new ManualClock('2027-01-01T00:00:00Z');
  const catalog = await Catalog.openInMemory({ clock });
  try {
    const service = new UserService(catalog, clock, { sessionTtlMs: 60 * 60 * 1000, throttle: options.throttle?.(clock) });
    await body(service, catalog, clock);
  } finally {
    await catalog.close();
  }
}

describe('password hashes', () => {
  it('are self-describing scrypt text that verifies only the right password', async () => {
    const hash = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
    const parts = hash.split('$');
    assert.deepEqual(parts.slice(0, 4), ['scrypt', '1024', '8', '1']);
    assert.equal(Buffer.from(parts[4]!, 'base64').length, 16);
    assert.equal(Buffer.from(parts[5]!, 'base64').length, 32);
    assert.notEqual(await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 }), hash, 'salted');
    assert.equal(await verifyPassword(PASSWORD, hash), true);
    assert.equal(await verifyPassword(`${PASSWORD}!`, hash), false);
    assert.equal(await verifyPassword(PASSWORD, 'bcrypt$whatever'), false);
    // A tampered cost is refused instead of run.
    assert.equal(await verifyPassword(PASSWORD, hash.replace('$1024$', '$1073741824$')), false);
  });
});

describe('user service', () => {
  it('adds users (generated or given password), refuses bad input and audits each attempt', async () => {
    await withService(async (service, catalog) => {
      const added = await service.addUser({ name: 'alice', role: 'operator' }, ROOT);
      assert.equal(added.generated, true);
      assert.match(added.password, /^[A-Za-z0-9_-]{20,}$/);
      assert.deepEqual(added.user, {
        name: 'alice', role: 'operator', keyRestore: false, disabled: false,
        createdAt: '2027-01-01T00:00:00.000Z', updatedAt: '2027-01-01T00:00:00.000Z', passwordChangedAt: '2027-01-01T00:00:00.000Z',
      });
      assert.equal('passwordHash' in added.user, false);
      assert.match((await catalog.users.get('alice')).passwordHash, /^scrypt\$1024\$8\$1\$/);
      const given = await service.addUser({ name: 'bob', role: 'admin', password: PASSWORD, keyRestore: true }, ROOT);
      assert.equal(given.generated, false);
      assert.equal(given.password, PASSWORD);
      await assert.rejects(service.addUser({ name: 'bob', role: 'reader' }, ROOT), { code: 'USER_EXISTS', message: /bob/ });
      await assert.rejects(service.addUser({ name: '-bad', role: 'reader' }, ROOT), { code: 'INVALID_ARGUMENT', message: /user name "-bad"/ });
      await assert.rejects(service.addUser({ name: 'x'.repeat(65), role: 'reader' }, ROOT), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(service.addUser({ name: 'carol', role: 'owner' as never }, ROOT), { code: 'INVALID_ARGUMENT', message: /role "owner" must be one of reader, operator, contributor, admin/ });
      await assert.rejects(service.addUser({ name: 'carol', role: 'reader', password: 'short' }, ROOT), { code: 'INVALID_ARGUMENT', message: /12 to 1024 characters/ });
      await assert.rejects(service.addUser({ name: 'carol', role: 'reader', password: 'x'.repeat(1025) }, ROOT), { code: 'INVALID_ARGUMENT' });
      assert.deepEqual((await service.listUsers()).map((user) => [user.name, user.role, user.keyRestore]), [['alice', 'operator', false], ['bob', 'admin', true]]);
      await assert.rejects(service.getUser('carol'), { code: 'USER_NOT_FOUND' });

      const audit = await catalog.audit.list({ action: 'user.add' });
      assert.deepEqual(audit.map((entry) => [entry.target, entry.outcome, entry.details?.error ?? null]).reverse(), [
        ['user:alice', 'succeeded', null], ['user:bob', 'succeeded', null], ['user:bob', 'failed', 'USER_EXISTS'],
        ['user:-bad', 'failed', 'INVALID_ARGUMENT'], [`user:${'x'.repeat(65)}`, 'failed', 'INVALID_ARGUMENT'],
        ['user:carol', 'failed', 'INVALID_ARGUMENT'], ['user:carol', 'failed', 'INVALID_ARGUMENT'], ['user:carol', 'failed', 'INVALID_ARGUMENT'],
      ]);
      assert.deepEqual([audit.at(-1)!.userName, audit.at(-1)!.source], ['root', '10.0.0.9']);
      assert.deepEqual(audit.at(-1)!.details, { role: 'operator', keyRestore: false, passwordGenerated: true });
      // No password, given or generated, is ever written to the audit log.
      const everything = JSON.stringify(await catalog.audit.list());
      assert.equal(everything.includes(PASSWORD), false);
      assert.equal(everything.includes(added.password), false);
    });
  });

  it('logs in with the right password only; wrong name and wrong password fail alike and are audited', async () => {
    await withService(async (service, catalog) => {
      await service.addUser({ name: 'alice', role: 'contributor', password: PASSWORD }, ROOT);
      const session = await service.login('alice', PASSWORD, '192.0.2.1');
      assert.match(session.token, /^bvd_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      assert.equal(session.token.split('_')[1], session.record.id);
      assert.deepEqual({ ...session.record, id: 'x' }, {
        id: 'x', userName: 'alice', kind: 'session', name: null, createdAt: '2027-01-01T00:00:00.000Z',
        expiresAt: '2027-01-01T01:00:00.000Z', lastUsedAt: null, createdFrom: '192.0.2.1',
      });
      assert.equal(session.user.name, 'alice');
      const principal = await service.authenticate(session.token, '192.0.2.1');
      assert.deepEqual(principal, { userName: 'alice', role: 'contributor', keyRestore: false, tokenId: session.record.id, source: '192.0.2.1' });
      assert.equal(allows(principal, 'destroy'), true);

      const wrongPassword = await service.login('alice', `${PASSWORD}x`, '192.0.2.1').catch((error: unknown) => error);
      const unknownUser = await service.login('mallory', PASSWORD, '192.0.2.1').catch((error: unknown) => error);
      const oddName = await service.login('../../etc', PASSWORD, '192.0.2.1').catch((error: unknown) => error);
      for (const error of [wrongPassword, unknownUser, oddName]) assert.deepEqual([(error as { code: string }).code, (error as Error).message], ['AUTH_FAILED', 'wrong user name or password']);
      await service.updateUser('alice', { disabled: true }, ROOT);
      await assert.rejects(service.login('alice', PASSWORD, '192.0.2.1'), { code: 'AUTH_FAILED', message: 'wrong user name or password' });

      const logins = (await catalog.audit.list({ action: 'session.login' })).reverse();
      assert.deepEqual(logins.map((entry) => [entry.userName, entry.source, entry.target, entry.outcome, entry.details?.reason ?? null]), [
        ['alice', '192.0.2.1', 'user:alice', 'succeeded', null],
        ['alice', '192.0.2.1', 'user:alice', 'failed', 'wrong-password'],
        ['mallory', '192.0.2.1', 'user:mallory', 'failed', 'unknown-user'],
        ['../../etc', '192.0.2.1', 'user:../../etc', 'failed', 'unknown-user'],
        ['alice', '192.0.2.1', 'user:alice', 'failed', 'disabled'],
      ]);
      // A huge name is refused like any other and kept short in the log.
      await assert.rejects(service.login('y'.repeat(1_000_000), PASSWORD, '192.0.2.2'), { code: 'AUTH_FAILED' });
      const [last] = await catalog.audit.list({ limit: 1 });
      assert.deepEqual([last!.userName, last!.target], ['y'.repeat(64), `user:${'y'.repeat(65)}`]);
    });
  });

  it('ends sessions when they expire, on logout, on a password change and when the user is disabled', async () => {
    await withService(async (service, catalog, clock) => {
      await service.addUser({ name: 'root', role: 'admin', password: PASSWORD }, ROOT);
      await service.addUser({ name: 'alice', role: 'reader', password: PASSWORD }, ROOT);
      const first = await service.login('alice', PASSWORD, 'cli');
      clock.advance(60 * 60 * 1000 - 1);
      assert.equal((await service.authenticate(first.token, 'cli')).userName, 'alice');
      clock.advance(1);
      await assert.rejects(service.authenticate(first.token, 'cli'), { code: 'AUTH_REQUIRED', message: /unknown, expired or revoked/ });
      // The next login clears expired sessions from the catalog.
      const second = await service.login('alice', PASSWORD, 'cli');
      await assert.rejects(catalog.tokens.get(first.record.id), { code: 'TOKEN_NOT_FOUND' });
      await service.logout(second.record.id);
      await service.logout(second.record.id);
      await assert.rejects(service.authenticate(second.token, 'cli'), { code: 'AUTH_REQUIRED' });

      const api = await service.createApiToken('alice', { name: 'ci' }, ROOT);
      const third = await service.login('alice', PASSWORD, 'cli');
      await service.logout(api.record.id); // logout never ends an API token
      await service.updateUser('alice', { password: `${PASSWORD}2` }, ROOT);
      await assert.rejects(service.authenticate(third.token, 'cli'), { code: 'AUTH_REQUIRED' });
      assert.equal((await service.authenticate(api.token, 'cli')).userName, 'alice');
      const fourth = await service.login('alice', `${PASSWORD}2`, 'cli');
      await service.updateUser('alice', { disabled: true }, ROOT);
      for (const token of [fourth.token, api.token]) await assert.rejects(service.authenticate(token, 'cli'), { code: 'AUTH_REQUIRED', message: /unknown, expired or revoked/ });
      await service.updateUser('alice', { disabled: false }, ROOT);
      assert.equal((await service.authenticate(api.token, 'cli')).userName, 'alice');
      await assert.rejects(service.authenticate(fourth.token, 'cli'), { code: 'AUTH_REQUIRED' });

      // Malformed and forged tokens.
      const [, id] = api.token.split('_');
      for (const token of ['', 'bvd_', 'Bearer x', `bvd_${id}_${'A'.repeat(43)}`, `${api.token}x`, `bvd_0000000000000000_${api.token.slice(-43)}`, 'x'.repeat(100_000)]) {
        await assert.rejects(service.authenticate(token, 'cli'), { code: 'AUTH_REQUIRED' }, token.slice(0, 40));
      }
      const update = (await catalog.audit.list({ action: 'user.update' })).find((entry) => (entry.details?.changed as string[]).includes('password'));
      assert.deepEqual(update?.details, { changed: ['password'] });
    });
  });

  it('creates, lists and revokes API tokens; stores only a hash of the secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'boveda-users-'));
    const clock = new ManualClock('2027-01-01T00:00:00Z');
    const catalog = await Catalog.open(join(dir, 'catalog.db'), { clock });
    try {
      const service = new UserService(catalog, clock);
      await service.addUser({ name: 'root', role: 'admin', password: PASSWORD }, ROOT);
      await service.addUser({ name: 'bob', role: 'operator', password: PASSWORD }, ROOT);
      const forever = await service.createApiToken('bob', { name: 'backup robot' }, ROOT);
      const month = await service.createApiToken('bob', { name: 'ci', expiresInDays: 30 }, { userName: 'bob', source: '198.51.100.7' });
      assert.equal(forever.record.expiresAt, null);
      assert.equal(month.record.expiresAt, '2027-01-31T00:00:00.000Z');
      assert.equal(month.record.createdFrom, '198.51.100.7');
      const session = await service.login('bob', PASSWORD, 'cli');
      await assert.rejects(service.createApiToken('nobody', { name: 'x' }, ROOT), { code: 'USER_NOT_FOUND' });
      for (const input of [{ name: '' }, { name: 'x'.repeat(65) }, { name: 'a\nb' }, { name: 'ok', expiresInDays: 0 }, { name: 'ok', expiresInDays: 3651 }, { name: 'ok', expiresInDays: 1.5 }]) {
        await assert.rejects(service.createApiToken('bob', input, ROOT), { code: 'INVALID_ARGUMENT' }, JSON.stringify(input));
      }

      // The raw rows hold neither the secret nor anything it can be read back from but its SHA-256.
      const raw = new Database(join(dir, 'catalog.db'), { readonly: true });
      try {
        const rows = raw.prepare('select * from tokens').all() as Record<string, unknown>[];
        assert.equal(rows.length, 3);
        const dump = JSON.stringify(rows) + JSON.stringify(raw.prepare('select * from audit_log').all());
        for (const issued of [forever, month, session]) {
          const secret = issued.token.split('_').slice(2).join('_');
          assert.equal(dump.includes(secret), false);
          assert.equal(dump.includes(issued.token), false);
        }
        assert.ok(rows.every((row) => /^[0-9a-f]{64}$/.test(row.secret_hash as string)));
      } finally {
        raw.close();
      }

      assert.deepEqual((await service.listTokens('bob')).map((token) => token.name), ['backup robot', 'ci']);
      assert.deepEqual((await service.listTokens('bob', { includeSessions: true })).map((token) => token.kind), ['api', 'api', 'session']);
      assert.deepEqual((await service.listTokens()).map((token) => token.userName), ['bob', 'bob']);
      await assert.rejects(service.listTokens('nobody'), { code: 'USER_NOT_FOUND' });

      // last_used_at moves at most once a minute.
      await service.authenticate(month.token, '198.51.100.7');
      assert.equal((await service.getToken(month.record.id)).lastUsedAt, '2027-01-01T00:00:00.000Z');
      clock.advance(30_000);
      await service.authenticate(month.token, '198.51.100.7');
      assert.equal((await service.getToken(month.record.id)).lastUsedAt, '2027-01-01T00:00:00.000Z');
      clock.advance(30_000);
      await service.authenticate(month.token, '198.51.100.7');
      assert.equal((await service.getToken(month.record.id)).lastUsedAt, '2027-01-01T00:01:00.000Z');
      clock.set('2027-01-31T00:00:00Z');
      await assert.rejects(service.authenticate(month.token, 'x'), { code: 'AUTH_REQUIRED' });
      assert.equal((await service.authenticate(forever.token, 'x')).role, 'operator');

      // Someone else's token looks like no token at all; the owner and admins (no ownedBy) can revoke.
      await service.addUser({ name: 'eve', role: 'reader', password: PASSWORD }, ROOT);
      await assert.rejects(service.revokeToken(forever.record.id, { userName: 'eve', source: 'x' }, { ownedBy: 'eve' }), { code: 'TOKEN_NOT_FOUND' });
      assert.equal((await service.revokeToken(forever.record.id, { userName: 'bob', source: 'x' }, { ownedBy: 'bob' })).name, 'backup robot');
      assert.equal((await service.revokeToken(month.record.id, ROOT)).userName, 'bob');
      await assert.rejects(service.revokeToken(month.record.id, ROOT), { code: 'TOKEN_NOT_FOUND' });
      await assert.rejects(service.authenticate(forever.token, 'x'), { code: 'AUTH_REQUIRED' });
      await assert.rejects(service.getToken(forever.record.id), { code: 'TOKEN_NOT_FOUND' });

      const tokenAudit = (await catalog.audit.list()).filter((entry) => entry.action.startsWith('token.')).reverse();
      assert.deepEqual(tokenAudit.filter((entry) => entry.outcome === 'succeeded').map((entry) => [entry.action, entry.userName, entry.target, entry.details?.name]), [
        ['token.create', 'root', 'user:bob', 'backup robot'], ['token.create', 'bob', 'user:bob', 'ci'],
        ['token.revoke', 'bob', 'user:bob', 'backup robot'], ['token.revoke', 'root', 'user:bob', 'ci'],
      ]);
      assert.equal(tokenAudit.find((entry) => entry.action === 'token.revoke')?.outcome, 'failed');
      assert.equal(tokenAudit.filter((entry) => entry.action === 'token.create' && entry.outcome === 'failed').length, 7);
    } finally {
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never leaves the server without an enabled admin, and audits the refusals', async () => {
    await withService(async (service, catalog) => {
      await service.addUser({ name: 'root', role: 'admin', password: PASSWORD }, ROOT);
      await assert.rejects(service.removeUser('root', ROOT), { code: 'LAST_ADMIN' });
      await assert.rejects(service.updateUser('root', { role: 'operator' }, ROOT), { code: 'LAST_ADMIN' });
      await assert.rejects(service.updateUser('root', { disabled: true }, ROOT), { code: 'LAST_ADMIN' });
      await assert.rejects(service.updateUser('root', {}, ROOT), { code: 'INVALID_ARGUMENT', message: /nothing to change/ });
      await assert.rejects(service.updateUser('root', { role: 'god' as never }, ROOT), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(service.updateUser('nobody', { role: 'reader' }, ROOT), { code: 'USER_NOT_FOUND' });
      await assert.rejects(service.removeUser('nobody', ROOT), { code: 'USER_NOT_FOUND' });
      await service.addUser({ name: 'deputy', role: 'reader' }, ROOT);
      await service.updateUser('deputy', { role: 'admin', keyRestore: true }, ROOT);
      const demoted = await service.updateUser('root', { role: 'operator' }, { userName: 'deputy', source: 'cli' });
      assert.equal(demoted.role, 'operator');
      await service.removeUser('root', { userName: 'deputy', source: 'cli' });
      assert.deepEqual((await service.listUsers()).map((user) => user.name), ['deputy']);
      const entries = (await catalog.audit.list()).filter((entry) => entry.action !== 'user.add').reverse();
      assert.deepEqual(entries.map((entry) => [entry.action, entry.target, entry.outcome]), [
        ['user.remove', 'user:root', 'refused'], ['user.update', 'user:root', 'refused'], ['user.update', 'user:root', 'refused'],
        ['user.update', 'user:root', 'failed'], ['user.update', 'user:root', 'failed'], ['user.update', 'user:nobody', 'failed'],
        ['user.remove', 'user:nobody', 'failed'], ['user.update', 'user:deputy', 'succeeded'], ['user.update', 'user:root', 'succeeded'],
        ['user.remove', 'user:root', 'succeeded'],
      ]);
      assert.deepEqual(entries[7]!.details, { changed: ['role', 'keyRestore'], role: 'admin', keyRestore: true });
    });
  });

  it('creates the first admin once, with a password that logs in', async () => {
    await withService(async (service, catalog) => {
      const first = await service.ensureInitialAdmin();
      assert.equal(first?.name, 'admin');
      assert.match(first!.password, /^[A-Za-z0-9_-]{20,}$/);
      assert.equal(await service.ensureInitialAdmin(), null);
      assert.equal((await service.login('admin', first!.password, 'cli')).user.role, 'admin');
      const [entry] = await catalog.audit.list({ action: 'user.add' });
      assert.deepEqual([entry!.userName, entry!.source, entry!.target], ['system', 'first-start', 'user:admin']);
    });
  });

  it('throttles logins per user name and per source until the window passes; success resets the name', async () => {
    await withService(async (service, _catalog, clock) => {
      await service.addUser({ name: 'alice', role: 'reader', password: PASSWORD }, ROOT);
      await service.addUser({ name: 'bob', role: 'reader', password: PASSWORD }, ROOT);
      // Per name: three failures from three addresses lock alice everywhere, not bob.
      for (const source of ['a', 'b', 'c']) await assert.rejects(service.login('alice', 'wrong password!', source), { code: 'AUTH_FAILED' });
      const limited = await service.login('alice', PASSWORD, 'd').catch((error: unknown) => error) as { code: string; message: string; details: { retryAfterSeconds: number } };
      assert.equal(limited.code, 'RATE_LIMITED');
      assert.equal(limited.details.retryAfterSeconds, 600);
      assert.match(limited.message, /try again in 600 s/);
      await service.login('bob', PASSWORD, 'd');
      clock.advance(599_000);
      await assert.rejects(service.login('alice', PASSWORD, 'd'), { code: 'RATE_LIMITED', message: /in 1 s/ });
      clock.advance(1000);
      await service.login('alice', PASSWORD, 'd');

      // Per source: failures for different names from one address lock that address only.
      for (const name of ['x1', 'x2', 'x3']) await assert.rejects(service.login(name, 'wrong password!', 'e'), { code: 'AUTH_FAILED' });
      await assert.rejects(service.login('bob', PASSWORD, 'e'), { code: 'RATE_LIMITED' });
      await service.login('bob', PASSWORD, 'f');

      // A success resets the name's count: two failures, a success, two failures do not lock.
      clock.advance(600_000);
      for (const round of [1, 2]) {
        for (const source of [`g${round}`, `h${round}`]) await assert.rejects(service.login('bob', 'wrong password!', source), { code: 'AUTH_FAILED' });
        if (round === 1) await service.login('bob', PASSWORD, 'i');
      }
      await service.login('bob', PASSWORD, 'j');
    }, { throttle: (clock) => new LoginThrottle(clock, { maxFailures: 3, windowMs: 600_000 }) });
  });

  it('uses the documented throttle defaults: 5 failures within 15 minutes', () => {
    const clock = new ManualClock('2027-01-01T00:00:00Z');
    const throttle = new LoginThrottle(clock);
    for (let i = 0; i < 4; i++) throttle.recordFailure('n', `s${i}`);
    throttle.check('n', 'z');
    throttle.recordFailure('n', 's4');
    assert.throws(() => throttle.check('n', 'z'), { code: 'RATE_LIMITED' });
    assert.equal(throttle.retryAfterSeconds('n', 'z'), 900);
    clock.advance(15 * 60 * 1000);
    throttle.check('n', 'z');
  });
});
