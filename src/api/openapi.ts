import type { TSchema } from '@sinclair/typebox';
import type { ApiRoute } from './route.js';
import { ApiError } from './schemas.js';

/** A TypeBox schema as plain JSON Schema (TypeBox marks its objects with symbols, which JSON drops anyway). */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

/** fastify's /:name becomes OpenAPI's /{name}. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(schema: TSchema | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const object = plain(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name, in: where, required: where === 'path' || (object.required ?? []).includes(name), schema: property,
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
  }));
}

/**
 * The OpenAPI 3.1 document of the routes, from the same TypeBox schemas fastify validates requests
 * with (so the document cannot drift from what the server accepts).
 */
export function openApiDocument(routes: readonly ApiRoute[], info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(route.schema.response ?? { 200: undefined })) {
      responses[status] = { description: Number(status) === 202 ? 'job started' : 'success', ...(schema ? { content: { 'application/json': { schema: plain(schema) } } } : {}) };
    }
    const error = { description: 'error', content: { 'application/json': { schema: plain(ApiError) } } };
    responses['4XX'] = error;
    responses['5XX'] = error;
    const operation: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${route.url.replace(/^\/api/, '').replace(/[/:-](\w)/g, (_, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      'x-permission': route.permission,
      parameters: [...parameters(route.schema.params, 'path'), ...parameters(route.schema.querystring, 'query')],
      responses,
      ...(route.permission === null ? { security: [] } : {}),
    };
    if (route.schema.body) operation.requestBody = { required: false, content: { 'application/json': { schema: plain(route.schema.body) } } };
    (paths[openApiPath(route.url)] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Boveda API', version: info.version, description: 'Self-hosted backup vault for VM disks. See docs/api.md.' },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API token or session token' },
        session: { type: 'apiKey', in: 'cookie', name: 'boveda_session' },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}
