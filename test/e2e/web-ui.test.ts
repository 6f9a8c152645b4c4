/**
 * The web UI end to end in headless Chromium against the real server (`boveda serve` as a child
 * process, a fresh data directory): log in as the first-start admin, add a VM backed by an image
 * file, protect it, back it up on demand, watch the job reach "completed" on the Jobs page (live,
 * over server-sent events), restore it to a directory and compare the bytes. Every page visited is
 * saved to test-results/screenshots/. Skipped only when /usr/bin/chromium is missing (CI installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const BIN = join(process.cwd(), 'dist/src/cli/main.js');
const SHOTS = join(process.cwd(), 'test-results/screenshots');
const IMAGE_BYTES = 6 * 1024 * 1024;

/** Deterministic image contents: xorshift32 noise with a zero hole (sparse regions are the usual case). */
function seededImage(seed: number, size: number): Buffer {
  const data = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let offset = 0; offset < size; offset += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    data.writeUInt32LE(x, offset);
  }
  data.fill(0, 2 * 1024 * 1024, 3 * 1024 * 1024);
  return data;
}

interface Server {
  child: ChildProcess;
  url: string;
  adminName: string;
  adminPassword: string;
  output(): string;
}

/** Starts `boveda serve` and waits for its address and the first-start admin password on its output. */
async function startServer(dataDir: string, allowed: string[]): Promise<Server> {
  const args = [BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...allowed.flatMap((path) => ['--allow-path', path]), '--tick-seconds', '3600', '--cleanup-minutes', '0'];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, BOVEDA_SCRYPT_N: '1024', BOVEDA_PASSPHRASE: undefined, BOVEDA_DATA: undefined, BOVEDA_VAULT: undefined, BOVEDA_SERVER: undefined, BOVEDA_TOKEN: undefined, XDG_DATA_HOME: undefined },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const url = /listening on (https?:\/\/[^\s,;)]+)/.exec(text)?.[1];
    // serve.ts (ensureFirstAdmin): 'first start: created the user "admin" (role admin) with the password P'
    const admin = /created the user "([^"]+)" \(role admin\) with the password (\S+)/.exec(text);
    if (url && admin) return { child, url: url.replace(/\/$/, ''), adminName: admin[1]!, adminPassword: admin[2]!, output: () => text };
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`boveda serve did not report its address and admin password; its output:\n${text}`);
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Goes to a hash route and waits until the page has replaced its "Loading…" placeholder. */
async function visit(page: Page, server: Server, route: string): Promise<void> {
  // Going to the hash the page is on already changes nothing: pass by the dashboard to redraw it.
  if (new URL(page.url()).hash === `#${route}` && route !== '/') await visit(page, server, '/');
  await page.goto(`${server.url}/#${route}`);
  await drawn(page, route);
}

/** Waits until the app has drawn `route` (main.ts sets body[data-page] once a page is in place). */
async function drawn(page: Page, route: string): Promise<void> {
  await page.waitForSelector(`body[data-page="#${route}"]`);
}

test('web UI: login, add + protect a VM, on-demand backup watched live on the Jobs page, restore equals the source', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`,
  timeout: 120_000,
}, async () => {
  const root = await mkdtemp(join(tmpdir(), 'boveda-web-'));
  const images = join(root, 'images');
  const restores = join(root, 'restores');
  await mkdir(images);
  await mkdir(restores);
  await mkdir(SHOTS, { recursive: true });
  const imagePath = join(images, 'web-os.img');
  const source = seededImage(20261123, IMAGE_BYTES);
  await writeFile(imagePath, source);

  let server: Server | null = null;
  let browser: Browser | null = null;
  let current: Page | null = null;
  try {
    server = await startServer(join(root, 'data'), [images, restores]);
    const base = server.url;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    let watching = true;
    // Answers the flow provokes on purpose: 401 to GET /api/me before login, then bad input.
    const expected: { status: number; path: string }[] = [{ status: 401, path: '/api/me' }];
    const isExpected = (status: number, url: string) => expected.some((e) => e.status === status && new URL(url).pathname === e.path);
    const watch = (page: Page) => {
      page.on('console', (message) => {
        if (!watching || message.type() !== 'error') return;
        // Chromium logs each non-2xx fetch as "Failed to load resource: ... status of 404".
        const status = Number(/status of (\d{3})/.exec(message.text())?.[1] ?? 0);
        if (status !== 0 && isExpected(status, message.location().url)) return;
        problems.push(`console error: ${message.text()} (${message.location().url})`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('requestfailed', (request) => {
        if (watching && request.url().startsWith(base)) problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`);
      });
      page.on('response', (response) => {
        if (!watching || !response.url().startsWith(base) || response.status() < 400) return;
        if (isExpected(response.status(), response.url())) return;
        problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
      });
      page.on('dialog', (dialog) => void dialog.accept());
    };
    const page = await context.newPage();
    current = page;
    watch(page);

    // Login (the app asks /api/me, gets 401, shows the form).
    await page.goto(`${base}/`);
    await page.waitForSelector('form.login');
    await shot(page, '01-login');
    await page.fill('input[name=name]', server.adminName);
    await page.fill('input[name=password]', server.adminPassword);
    expected.length = 0;
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('[data-testid=who]');
    assert.match(await page.textContent('[data-testid=who]') ?? '', /\(admin\)/);
    await drawn(page, '/');
    await shot(page, '02-dashboard-empty');

    // Policies: the default one (created if the server did not), previewed in the editor.
    await visit(page, server, '/policies');
    await shot(page, '03-policies');
    if (await page.$('a[href="#/policies/default"]') === null) {
      await visit(page, server, '/policies/new');
      await page.fill('form.policy-editor input[name=name]', 'default');
      await page.click('form.policy-editor button[type=submit]');
      await drawn(page, '/policies/default');
    } else {
      await visit(page, server, '/policies/default');
    }
    await page.click('button[data-action=preview]');
    await page.waitForSelector('[data-testid=policy-result] .preview, [data-testid=policy-result] .error');
    assert.equal(await page.$('[data-testid=policy-result] .error'), null, await page.textContent('[data-testid=policy-result]') ?? '');
    await shot(page, '04-policy-editor');

    // VMs: the empty list, then "Add VM".
    await visit(page, server, '/vms');
    assert.ok(await page.$('.empty'), 'an empty VM list shows its empty state');
    await shot(page, '05-vms-empty');
    await page.click('a.button:has-text("Add VM")');
    await drawn(page, '/vms/new');
    // A disk outside the allowed roots is refused with the API's message, shown on the form.
    await page.fill('form[data-testid=add-vm] input[name=name]', 'web');
    await page.fill('form[data-testid=add-vm] input[name=disk-path]', '/etc/passwd');
    expected.push({ status: 400, path: '/api/vms' });
    await page.click('form[data-testid=add-vm] button[type=submit]');
    await page.waitForSelector('form[data-testid=add-vm] .error');
    assert.match(await page.textContent('form[data-testid=add-vm] .error') ?? '', /PATH_NOT_ALLOWED/);
    await shot(page, '06-add-vm-refused');
    await page.fill('form[data-testid=add-vm] input[name=disk-path]', imagePath);
    await page.selectOption('form[data-testid=add-vm] select[name=disk-role]', 'os');
    await shot(page, '07-add-vm');
    await page.click('form[data-testid=add-vm] button[type=submit]');
    await drawn(page, '/vms/web');

    // Protect with the default policy.
    await page.selectOption('[data-testid=protect-web] select', 'default');
    await page.click('[data-testid=protect-web] button[type=submit]');
    await page.waitForSelector('.badge[data-status=protected]');
    await shot(page, '08-vm-protected');

    // A second tab on the Jobs page, opened before the backup: the job row must arrive over SSE.
    const jobsPage = await context.newPage();
    watch(jobsPage);
    await visit(jobsPage, server, '/jobs');
    assert.equal(await jobsPage.$('tr[data-job]'), null, 'no job before the backup');

    await page.fill('[data-testid=backup-form] input[name=retainDays]', '7');
    await page.click('[data-testid=backup-form] button[type=submit]');
    await page.waitForSelector('.started-job[data-job]');
    const backupJob = await page.getAttribute('.started-job', 'data-job');
    assert.ok(backupJob);
    await jobsPage.waitForSelector(`tr[data-job="${backupJob}"]`, { timeout: 20_000 });
    const finished = `tr[data-job="${backupJob}"]:not([data-status=queued]):not([data-status=in-progress])`;
    await jobsPage.waitForSelector(finished, { timeout: 30_000 }).catch(async (error: unknown) => {
      await shot(jobsPage, '09-jobs-backup-timeout');
      throw error;
    });
    // completed-with-warnings is the usual outcome where the file system cannot reflink (tmpfs,
    // ext4): the warning says the image was read without a snapshot.
    assert.match(await jobsPage.getAttribute(finished, 'data-status') ?? '', /^completed(-with-warnings)?$/, await jobsPage.textContent(finished) ?? '');
    assert.match(await jobsPage.textContent(`tr[data-job="${backupJob}"] .progress`) ?? '', /100%/);
    await shot(jobsPage, '09-jobs-backup-completed');
    // The VM page's own progress bar followed the same job.
    await page.waitForSelector(`.started-job[data-job="${backupJob}"] .badge[data-status^=completed]`, { timeout: 10_000 });

    await visit(jobsPage, server, `/jobs/${backupJob}`);
    await shot(jobsPage, '10-job-detail');
    watching = false;
    await jobsPage.close();
    watching = true;

    // The VM page again: one full point on the timeline; restore it to a directory (raw).
    await visit(page, server, '/vms/web');
    await page.waitForSelector('table.points tbody tr');
    assert.equal(await page.$$eval('table.points tbody tr', (rows) => rows.length), 1);
    assert.equal(await page.$$eval('.chart svg rect.bar', (bars) => bars.length), 1);
    await shot(page, '11-vm-page');
    const target = join(restores, 'r1');
    await page.fill('[data-testid=restore-form] input[name=path]', target);
    await page.selectOption('[data-testid=restore-form] select[name=format]', 'raw');
    await page.click('[data-testid=restore-form] button[type=submit]');
    await page.waitForSelector('[data-testid=restore-form] .started-job[data-job]');
    await page.waitForSelector('[data-testid=restore-form] .started-job .badge[data-status^=completed]', { timeout: 30_000 });
    await shot(page, '12-vm-restored');
    const restored = await readdir(target);
    assert.equal(restored.length, 1, `one disk restored: ${restored.join(', ')}`);
    assert.ok((await readFile(join(target, restored[0]!))).equals(source), 'the restored image equals the source');

    // Disk-encryption secrets: the admin sets one, backs up again so a point carries it, and
    // restores the keys of both points (the older one holds none); each read is audited.
    const passphrase = 'correct horse battery staple ñ ';
    await page.fill('[data-testid=secret-form] input[name=secret-name]', 'root-luks');
    await page.selectOption('[data-testid=secret-form] select[name=secret-kind]', 'luks-passphrase');
    await page.fill('[data-testid=secret-form] textarea[name=secret-value]', passphrase);
    await page.click('[data-testid=secret-form] button[type=submit]');
    await page.waitForSelector('table.secrets code:text-is("root-luks")');
    assert.match(await page.textContent('table.secrets tbody tr') ?? '', /luks-passphrase.*32 bytes/);
    await page.click('[data-testid=backup-form] button[type=submit]');
    await page.waitForSelector('[data-testid=backup-form] .started-job .badge[data-status^=completed]', { timeout: 30_000 });
    await visit(page, server, '/vms/web');
    assert.equal(await page.$$eval('table.points tbody tr', (rows) => rows.length), 2);
    await page.click('table.points tbody tr:nth-child(2) button[data-action=restore-keys]');
    await page.waitForSelector('[data-testid=restored-keys] .empty');
    assert.match(await page.textContent('[data-testid=restored-keys]') ?? '', /holds no secrets/);
    await page.click('table.points tbody tr:nth-child(1) button[data-action=restore-keys]');
    await page.waitForSelector('[data-testid=restored-keys] pre[data-secret=root-luks]');
    assert.equal(await page.textContent('[data-testid=restored-keys] pre[data-secret=root-luks]'), passphrase);
    assert.match(await page.textContent('[data-testid=restored-keys] .notice') ?? '', /recorded in the audit log/);
    const blobUrl = await page.getAttribute('[data-testid=restored-keys] a[data-download=root-luks]', 'href') ?? '';
    assert.match(blobUrl, /^blob:/);
    // Clicked as a user would (the page's CSP keeps fetch() off blob: URLs; downloads are not fetches).
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=restored-keys] a[data-download=root-luks]')]);
    assert.equal(download.suggestedFilename(), 'web-root-luks');
    const downloaded = (await readFile(await download.path())).toString('utf8');
    assert.equal(downloaded, passphrase, 'the download link holds the same bytes');
    await shot(page, '20-vm-secret-restored');

    // Audit log: both reads listed (newest first), the filter by action, and paging with "Older".
    await visit(page, server, '/audit');
    assert.equal(await page.getAttribute('table.audit tbody tr[data-action="secrets.read"]', 'data-outcome'), 'succeeded');
    await shot(page, '21-audit');
    await page.fill('[data-testid=audit-filter] input[name=action]', 'secrets.read');
    await page.fill('[data-testid=audit-filter] input[name=target]', 'vm:web');
    await page.click('[data-testid=audit-filter] button[type=submit]');
    await drawn(page, '/audit?action=secrets.read&target=vm%3Aweb');
    assert.deepEqual(await page.$$eval('table.audit tbody tr', (rows) => rows.map((row) => row.getAttribute('data-action'))), ['secrets.read', 'secrets.read']);
    await visit(page, server, '/audit?action=secrets.read&limit=1');
    const newestRead = await page.textContent('table.audit tbody tr td');
    await page.click('a[data-action=older]');
    await page.waitForSelector('body[data-page*="beforeId="]');
    const olderRead = await page.textContent('table.audit tbody tr td');
    assert.ok(Number(olderRead) < Number(newestRead), `older page: #${olderRead} before #${newestRead}`);
    assert.equal(await page.$('a[data-action=older]'), null, 'no page older than the first read');
    await shot(page, '22-audit-older');

    // Settings: the API's validation of the price table is shown; a valid one is stored; turning
    // soft delete off asks first (a dialog that says data goes at once), and Cancel changes nothing.
    await visit(page, server, '/settings');
    assert.equal(await page.getAttribute('[data-testid=soft-delete-state] .badge', 'data-status'), 'on');
    expected.push({ status: 400, path: '/api/settings/price-table' });
    const badTable = { currency: 'EURO', instanceTiers: [{ upToBytes: null, pricePerMonth: 5 }], storagePerGiBMonth: 0.02 };
    await page.fill('[data-testid=price-table-form] textarea', JSON.stringify(badTable));
    await page.click('[data-testid=price-table-form] button[type=submit]');
    await page.waitForSelector('[data-testid=price-table-result] .error');
    assert.match(await page.textContent('[data-testid=price-table-result] .error') ?? '', /INVALID_ARGUMENT.*currency/);
    await page.fill('[data-testid=price-table-form] textarea', JSON.stringify({ ...badTable, currency: 'EUR' }));
    await page.click('[data-testid=price-table-form] button[type=submit]');
    await page.waitForSelector('[data-testid=price-table]');
    assert.match(await page.textContent('[data-testid=price-table]') ?? '', /5\.00 EUR/);
    await shot(page, '23-settings');
    await page.click('button[data-action=soft-delete-off]');
    await page.waitForSelector('dialog[data-testid=soft-delete-dialog][open]');
    assert.match(await page.textContent('dialog[data-testid=soft-delete-dialog]') ?? '', /removes its recovery points at once/);
    await shot(page, '24-settings-soft-delete-confirm');
    await page.click('dialog[data-testid=soft-delete-dialog] button[data-action=cancel]');
    assert.equal(await page.$('dialog[data-testid=soft-delete-dialog]'), null);
    assert.equal(await page.getAttribute('[data-testid=soft-delete-state] .badge', 'data-status'), 'on');

    // Account: a new API token is shown once (and works), then listed by its id only; revoked.
    await page.click('[data-testid=who]');
    await drawn(page, '/account');
    await page.fill('[data-testid=create-token] input[name=name]', 'e2e-script');
    await page.fill('[data-testid=create-token] input[name=expiresInDays]', '30');
    await page.click('[data-testid=create-token] button[type=submit]');
    const apiToken = await page.textContent('[data-testid=new-token]', { timeout: 10_000 }) ?? '';
    const tokenId = /^bvd_([0-9a-f]{16})_/.exec(apiToken)?.[1];
    assert.ok(tokenId, `a token is shown: ${apiToken}`);
    await page.waitForSelector(`tr[data-token-id="${tokenId}"]`);
    const asToken = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${apiToken}` } });
    assert.equal(asToken.status, 200, 'the token shown works');
    await shot(page, '25-account-token-created');
    await visit(page, server, '/account');
    assert.equal(await page.$('[data-testid=new-token]'), null, 'the token is not shown again');
    assert.ok(!(await page.textContent('body') ?? '').includes(apiToken), 'nowhere on the page');
    assert.match(await page.textContent(`tr[data-token-id="${tokenId}"]`) ?? '', /e2e-script/);
    await shot(page, '26-account');
    await page.click(`tr[data-token-id="${tokenId}"] button:has-text("Revoke")`);
    await page.waitForSelector('[data-testid=token-list] .empty');
    assert.equal((await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${apiToken}` } })).status, 401, 'a revoked token no longer works');

    await visit(page, server, '/jobs');
    await page.waitForSelector('tr[data-job][data-status^=completed]');
    await shot(page, '13-jobs');
    await visit(page, server, '/');
    assert.match(await page.textContent('[data-testid=tile-protected]') ?? '', /1 of 1/);
    await shot(page, '14-dashboard');
    await visit(page, server, '/usage');
    await shot(page, '15-usage');
    await visit(page, server, '/vault');
    await page.click('button[data-testid=verify-now]');
    await page.waitForSelector('.started-job .badge[data-status^=completed]', { timeout: 30_000 });
    await shot(page, '16-vault-health');
    // Users: the admin adds a reader, who then sees the VM without the actions a reader may not take.
    await visit(page, server, '/users');
    await page.fill('form[data-testid=add-user] input[name=name]', 'viewer');
    await page.selectOption('form[data-testid=add-user] select[name=role]', 'reader');
    await page.click('form[data-testid=add-user] button[type=submit]');
    const readerPassword = await page.textContent('[data-testid=new-password]');
    assert.ok(readerPassword && readerPassword.length >= 8);
    await shot(page, '17-users');
    watching = false; // signing out closes the event stream
    await page.click('nav button:has-text("Sign out")');
    await page.waitForSelector('form.login');
    await page.fill('input[name=name]', 'viewer');
    await page.fill('input[name=password]', readerPassword);
    await page.click('form.login button[type=submit]');
    await drawn(page, '/');
    watching = true;
    assert.match(await page.textContent('[data-testid=who]') ?? '', /viewer \(reader\)/);
    assert.equal(await page.$('nav a[href="#/users"]'), null, 'a reader has no Users page');
    assert.equal(await page.$('nav a[href="#/audit"]'), null, 'a reader has no audit log');
    await visit(page, server, '/settings');
    assert.match(await page.textContent('[data-testid=price-table]') ?? '', /EUR/, 'a reader sees the price table');
    assert.equal(await page.$('button[data-action=soft-delete-off]'), null, 'a reader cannot turn soft delete off');
    assert.equal(await page.$('[data-testid=price-table-form]'), null, 'nor edit the price table');
    await visit(page, server, '/vms/web');
    await page.waitForSelector('table.points tbody tr');
    for (const hidden of ['[data-testid=backup-form]', '[data-testid=restore-form]', 'button:has-text("Stop and delete data")', 'button:has-text("Stop protection")', 'button[data-action=restore-keys]', '[data-testid=secret-form]', 'table.secrets button']) {
      assert.equal(await page.$(hidden), null, `a reader does not see ${hidden}`);
    }
    await shot(page, '19-vm-as-reader');
    // Bad input in the address bar: an unknown VM shows the API's message, not a blank page.
    expected.push({ status: 404, path: '/api/vms/no-such-vm' });
    await visit(page, server, '/vms/no-such-vm');
    assert.match(await page.textContent('main.content .error') ?? '', /VM_NOT_FOUND/);
    await shot(page, '18-unknown-vm');
    // The reader replaces the generated password: the wrong current one is refused, then the change
    // ends every session and the new password signs in.
    await visit(page, server, '/account');
    expected.push({ status: 401, path: '/api/me/password' });
    await page.fill('[data-testid=change-password] input[name=currentPassword]', 'not the password');
    await page.fill('[data-testid=change-password] input[name=newPassword]', 'viewer picked this one');
    await page.fill('[data-testid=change-password] input[name=repeat]', 'viewer picked this one');
    await page.click('[data-testid=change-password] button[type=submit]');
    await page.waitForSelector('[data-testid=change-password] + div .error');
    assert.match(await page.textContent('[data-testid=change-password] + div .error') ?? '', /AUTH_FAILED.*current password/);
    await page.fill('[data-testid=change-password] input[name=currentPassword]', readerPassword);
    await page.fill('[data-testid=change-password] input[name=newPassword]', 'viewer picked this one');
    await page.fill('[data-testid=change-password] input[name=repeat]', 'viewer picked this one');
    await page.click('[data-testid=change-password] button[type=submit]');
    await page.waitForSelector('[data-testid=password-changed]');
    await shot(page, '27-account-password-changed');
    watching = false; // the ended session closes the event stream
    await page.click('[data-testid=password-changed] button');
    await page.waitForSelector('form.login');
    await page.fill('input[name=name]', 'viewer');
    await page.fill('input[name=password]', 'viewer picked this one');
    await page.click('form.login button[type=submit]');
    await drawn(page, '/account'); // back where the reload left off
    assert.match(await page.textContent('[data-testid=who]') ?? '', /viewer \(reader\)/);
    watching = false; // closing the browser aborts the event stream
    assert.deepEqual(problems, []);
  } catch (error) {
    // What the page showed when the flow broke, and what the server said.
    await current?.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true }).catch(() => undefined);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- page text:\n${await current?.textContent('body').catch(() => '') ?? ''}\n--- server output:\n${server?.output() ?? ''}`, { cause: error });
  } finally {
    await browser?.close().catch(() => undefined);
    if (server) await stopServer(server);
    await rm(root, { recursive: true, force: true });
  }
});
