/**
 * api: the HTTP server over the app layer (fastify + TypeBox). One shape for every route
 * (route.ts: method, url, summary, permission, schema, handler), one list (routes/index.ts), one
 * error mapping (http-errors.ts), an OpenAPI 3.1 document generated from the same schemas
 * (openapi.ts), server-sent job events (event-stream.ts), the web UI's static files.
 */
export * from './server.js';
export * from './server-auth.js';
export * from './route.js';
export * from './http-errors.js';
export * from './openapi.js';
export * from './event-stream.js';
export * from './job-tracker.js';
export * from './schemas.js';
export { apiRoutes } from './routes/index.js';
export { accountRoutes } from './routes/accounts.js';
export { secretRoutes } from './routes/secrets.js';
export { defaultWebRoot, staticFile } from './static-files.js';
