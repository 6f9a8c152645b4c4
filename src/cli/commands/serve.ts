import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  createKeyFile, defaultVaultDir, defaultVaultKeyFile, ensureDataDir, initLocalVault, resolveAllowedPaths, resolveDataDir, runCleanupJob,
  scryptParamsFromEnv, UserService, type SlotSecret,
} from '../../app/index.js';
import { BovedaError, describeError } from '../../core/index.js';
import type { CliIo } from '../io.js';
import { addAppOptions, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine } from '../io.js';
import { createScheduler, nonNegativeNumber, positiveInteger, tickLines } from './scheduler.js';
import { collect } from './vm-options.js';

interface ServeOptions extends AppCommandOptions {
  tickSeconds: string;
  cleanupMinutes: string;
  maxConcurrent: string;
  spreadMinutes: string;
  listen: string;
  allowPath: string[];
}

/** `--listen HOST:PORT` (IPv6 as [::1]:8080); port 0 picks a free one. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65_535) throw new BovedaError('INVALID_ARGUMENT', `--listen "${value}": give HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)`);
  return { host: match[1] ?? match[2]!, port };
}

/**
 * First start of a data directory whose default vault does not exist yet (and no --vault or
 * $BOVEDA_VAULT points elsewhere): creates it, with $BOVEDA_PASSPHRASE if set, else with a new key
 * file <data-dir>/vault.key (0600) that later starts and local commands use. Returns lines to print.
 */
export async function createDefaultVault(options: ServeOptions, io: CliIo): Promise<string[] | null> {
  if (options.vault || io.env.BOVEDA_VAULT || options.keyFile || options.passphraseFile) return null;
  const dataDir = await ensureDataDir(resolveDataDir(options.dataDir, io.env));
  const dir = defaultVaultDir(dataDir);
  if (existsSync(dir)) return null;
  const keyFile = defaultVaultKeyFile(dataDir);
  const secret: SlotSecret = io.env.BOVEDA_PASSPHRASE ? { kind: 'passphrase', passphrase: io.env.BOVEDA_PASSPHRASE } : await createKeyFile(keyFile);
  const vault = await initLocalVault({ dir }, { secret, scrypt: scryptParamsFromEnv(io.env) });
  await vault.close();
  await mkdir(`${dataDir}/images`, { recursive: true });
  await mkdir(`${dataDir}/restores`, { recursive: true });
  return [
    `created vault ${vault.config.vaultId} in ${dir}`,
    secret.kind === 'key-file'
      ? `its key is in ${keyFile}: keep a copy somewhere safe (without it nobody can open the vault, and losing this machine loses it)`
      : 'it opens with $BOVEDA_PASSPHRASE: keep that passphrase safe (without it nobody can open the vault)',
  ];
}

/**
 * First start of a data directory: when it has no users, an "admin" account with a random password,
 * printed once (after the listening line, so it says where to log in). Two servers starting at once
 * create one admin (the catalog makes the first user atomically).
 */
export async function ensureFirstAdmin(users: UserService): Promise<(url: string) => string[]> {
  const admin = await users.ensureInitialAdmin();
  if (!admin) return () => [];
  return (url) => [
    `first start: created the user "${admin.name}" (role admin) with the password ${admin.password}`,
    `log in at ${url} — this password is shown only now; change it (web UI: your name, top right; or boveda user set ${admin.name} --password-file FILE) and add users with "boveda user add NAME --role ROLE"`,
  ];
}

/**
 * `boveda serve`: the long-running process. Ticks the scheduler, runs cleanup periodically (as a
 * job), fails the jobs of processes that died; stops on SIGINT/SIGTERM, cancelling running
 * backups (their jobs end as cancelled and leave no partial point). Several `serve` processes may
 * share a data directory: slot claims in the catalog keep each slot to one of them.
 */
export function registerServe(program: Command, context: CommandContext): void {
  addAppOptions(program.command('serve').description('run the scheduler and periodic cleanup until stopped (Ctrl-C or SIGTERM)'))
    .option('--tick-seconds <n>', 'how often to look for due backups', '30')
    .option('--cleanup-minutes <n>', 'how often to run cleanup (0: never)', '60')
    .option('--max-concurrent <n>', 'scheduled backups at once', '2')
    .option('--spread-minutes <n>', 'spread VMs sharing a start time over this many minutes', '10')
    .option('--listen <host:port>', 'serve the API and web UI here (port 0: a free port)', '127.0.0.1:8080')
    .option('--allow-path <dir>', 'a directory the API may read disks from and restore to (repeatable; default $BOVEDA_ALLOWED_PATHS, else <data-dir>/images, <data-dir>/restores, /var/lib/libvirt/images)', collect, [] as string[])
    .action(async (options: ServeOptions) => {
      const { io, signal } = context;
      const tickMs = nonNegativeNumber('--tick-seconds', options.tickSeconds) * 1000;
      const cleanupMs = nonNegativeNumber('--cleanup-minutes', options.cleanupMinutes) * 60_000;
      const settings = { maxConcurrent: positiveInteger('--max-concurrent', options.maxConcurrent, 64), spreadMinutes: nonNegativeNumber('--spread-minutes', options.spreadMinutes) };
      const log = (event: string, fields: Record<string, unknown> = {}, text?: string[]) => {
        if (options.json) printJsonLine(io, { time: new Date().toISOString(), event, ...fields });
        else for (const line of text ?? [`${event} ${JSON.stringify(fields)}`]) io.stdout.write(`${new Date().toISOString()} ${line}\n`);
      };
      const listen = parseListen(options.listen);
      const created = await createDefaultVault(options, io);
      if (created) log('vault-created', { lines: created }, created);
      await withApp(options, io, async (app) => {
        await app.vault(); // fail now (wrong passphrase, missing vault), not at the first slot
        const users = new UserService(app.catalog, app.clock);
        const firstAdmin = await ensureFirstAdmin(users);
        const dataDir = resolveDataDir(options.dataDir, io.env);
        const allowedPaths = resolveAllowedPaths(options.allowPath, io.env, dataDir);
        // Loaded here, not at the top: every other command would pay for fastify at start-up.
        const { accountRoutes, createServer, secretRoutes } = await import('../../api/index.js');
        const server = await createServer({ app, auth: users, allowedPaths, extraRoutes: [...accountRoutes(users), ...secretRoutes()] });
        const address = await server.listen({ host: listen.host, port: listen.port }).catch(async (error: unknown) => {
          await server.close();
          const code = (error as NodeJS.ErrnoException).code;
          const why = code === 'EADDRINUSE' ? 'the address is in use (another boveda serve?)' : code === 'EADDRNOTAVAIL' ? 'no such local address' : code === 'EACCES' ? 'permission denied' : describeError(error);
          throw new BovedaError('INVALID_ARGUMENT', `cannot listen on ${options.listen}: ${why}; choose another with --listen HOST:PORT (port 0: any free one)`, { cause: error });
        });
        const url = address.replace(/^http:\/\/(?:\[::1\]|::1)/, 'http://[::1]');
        log('listening', { url, pid: process.pid, allowedPaths }, [`listening on ${url}`, `allowed paths: ${allowedPaths.join(', ')}`]);
        const adminLines = firstAdmin(url);
        if (adminLines.length > 0) log('first-admin', { lines: adminLines }, adminLines);
        const scheduler = createScheduler(app, settings, signal);
        log('started', { pid: process.pid, catalog: app.catalog.file }, [`boveda serve: pid ${process.pid}, catalog ${app.catalog.file}; stop with Ctrl-C`]);
        scheduler.start(Math.max(1000, tickMs), (report) => {
          if (report.entries.length > 0 || report.orphansFailed.length > 0) log('tick', { report: { ...report, running: undefined } }, tickLines(report));
        }, (error) => log('error', { message: describeError(error) }, [`scheduler error: ${describeError(error)}`]));

        let cleaning = false;
        const cleanup = async () => {
          if (cleaning) return;
          cleaning = true;
          try {
            const outcome = await runCleanupJob(app, 'scheduled', { signal });
            log('cleanup', { jobId: outcome.job.id, status: outcome.job.status, result: outcome.job.result }, [`cleanup job ${outcome.job.id}: ${outcome.job.status} ${JSON.stringify(outcome.job.result ?? outcome.job.error)}`]);
          } catch (error) {
            log('error', { message: describeError(error) }, [`cleanup error: ${describeError(error)}`]);
          } finally {
            cleaning = false;
          }
        };
        const cleanupTimer = cleanupMs > 0 ? setInterval(() => void cleanup(), cleanupMs) : undefined;
        if (cleanupMs > 0) void cleanup();

        await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
        if (cleanupTimer) clearInterval(cleanupTimer);
        log('stopping', {}, ['stopping: cancelling running jobs']);
        await server.close();
        await scheduler.stop();
        while (cleaning) await new Promise((resolve) => setTimeout(resolve, 100));
        log('stopped', {}, ['stopped']);
      });
    });
}
