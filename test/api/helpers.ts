/**
 * In-process API server for the tests: a real SQLite catalog in a temp data directory, a real vault
 * (fast scrypt), images/ and restores/ as the allowed roots, and TestServerAuth — the TEST DOUBLE of
 * the ServerAuth (fixed tokens per role, one password) standing in for the UserService.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createServer, type ApiRoute, type LoginResult, type ServerAuth } from '../../src/api/index.js';
import { Catalog, initLocalVault, LazyAppContext, type StoredJob } from '../../src/app/index.js';
import { BovedaError, ROLES, type Principal, type Role } from '../../src/core/index.js';
import { SeededRandom, systemClock, type Clock } from '../../src/util/index.js';

export const TOKENS: Record<Role, string> = { reader: 'tok-reader', operator: 'tok-operator', contributor: 'tok-contributor', admin: 'tok-admin' };
export const EXPIRED_TOKEN = 'tok-expired';
export const PASSWORD = 'right password';

/** TEST DOUBLE of ServerAuth: tokens map to fixed principals; "slow" is throttled; logouts are recorded. */
export class TestServerAuth implements ServerAuth {
  readonly logouts: string[] = [];

  async authenticate(token: string, source: string): Promise<Principal> {
    if (token === EXPIRED_TOKEN) throw new BovedaError('AUTH_REQUIRED', 'the token has expired: log in again');
    const role = ROLES.find((candidate) => TOKENS[candidate] === token);
    if (!role) throw new BovedaError('AUTH_REQUIRED', 'unknown or revoked token');
    return { userName: `${role}-user`, role, keyRestore: false, tokenId: `id-${role}`, source };
  }

  async login(name: string, password: string): Promise<LoginResult> {
    if (name === 'slow') throw Object.assign(new BovedaError('RATE_LIMITED', 'too many failed logins for "slow": try again in 30 seconds'), { retryAfterSeconds: 30 });
    const role = ROLES.find((candidate) => `${candidate}-user` === name);
    if (!role || password !== PASSWORD) throw new BovedaError('AUTH_FAILED', 'wrong user name or password');
    return { token: TOKENS[role], record: { id: `id-${role}`, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }, user: { name, role, keyRestore: false } };
  }

  async logout(tokenId: string): Promise<void> {
    this.logouts.push(tokenId);
  }
}

export interface TestServer<A extends ServerAuth = TestServerAuth> {
  server: FastifyInstance;
  app: LazyAppContext;
  auth: A;
  dir: string;
  images: string;
  restores: string;
  close(): Promise<void>;
}

export interface TestServerOptions<A extends ServerAuth> {
  /** Roots added to images/ and restores/ (e.g. a QEMU test VM's directory). */
  allowedPaths?: string[];
  /** The catalog's, vault's and app's clock (default: the system clock). */
  clock?: Clock;
  /** The server's auth, made on the catalog (default: TestServerAuth). */
  auth?: (catalog: Catalog, clock: Clock) => A;
  /** Routes beyond apiRoutes(), given the auth. */
  extraRoutes?: (auth: A) => readonly ApiRoute[];
}

export async function startTestServer<A extends ServerAuth = TestServerAuth>(options: TestServerOptions<A> = {}): Promise<TestServer<A>> {
  const clock = options.clock ?? systemClock;
  const dir = await mkdtemp(join(tmpdir(), 'boveda-api-'));
  const images = join(dir, 'images');
  const restores = join(dir, 'restores');
  await mkdir(images);
  await mkdir(restores);
  const catalog = await Catalog.open(join(dir, 'catalog.db'), { clock });
  const vault = await initLocalVault({ dir: join(dir, 'vault'), clock }, { secret: { kind: 'passphrase', passphrase: 'api tests' }, blockSize: 64 * 1024, scrypt: { N: 1024, r: 8, p: 1 } });
  const app = new LazyAppContext(catalog, clock, async () => vault);
  const auth = options.auth ? options.auth(catalog, clock) : new TestServerAuth() as unknown as A;
  const server = await createServer({
    app, auth, allowedPaths: [images, restores, ...(options.allowedPaths ?? [])], webRoot: join(dir, 'no-web'), extraRoutes: options.extraRoutes?.(auth),
  });
  return {
    server, app, auth, dir, images, restores,
    async close() {
      await server.close();
      await app.closeVault();
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A seeded image file with some zero blocks (so it is sparse-friendly). */
export async function writeImage(path: string, bytes = 512 * 1024, seed = 1): Promise<Buffer> {
  const random = new SeededRandom(seed);
  const data = Buffer.alloc(bytes);
  for (let offset = 0; offset < bytes; offset += 4) data.writeUInt32LE(random.nextUint32(), offset);
  data.fill(0, bytes / 2, bytes / 2 + 64 * 1024);
  await writeFile(path, data);
  return data;
}

export interface CallOptions {
  role?: Role | null;
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  remoteAddress?: string;
}

export async function call(server: FastifyInstance, method: string, url: string, options: CallOptions = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token ?? (options.role === null ? undefined : TOKENS[options.role ?? 'admin']);
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  if (payload !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return server.inject({ method: method as 'GET', url, headers, payload, remoteAddress: options.remoteAddress });
}

/** Asserts a clear 4xx: the status, `{error:{code,message}}`, and no stack trace. */
export function assertClientError(response: LightMyRequestResponse, status: number, code: string, message?: RegExp): void {
  assert.equal(response.statusCode, status, `expected ${status}, got ${response.statusCode}: ${response.body}`);
  assertNoStack(response);
  const body = response.json<{ error: { code: string; message: string } }>();
  assert.equal(body.error.code, code, response.body);
  assert.ok(body.error.message.length > 0);
  if (message) assert.match(body.error.message, message);
}

export function assertNoStack(response: LightMyRequestResponse): void {
  assert.doesNotMatch(response.body, /\n\s+at |at .*\.js:\d+/, `stack trace in ${response.body}`);
}

export async function waitForJob(server: FastifyInstance, id: string, timeoutMs = 60_000): Promise<StoredJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await call(server, 'GET', `/api/jobs/${id}`);
    assert.equal(response.statusCode, 200, response.body);
    const job = response.json<{ job: StoredJob }>().job;
    if (!['queued', 'in-progress'].includes(job.status)) return job;
    if (Date.now() > deadline) assert.fail(`job ${id} still ${job.status}`);
    await sleep(50);
  }
}
