// PERSCOM's documented fetch and axios requests, as written there but for the base
// URL (the seed's own fetch URL lacks the colon of https://) and the
// credentials: perscomId is the organization's id, apiKey an environment
// key. console.table receives what they print.
const { test } = require('node:test');
const assert = require('node:assert/strict');

const perscomId = process.env.GATEHOUSE_ORGANIZATION_ID;
const apiKey = process.env.GATEHOUSE_ENV_API_KEY;
const base = process.env.GATEHOUSE_API_URL;

function capture() {
  const seen = { tables: [], logs: [] };
  const table = console.table;
  const log = console.log;
  console.table = (d) => seen.tables.push(d);
  console.log = (e) => seen.logs.push(e);
  seen.restore = () => { console.table = table; console.log = log; };
  return seen;
}

async function settled(seen) {
  for (let i = 0; i < 200 && seen.tables.length + seen.logs.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  seen.restore();
  assert.deepEqual(seen.logs, [], 'the request failed');
  assert.equal(seen.tables.length, 1);
  return seen.tables[0];
}

test("PERSCOM's documented fetch request lists the users", async () => {
  const seen = capture();
  // --- as PERSCOM documents it ---
  fetch(`${base}/v1/users`, {
    method: 'GET',
    headers: {
      'X-Perscom-Id': perscomId,
      Authorization: `Bearer ${apiKey}`,
      Accept: 'application/json'
    }
  })
    .then((response) => response.json())
    .then((data) => {
      console.table(data)
    })
    .catch((e) => {
      console.log(e)
    })
  // ---
  const data = await settled(seen);
  assert.equal(data.status, 'success');
  assert.ok(data.data.some((u) => u.key === 'seed-user'), JSON.stringify(data));
});

test("PERSCOM's documented axios request lists the users", async () => {
  const seen = capture();
  // --- as PERSCOM documents it ---
  var axios = require('axios')

  axios
    .get(`${base}/v1/users`, {
      headers: {
        'X-Perscom-Id': perscomId,
        Authorization: `Bearer ${apiKey}`,
        Accept: 'application/json'
      }
    })
    .then(function (response) {
      console.table(response.data)
    })
    .catch(function (error) {
      console.log(error)
    })
  // ---
  const data = await settled(seen);
  assert.equal(data.status, 'success');
  assert.equal(data.data.length, Math.min(data.meta.total_items, data.meta.per_page));
  assert.ok(data.meta.total_items >= 1);
});

test('a wrong X-Perscom-Id is refused', async () => {
  const res = await fetch(`${base}/v1/users`, { headers: { 'X-Perscom-Id': 'someone-else', Authorization: `Bearer ${apiKey}`, Accept: 'application/json' } });
  assert.equal(res.status, 403);
});
