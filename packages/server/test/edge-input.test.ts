// Inputs found in review that used to reach a 500 or an unexpected body.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Identity } from '@dc/core/node';
import { agentCall, call, mustOk, paidContract, providerWithPool, registerAgent, startHarness, type Harness, base } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => h.close());

test('a malformed URL gets the standard error body', async () => {
  const r = await h.server.app.inject({ method: 'GET', url: '/api/v1/contracts/%E0%A4%A' });
  assert.equal(r.statusCode, 400);
  const body = JSON.parse(r.body);
  assert.equal(typeof body.error.code, 'string');
  assert.equal(typeof body.error.message, 'string');
});

test('a lone UTF-16 surrogate in JSON is a 400, not a database error', async () => {
  const { provider, poolId } = await providerWithPool(h);
  const agent = await registerAgent(h, provider, poolId);
  const raw = '{"version":"1.0.0","capabilities":{"x":"\\ud800"}}';
  const r = await agentCall(h, agent, 'POST', `${base(provider)}/heartbeat`, raw);
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /surrogate/);
  const offering = '{"offering_id":"s","name":"s","product_type":"compute","datacenter_country":"DE","monthly_price":1,"currency":"EUR","provisioner_config":{"\\udfff":1}}';
  assert.equal((await call(h, provider, 'POST', `${base(provider)}/offerings`, offering)).status, 400);
});

test('a setup token is not created when the Host header is not a host', async () => {
  const { provider, poolId } = await providerWithPool(h);
  const badHost = { ...h, signHost: 'exa mple' };
  const r = await call(badHost, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, {}, { headers: { host: 'exa mple' } });
  assert.equal(r.status, 400, r.text);
  const n = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM agent_setup_tokens WHERE pool_id = $1`, [poolId]);
  assert.equal(n.rows[0]!.n, 0);
});

test('offering ids that name endpoints are refused', async () => {
  const { provider } = await providerWithPool(h);
  for (const id of ['export', 'import']) {
    const r = await call(h, provider, 'POST', `${base(provider)}/offerings`, {
      offering_id: id, name: id, product_type: 'compute', datacenter_country: 'DE', monthly_price: 1, currency: 'EUR',
    });
    assert.equal(r.status, 400, id);
    assert.match(r.body.error.message, /reserved/);
  }
});

test('a provider failing a handed-off contract sends it back to accepted, as the transition table says', async () => {
  const { provider, poolId } = await providerWithPool(h, { name: 'manual', location: 'europe', provisioner_type: 'manual' });
  const agent = await registerAgent(h, provider, poolId);
  const id = await paidContract(h, provider, { offering_id: 'm1', provisioner_type: 'manual' });
  const g = await mustOk(agentCall(h, agent, 'POST', `${base(provider)}/contracts/${id}/lock`));
  await mustOk(agentCall(h, agent, 'POST', `${base(provider)}/contracts/${id}/handoff`, { lock_token: g.body.lock_token }));
  await h.db.query(`UPDATE contract_sign_requests SET attempts = 10 WHERE contract_id = $1`, [id]);
  const r = await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${id}/failed`, { error_message: 'no stock' }));
  assert.equal(r.body.status, 'accepted');
  assert.equal(r.body.last_error, 'no stock');
});

test('last_error keeps 2,000 characters, never half a character', async () => {
  const { provider, poolId } = await providerWithPool(h);
  const agent = await registerAgent(h, provider, poolId);
  const id = await paidContract(h, provider, { offering_id: 'emoji' });
  const g = await mustOk(agentCall(h, agent, 'POST', `${base(provider)}/contracts/${id}/lock`));
  const msg = 'a' + '😀'.repeat(2500);
  const r = await mustOk(agentCall(h, agent, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: msg }));
  assert.equal([...r.body.last_error].length, 2000);
  assert.ok(!r.body.last_error.includes('\ufffd'));
});
