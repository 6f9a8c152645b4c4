import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../app/index.js';
import { allows, BovedaError, isBovedaError, ROLES, type Permission, type Principal } from '../core/index.js';
import { toHttpError } from './http-errors.js';
import { JobTracker } from './job-tracker.js';
import { openApiDocument } from './openapi.js';
import type { ApiRoute, AuditSubject, RouteContext, RouteReply } from './route.js';
import { apiRoutes } from './routes/index.js';
import type { ServerAuth } from './server-auth.js';
import { defaultWebRoot, staticFile } from './static-files.js';
import { API_VERSION } from './version.js';

export { API_VERSION };
/** Requests bodies above this are refused (413): nothing the API takes is bigger. */
export const BODY_LIMIT = 1024 * 1024;
export const SESSION_COOKIE = 'boveda_session';

export interface ServerOptions {
  app: AppContext;
  auth: ServerAuth;
  /** Roots disk paths and restore targets must lie in (see app/allowed-paths.ts). */
  allowedPaths: readonly string[];
  /** The built UI (default: dist/web next to dist/src). */
  webRoot?: string;
  /** Closes the server (cancelling its jobs) when aborted. */
  signal?: AbortSignal;
  /** Routes added by the embedding program (users, tokens, audit, secrets); listed in the OpenAPI document too. */
  extraRoutes?: readonly ApiRoute[];
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

/** The role a permission needs at least, for refusal messages. */
export function neededFor(permission: Permission): string {
  if (permission === 'restore-keys') return 'the admin role or the key-restore permission';
  const role = ROLES.find((candidate) => allows({ role: candidate, keyRestore: false }, permission));
  return `the ${role ?? 'admin'} role`;
}

export function forbidden(permission: Permission): BovedaError {
  return new BovedaError('FORBIDDEN', `needs ${neededFor(permission)} (permission ${permission})`);
}

/** The token of a request: `Authorization: Bearer`, else the session cookie. */
export function requestToken(request: FastifyRequest): { token: string; viaCookie: boolean } | null {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.length > 0) {
    const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
    if (!match) throw new BovedaError('AUTH_REQUIRED', 'malformed Authorization header: use "Authorization: Bearer TOKEN"');
    return { token: match[1]!, viaCookie: false };
  }
  const cookie = request.headers.cookie;
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const index = part.indexOf('=');
      if (index > 0 && part.slice(0, index).trim() === SESSION_COOKIE) {
        const value = part.slice(index + 1).trim();
        if (value.length > 0 && value.length <= 512) return { token: value, viaCookie: true };
      }
    }
  }
  return null;
}

/**
 * The HTTP server: the API under /api (routes/index.ts plus `extraRoutes`), its OpenAPI document,
 * server-sent job events, and the web UI. Every route but the public ones (health, login) needs a
 * token; the route's permission is checked before its handler; destructive actions are audited
 * (refusals included). Errors are `{error:{code,message}}` with the status docs/api.md gives, never
 * a stack. Jobs started through the API run in this process; close() (or `signal`) cancels and
 * awaits them.
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const { app, auth } = options;
  const webRoot = options.webRoot ?? defaultWebRoot();
  const tracker = new JobTracker(app);
  const closing = new AbortController();
  const principals = new WeakMap<FastifyRequest, Principal>();
  const server = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Extra properties are refused, not silently dropped; query strings are coerced (numbers, booleans).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    exposeHeadRoutes: false,
  });

  server.removeAllContentTypeParsers();
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new BovedaError('INVALID_ARGUMENT', `request body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });

  server.addHook('onSend', async (request, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Content-Security-Policy', CSP);
    reply.header('Referrer-Policy', 'no-referrer');
    if (request.url.startsWith('/api')) reply.header('Cache-Control', 'no-store');
    return payload;
  });

  server.setErrorHandler((error, _request, reply) => {
    const { status, body, retryAfterSeconds } = toHttpError(error);
    if (retryAfterSeconds !== undefined) reply.header('Retry-After', String(retryAfterSeconds));
    void reply.code(status).type('application/json; charset=utf-8').send(body);
  });

  server.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0]!;
    if (path === '/api' || path.startsWith('/api/') || (request.method !== 'GET' && request.method !== 'HEAD')) {
      return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no API route ${request.method} ${path.slice(0, 200)}` } });
    }
    if (!(await hasIndex(webRoot))) {
      return reply.code(200).type('text/plain; charset=utf-8').send('Boveda is running, but its web UI is not built (run "npm run build"). The API is at /api (see /api/openapi.json).\n');
    }
    const file = await staticFile(webRoot, path);
    if (!file) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no file ${path.slice(0, 200)}` } });
    return reply.code(200).type(file.type).header('Content-Length', file.size).send(file.stream);
  });

  const routes: ApiRoute[] = [...apiRoutes(API_VERSION), ...(options.extraRoutes ?? [])];
  const openapi: ApiRoute = {
    method: 'GET', url: '/api/openapi.json', summary: 'this API as an OpenAPI 3.1 document', permission: 'view', schema: {},
    handler: async () => ({ body: document }),
  };
  routes.push(openapi);
  const document = openApiDocument(routes, { version: API_VERSION });

  const recordAudit = async (principal: Principal | undefined, subject: AuditSubject, outcome: 'succeeded' | 'failed' | 'refused', error?: unknown) => {
    if (!principal) return;
    await app.catalog.audit.record({
      userName: principal.userName, source: principal.source, action: subject.action, target: subject.target, outcome,
      details: { ...subject.details, ...(error ? { error: isBovedaError(error) ? error.code : 'INTERNAL' } : {}) },
    });
  };

  for (const route of routes) {
    server.route({
      method: route.method,
      url: route.url,
      // Only the schemas a route has (an undefined key makes fastify warn); responses are documented, not enforced.
      schema: Object.fromEntries((['params', 'querystring', 'body'] as const).filter((key) => route.schema[key]).map((key) => [key, route.schema[key]])),
      onRequest: async (request: FastifyRequest) => {
        if (route.permission === null) return;
        const found = requestToken(request);
        if (!found) throw new BovedaError('AUTH_REQUIRED', `${route.method} ${route.url} needs a login (POST /api/login) or an API token ("Authorization: Bearer TOKEN")`);
        const principal = await auth.authenticate(found.token, request.ip);
        principals.set(request, principal);
        if (found.viaCookie && MUTATING.has(request.method) && !/^application\/json\b/i.test(String(request.headers['content-type'] ?? ''))) {
          // A cross-site form cannot send JSON: with SameSite=Strict this keeps cookie requests same-origin.
          throw new BovedaError('INVALID_ARGUMENT', `${request.method} requests signed in with the session cookie must send "Content-Type: application/json"`);
        }
        if (!allows(principal, route.permission)) {
          const refusal = route.audit ?? route.auditRefusals;
          if (refusal) await recordAudit(principal, refusal(request.params as never), 'refused');
          throw forbidden(route.permission);
        }
      },
      preValidation: async (request: FastifyRequest) => {
        if (route.schema.body && request.body === undefined) request.body = {};
      },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const principal = principals.get(request);
        const audits: AuditSubject[] = route.audit ? [route.audit(request.params as never)] : [];
        const context: RouteContext = {
          params: request.params as never, query: request.query as never, body: request.body as never,
          principal: principal ?? null, source: request.ip, app, auth, allowedPaths: options.allowedPaths, signal: closing.signal,
          startJob: (job, run) => tracker.start(job, run),
          require(permission, subject) {
            if (principal && allows(principal, permission)) {
              if (subject) audits.push(subject);
              return;
            }
            if (subject) audits.push(subject);
            throw forbidden(permission);
          },
          audit(subject) {
            audits.push(subject);
          },
          reply,
        };
        let result: RouteReply;
        try {
          result = await route.handler(context);
        } catch (error) {
          const outcome = isBovedaError(error, 'FORBIDDEN') ? 'refused' : 'failed';
          for (const subject of audits) await recordAudit(principal, subject, outcome, outcome === 'failed' ? error : undefined);
          throw error;
        }
        for (const subject of audits) await recordAudit(principal, subject, 'succeeded');
        if (result?.hijacked) return reply;
        return reply.code(result?.status ?? 200).send(result?.body ?? {});
      },
    });
  }

  server.addHook('preClose', async () => {
    closing.abort();
  });
  server.addHook('onClose', async () => {
    await tracker.close();
  });
  if (options.signal) {
    const onAbort = () => void server.close();
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    server.addHook('onClose', async () => options.signal?.removeEventListener('abort', onAbort));
  }
  await server.ready();
  return server;
}

async function hasIndex(root: string): Promise<boolean> {
  try {
    return (await stat(join(root, 'index.html'))).isFile();
  } catch {
    return false;
  }
}
