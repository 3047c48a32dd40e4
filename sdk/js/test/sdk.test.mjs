// Tests of the JavaScript SDK against a running server (the Go test
// TestJavaScriptSDK starts one and sets GATEHOUSE_API_URL and
// GATEHOUSE_API_KEY to an organization key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { Gatehouse, Client, GatehouseError, verifyWebhook, operations } from '../dist/index.js';

const baseUrl = process.env.GATEHOUSE_API_URL;
const apiKey = process.env.GATEHOUSE_API_KEY;
if (!baseUrl || !apiKey) throw new Error('set GATEHOUSE_API_URL and GATEHOUSE_API_KEY (an organization key) to a running server');

const org = new Gatehouse({ apiKey, baseUrl });
const gh = org.withEnvironment('default', 'development');

test('facts, checks and the decision', async () => {
  const user = await gh.users.create({ key: 'js-alice', email: 'alice@example.com', attributes: { plan: 'pro' } });
  assert.equal(user.key, 'js-alice');
  assert.deepEqual(user.attributes, { plan: 'pro' });
  await gh.tenants.create({ key: 'js-acme', name: 'Acme' });
  await gh.resources.create({ key: 'js-doc', name: 'Document', actions: ['read', 'write'] });
  await gh.roles.create({ key: 'js-reader', permissions: ['js-doc:read'] });
  const a = await gh.roleAssignments.assign({ user: 'js-alice', role: 'js-reader', tenant: 'js-acme' });
  assert.equal(a.role, 'js-reader');

  const yes = await gh.checks.allowed({ user: 'js-alice', action: 'read', resource: { type: 'js-doc', tenant: 'js-acme' } });
  assert.equal(yes.allow, true);
  const no = await gh.checks.allowed({ user: 'js-alice', action: 'write', resource: { type: 'js-doc', tenant: 'js-acme' } });
  assert.equal(no.allow, false);
  const bulk = await gh.checks.bulk([
    { user: 'js-alice', action: 'read', resource: { type: 'js-doc', tenant: 'js-acme' } },
    { user: 'js-alice', action: 'write', resource: { type: 'js-doc', tenant: 'js-acme' } },
  ]);
  assert.deepEqual(bulk.map((d) => d.allow), [true, false]);
  const perms = await gh.checks.userPermissions({ user: 'js-alice' });
  assert.deepEqual(perms.find((p) => p.tenant === 'js-acme')?.permissions, ['js-doc:read']);

  const updated = await gh.users.update('js-alice', { first_name: 'Alice' });
  assert.equal(updated.first_name, 'Alice');
  await gh.roleAssignments.unassign({ user: 'js-alice', role: 'js-reader', tenant: 'js-acme' });
  const after = await gh.checks.allowed({ user: 'js-alice', action: 'read', resource: { type: 'js-doc', tenant: 'js-acme' } });
  assert.equal(after.allow, false);
  await gh.users.delete('js-alice');
  await assert.rejects(gh.users.get('js-alice'), (err) => err instanceof GatehouseError && err.isNotFound && err.status === 404 && err.requestId !== '');
});

test('the audit trail: who changed what, before and after', async () => {
  await gh.users.create({ key: 'js-audited', first_name: 'Ada' });
  const u = await gh.users.update('js-audited', { first_name: 'Augusta' });
  const page = await org.audit.list({ action: 'user.updated', object_id: u.id });
  assert.equal(page.items.length, 1);
  const e = page.items[0];
  assert.equal(e.object_key, 'js-audited');
  assert.equal(e.actor_type, 'key');
  assert.equal(e.before.first_name, 'Ada');
  assert.equal(e.after.first_name, 'Augusta');
  assert.deepEqual(await org.audit.get(e.id), e);
  const history = [];
  for await (const x of org.audit.all({ object_id: u.id })) history.push(x.action);
  assert.deepEqual(history, ['user.updated', 'user.created']);
});

test('pages and the iterator', async () => {
  for (let i = 0; i < 7; i++) await gh.tenants.create({ key: `js-page-${i}` });
  const first = await gh.tenants.list({ search: 'js-page-', per_page: 3 });
  assert.equal(first.items.length, 3);
  assert.equal(first.meta.total_items, 7);
  assert.equal(first.meta.total_pages, 3);
  assert.equal(first.meta.has_next, true);
  const keys = [];
  for await (const t of gh.tenants.all({ search: 'js-page-', per_page: 2 })) keys.push(t.key);
  assert.equal(keys.length, 7);
  assert.equal(new Set(keys).size, 7);
  // The iterator follows next_cursor: a tenant added during the walk, after
  // every key so far, is reached, and none repeats.
  assert.ok(first.meta.next_cursor);
  const walked = [];
  let added = false;
  for await (const t of gh.tenants.all({ search: 'js-page-', per_page: 2, sort: 'key' })) {
    walked.push(t.key);
    if (!added) {
      added = true;
      await gh.tenants.create({ key: 'js-page-z' });
    }
  }
  assert.deepEqual(walked, ['js-page-0', 'js-page-1', 'js-page-2', 'js-page-3', 'js-page-4', 'js-page-5', 'js-page-6', 'js-page-z']);
  const byCursor = await gh.tenants.list({ search: 'js-page-', per_page: 3, cursor: first.meta.next_cursor });
  assert.equal(byCursor.meta.total_items, -1);
  await assert.rejects(gh.tenants.list({ cursor: 'nonsense' }), (err) => err instanceof GatehouseError && err.status === 400 && err.details.field === 'cursor');
});

test('errors carry the API code and details', async () => {
  await assert.rejects(gh.users.create({ key: '' }), (err) => err instanceof GatehouseError && err.code === 'INVALID_REQUEST' && err.status === 400);
  await gh.tenants.create({ key: 'js-dup' });
  await assert.rejects(gh.tenants.create({ key: 'js-dup' }), (err) => err.isConflict);
  const bad = new Gatehouse({ apiKey: 'not-a-key', baseUrl });
  await assert.rejects(bad.projects.list(), (err) => err.isUnauthorized);
  // An organization key without an environment cannot list users.
  await assert.rejects(org.users.list(), (err) => err.code === 'INVALID_REQUEST');
  const gone = new Gatehouse({ apiKey, baseUrl: 'http://127.0.0.1:1', retries: 0 });
  await assert.rejects(gone.projects.list(), (err) => err instanceof GatehouseError && err.status === 0 && /cannot reach/.test(err.message));
});

test('an environment key needs no project or environment', async () => {
  const k = await org.apiKeys.create({ name: 'js-env', level: 'environment', project: 'default', environment: 'development', scopes: ['check:access', 'view:user'] });
  assert.ok(k.token);
  const envClient = new Client({ apiKey: k.token, baseUrl });
  const me = await envClient.system.me();
  assert.equal(me.level, 'environment');
  const page = await envClient.users.list();
  assert.ok(Array.isArray(page.items));
  await assert.rejects(envClient.tenants.create({ key: 'js-nope' }), (err) => err.isForbidden);
  await org.apiKeys.revoke(k.id);
});

test('import, wait and export', async () => {
  const rows = Array.from({ length: 120 }, (_, i) => JSON.stringify({ type: 'user', key: `js-u${i}` })).join('\n') + '\n';
  const job = await gh.jobs.import(rows, { batch_size: 50 });
  const seen = [];
  const done = await gh.jobs.wait(job.id, { intervalMs: 100, onProgress: (j) => seen.push(j.progress.percent) });
  assert.equal(done.status, 'succeeded');
  assert.equal(done.result.created, 120);
  assert.equal(seen.at(-1), 100);
  await assert.rejects(gh.jobs.import('{"type":"user","key":""}\nnot json\n'), (err) => {
    assert.equal(err.code, 'INVALID_REQUEST');
    assert.deepEqual(err.details.errors.map((e) => e.line), [1, 2]);
    return true;
  });
  const exp = await gh.jobs.start({ type: 'export' });
  assert.equal((await gh.jobs.wait(exp.id, { intervalMs: 100 })).status, 'succeeded');
  const out = await gh.jobs.output(exp.id);
  assert.match(out, /"key":"js-u119"/);
});

test('429 and 503 are retried as Retry-After says', async () => {
  let calls = 0;
  const srv = createServer((req, res) => {
    calls++;
    if (calls === 1) { res.writeHead(429, { 'Retry-After': '1', 'Content-Type': 'application/json' }); res.end('{"status":"error","error":{"code":"RATE_LIMITED","message":"slow down"}}'); return; }
    if (calls === 2) { res.writeHead(503, { 'Retry-After': '0' }); res.end(); return; }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: [{ id: 'p1', key: 'default' }], meta: { page: 1, per_page: 30, total_items: 1, total_pages: 1, has_next: false } }));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${srv.address().port}`;
    const start = Date.now();
    const page = await new Gatehouse({ apiKey: 'k', baseUrl: url }).projects.list();
    assert.equal(page.items[0].key, 'default');
    assert.equal(calls, 3);
    assert.ok(Date.now() - start >= 900, 'waited for Retry-After');
    calls = 0;
    await assert.rejects(new Gatehouse({ apiKey: 'k', baseUrl: url, retries: 0 }).projects.list(), (err) => err.code === 'RATE_LIMITED' && err.status === 429);
  } finally {
    srv.close();
  }
});

test('verifyWebhook', () => {
  const secret = 'whsec_test';
  const body = JSON.stringify({ id: 'evt_1', event: 'user.created', timestamp: new Date().toISOString(), organization_id: 'o', data: { key: 'alice' } });
  const sig = createHmac('sha256', secret).update(body).digest('hex');
  const now = String(Math.floor(Date.now() / 1000));
  const ev = verifyWebhook(secret, { 'x-signature': sig, 'x-webhook-timestamp': now }, body);
  assert.equal(ev.event, 'user.created');
  // During a rotation the new secret's signature is in X-Signature-New.
  assert.equal(verifyWebhook(secret, new Headers({ 'X-Signature': 'old', 'X-Signature-New': sig, 'X-Webhook-Timestamp': now }), body).id, 'evt_1');
  assert.throws(() => verifyWebhook('wrong', { 'x-signature': sig, 'x-webhook-timestamp': now }, body), /does not match/);
  assert.throws(() => verifyWebhook(secret, { 'x-signature': sig, 'x-webhook-timestamp': String(Number(now) - 3600) }, body), /replay/);
  assert.throws(() => verifyWebhook(secret, { 'x-signature': sig }, body), /Timestamp/);
});

test('the generated operations are usable directly', async () => {
  const res = await operations.listProjects({ client: org.raw });
  assert.equal(res.response.status, 200);
  assert.ok(res.data.data.some((p) => p.key === 'default'));
});
