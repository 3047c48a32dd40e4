// Permit.io's Node SDK (npm permitio, pinned in package.json), unchanged,
// against Gatehouse. test/permit/permit_test.go starts a server and a
// standalone PDP and sets:
//   GATEHOUSE_API_URL  the server (Permit's apiUrl)
//   GATEHOUSE_PDP_URL  the decision point (Permit's pdp)
//   PERMIT_TOKEN       an environment API key (Permit's token)
//   GATEHOUSE_V1_KEY   an organization key, to see the same data through v1
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Permit, PermitApiError } from 'permitio';

const apiUrl = process.env.GATEHOUSE_API_URL;
const pdp = process.env.GATEHOUSE_PDP_URL;
const token = process.env.PERMIT_TOKEN;
if (!apiUrl || !pdp || !token) throw new Error('set GATEHOUSE_API_URL, GATEHOUSE_PDP_URL and PERMIT_TOKEN');

const permit = new Permit({ token, pdp, apiUrl, log: { level: 'error' } });

// The PDP follows the server's changes as a stream: a decision reflects a
// write a moment later. Permit's own PDP is eventually consistent too.
async function eventually(fn, want, what) {
  let got;
  for (let i = 0; i < 300; i++) { // up to 15 s on a loaded machine; milliseconds normally
    got = await fn();
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(got, want, what);
}

async function v1(path) {
  const res = await fetch(apiUrl + path, { headers: { Authorization: `Bearer ${process.env.GATEHOUSE_V1_KEY}` } });
  assert.equal(res.status, 200, path);
  return (await res.json()).data;
}

test('the Permit Node SDK manages facts and gets decisions', async () => {
  // Schema: a resource type with its actions, roles with permissions.
  const doc = await permit.api.resources.create({ key: 'node-doc', name: 'Document', actions: { read: {}, write: {}, delete: {} } });
  assert.equal(doc.key, 'node-doc');
  assert.deepEqual(Object.keys(doc.actions).sort(), ['delete', 'read', 'write']);
  const viewer = await permit.api.roles.create({ key: 'node-viewer', name: 'Viewer', permissions: ['node-doc:read'], attributes: { tier: 'gold', seats: 5 } });
  assert.deepEqual(viewer.permissions, ['node-doc:read']);
  assert.deepEqual(viewer.attributes, { tier: 'gold', seats: 5 });
  // A role's attributes are kept until an update gives others.
  const renamed = await permit.api.roles.update('node-viewer', { description: 'reads documents' });
  assert.deepEqual(renamed.attributes, { tier: 'gold', seats: 5 });
  const silver = await permit.api.roles.update('node-viewer', { attributes: { tier: 'silver' } });
  assert.deepEqual(silver.attributes, { tier: 'silver' });
  assert.deepEqual((await permit.api.roles.get('node-viewer')).attributes, { tier: 'silver' });
  await permit.api.roles.create({ key: 'node-editor', name: 'Editor', permissions: ['node-doc:read'] });
  const editor = await permit.api.roles.assignPermissions('node-editor', ['node-doc:write']);
  assert.deepEqual(editor.permissions.sort(), ['node-doc:read', 'node-doc:write']);
  assert.ok((await permit.api.roles.list()).some((r) => r.key === 'node-editor'));

  // Tenants and users.
  await permit.api.tenants.create({ key: 'node-acme', name: 'Acme' });
  await permit.api.tenants.create({ key: 'node-globex', name: 'Globex', attributes: { plan: 'pro' } });
  const alice = await permit.api.users.create({ key: 'node-alice', email: 'alice@example.com', first_name: 'Alice', attributes: { dept: 'eng' } });
  assert.equal(alice.email, 'alice@example.com');
  const synced = await permit.api.users.sync({ key: 'node-bob', email: 'bob@example.com' });
  assert.equal(synced.created, true);
  const again = await permit.api.users.sync({ key: 'node-bob', email: 'bob@new.example.com' });
  assert.equal(again.created, false);
  assert.equal(again.user.email, 'bob@new.example.com');
  await assert.rejects(permit.api.users.create({ key: 'node-alice' }), (e) => e instanceof PermitApiError && e.response?.status === 409);
  await assert.rejects(permit.api.users.get('node-nobody'), (e) => e instanceof PermitApiError && e.response?.status === 404);

  // The same data through v1: one user, one set of facts.
  const v1users = await v1('/v1/users?project=default&environment=development&search=node-');
  assert.deepEqual(v1users.map((u) => u.key).sort(), ['node-alice', 'node-bob']);

  // Role assignments.
  const ra = await permit.api.users.assignRole({ user: 'node-alice', role: 'node-editor', tenant: 'node-acme' });
  assert.equal(ra.role, 'node-editor');
  assert.equal(ra.tenant, 'node-acme');
  await permit.api.roleAssignments.assign({ user: 'node-bob', role: 'node-viewer', tenant: 'node-acme' });
  const report = await permit.api.roleAssignments.bulkAssign([
    { user: 'node-alice', role: 'node-viewer', tenant: 'node-globex' },
    { user: 'node-bob', role: 'node-viewer', tenant: 'node-globex' },
  ]);
  assert.equal(report.assignments_created, 2);
  const assigned = await permit.api.users.getAssignedRoles({ user: 'node-alice' });
  assert.deepEqual(assigned.map((a) => `${a.role}@${a.tenant}`).sort(), ['node-editor@node-acme', 'node-viewer@node-globex']);
  const tenantUsers = await permit.api.tenants.listTenantUsers({ tenantKey: 'node-acme' });
  assert.deepEqual(tenantUsers.data.map((u) => u.key).sort(), ['node-alice', 'node-bob']);
  assert.equal(tenantUsers.total_count, 2);

  // Decisions, from the PDP.
  const alicePerm = { key: 'node-alice' };
  await eventually(() => permit.check(alicePerm, 'write', { type: 'node-doc', tenant: 'node-acme' }), true, 'editor may write in acme');
  assert.equal(await permit.check('node-alice', 'delete', { type: 'node-doc', tenant: 'node-acme' }), false, 'nobody may delete');
  assert.equal(await permit.check('node-alice', 'write', { type: 'node-doc', tenant: 'node-globex' }), false, 'viewer in globex');
  assert.equal(await permit.check('node-alice', 'read', 'node-doc:readme'), false, 'no role in the default tenant');
  await eventually(() => permit.bulkCheck([
    { user: 'node-alice', action: 'read', resource: { type: 'node-doc', tenant: 'node-globex' } },
    { user: 'node-bob', action: 'write', resource: { type: 'node-doc', tenant: 'node-acme' } },
    { user: 'node-bob', action: 'read', resource: { type: 'node-doc', tenant: 'node-globex' } },
  ]), [true, false, true], 'bulk');
  const perms = await permit.getUserPermissions({ key: 'node-alice' });
  assert.deepEqual(perms['__tenant:node-acme'].permissions.sort(), ['node-doc:read', 'node-doc:write']);
  assert.deepEqual(perms['__tenant:node-globex'].permissions, ['node-doc:read']);
  assert.deepEqual(perms['__tenant:node-globex'].tenant, { key: 'node-globex', attributes: { plan: 'pro' } });
  const onlyAcme = await permit.getUserPermissions('node-alice', ['node-acme']);
  assert.deepEqual(Object.keys(onlyAcme), ['__tenant:node-acme']);

  // Unassign, and the decision follows.
  await permit.api.users.unassignRole({ user: 'node-alice', role: 'node-editor', tenant: 'node-acme' });
  await eventually(() => permit.check('node-alice', 'write', { type: 'node-doc', tenant: 'node-acme' }), false, 'after unassign');
  const removed = await permit.api.roleAssignments.bulkUnassign([{ user: 'node-bob', role: 'node-viewer', tenant: 'node-globex' }]);
  assert.equal(removed.assignments_removed, 1);

  // Deletes.
  await permit.api.users.delete('node-bob');
  await assert.rejects(permit.api.users.get('node-bob'), (e) => e.response?.status === 404);
  await permit.api.tenants.delete('node-globex');
  await eventually(() => permit.check('node-alice', 'read', { type: 'node-doc', tenant: 'node-globex' }), false, 'tenant deleted');
  // A role or a resource type still in use is refused (Permit would cascade
  // silently); ?cascade=true, which the SDK cannot spell, removes the
  // references with it.
  const scope = await (await fetch(apiUrl + '/v2/api-key/scope', { headers: { Authorization: `Bearer ${token}` } })).json();
  const cascadeDelete = async (what) => {
    const res = await fetch(`${apiUrl}/v2/schema/${scope.project_id}/${scope.environment_id}/${what}?cascade=true`,
      { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 204, `cascade delete of ${what}`);
  };
  await permit.api.roles.delete('node-viewer'); // nothing refers to it any more
  await assert.rejects(permit.api.resources.delete('node-doc'), (e) => e.response?.status === 409); // node-editor's permissions do
  await cascadeDelete('resources/node-doc');
  await eventually(async () => (await permit.api.resources.list()).some((r) => r.key === 'node-doc'), false, 'resource deleted');
});

test('errors come back as Permit errors', async () => {
  const bad = new Permit({ token: 'not-a-key', pdp, apiUrl, log: { level: 'error' } });
  await assert.rejects(bad.api.users.list(), (e) => /api key scope/i.test(String(e?.message ?? e)));
  await assert.rejects(permit.api.roles.create({ key: 'node-bad', name: 'Bad', permissions: ['no-such:read'] }),
    (e) => e instanceof PermitApiError && e.response?.status === 422 && /no-such/.test(e.message));
  // A PDP refuses a key that is not its own.
  const stranger = new Permit({ token: 'not-a-key', pdp, apiUrl, log: { level: 'error' }, throwOnError: true });
  await assert.rejects(stranger.check('x', 'read', 'node-doc'));
});
