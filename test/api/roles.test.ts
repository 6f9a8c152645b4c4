/**
 * Every route × every role: allowed (anything but 401/403, and never a 500) or refused (403
 * FORBIDDEN naming the permission), and 401 without a token. The table must name every route: a
 * route added without an expectation fails here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiRoutes } from '../../src/api/index.js';
import { ROLES, roleRank, type Role } from '../../src/core/index.js';
import { assertNoStack, call, startTestServer, type TestServer } from './helpers.js';

/** The least role of each route; 'public' for routes without login. */
const EXPECTED: Record<string, Role | 'public'> = {
  'GET /api/health': 'public',
  'POST /api/login': 'public',
  'POST /api/logout': 'reader',
  'GET /api/me': 'reader',
  'GET /api/overview': 'reader',
  'GET /api/usage': 'reader',
  'POST /api/usage/estimate': 'reader',
  'GET /api/usage/history': 'reader',
  'GET /api/vms': 'reader',
  'POST /api/vms': 'contributor',
  'GET /api/vms/:name': 'reader',
  'PATCH /api/vms/:name': 'contributor',
  'DELETE /api/vms/:name': 'contributor',
  'POST /api/vms/:name/protect': 'contributor',
  'POST /api/vms/:name/stop-protection': 'contributor',
  'POST /api/vms/:name/resume': 'contributor',
  'POST /api/vms/:name/delete-data': 'contributor',
  'POST /api/vms/:name/undelete': 'contributor',
  'POST /api/vms/:name/backups': 'operator',
  'GET /api/vms/:name/points': 'reader',
  'POST /api/vms/:name/restores': 'operator',
  'GET /api/policies': 'reader',
  'POST /api/policies': 'contributor',
  'GET /api/policies/:name': 'reader',
  'PUT /api/policies/:name': 'contributor',
  'DELETE /api/policies/:name': 'contributor',
  'GET /api/jobs': 'reader',
  'GET /api/jobs/:id': 'reader',
  'POST /api/jobs/:id/cancel': 'operator',
  'GET /api/events': 'reader',
  'GET /api/vault': 'reader',
  'POST /api/vault/verify': 'operator',
  'POST /api/vault/gc': 'contributor',
  'POST /api/cleanup': 'contributor',
  'GET /api/settings': 'reader',
  'PUT /api/settings/soft-delete': 'contributor',
  'PUT /api/settings/price-table': 'contributor',
  'GET /api/openapi.json': 'reader',
};

/** A request that reaches the handler without side effects worth having: unknown objects, empty bodies. */
function concrete(url: string): string {
  const path = url.replace(':name', 'nope').replace(':id', 'nope');
  // The event stream of an unknown job answers 404 at once instead of streaming.
  return path === '/api/events' ? '/api/events?job=nope' : path;
}

describe('permissions of every route', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('the table names exactly the server\'s routes', () => {
    const routes = [...apiRoutes().map((route) => `${route.method} ${route.url}`), 'GET /api/openapi.json'].sort();
    assert.deepEqual(routes, Object.keys(EXPECTED).sort());
  });

  for (const [key, least] of Object.entries(EXPECTED)) {
    const [method, url] = key.split(' ') as [string, string];
    it(`${key}: ${least === 'public' ? 'public' : `${least} and above`}`, async () => {
      const path = concrete(url);
      const body = method === 'GET' ? undefined : {};
      if (least !== 'public') {
        const anonymous = await call(t.server, method, path, { role: null, body });
        assert.equal(anonymous.statusCode, 401, `${key} without a token: ${anonymous.body}`);
        assert.equal(anonymous.json<{ error: { code: string } }>().error.code, 'AUTH_REQUIRED');
      }
      for (const role of ROLES) {
        const response = await call(t.server, method, path, { role, body });
        assertNoStack(response);
        assert.ok(response.statusCode < 500, `${key} as ${role}: ${response.statusCode} ${response.body}`);
        if (least === 'public' || roleRank(role) >= roleRank(least)) {
          assert.ok(response.statusCode !== 401 && response.statusCode !== 403, `${key} as ${role} should be allowed: ${response.body}`);
        } else {
          assert.equal(response.statusCode, 403, `${key} as ${role} should be refused: ${response.body}`);
          const error = response.json<{ error: { code: string; message: string } }>().error;
          assert.equal(error.code, 'FORBIDDEN');
          assert.match(error.message, new RegExp(`needs the ${least} role \\(permission \\w+\\)`));
        }
      }
    });
  }
});
