// The web UI's pure modules (formatting, charts, routing, the policy editor's form mapping) under
// Node: they hold no DOM, so the browser test need not cover every branch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, escapeXml, lineChart } from '../../web/charts.js';
import { formatBytes, formatDuration, formatTime, progressPercent } from '../../web/format.js';
import { currentPath, matchRoute } from '../../web/router.js';
import { anchorChoices, fieldsFromPolicy, parseAnchor, policyFromFields, WEEKDAYS } from '../../web/policy-text.js';
import { base64ToBytes, bytesToBase64, readableText } from '../../web/secret-bytes.js';
import type { Policy } from '../../web/types.js';

test('formatBytes uses binary units and keeps three significant digits', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(6 * 1024 * 1024), '6.00 MiB');
  assert.equal(formatBytes(150 * 2 ** 30), '150 GiB');
  assert.equal(formatBytes(null), '—');
});

test('times are shown in UTC whatever the browser zone; durations read naturally', () => {
  assert.equal(formatTime('2026-11-23T14:05:09.123Z'), '2026-11-23 14:05 UTC');
  assert.equal(formatTime('not a time'), 'not a time');
  assert.equal(formatDuration(3.25), '3.3 s');
  assert.equal(formatDuration(125), '2 min 5 s');
  assert.equal(formatDuration(7260), '2 h 1 min');
});

test('progressPercent prefers the job\'s percent, falls back to bytes, clamps, and is null when unknown', () => {
  assert.equal(progressPercent({ bytesDone: 5, bytesTotal: 10, percent: 40 }), 40);
  assert.equal(progressPercent({ bytesDone: 5, bytesTotal: 10, percent: null }), 50);
  assert.equal(progressPercent({ bytesDone: 20, bytesTotal: 10, percent: null }), 100);
  assert.equal(progressPercent({ bytesDone: 5, bytesTotal: null, percent: null }), null);
});

test('charts escape every label and draw one bar per point, one path per series', () => {
  assert.equal(escapeXml('<a href="x">&\'</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  const bars = barChart([
    { label: '11-01', value: 100, kind: 'full', title: '<script>' },
    { label: '11-02', value: 10, kind: 'incremental', title: 'b' },
  ], { title: 't' });
  assert.equal(bars.match(/<rect /g)?.length, 2);
  assert.ok(!bars.includes('<script>'));
  assert.ok(bars.includes('&lt;script&gt;'));
  const full = /<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" class="bar full"/.exec(bars);
  const incremental = /<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" class="bar incremental"/.exec(bars);
  assert.ok(full && incremental);
  assert.ok(Math.abs(Number(full[2]) / Number(incremental[2]) - 10) < 0.01, 'bar heights are proportional to bytes');
  assert.equal(barChart([], { title: 't' }), '');

  const day = 86_400_000;
  const line = lineChart([
    { label: 'web <1>', points: [{ x: 0, y: 1 }, { x: day, y: 2 }] },
    { label: 'db', points: [{ x: 0, y: 5 }] },
  ], { title: 'stored' });
  assert.equal(line.match(/<path /g)?.length, 2);
  assert.ok(line.includes('web &lt;1&gt;'));
  assert.equal(lineChart([{ label: 'x', points: [] }], { title: 't' }), '');
});

test('the hash router matches patterns in order, decodes parameters, and refuses malformed escapes', () => {
  const routes = [
    { pattern: '/vms', value: 'list' },
    { pattern: '/vms/new', value: 'add' },
    { pattern: '/vms/:name', value: 'vm' },
  ];
  assert.deepEqual(matchRoute(routes, '/vms/new'), { value: 'add', params: {} });
  assert.deepEqual(matchRoute(routes, '/vms/web%20one'), { value: 'vm', params: { name: 'web one' } });
  assert.equal(matchRoute(routes, '/vms/%E0%A4%A'), null);
  assert.equal(matchRoute(routes, '/jobs'), null);
  assert.equal(currentPath(''), '/');
  assert.equal(currentPath('#/jobs?vm=web'), '/jobs');
});

test('the policy editor maps a policy to fields and back unchanged, for each schedule kind', () => {
  const policies: Policy[] = [
    { name: 'default', description: null, schedule: { kind: 'daily', time: '02:00', timeZone: 'UTC' }, retention: { dailyDays: 30, weekly: { weeks: 12, weekday: 'sun' }, monthly: { months: 12, on: { kind: 'day', day: 1 } }, yearly: null }, instantRestoreDays: 2 },
    { name: 'w', description: 'weekly', schedule: { kind: 'weekly', days: ['mon', 'thu'], time: '22:30', timeZone: 'Europe/Madrid' }, retention: { dailyDays: 7, weekly: null, monthly: { months: 6, on: { kind: 'weekday', which: 'last', weekday: 'fri' } }, yearly: { years: 3, month: 12, on: { kind: 'day', day: 'last' } } }, instantRestoreDays: 5 },
    { name: 'h', description: null, schedule: { kind: 'hourly', everyHours: 6, windowStart: '06:00', windowHours: 18, timeZone: 'UTC' }, retention: { dailyDays: 3, weekly: null, monthly: null, yearly: null }, instantRestoreDays: 1 },
  ];
  for (const policy of policies) assert.deepEqual(policyFromFields(fieldsFromPolicy(policy)), policy);
  assert.deepEqual(parseAnchor('first-mon'), { kind: 'weekday', which: 'first', weekday: 'mon' });
  // A new policy starts from the server's defaults (core defaultPolicy).
  assert.deepEqual(policyFromFields({ ...fieldsFromPolicy(null), name: 'default' }), policies[0]);
});

test('the editor offers every anchor core accepts, so a policy opens with its own anchor selected', () => {
  const values = anchorChoices().map(([value]) => value);
  assert.equal(new Set(values).size, values.length);
  assert.equal(values.length, 28 + 1 + 14);
  const base = fieldsFromPolicy(null);
  const anchors = [
    ...Array.from({ length: 28 }, (_, i) => ({ kind: 'day' as const, day: i + 1 })),
    { kind: 'day' as const, day: 'last' as const },
    ...(['first', 'last'] as const).flatMap((which) => WEEKDAYS.map((weekday) => ({ kind: 'weekday' as const, which, weekday }))),
  ];
  for (const on of anchors) {
    const policy = policyFromFields({ ...base, name: 'p', monthlyOn: true, yearlyOn: true });
    policy.retention.monthly = { months: 12, on };
    policy.retention.yearly = { years: 5, month: 1, on };
    const fields = fieldsFromPolicy(policy);
    assert.ok(values.includes(fields.monthlyAnchor), `monthly ${fields.monthlyAnchor} is an option`);
    assert.ok(values.includes(fields.yearlyAnchor), `yearly ${fields.yearlyAnchor} is an option`);
    assert.deepEqual(parseAnchor(fields.monthlyAnchor), on);
  }
});

test('secret values: base64 both ways for any bytes (also past the 8 KiB slices), text only when it is readable UTF-8', () => {
  const all = new Uint8Array(20_000).map((_, i) => (i * 7 + 3) % 256);
  assert.equal(bytesToBase64(all), Buffer.from(all).toString('base64'));
  assert.deepEqual(base64ToBytes(Buffer.from(all).toString('base64')), all);
  assert.equal(bytesToBase64(new Uint8Array(0)), '');
  assert.equal(readableText(new TextEncoder().encode('correct horse ñ\n')), 'correct horse ñ\n');
  assert.equal(readableText(new Uint8Array([0x66, 0x00, 0x67])), null, 'a NUL byte is binary');
  assert.equal(readableText(new Uint8Array([0xff, 0xfe, 0x41])), null, 'invalid UTF-8 is binary');
});
