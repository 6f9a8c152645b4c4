/**
 * PUT /api/policies/:name judges "shortens retention" on the normalised policy: an anchor written
 * with its keys in another order is no change, and an invalid value is INVALID_ARGUMENT (never a
 * shortening that asks for destroy and is audited).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaultPolicy } from '../../src/core/index.js';
import { assertClientError, call, startTestServer, type TestServer } from './helpers.js';

describe('policy update: retention shortenings', () => {
  let t: TestServer;
  const base = defaultPolicy('silver');
  const withMonthly = (on: unknown) => ({ ...base, retention: { ...base.retention, monthly: { months: 6, on } } });
  before(async () => {
    t = await startTestServer();
    const created = await call(t.server, 'POST', '/api/policies', { role: 'contributor', body: withMonthly({ kind: 'weekday', which: 'last', weekday: 'fri' }) });
    assert.equal(created.statusCode, 201, created.body);
  });
  after(async () => {
    await t.close();
  });

  it('the same anchor with its keys in another order shortens nothing and is not audited', async () => {
    const reordered = withMonthly({ weekday: 'fri', which: 'last', kind: 'weekday' });
    const preview = await call(t.server, 'PUT', '/api/policies/silver?dryRun=true', { role: 'contributor', body: reordered });
    assert.equal(preview.statusCode, 200, preview.body);
    assert.deepEqual(preview.json<{ shortens: string[] }>().shortens, []);
    const updated = await call(t.server, 'PUT', '/api/policies/silver', { role: 'contributor', body: reordered });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.deepEqual(updated.json<{ shortens: string[] }>().shortens, []);
    assert.deepEqual(await t.app.catalog.audit.list({ action: 'policy.shorten-retention' }), []);
  });

  it('an invalid anchor is INVALID_ARGUMENT, not a shortening', async () => {
    assertClientError(await call(t.server, 'PUT', '/api/policies/silver', { role: 'contributor', body: withMonthly({ kind: 'weekday', which: 'middle', weekday: 'fri' }) }), 400, 'INVALID_ARGUMENT', /retention\.monthly\.on\.which/);
    assert.deepEqual(await t.app.catalog.audit.list({ action: 'policy.shorten-retention' }), []);
  });
});
