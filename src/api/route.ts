import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { AppContext, StoredJob, JobRunOutcome, NewJob } from '../app/index.js';
import type { Permission, Principal } from '../core/index.js';
import type { ServerAuth } from './server-auth.js';

/** The request schemas of a route (TypeBox, i.e. JSON Schema): what fastify validates and OpenAPI lists. */
export interface RouteSchema {
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  /** Documented answers by status (OpenAPI only: replies are not re-serialized through them). */
  response?: Record<number, TSchema>;
}

type Input<S extends RouteSchema, K extends keyof RouteSchema> = S[K] extends TSchema ? Static<S[K]> : undefined;

/** What an audited action records: a stable dotted verb and the object acted on. */
export interface AuditSubject {
  action: string;
  target: string | null;
  details?: Record<string, unknown>;
}

/** Starts a job in the background: the reply carries the queued job, the run goes on (server close cancels it). */
export type StartJob = (job: Omit<NewJob, 'owner'>, run: (queued: StoredJob, signal: AbortSignal) => Promise<JobRunOutcome<unknown>>) => Promise<StoredJob>;

/** What a handler gets: validated input, the caller, the app, and helpers. */
export interface RouteContext<S extends RouteSchema = RouteSchema> {
  params: Input<S, 'params'>;
  query: Input<S, 'querystring'>;
  body: Input<S, 'body'>;
  /** null only on public routes (health, login). */
  principal: Principal | null;
  /** The client's address. */
  source: string;
  app: AppContext;
  auth: ServerAuth;
  allowedPaths: readonly string[];
  /** The server's shutdown signal: long streams end on it. */
  signal: AbortSignal;
  startJob: StartJob;
  /**
   * Demands an extra permission for what this request does (e.g. destroy when a policy change
   * shortens retention): FORBIDDEN naming it, recorded as refused in the audit log when `audit`
   * is given; else the action is audited (succeeded or failed) when the handler ends.
   */
  require(permission: Permission, audit?: AuditSubject): void;
  /** Audits this request's outcome (succeeded or failed) when the handler ends. */
  audit(subject: AuditSubject): void;
  /** The raw reply: for cookies and streams. */
  reply: FastifyReply;
}

/** A handler's answer: a JSON body with status 200, or an explicit status (202 for jobs), or `hijacked` for streams. */
export type RouteReply = { status?: number; body?: unknown; hijacked?: boolean } | undefined;

/** One shape for every route (architecture note §10): schema, permission, handler. */
export interface ApiRoute<S extends RouteSchema = RouteSchema> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  /** null: public (health, login). */
  permission: Permission | null;
  /** Audited whatever the outcome, refusals included (destructive actions). */
  audit?: (params: Input<S, 'params'>) => AuditSubject;
  /** Audited only when refused: for actions whose service audits the outcome itself (secret reads). */
  auditRefusals?: (params: Input<S, 'params'>) => AuditSubject;
  schema: S;
  handler(context: RouteContext<S>): Promise<RouteReply>;
}

/** Declares a route with its input types inferred from its schemas. */
export function defineRoute<S extends RouteSchema>(route: ApiRoute<S>): ApiRoute {
  return route as unknown as ApiRoute;
}
