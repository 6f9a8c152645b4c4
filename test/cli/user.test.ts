import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog, UserService, catalogFile, type AuditEntry, type TokenRecord, type UserRecord } from '../../src/app/index.js';
import { CliHarness, failed } from './harness.js';

process.env.BOVEDA_SCRYPT_N = '1024';

describe('boveda user and audit (CLI end to end)', () => {
  let dir: string;
  let cli: CliHarness;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'boveda-user-cli-'));
    cli = new CliHarness(join(dir, 'data'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Checks a password or token against the data directory's catalog, as the server would. */
  async function withService<T>(body: (service: UserService) => Promise<T>): Promise<T> {
    const catalog = await Catalog.open(catalogFile(cli.data));
    try {
      return await body(new UserService(catalog, { now: () => new Date() }));
    } finally {
      await catalog.close();
    }
  }

  it('adds, lists, changes and removes users; prints generated passwords and tokens once', async () => {
    const added = cli.ok(['user', 'add', 'root', '--role', 'admin']);
    const password = /Password \(shown only this once\): (\S+)/.exec(added.stdout)?.[1];
    assert.ok(password && password.length >= 20, added.stdout);
    assert.match(added.stdout, /Log in as root/);
    assert.equal((await withService((service) => service.login('root', password, 'test'))).user.role, 'admin');

    const passwordFile = join(dir, 'alice.pw');
    await writeFile(passwordFile, 'alice has a long password\n');
    const alice = cli.json<{ user: UserRecord; password?: string }>(['user', 'add', 'alice', '--role', 'operator', '--password-file', passwordFile, '--key-restore']);
    assert.equal(alice.password, undefined, 'a given password is not echoed');
    assert.deepEqual([alice.user.role, alice.user.keyRestore, alice.user.disabled], ['operator', true, false]);

    const listed = cli.ok(['user', 'list']).stdout;
    assert.match(listed, /^NAME\s+ROLE/);
    assert.match(listed, /alice\s+operator\s+yes\s+enabled/);
    assert.equal(listed.includes(password), false);
    assert.deepEqual(cli.json<{ users: UserRecord[] }>(['user', 'list']).users.map((user) => user.name), ['alice', 'root']);

    const set = cli.json<{ user: UserRecord; password: string }>(['user', 'set', 'alice', '--role', 'contributor', '--key-restore', 'off', '--disable', '--reset-password']);
    assert.deepEqual([set.user.role, set.user.keyRestore, set.user.disabled], ['contributor', false, true]);
    await withService(async (service) => {
      await assert.rejects(service.login('alice', set.password, 'test'), { code: 'AUTH_FAILED' });
    });
    cli.ok(['user', 'set', 'alice', '--enable']);
    assert.equal((await withService((service) => service.login('alice', set.password, 'test'))).user.name, 'alice');

    const created = cli.ok(['user', 'token', 'create', 'alice', '--name', 'nightly job', '--expires-days', '7']);
    const token = /Token \(shown only this once\): (bvd_\S+)/.exec(created.stdout)?.[1];
    assert.ok(token, created.stdout);
    assert.equal((await withService((service) => service.authenticate(token, 'test'))).userName, 'alice');
    const tokens = cli.json<{ tokens: TokenRecord[] }>(['user', 'token', 'list', 'alice']).tokens;
    assert.deepEqual(tokens.map((entry) => [entry.kind, entry.name]), [['api', 'nightly job']]);
    assert.equal(JSON.stringify(tokens).includes(token.slice(22)), false, 'the secret is never listed');
    assert.deepEqual(cli.json<{ tokens: TokenRecord[] }>(['user', 'token', 'list', 'alice', '--sessions']).tokens.map((entry) => entry.kind), ['session', 'api']);
    assert.match(cli.ok(['user', 'token', 'list']).stdout, new RegExp(`${tokens[0]!.id}\\s+api\\s+alice\\s+nightly job`));
    assert.match(cli.ok(['user', 'token', 'revoke', tokens[0]!.id]).stdout, /Revoked API token \S+ \("nightly job"\) of alice/);
    await withService(async (service) => {
      await assert.rejects(service.authenticate(token, 'test'), { code: 'AUTH_REQUIRED' });
    });

    assert.match(cli.ok(['user', 'remove', 'alice']).stdout, /Removed user alice/);
    failed(cli.run(['user', 'remove', 'root', '--json']), 1, 'LAST_ADMIN', /root.*last enabled admin/);

    const audit = cli.json<{ entries: AuditEntry[] }>(['audit', '--limit', '50']).entries.reverse();
    assert.deepEqual(audit.filter((entry) => entry.source === 'cli').map((entry) => [entry.action, entry.target, entry.outcome]), [
      ['user.add', 'user:root', 'succeeded'], ['user.add', 'user:alice', 'succeeded'], ['user.update', 'user:alice', 'succeeded'],
      ['user.update', 'user:alice', 'succeeded'], ['token.create', 'user:alice', 'succeeded'], ['token.revoke', 'user:alice', 'succeeded'],
      ['user.remove', 'user:alice', 'succeeded'], ['user.remove', 'user:root', 'refused'],
    ]);
    assert.ok(audit.filter((entry) => entry.source === 'cli').every((entry) => entry.userName.startsWith('local:')));
    const auditText = JSON.stringify(audit);
    for (const secret of [password, set.password, 'alice has a long password', token]) assert.equal(auditText.includes(secret), false);
    assert.deepEqual(cli.json<{ entries: AuditEntry[] }>(['audit', '--action', 'token.revoke']).entries.map((entry) => entry.action), ['token.revoke']);
    assert.match(cli.ok(['audit', '--limit', '1']).stdout, /^ID\s+TIME \(UTC\)\s+USER\s+SOURCE\s+ACTION\s+OUTCOME[^\n]*\n\d+\s+\S+\s+local:\S+\s+cli\s+user\.remove\s+refused\s+user:root/);
  });

  it('refuses bad input with exit 2 naming the flag, and unknown objects with exit 1', () => {
    failed(cli.run(['user', 'add', 'carol', '--role', 'owner', '--json']), 2, 'INVALID_ARGUMENT', /--role "owner": expected one of reader, operator, contributor, admin/);
    failed(cli.run(['user', 'add', 'carol', '--json']), 2, 'INVALID_ARGUMENT', /--role is required/);
    failed(cli.run(['user', 'add', '../carol', '--role', 'reader', '--json']), 2, 'INVALID_ARGUMENT', /user name "..\/carol"/);
    failed(cli.run(['user', 'add', 'carol', '--role', 'reader', '--password-file', join(dir, 'missing'), '--json']), 2, 'INVALID_ARGUMENT', /--password-file .*missing/);
    failed(cli.run(['user', 'set', 'root', '--key-restore', 'maybe', '--json']), 2, 'INVALID_ARGUMENT', /--key-restore "maybe"/);
    failed(cli.run(['user', 'set', 'root', '--disable', '--enable', '--json']), 2, 'INVALID_ARGUMENT', /--disable or --enable/);
    failed(cli.run(['user', 'set', 'root', '--json']), 2, 'INVALID_ARGUMENT', /nothing to change/);
    failed(cli.run(['user', 'set', 'nobody', '--role', 'reader', '--json']), 1, 'USER_NOT_FOUND', /nobody/);
    failed(cli.run(['user', 'token', 'create', 'root', '--name', 'x', '--expires-days', '0', '--json']), 2, 'INVALID_ARGUMENT', /--expires-days "0"/);
    failed(cli.run(['user', 'token', 'create', 'root', '--json']), 2, 'INVALID_ARGUMENT', /--name is required/);
    failed(cli.run(['user', 'token', 'revoke', 'feedfacefeedface', '--json']), 1, 'TOKEN_NOT_FOUND', /feedfacefeedface/);
    failed(cli.run(['audit', '--limit', 'lots', '--json']), 2, 'INVALID_ARGUMENT', /--limit "lots"/);
  });
});
