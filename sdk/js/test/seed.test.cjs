// Our API reference's JavaScript example, as written there but for the package name
// (the key comes from GATEHOUSE_API_KEY, an environment key here, and the
// server from GATEHOUSE_API_URL).
const { test } = require('node:test');
const assert = require('node:assert/strict');

test("the API reference's example: require, new Client({ apiKey }), client.resources.list()", async () => {
  const { Client } = require('@gatehouse/sdk');

  const client = new Client({ apiKey: process.env.GATEHOUSE_ENV_API_KEY });
  const resources = await client.resources.list();

  assert.ok(Array.isArray(resources.items));
  assert.equal(typeof resources.meta.total_items, 'number');
});
