import { Type } from '@sinclair/typebox';
import { JOB_STATUSES, JOB_TYPES } from '../../core/index.js';
import { jobEvents } from '../event-stream.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { IdParams, Job, Name } from '../schemas.js';

const HEARTBEAT_MS = 15_000;

export function jobRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/jobs', summary: 'jobs, newest first', permission: 'view',
      schema: {
        querystring: Type.Object({
          vm: Type.Optional(Name('VM name')),
          status: Type.Optional(Type.Union(JOB_STATUSES.map((status) => Type.Literal(status)))),
          type: Type.Optional(Type.Union(JOB_TYPES.map((type) => Type.Literal(type)))),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }, { additionalProperties: false }),
        response: { 200: Type.Object({ jobs: Type.Array(Job) }) },
      },
      handler: async ({ app, query }) => ({ body: { jobs: await app.catalog.jobs.list({ item: query.vm, status: query.status, type: query.type, limit: query.limit ?? 100 }) } }),
    }),
    defineRoute({
      method: 'GET', url: '/api/jobs/:id', summary: 'one job (id or unique prefix)', permission: 'view', schema: { params: IdParams, response: { 200: Type.Object({ job: Job }) } },
      handler: async ({ app, params }) => ({ body: { job: await app.catalog.jobs.resolve(params.id) } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/jobs/:id/cancel', summary: 'ask a queued or running job to stop (whichever process runs it)', permission: 'operate', schema: { params: IdParams },
      handler: async ({ app, params }) => ({ body: { job: await app.catalog.jobs.requestCancel((await app.catalog.jobs.resolve(params.id)).id) } }),
    }),
    defineRoute({
      method: 'GET', url: '/api/events', summary: 'server-sent events: "job" with a Job each time one changes; ?job=ID follows one job until it ends', permission: 'view',
      schema: { querystring: Type.Object({ job: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }, { additionalProperties: false }) },
      handler: async ({ app, query, reply, signal }) => {
        const jobId = query.job === undefined ? undefined : (await app.catalog.jobs.resolve(query.job)).id;
        const stop = new AbortController();
        const onServerClose = () => stop.abort();
        signal.addEventListener('abort', onServerClose, { once: true });
        reply.raw.on('close', () => stop.abort());
        reply.hijack();
        reply.raw.writeHead(200, {
          'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive',
          'X-Content-Type-Options': 'nosniff', 'X-Accel-Buffering': 'no',
        });
        reply.raw.write(': boveda job events\n\n');
        const heartbeat = setInterval(() => reply.raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
        try {
          for await (const job of jobEvents(app.catalog, { jobId, signal: stop.signal })) {
            reply.raw.write(`event: job\nid: ${job.id}\ndata: ${JSON.stringify(job)}\n\n`);
          }
        } catch (error) {
          reply.raw.write(`event: error\ndata: ${JSON.stringify({ message: error instanceof Error ? error.message : String(error) })}\n\n`);
        } finally {
          clearInterval(heartbeat);
          signal.removeEventListener('abort', onServerClose);
          reply.raw.end();
        }
        return { hijacked: true };
      },
    }),
  ];
}
