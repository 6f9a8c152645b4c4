/**
 * The static UI under a built web root (content types, client routes, no escape), and `boveda serve
 * --listen 127.0.0.1:0` as a real process: first start creates the vault and its key file, prints
 * where it listens, answers /api/health and the SSE stream over a real socket, stops on SIGTERM.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createServer } from '../../src/api/index.js';
import { CliHarness } from '../cli/harness.js';
import { TOKENS, startTestServer, type TestServer } from './helpers.js';

describe('static UI', () => {
  let t: TestServer;
  let web: string;
  before(async () => {
    t = await startTestServer();
    web = join(t.dir, 'web');
    await mkdir(join(web, 'assets'), { recursive: true });
    await writeFile(join(web, 'index.html'), '<!doctype html><title>Boveda</title>');
    await writeFile(join(web, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(t.dir, 'secret.txt'), 'SECRET');
  });
  after(async () => {
    await t.close();
  });

  it('serves files with their types, index.html for client routes, never files outside the root', async () => {
    const server = await createServer({ app: t.app, auth: t.auth, allowedPaths: [], webRoot: web });
    try {
      const script = await server.inject({ method: 'GET', url: '/assets/app.js' });
      assert.equal(script.statusCode, 200);
      assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal(script.body, 'console.log(1)');
      const route = await server.inject({ method: 'GET', url: '/vms/web' });
      assert.equal(route.headers['content-type'], 'text/html; charset=utf-8');
      assert.match(route.body, /<title>Boveda/);
      for (const url of ['/../secret.txt', '/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%00']) {
        const response = await server.inject({ method: 'GET', url });
        assert.doesNotMatch(response.body, /SECRET/, url);
      }
    } finally {
      await server.close();
    }
  });
});

describe('boveda serve as a process', () => {
  let data: string;
  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'boveda-serve-'));
  });
  after(async () => {
    await rm(data, { recursive: true, force: true });
  });

  it('first start creates the vault with a key file, listens on a free port, answers health, stops on SIGTERM', async () => {
    const harness = new CliHarness(data);
    const started = harness.start(['serve', '--listen', '127.0.0.1:0', '--cleanup-minutes', '0'], { BOVEDA_PASSPHRASE: undefined });
    let url: string | undefined;
    for (let i = 0; i < 300 && url === undefined; i++) {
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(started.stdout())?.[1];
      if (url === undefined) await sleep(50);
    }
    try {
      assert.ok(url, `no "listening on" line: ${started.stdout()}${started.stderr()}`);
      assert.match(started.stdout(), /its key is in .*vault\.key: keep a copy somewhere safe/);
      assert.equal((await stat(join(data, 'vault.key'))).mode & 0o777, 0o600);
      const health = await fetch(`${url}/api/health`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok', version: '0.1.0' });
      const vms = await fetch(`${url}/api/vms`, { headers: { authorization: `Bearer ${TOKENS.admin}` } });
      assert.equal(vms.status, 401, 'the real server has its own accounts: the test double\'s token is unknown to it');
      assert.ok((await stat(join(data, 'images'))).isDirectory());
    } finally {
      started.child.kill('SIGTERM');
    }
    const run = await started.done;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /stopped/);
    // A second start finds the vault and opens it with the key file.
    const again = harness.start(['serve', '--listen', '127.0.0.1:0', '--cleanup-minutes', '0'], { BOVEDA_PASSPHRASE: undefined });
    for (let i = 0; i < 300 && !/listening on/.test(again.stdout()); i++) await sleep(50);
    again.child.kill('SIGTERM');
    const second = await again.done;
    assert.match(second.stdout, /listening on/, second.stderr);
    assert.doesNotMatch(second.stdout, /created vault/);
  });
});

describe('server-sent events over a real socket', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('streams "job" events: a followed job\'s state, and the stream ends when it has finished', async () => {
    const job = await t.app.catalog.jobs.create({ type: 'verify', item: null, trigger: 'on-demand' });
    const address = await t.server.listen({ host: '127.0.0.1', port: 0 });
    const response = await fetch(`${address}/api/events?job=${job.id}`, { headers: { authorization: `Bearer ${TOKENS.reader}` } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = response.body!.getReader();
    let text = '';
    const read = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += Buffer.from(value).toString('utf8');
      }
    })();
    await sleep(200);
    await t.app.catalog.jobs.requestCancel(job.id);
    await read;
    const events = text.split('\n\n').filter((block) => block.startsWith('event: job'));
    const statuses = events.map((block) => (JSON.parse(/data: (.*)/.exec(block)![1]!) as { status: string }).status);
    assert.deepEqual(statuses, ['queued', 'cancelled']);
  });
});
