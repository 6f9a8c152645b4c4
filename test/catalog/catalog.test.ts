import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { CATALOG_APPLICATION_ID, Catalog, type Migration } from '../../src/catalog/index.js';
import { migrations } from '../../src/catalog/migrations/index.js';
import { isBovedaError } from '../../src/core/index.js';
import { ManualClock } from '../../src/util/index.js';

const catalogModule = join(process.cwd(), 'dist/src/catalog/index.js');

function rows<T>(file: string, query: string): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(query).all() as T[];
  } finally {
    db.close();
  }
}

function catalogError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(isBovedaError(error, 'CATALOG_ERROR'), `expected CATALOG_ERROR, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

/** Runs a Node ES module snippet in a child process; resolves with its exit code and output. */
function child(code: string, args: string[], onLine?: (line: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--input-type=module', '-e', code, ...args], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (onLine) for (const line of chunk.split('\n').filter(Boolean)) onLine(line);
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    proc.on('error', reject);
    proc.on('close', (exit) => resolve({ code: exit, stdout, stderr }));
  });
}

describe('Catalog (SQLite file, migrations, sharing)', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-catalog-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('creates and migrates a new file from empty, in WAL mode, marked as a Boveda catalog', async () => {
    const file = join(work, 'fresh.db');
    const clock = new ManualClock('2026-01-02T03:04:05Z');
    const catalog = await Catalog.open(file, { clock });
    assert.equal(catalog.file, file);
    assert.equal(catalog.schemaVersion, migrations.length);
    await catalog.close();
    assert.deepEqual(
      rows(file, 'select version, name, applied_at from schema_migrations order by version'),
      migrations.map((migration) => ({ version: migration.version, name: migration.name, applied_at: '2026-01-02T03:04:05.000Z' })),
    );
    assert.deepEqual(rows(file, 'pragma journal_mode'), [{ journal_mode: 'wal' }]);
    assert.deepEqual(rows(file, 'pragma application_id'), [{ application_id: CATALOG_APPLICATION_ID }]);
    const tables = rows<{ name: string }>(file, "select name from sqlite_master where type = 'table' order by name").map((row) => row.name);
    assert.deepEqual(tables, ['audit_log', 'jobs', 'policies', 'protected_items', 'recovery_points', 'schedule_claims', 'schema_migrations', 'settings', 'tokens', 'usage_samples', 'users', 'vm_disks', 'vm_secrets', 'vms']);
    // Every table is STRICT.
    const sqlOf = rows<{ name: string; sql: string }>(file, "select name, sql from sqlite_master where type = 'table'");
    for (const table of sqlOf) assert.match(table.sql, /\)\s*strict$/i, table.name);
  });

  it('keeps data across re-opens and does not migrate twice', async () => {
    const file = join(work, 'reopen.db');
    const first = await Catalog.open(file, { clock: new ManualClock('2026-01-01T00:00:00Z') });
    await first.vms.add({ name: 'web', disks: [{ path: '/srv/web.img' }] });
    await first.close();
    await first.close(); // idempotent
    const second = await Catalog.open(file, { clock: new ManualClock('2027-01-01T00:00:00Z') });
    try {
      assert.deepEqual((await second.vms.get('web')).disks, [{ name: 'disk0', path: '/srv/web.img', role: 'os' }]);
      assert.equal(second.schemaVersion, migrations.length);
    } finally {
      await second.close();
    }
    assert.deepEqual(rows(file, 'select applied_at from schema_migrations').map((row) => (row as { applied_at: string }).applied_at), migrations.map(() => '2026-01-01T00:00:00.000Z'));
  });

  it('applies only the pending migrations, in order, when Boveda is upgraded', async () => {
    const file = join(work, 'upgrade.db');
    const old = await Catalog.open(file, { migrations: migrations.slice(0, 1) });
    await old.vms.add({ name: 'web', disks: [{ path: '/srv/web.img' }] });
    await old.close();
    const applied: number[] = [];
    const extra = (version: number): Migration => ({
      version, name: `test-${version}`,
      async up(db) {
        applied.push(version);
        await sql.raw(`create table test_${version} (id integer primary key) strict`).execute(db);
      },
    });
    const newer = [...migrations.slice(0, 1), extra(2), extra(3)];
    const upgraded = await Catalog.open(file, { migrations: newer });
    assert.equal(upgraded.schemaVersion, 3);
    assert.equal((await upgraded.vms.get('web')).name, 'web');
    await upgraded.close();
    assert.deepEqual(applied, [2, 3]);
    assert.deepEqual(rows(file, 'select version, name from schema_migrations order by version'), [
      { version: 1, name: 'vms' }, { version: 2, name: 'test-2' }, { version: 3, name: 'test-3' },
    ]);
  });

  it('upgrades a version-1 catalog (VMs only) in place to the lifecycle schema, keeping its VMs', async () => {
    const file = join(work, 'v1.db');
    const old = await Catalog.open(file, { migrations: migrations.slice(0, 1) });
    assert.equal(old.schemaVersion, 1);
    await old.vms.add({ name: 'web', disks: [{ path: '/srv/web.img' }] });
    await old.close();
    assert.ok(!rows<{ name: string }>(file, "select name from sqlite_master where type = 'table'").some((row) => row.name === 'policies'));

    const upgraded = await Catalog.open(file, { clock: new ManualClock('2026-06-01T00:00:00Z') });
    try {
      assert.equal(upgraded.schemaVersion, migrations.length);
      assert.equal((await upgraded.vms.get('web')).disks[0]!.path, '/srv/web.img');
      await upgraded.policies.create({
        name: 'daily', description: null, schedule: { kind: 'daily', time: '22:00', timeZone: 'UTC' },
        retention: { dailyDays: 7, weekly: null, monthly: null, yearly: null }, instantRestoreDays: 2,
      });
      await upgraded.items.create('web', 'daily');
      assert.equal((await upgraded.items.get('web')).state, 'protected');
      assert.equal(await upgraded.settings.get('soft-delete.enabled', true), true);
    } finally {
      await upgraded.close();
    }
    assert.deepEqual(rows(file, 'select version, name, applied_at from schema_migrations order by version').slice(1, 2), [
      { version: 2, name: 'lifecycle', applied_at: '2026-06-01T00:00:00.000Z' },
    ]);
  });

  it('rolls a failed migration back whole: earlier steps of the same run and its own changes', async () => {
    const file = join(work, 'failing.db');
    await (await Catalog.open(file, { migrations: migrations.slice(0, 1) })).close();
    const broken: Migration[] = [
      ...migrations.slice(0, 1),
      { version: 2, name: 'good', up: async (db) => void (await sql.raw('create table good (id integer) strict').execute(db)) },
      {
        version: 3, name: 'bad',
        async up(db) {
          await sql.raw('create table half_done (id integer) strict').execute(db);
          throw new Error('disk on fire');
        },
      },
    ];
    await assert.rejects(Catalog.open(file, { migrations: broken }), catalogError(/migration 3 \("bad"\) failed.*disk on fire/));
    await assert.rejects(Catalog.open(file, { migrations: broken }), catalogError(new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))));
    const tables = rows<{ name: string }>(file, "select name from sqlite_master where type = 'table'").map((row) => row.name);
    assert.ok(!tables.includes('good') && !tables.includes('half_done'), `left behind: ${tables.join(', ')}`);
    assert.deepEqual(rows(file, 'select version from schema_migrations'), [{ version: 1 }]);
    const fine = await Catalog.open(file);
    assert.equal(fine.schemaVersion, migrations.length);
    await fine.close();
  });

  it('refuses a catalog written by a newer Boveda, naming the file, and leaves it untouched', async () => {
    const file = join(work, 'future.db');
    await (await Catalog.open(file)).close();
    const db = new Database(file);
    db.prepare("insert into schema_migrations (version, name, applied_at) values (?, 'from-the-future', '2030-01-01T00:00:00Z')").run(migrations.length + 1);
    db.close();
    const before = await readFile(file);
    await assert.rejects(Catalog.open(file), catalogError(new RegExp(`${file}.*schema version ${migrations.length + 1}.*newer Boveda`)));
    assert.deepEqual(await readFile(file), before);
  });

  it('refuses a catalog whose recorded migration names differ from this Boveda\'s', async () => {
    const file = join(work, 'forked.db');
    await (await Catalog.open(file)).close();
    const db = new Database(file);
    db.prepare("update schema_migrations set name = 'something-else' where version = 1").run();
    db.close();
    await assert.rejects(Catalog.open(file), catalogError(/records migration 1 as "something-else"/));
  });

  it('refuses another application\'s database and a file that is not SQLite, naming the file', async () => {
    const foreign = join(work, 'foreign.db');
    const db = new Database(foreign);
    db.exec('create table photos (id integer primary key)');
    db.close();
    await assert.rejects(Catalog.open(foreign), catalogError(new RegExp(`${foreign} is not a Boveda catalog`)));
    assert.deepEqual(rows<{ name: string }>(foreign, "select name from sqlite_master where type = 'table'").map((row) => row.name), ['photos']);

    const text = join(work, 'notes.txt');
    await writeFile(text, 'this is not a database, just a long enough text file to have a header'.repeat(20));
    await assert.rejects(Catalog.open(text), catalogError(new RegExp(`catalog ${text}: cannot open it: file is not a database`)));
    await assert.rejects(Catalog.open(join(work, 'no', 'such', 'dir', 'catalog.db')), catalogError(/no\/such\/dir\/catalog\.db: cannot open it/));
  });

  it('fails with CATALOG_ERROR after close', async () => {
    const catalog = await Catalog.openInMemory();
    await catalog.close();
    await assert.rejects(catalog.vms.list(), catalogError(/in-memory catalog: cannot list VMs: the catalog is closed/));
  });

  it('gives each in-memory catalog its own empty database', async () => {
    const one = await Catalog.openInMemory();
    const two = await Catalog.openInMemory();
    try {
      await one.vms.add({ name: 'web', disks: [{ path: '/a.img' }] });
      assert.equal((await one.vms.list()).length, 1);
      assert.deepEqual(await two.vms.list(), []);
      assert.equal(two.file, ':memory:');
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('lets two processes write the same file at once (WAL + busy timeout), nothing lost', async () => {
    const file = join(work, 'shared.db');
    const writer = `
      const { Catalog } = await import(process.argv[1]);
      const [file, prefix] = process.argv.slice(2);
      const catalog = await Catalog.open(file);
      for (let i = 0; i < 30; i++) {
        await catalog.vms.add({ name: prefix + '-' + i, disks: [{ path: '/dev/' + prefix + i }, { path: '/srv/' + prefix + i + '.img', role: 'temp' }] });
        if (i % 10 === 0) await catalog.vms.update(prefix + '-' + i, { notes: 'touched' });
      }
      await catalog.close();
    `;
    // Both processes open (and migrate) a file that does not exist yet at the same moment.
    const results = await Promise.all(['a', 'b', 'c'].map((prefix) => child(writer, [catalogModule, file, prefix])));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const catalog = await Catalog.open(file);
    try {
      const vms = await catalog.vms.list();
      assert.equal(vms.length, 90);
      assert.ok(vms.every((vm) => vm.disks.length === 2));
      assert.equal(vms.filter((vm) => vm.notes === 'touched').length, 9);
    } finally {
      await catalog.close();
    }
    assert.deepEqual(rows(file, 'select count(*) as n from schema_migrations'), [{ n: migrations.length }]);
  });

  it('reads while another process holds the write lock, and waits for it to write (or gives up after the busy timeout)', async () => {
    const file = join(work, 'locked.db');
    const setup = await Catalog.open(file);
    await setup.vms.add({ name: 'before', disks: [{ path: '/before.img' }] });
    await setup.close();
    const holder = `
      import Database from 'better-sqlite3';
      const db = new Database(process.argv[1]);
      db.exec('begin immediate');
      db.exec("insert into vms (name, created_at, updated_at, script_timeout_seconds) values ('held', 'x', 'x', 300)");
      console.log('locked');
      setTimeout(() => { db.exec('commit'); db.close(); }, 1500);
    `;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = child(holder, [file], (line) => line === 'locked' && locked());
    await isLocked;

    const impatient = await Catalog.open(file, { busyTimeoutMs: 50 });
    try {
      // WAL: readers see the last committed state without waiting for the writer.
      assert.deepEqual((await impatient.vms.list()).map((vm) => vm.name), ['before']);
      await assert.rejects(impatient.vms.add({ name: 'mine', disks: [{ path: '/mine.img' }] }), catalogError(new RegExp(`catalog ${file}: cannot add VM mine: database is locked.*busy timeout`)));
    } finally {
      await impatient.close();
    }
    const patient = await Catalog.open(file, { busyTimeoutMs: 10_000 });
    try {
      await patient.vms.add({ name: 'mine', disks: [{ path: '/mine.img' }] });
      assert.deepEqual((await patient.vms.list()).map((vm) => vm.name), ['before', 'held', 'mine']);
    } finally {
      await patient.close();
    }
    assert.equal((await holding).code, 0);
  });
});
