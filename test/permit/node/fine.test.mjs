// Permit.io's Node SDK against Gatehouse's fine-grained model (issue 15):
// the two scenarios of Permit's own tutorials, ReBAC (a Google-Drive-like
// folder tree) and ABAC (a finance app's approvers), written as a Permit
// user writes them. Run by test/permit/permit_test.go (TestPermitNodeSDKFineGrained)
// with the same environment as compat.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Permit, PermitApiError } from 'permitio';

const apiUrl = process.env.GATEHOUSE_API_URL;
const pdp = process.env.GATEHOUSE_PDP_URL;
const token = process.env.PERMIT_TOKEN;
if (!apiUrl || !pdp || !token) throw new Error('set GATEHOUSE_API_URL, GATEHOUSE_PDP_URL and PERMIT_TOKEN');

const permit = new Permit({ token, pdp, apiUrl, log: { level: 'error' }, throwOnError: true });

// The PDP follows the server's changes as a stream: poll until a decision
// reflects a write (milliseconds normally; bounded).
async function eventually(fn, want, what) {
  let got;
  for (let i = 0; i < 300; i++) {
    got = await fn();
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(got, want, what);
}

const status = (code) => (e) => e instanceof PermitApiError && e.response?.status === code;

test('a Google-Drive-like folder tree: implicit grants through nested folders', async () => {
  // Schema, with what Permit apps put there: a urn, attributes on an action,
  // an action group.
  const folder = await permit.api.resources.create({
    key: 'folder', name: 'Folder', urn: 'prn:drive:folder',
    actions: { read: {}, write: {}, share: { attributes: { risk: 'high' } } },
  });
  assert.equal(folder.urn, 'prn:drive:folder');
  assert.deepEqual(folder.actions.share.attributes, { risk: 'high' });
  await permit.api.resources.create({ key: 'document', name: 'Document', actions: { read: {}, write: {}, comment: {} } });
  const group = await permit.api.actionGroups.create('document', { key: 'contribute', name: 'Contribute', actions: ['read', 'comment'] });
  assert.deepEqual(group.actions, ['read', 'comment']);

  // Relations: a folder is the parent of documents and of folders.
  const rel = await permit.api.resourceRelations.create('document', { key: 'parent', name: 'Parent', subject_resource: 'folder' });
  assert.equal(rel.subject_resource, 'folder');
  assert.equal(rel.object_resource, 'document');
  await permit.api.resourceRelations.create('folder', { key: 'parent', name: 'Parent', subject_resource: 'folder' });

  // Roles on the types: a folder's editor is editor of its sub-folders
  // (granted_to) and of its documents (a role derivation added later).
  const fEditor = await permit.api.resourceRoles.create('folder', {
    key: 'editor', name: 'Editor', permissions: ['read', 'write'],
    granted_to: { users_with_role: [{ role: 'editor', on_resource: 'folder', linked_by_relation: 'parent' }] },
  });
  assert.deepEqual(fEditor.permissions.sort(), ['folder:read', 'folder:write']);
  assert.equal(fEditor.granted_to.users_with_role[0].linked_by_relation, 'parent');
  await permit.api.resourceRoles.create('document', { key: 'editor', name: 'Editor', permissions: ['read', 'write', 'comment'] });
  const derived = await permit.api.resourceRoles.createRoleDerivation('document', 'editor', { role: 'editor', on_resource: 'folder', linked_by_relation: 'parent' });
  assert.equal(derived.on_resource, 'folder');
  assert.ok(derived.role_id && derived.relation_id, JSON.stringify(derived));
  const commenter = await permit.api.resourceRoles.create('document', {
    key: 'commenter', name: 'Commenter', permissions: ['contribute'], attributes: { tier: 'free', limits: { daily: 10 } },
  });
  assert.deepEqual(commenter.permissions.sort(), ['document:comment', 'document:read']);
  assert.deepEqual(commenter.attributes, { tier: 'free', limits: { daily: 10 } });
  const paid = await permit.api.resourceRoles.update('document', 'commenter', { attributes: { tier: 'paid' } });
  assert.deepEqual(paid.attributes, { tier: 'paid' });
  assert.deepEqual(paid.permissions.sort(), ['document:comment', 'document:read']);
  const docType = await permit.api.resources.get('document');
  assert.deepEqual(Object.keys(docType.roles).sort(), ['commenter', 'editor']);
  assert.equal(docType.relations.parent.resource, 'folder');

  // Instances: explicitly, and implicitly by a tuple naming a tenant.
  const d1 = await permit.api.resourceInstances.create({ key: 'd1', resource: 'document', tenant: 'default', attributes: { title: 'Plan' } });
  assert.equal(d1.resource, 'document');
  await permit.api.relationshipTuples.create({ subject: 'folder:root', relation: 'parent', object: 'folder:projects', tenant: 'default' });
  await permit.api.resourceInstances.create({ key: 'd2', resource: 'document', tenant: 'default' });
  await permit.api.relationshipTuples.bulkRelationshipTuples([
    { subject: 'folder:projects', relation: 'parent', object: 'document:d1' },
    { subject: 'folder:root', relation: 'parent', object: 'document:d2' },
  ]);
  const instances = await permit.api.resourceInstances.list({ resource: 'folder' });
  assert.deepEqual(instances.map((i) => i.key).sort(), ['projects', 'root']);
  const tuples = await permit.api.relationshipTuples.list({ object: 'document:d1' });
  assert.deepEqual(tuples.map((t) => `${t.subject} ${t.relation} ${t.object}`), ['folder:projects parent document:d1']);
  const got = await permit.api.resourceInstances.get('document:d1');
  assert.deepEqual(got.attributes, { title: 'Plan' });

  // Users, with roles on instances.
  await permit.api.users.create({ key: 'ada' });
  await permit.api.users.create({ key: 'bob' });
  const ra = await permit.api.roleAssignments.assign({ user: 'ada', role: 'editor', resource_instance: 'folder:root', tenant: 'default' });
  assert.equal(ra.resource_instance, 'folder:root');
  await permit.api.roleAssignments.assign({ user: 'bob', role: 'commenter', resource_instance: 'document:d2', tenant: 'default' });
  const onRoot = await permit.api.roleAssignments.list({ resourceInstance: 'folder:root' });
  assert.deepEqual(onRoot.map((a) => `${a.user} ${a.role}`), ['ada editor']);

  // Decisions, by instance key: ada edits everything under root,
  // transitively; bob only comments on d2.
  // The PDP applies the changes in order: wait for the last write (bob's
  // role), then every earlier one holds too.
  await eventually(() => permit.check('bob', 'comment', 'document:d2'), true, 'commenter on d2 comments');
  assert.equal(await permit.check('ada', 'write', 'document:d1'), true, 'editor of root ⇒ editor of projects ⇒ editor of d1');
  assert.equal(await permit.check('ada', 'write', { type: 'document', key: 'd2', tenant: 'default' }), true);
  assert.equal(await permit.check('bob', 'write', 'document:d2'), false);
  assert.equal(await permit.check('bob', 'read', 'document:d1'), false);
  const [w1, c1, r2] = await permit.bulkCheck([
    { user: 'ada', action: 'write', resource: 'folder:projects' },
    { user: 'bob', action: 'comment', resource: 'document:d1' },
    { user: 'bob', action: 'read', resource: 'document:d2' },
  ]);
  assert.deepEqual([w1, c1, r2], [true, false, true]);

  // What ada may do: her roles on instances, assigned and derived.
  const perms = await permit.getUserPermissions('ada', ['default']);
  assert.deepEqual(Object.keys(perms).sort(), ['document:d1', 'document:d2', 'folder:projects', 'folder:root']);
  assert.deepEqual(perms['document:d1'].permissions.sort(), ['document:comment', 'document:read', 'document:write']);
  assert.deepEqual(perms['document:d1'].roles, ['editor']);
  const bobs = await permit.getUserPermissions('bob', ['default'], ['document:d2']);
  assert.deepEqual(bobs['document:d2'].permissions.sort(), ['document:comment', 'document:read']);

  // Moving d1 out of the tree takes ada's access away.
  await permit.api.relationshipTuples.bulkUnRelationshipTuples([{ subject: 'folder:projects', relation: 'parent', object: 'document:d1' }]);
  await eventually(() => permit.check('ada', 'write', 'document:d1'), false, 'd1 is no longer under root');

  // What Permit has and Gatehouse does not: 501, not 404.
  await assert.rejects(permit.api.resourceRoles.updateRoleDerivationConditions('document', 'editor', {}), status(501));
  // A tuple between instances that do not exist, without a tenant: 404.
  await assert.rejects(permit.api.relationshipTuples.create({ subject: 'folder:nowhere', relation: 'parent', object: 'document:d2' }), status(404));
});

test('a finance app: approvers may approve invoices under an amount', async () => {
  await permit.api.resources.create({
    key: 'invoice', name: 'Invoice', actions: { read: {}, approve: {} },
    attributes: { amount: { type: 'number' } },
  });
  await permit.api.users.create({ key: 'fin-ann', attributes: { department: 'finance' } });
  await permit.api.users.create({ key: 'fin-sam', attributes: { department: 'sales' } });

  const approvers = await permit.api.conditionSets.create({
    key: 'approvers', name: 'Approvers', type: 'userset',
    conditions: { allOf: [{ allOf: [{ 'user.department': { equals: 'finance' } }] }] },
  });
  assert.equal(approvers.type, 'userset');
  const small = await permit.api.conditionSets.create({
    key: 'small-invoices', name: 'Small invoices', type: 'resourceset', resource_id: 'invoice',
    conditions: { allOf: [{ allOf: [{ 'resource.amount': { 'less-than': 1000 } }] }] },
  });
  assert.equal(small.resource.key, 'invoice');
  const rule = await permit.api.conditionSetRules.create({ user_set: 'approvers', permission: 'invoice:approve', resource_set: 'small-invoices' });
  assert.equal(rule.permission, 'invoice:approve');
  const listed = await permit.api.conditionSetRules.list({ userSetKey: 'approvers', permissionKey: 'invoice:approve', resourceSetKey: 'small-invoices' });
  assert.equal(listed.length, 1);
  assert.deepEqual((await permit.api.conditionSets.list()).map((c) => c.key).sort(), ['approvers', 'small-invoices']);

  // Attributes given with the check.
  const ann = { key: 'fin-ann', attributes: { department: 'finance' } };
  await eventually(() => permit.check(ann, 'approve', { type: 'invoice', attributes: { amount: 500 } }), true, 'a finance user approves 500');
  assert.equal(await permit.check(ann, 'approve', { type: 'invoice', attributes: { amount: 5000 } }), false);
  assert.equal(await permit.check(ann, 'read', { type: 'invoice', attributes: { amount: 5 } }), false);
  assert.equal(await permit.check({ key: 'fin-ann', attributes: { department: 'sales' } }, 'approve', { type: 'invoice', attributes: { amount: 5 } }), false);
  // Stored attributes: the user's and the instance's.
  await permit.api.resourceInstances.create({ key: 'inv-1', resource: 'invoice', tenant: 'default', attributes: { amount: 200 } });
  await permit.api.resourceInstances.create({ key: 'inv-2', resource: 'invoice', tenant: 'default', attributes: { amount: 20000 } });
  await eventually(() => permit.check('fin-ann', 'approve', 'invoice:inv-1'), true, 'stored attributes');
  assert.equal(await permit.check('fin-ann', 'approve', 'invoice:inv-2'), false);
  assert.equal(await permit.check('fin-sam', 'approve', 'invoice:inv-1'), false);
  // An instance attribute changed: the decision follows.
  await permit.api.resourceInstances.update('invoice:inv-2', { attributes: { amount: 900 } });
  await eventually(() => permit.check('fin-ann', 'approve', 'invoice:inv-2'), true, 'inv-2 is small now');
  // Filtering by attributes (the SDKs' ListByAttributes).
  const res = await fetch(`${apiUrl}/v2/facts/default/development/resource_instances?resource=invoice&attr_amount=200`, { headers: { Authorization: `Bearer ${token}` } });
  assert.deepEqual((await res.json()).map((i) => i.key), ['inv-1']);

  // A condition set in use cannot go without cascade; the rule first.
  await assert.rejects(permit.api.conditionSets.delete('approvers'), status(409));
  await permit.api.conditionSetRules.delete({ user_set: 'approvers', permission: 'invoice:approve', resource_set: 'small-invoices' });
  await eventually(() => permit.check('fin-ann', 'approve', 'invoice:inv-1'), false, 'the rule is gone');
  await permit.api.conditionSets.delete('approvers');
});
