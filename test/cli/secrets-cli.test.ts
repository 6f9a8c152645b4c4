/**
 * `boveda vm secret …` and `boveda secrets restore` as a user runs them: real processes, a real data
 * directory (catalog + default vault), a real backup. Restored files are mode 0600 and never
 * replace an existing file; every read is in the audit log as local:<os user> from cli.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { CliHarness, bin, failed } from './harness.js';

interface SecretJson { name: string; kind: string; sizeBytes: number; updatedAt: string }

describe('secrets CLI', () => {
  let work: string;
  let h: CliHarness;
  const random = new SeededRandom(7);
  const keyBytes = Buffer.from(random.bytes(512));

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-secrets-cli-'));
    h = new CliHarness(join(work, 'data'));
    await writeFile(join(work, 'web.img'), random.bytes(64 * 1024));
    await writeFile(join(work, 'data.key'), keyBytes);
    h.ok(['vault', 'init']);
    h.ok(['vm', 'add', 'web', '--disk', join(work, 'web.img')]);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('set from a file and from stdin, list, remove; bad input is refused with a clear message', () => {
    assert.deepEqual(h.json<SecretJson>(['vm', 'secret', 'set', 'web', 'data.key', '--file', join(work, 'data.key')]).kind, 'key-file');
    const stdin = spawnSync(process.execPath, [bin, 'vm', 'secret', 'set', 'web', 'root', '--stdin', '--json'], { input: 'hunter2-luks', env: h.env(), encoding: 'utf8' });
    assert.equal(stdin.status, 0, stdin.stderr);
    assert.deepEqual(JSON.parse(stdin.stdout), { name: 'root', kind: 'luks-passphrase', sizeBytes: 12, updatedAt: (JSON.parse(stdin.stdout) as SecretJson).updatedAt });
    h.ok(['vm', 'secret', 'set', 'web', 'tmp', '--file', join(work, 'data.key'), '--kind', 'other']);
    assert.match(h.ok(['vm', 'secret', 'list', 'web']).stdout, /data\.key\s+key-file[\s\S]*root\s+luks-passphrase[\s\S]*tmp\s+other/);
    h.ok(['vm', 'secret', 'remove', 'web', 'tmp']);
    assert.deepEqual(h.json<SecretJson[]>(['vm', 'secret', 'list', 'web']).map((entry) => entry.name), ['data.key', 'root']);

    failed(h.run(['vm', 'secret', 'set', 'web', 'x', '--json']), 2, 'INVALID_ARGUMENT', /exactly one of --file FILE or --stdin/);
    failed(h.run(['vm', 'secret', 'set', 'web', 'x/y', '--file', join(work, 'data.key'), '--json']), 2, 'INVALID_ARGUMENT', /secret name/);
    failed(h.run(['vm', 'secret', 'set', 'web', 'x', '--file', join(work, 'data.key'), '--kind', 'bek', '--json']), 2, 'INVALID_ARGUMENT', /secret kind "bek"/);
    failed(h.run(['vm', 'secret', 'set', 'web', 'x', '--file', join(work, 'absent'), '--json']), 2, 'INVALID_ARGUMENT', /cannot read/);
    failed(h.run(['vm', 'secret', 'set', 'nope', 'x', '--file', join(work, 'data.key'), '--json']), 1, 'VM_NOT_FOUND', /nope/);
    failed(h.run(['vm', 'secret', 'remove', 'web', 'absent', '--json']), 1, 'SECRET_NOT_FOUND', /absent/);
  });

  it('a backup carries them; secrets restore writes one 0600 file per secret, never over a file, and is audited', async () => {
    // Backups print JSON lines (progress events, then "completed" with the point id).
    const events = h.ok(['backup', 'web', '--json']).stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; id?: string });
    const pointId = events.find((event) => event.event === 'completed')!.id!;
    const points = h.json<Array<{ id: string; secrets: string[] }>>(['points', 'web']);
    assert.deepEqual(points.map((point) => [point.id, point.secrets]), [[pointId, ['data.key', 'root']]]);
    // Changed after the point: the point keeps what it had.
    h.ok(['vm', 'secret', 'set', 'web', 'root', '--file', join(work, 'web.img')]);

    const out = join(work, 'restored');
    const restored = h.json<{ pointId: string; files: Array<{ name: string; path: string }> }>(['secrets', 'restore', 'web', '--to', out]);
    assert.equal(restored.pointId, pointId);
    assert.deepEqual((await readdir(out)).sort(), ['data.key', 'root']);
    assert.ok((await readFile(join(out, 'data.key'))).equals(keyBytes));
    assert.equal(await readFile(join(out, 'root'), 'utf8'), 'hunter2-luks');
    for (const name of ['data.key', 'root']) assert.equal((await stat(join(out, name))).mode & 0o777, 0o600, name);

    // Never over an existing file: nothing is written, the old content stays.
    await rm(join(out, 'data.key'));
    failed(h.run(['secrets', 'restore', 'web', '--point', pointId.slice(0, 6), '--to', out, '--json']), 1, 'RESTORE_TARGET_EXISTS', /root exists/);
    assert.deepEqual(await readdir(out), ['root']);
    failed(h.run(['secrets', 'restore', 'web', '--point', 'ffffffffffffffff', '--to', join(work, 'x'), '--json']), 1, 'POINT_NOT_FOUND', /ffffffffffffffff/);
    failed(h.run(['secrets', 'restore', 'web', '--to', out, '--point', 'zz', '--json']), 2, 'INVALID_ARGUMENT', /zz/);

    const catalog = await Catalog.open(join(h.data, 'catalog.db'));
    try {
      const reads = (await catalog.audit.list({ action: 'secrets.read' })).reverse();
      assert.deepEqual(reads.map((entry) => [entry.userName, entry.source, entry.target, entry.outcome]), [
        [`local:${userInfo().username}`, 'cli', 'vm:web', 'succeeded'],
        [`local:${userInfo().username}`, 'cli', 'vm:web', 'succeeded'],
        [`local:${userInfo().username}`, 'cli', 'vm:web', 'failed'],
        [`local:${userInfo().username}`, 'cli', 'vm:web', 'failed'],
      ]);
      assert.deepEqual(reads[0]!.details, { pointId, secrets: ['data.key', 'root'] });
    } finally {
      await catalog.close();
    }
  });
});
