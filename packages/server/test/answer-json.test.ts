// Work items serialised by the database (store/answer-json.ts) are the JSON Fastify's own
// serialiser gives for the same rows: the same keys in the same order and the same values, over
// contracts in every state a listing can show and over awkward values (microsecond timestamps,
// escapes, non-BMP text, nested jsonb, large tokens). pending-provision sends them as they are.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Type } from '@fastify/type-provider-typebox';
import { listOf, Nullable, WorkItem } from '@dc/core';
import { itemsAnswer, rowJsonSql } from '../src/store/answer-json.js';
import { CONTRACT_FROM } from '../src/store/contract-row.js';
import { WORK_ITEM_COLUMNS } from '../src/store/leases.js';
import { agentCall, base, call, mustOk, paidContract, providerWithPool, registerAgent, startHarness, type Harness } from './helpers.js';

const TTL = 300;
let h: Harness;
before(async () => {
  h = await startHarness({ DC_LOCK_TTL_SECONDS: String(TTL), DC_RETRY_BACKOFF_SECONDS: '600' });
});
after(async () => h.close());

/** Every character class JSON escapes differently: quotes, backslash, controls, line separators, non-BMP. */
const AWKWARD = 'q"uote \\ back\nnew\ttab \u0001 \u001f \u007f \u2028 \u2029 é ü 雪 🚀 </script>';

/** The listing's rows as node-postgres returns them, and the same rows as the database's JSON. */
async function bothSerialisations(providerPubkey: string): Promise<{ expected: string; actual: string }> {
  const inner = `SELECT ${WORK_ITEM_COLUMNS}, ${TTL}::int AS lock_ttl_seconds FROM ${CONTRACT_FROM} WHERE c.provider_pubkey = $1`;
  const rows = (await h.db.query(`${inner} ORDER BY c.created_at, c.contract_id`, [providerPubkey])).rows;
  const texts = (await h.db.query<{ item: string }>(`SELECT ${rowJsonSql(WorkItem, 'i')} AS item FROM (${inner}) i ORDER BY i.created_at, i.contract_id`, [providerPubkey])).rows;
  // The reference: Fastify's serialiser for the endpoint's response schema, as every other answer gets.
  const app = Fastify();
  app.get('/', { schema: { response: { 200: listOf(WorkItem) } } }, async () => ({ items: rows }));
  const expected = (await app.inject('/')).body;
  await app.close();
  return { expected, actual: itemsAnswer(texts.map((r) => r.item)) };
}

function assertSameJson(actual: string, expected: string): void {
  const [a, e] = [JSON.parse(actual), JSON.parse(expected)];
  assert.deepStrictEqual(a, e);
  a.items.forEach((item: object, k: number) => assert.deepEqual(Object.keys(item), Object.keys(e.items[k]), 'keys in the schema order'));
}

describe('work items serialised by the database', () => {
  test('equal Fastify’s serialisation of the same rows, in every state and with awkward values', async () => {
    const { provider, poolId } = await providerWithPool(h);
    const a = await registerAgent(h, provider, poolId, 'agent-1');
    const offering = { offering_id: 'json-1', provisioner_config: { template: 9000, name: AWKWARD, nested: { list: [1, 2.5, -0.125, null, 'ü'], big: 12345678901234 } } };
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await paidContract(h, provider, offering as never));
    const path = (id: string) => `${base(provider)}/contracts/${id}`;
    const lockOf = async (id: string) => (await mustOk(agentCall(h, a, 'POST', `${path(id)}/lock`))).body.lock_token as number;
    // [0] open, [1] leased, [2] provisioned, [3] failed once (backing off), [4] handed off, [5] terminating, [6] left as paid
    await lockOf(ids[1]!);
    await mustOk(agentCall(h, a, 'POST', `${path(ids[2]!)}/provisioned`, {
      lock_token: await lockOf(ids[2]!), instance_details: { hostname: 'vm-1', ipv4: '10.0.0.1', note: AWKWARD, disks: [{ size_gb: 20.5 }] },
    }));
    await mustOk(agentCall(h, a, 'POST', `${path(ids[3]!)}/failed`, { lock_token: await lockOf(ids[3]!), error_message: `boom ${AWKWARD}` }));
    await mustOk(agentCall(h, a, 'POST', `${path(ids[4]!)}/handoff`, { lock_token: await lockOf(ids[4]!), note: 'by hand' }));
    await mustOk(agentCall(h, a, 'POST', `${path(ids[5]!)}/provisioned`, { lock_token: await lockOf(ids[5]!), instance_details: { hostname: 'vm-5' } }));
    await mustOk(call(h, provider, 'POST', `${path(ids[5]!)}/terminate`, { reason: 'customer asked' }));
    // Values the API does not produce on its own: timestamps at the edges of a millisecond, a large
    // token, free text where the API checks it (labels, keys).
    await h.db.query(`UPDATE provider_agent_delegations SET label = $2 WHERE agent_pubkey = $1`, [a.publicKey, AWKWARD]);
    await h.db.query(`UPDATE contract_sign_requests SET created_at = '2026-01-02 03:04:05.999999+00', provisioning_lock_token = 123456789012 WHERE contract_id = $1`, [ids[0]]);
    await h.db.query(`UPDATE contract_sign_requests SET created_at = '1999-12-31 23:59:59.000001+00', ssh_pubkey = $2 WHERE contract_id = $1`, [ids[6], `ssh-ed25519 AAAA ${AWKWARD}`]);
    await h.db.query(`UPDATE contract_sign_requests SET instance_config = $2::jsonb WHERE contract_id = $1`, [ids[6], JSON.stringify({ hostname: 'h', tags: ['a', AWKWARD], n: 1e21, f: 0.1 })]);

    const { expected, actual } = await bothSerialisations(provider.publicKey);
    assert.equal(JSON.parse(expected).items.length, 7);
    assertSameJson(actual, expected);
    const statuses = new Set(JSON.parse(actual).items.map((i: { status: string }) => i.status));
    assert.deepEqual([...statuses].sort(), ['accepted', 'provisioned', 'provisioning', 'terminating']);
  });

  test('pending-provision sends them as JSON, provisions and teardowns alike', async () => {
    const { provider, poolId } = await providerWithPool(h);
    const a = await registerAgent(h, provider, poolId, 'lister');
    const built = await paidContract(h, provider, { offering_id: 'json-2' });
    const waiting = await paidContract(h, provider, { offering_id: 'json-2' });
    const token = (await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${built}/lock`))).body.lock_token;
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${built}/provisioned`, { lock_token: token, instance_details: { hostname: 'vm' } }));
    await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${built}/terminate`, {}));

    const r = await mustOk(agentCall(h, a, 'GET', `${base(provider)}/contracts/pending-provision?actions=provision,terminate`));
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(r.body.items.map((i: { contract_id: string; action: string }) => [i.contract_id, i.action]), [[built, 'terminate'], [waiting, 'provision']]);
    // Each listed item is the reference serialisation of its row.
    const { expected } = await bothSerialisations(provider.publicKey);
    const byId = new Map(JSON.parse(expected).items.map((i: { contract_id: string }) => [i.contract_id, i]));
    for (const item of r.body.items) assert.deepStrictEqual(item, byId.get(item.contract_id));
    const other = await providerWithPool(h);
    const idle = await registerAgent(h, other.provider, other.poolId, 'idle');
    assert.equal((await mustOk(agentCall(h, idle, 'GET', `${base(other.provider)}/contracts/pending-provision`))).text, '{"items":[]}');
  });

  test('a schema field the database cannot render exactly is refused when the SQL is built', () => {
    for (const field of [Type.Number(), Type.Array(Type.String()), Type.Object({ a: Type.String() }), Type.String({ format: 'email' }), Type.Union([Type.String(), Type.Integer()])]) {
      assert.throws(() => rowJsonSql(Type.Object({ x: field }), 'i'), /no exact SQL rendering/);
    }
    assert.throws(() => rowJsonSql(Type.Object({ 'x-y': Type.String() }), 'i'), /not a plain column name/);
    assert.match(rowJsonSql(Type.Object({ at: Type.String({ format: 'date-time' }), n: Type.Integer(), s: Nullable(Type.String()) }), 'i'), /to_char\(i\.at AT TIME ZONE 'UTC'/);
  });
});
