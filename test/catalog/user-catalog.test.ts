import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.js';
import { ManualClock } from '../../src/util/index.js';

const HASH = 'scrypt$1024$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==';

async function withCatalog(body: (catalog: Catalog, clock: ManualClock) => Promise<void>): Promise<void> {
  const clock = new ManualClock('2027-01-01T00:00:00Z');
  const catalog = await Catalog.openInMemory({ clock });
  try {
    await body(catalog, clock);
  } finally {
    await catalog.close();
  }
}

describe('user catalog', () => {
  it('creates users with unique names, updates and lists them', async () => {
    await withCatalog(async (catalog, clock) => {
      const alice = await catalog.users.create({ name: 'alice', role: 'operator', passwordHash: HASH });
      assert.deepEqual(alice, {
        name: 'alice', role: 'operator', passwordHash: HASH, keyRestore: false, disabled: false,
        createdAt: '2027-01-01T00:00:00.000Z', updatedAt: '2027-01-01T00:00:00.000Z', passwordChangedAt: '2027-01-01T00:00:00.000Z',
      });
      await assert.rejects(catalog.users.create({ name: 'alice', role: 'reader', passwordHash: HASH }), { code: 'USER_EXISTS', message: /alice/ });
      // Names are case-sensitive, like VM names.
      await catalog.users.create({ name: 'Alice', role: 'reader', passwordHash: HASH, keyRestore: true });
      assert.deepEqual((await catalog.users.list()).map((user) => user.name), ['Alice', 'alice']);
      clock.advance(1000);
      const changed = await catalog.users.update('alice', { role: 'contributor', keyRestore: true });
      assert.equal(changed.role, 'contributor');
      assert.equal(changed.keyRestore, true);
      assert.equal(changed.updatedAt, '2027-01-01T00:00:01.000Z');
      assert.equal(changed.passwordChangedAt, '2027-01-01T00:00:00.000Z');
      clock.advance(1000);
      assert.equal((await catalog.users.update('alice', { passwordHash: `${HASH}x` })).passwordChangedAt, '2027-01-01T00:00:02.000Z');
      await assert.rejects(catalog.users.get('bob'), { code: 'USER_NOT_FOUND', message: /bob/ });
      await assert.rejects(catalog.users.update('bob', { role: 'admin' }), { code: 'USER_NOT_FOUND' });
      assert.equal(await catalog.users.find('bob'), null);
      assert.equal(await catalog.users.count(), 2);
    });
  });

  it('keeps one enabled admin: remove, demote and disable of the last one are LAST_ADMIN', async () => {
    await withCatalog(async (catalog) => {
      await catalog.users.create({ name: 'root', role: 'admin', passwordHash: HASH });
      await catalog.users.create({ name: 'off', role: 'admin', passwordHash: HASH, disabled: true });
      await assert.rejects(catalog.users.remove('root'), { code: 'LAST_ADMIN', message: /root/ });
      await assert.rejects(catalog.users.update('root', { role: 'contributor' }), { code: 'LAST_ADMIN', message: /demote/ });
      await assert.rejects(catalog.users.update('root', { disabled: true }), { code: 'LAST_ADMIN', message: /disable/ });
      // A disabled admin does not count, and may itself be removed.
      await catalog.users.remove('off');
      await catalog.users.create({ name: 'second', role: 'admin', passwordHash: HASH });
      await catalog.users.update('root', { role: 'reader' });
      await assert.rejects(catalog.users.update('second', { disabled: true }), { code: 'LAST_ADMIN' });
      await catalog.users.update('root', { role: 'admin' });
      await catalog.users.remove('second');
      assert.deepEqual((await catalog.users.list()).map((user) => [user.name, user.role]), [['root', 'admin']]);
    });
  });

  it('removing a user removes its tokens; a password change or disabling removes its sessions only', async () => {
    await withCatalog(async (catalog) => {
      await catalog.users.create({ name: 'root', role: 'admin', passwordHash: HASH });
      await catalog.users.create({ name: 'bob', role: 'reader', passwordHash: HASH });
      await catalog.tokens.create({ id: 'a1', userName: 'bob', kind: 'api', name: 'ci', secretHash: 'h1' });
      await catalog.tokens.create({ id: 's1', userName: 'bob', kind: 'session', secretHash: 'h2', expiresAt: '2027-01-02T00:00:00Z', createdFrom: '10.0.0.1' });
      await catalog.tokens.create({ id: 's2', userName: 'root', kind: 'session', secretHash: 'h3', expiresAt: '2027-01-02T00:00:00Z' });
      await assert.rejects(catalog.tokens.create({ id: 'x', userName: 'nobody', kind: 'api', secretHash: 'h4' }), { code: 'USER_NOT_FOUND' });
      await assert.rejects(catalog.tokens.create({ id: 'x', userName: 'bob', kind: 'session', secretHash: 'h4' }), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(catalog.tokens.create({ id: 'a1', userName: 'bob', kind: 'api', secretHash: 'h5' }), { code: 'CATALOG_ERROR' });
      const ids = async () => (await catalog.tokens.list()).map((token) => `${token.userName}/${token.id}`).sort();
      assert.deepEqual(await ids(), ['bob/a1', 'bob/s1', 'root/s2']);
      await catalog.users.update('bob', { role: 'operator' });
      assert.deepEqual(await ids(), ['bob/a1', 'bob/s1', 'root/s2']);
      await catalog.users.update('bob', { passwordHash: `${HASH}2` });
      assert.deepEqual(await ids(), ['bob/a1', 'root/s2']);
      await catalog.tokens.create({ id: 's3', userName: 'bob', kind: 'session', secretHash: 'h6', expiresAt: '2027-01-02T00:00:00Z' });
      await catalog.users.update('bob', { disabled: true });
      assert.deepEqual(await ids(), ['bob/a1', 'root/s2']);
      await catalog.users.remove('bob');
      assert.deepEqual(await ids(), ['root/s2']);
      await assert.rejects(catalog.tokens.get('a1'), { code: 'TOKEN_NOT_FOUND' });
    });
  });

  it('lists, touches, revokes (with an owner check) and expires tokens', async () => {
    await withCatalog(async (catalog, clock) => {
      await catalog.users.create({ name: 'root', role: 'admin', passwordHash: HASH });
      await catalog.users.create({ name: 'bob', role: 'reader', passwordHash: HASH });
      await catalog.tokens.create({ id: 'a1', userName: 'bob', kind: 'api', name: 'ci', secretHash: 'h1', expiresAt: '2027-02-01T00:00:00Z' });
      clock.advance(1000);
      await catalog.tokens.create({ id: 'a2', userName: 'root', kind: 'api', name: 'ops', secretHash: 'h2' });
      await catalog.tokens.create({ id: 's1', userName: 'bob', kind: 'session', secretHash: 'h3', expiresAt: '2027-01-01T12:00:00Z' });
      assert.deepEqual((await catalog.tokens.list({ userName: 'bob' })).map((token) => token.id), ['a1', 's1']);
      assert.deepEqual((await catalog.tokens.list({ kind: 'api' })).map((token) => token.id), ['a1', 'a2']);
      assert.deepEqual((await catalog.tokens.list({ unexpiredAt: '2027-01-15T00:00:00Z' })).map((token) => token.id), ['a1', 'a2']);
      const found = await catalog.tokens.findWithUser('s1');
      assert.equal(found?.user.name, 'bob');
      assert.equal(found?.token.secretHash, 'h3');
      assert.equal(await catalog.tokens.findWithUser('nope'), null);
      await catalog.tokens.touch('a1', '2027-01-01T00:05:00.000Z');
      assert.equal((await catalog.tokens.get('a1')).lastUsedAt, '2027-01-01T00:05:00.000Z');
      await assert.rejects(catalog.tokens.remove('a2', { ownedBy: 'bob' }), { code: 'TOKEN_NOT_FOUND' });
      assert.equal((await catalog.tokens.remove('a1', { ownedBy: 'bob' })).name, 'ci');
      await assert.rejects(catalog.tokens.remove('a1'), { code: 'TOKEN_NOT_FOUND' });
      assert.equal(await catalog.tokens.removeExpired('2027-01-01T12:00:00.000Z', 'api'), 0);
      assert.equal(await catalog.tokens.removeExpired('2027-01-01T12:00:00.000Z', 'session'), 1);
      assert.deepEqual((await catalog.tokens.list()).map((token) => token.id), ['a2']);
    });
  });

  it('creates the first user once, even when two processes race on a new catalog file', async () => {
    await withCatalog(async (catalog) => {
      assert.equal((await catalog.users.createFirst({ name: 'admin', role: 'admin', passwordHash: HASH }))?.name, 'admin');
      assert.equal(await catalog.users.createFirst({ name: 'other', role: 'admin', passwordHash: HASH }), null);
    });
    const dir = await mkdtemp(join(tmpdir(), 'boveda-first-user-'));
    try {
      const file = join(dir, 'catalog.db');
      // Each process opens the file and tries to create a differently named first user.
      const script = `
        const { Catalog } = await import(${JSON.stringify(join(process.cwd(), 'dist/src/catalog/index.js'))});
        const catalog = await Catalog.open(process.argv[1]);
        const created = await catalog.users.createFirst({ name: process.argv[2], role: 'admin', passwordHash: 'x' });
        process.stdout.write(created ? 'created' : 'none');
        await catalog.close();`;
      const run = (name: string) => new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, file, name], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
      });
      // A first open creates the schema, so the race is on the users table, not on migrations.
      await (await Catalog.open(file)).close();
      const results = await Promise.all(['one', 'two', 'three'].map(run));
      assert.deepEqual(results.filter((result) => result === 'created').length, 1, results.join(','));
      const catalog = await Catalog.open(file);
      try {
        assert.equal(await catalog.users.count(), 1);
      } finally {
        await catalog.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
