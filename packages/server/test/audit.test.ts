// The audit log (DESIGN.md "Observability and audit (v3)"): every audited change writes exactly one
// row, with its actor and subject, in the transaction of the change (a refused change writes
// none); before/after cursors return every row once; retention deletes only old rows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTOR_KINDS, AUDIT_KINDS } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import {
  agentCall, assertError, base, call, mustOk, offeringInput, operator, paidContract, providerWithPool, registerAgent, startHarness, type Harness, type Res,
} from './helpers.js';
import { deleteOldAudit, providerActor, recordAudit } from '../src/store/audit.js';
import { jobs } from '../src/jobs/sweeper.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

interface Row { id: number; kind: string; actor_kind: string; actor_pubkey: string | null; subject: { type: string; id: string; pool_id: string | null }; detail: any }

async function count(p: Identity): Promise<number> {
  return (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE provider_pubkey = $1`, [p.publicKey])).rows[0]!.n;
}
async function newest(p: Identity): Promise<Row> {
  return (await mustOk(call(h, p, 'GET', `${base(p)}/audit?limit=1`))).body.items[0];
}

/** Runs `change`, which must succeed, and returns the one audit row it wrote. */
async function audited(p: Identity, change: () => Promise<Res>): Promise<Row> {
  const n = await count(p);
  await mustOk(change());
  assert.equal(await count(p), n + 1, 'exactly one audit row');
  return newest(p);
}
/** Runs `change`, which must be refused with `status`, and checks that it wrote no audit row. */
async function refused(p: Identity, status: number, change: () => Promise<Res>): Promise<void> {
  const n = await count(p);
  assertError(await change(), status);
  assert.equal(await count(p), n, 'a refused change writes no audit row');
}

describe('each audited change writes one row with actor and subject; a refused one none', () => {
  test('pools, tokens, agents', async () => {
    const { provider: p, poolId } = await providerWithPool(h);
    const pk = p.publicKey;
    const created = await newest(p);
    assert.equal(created.kind, 'pool_created');
    assert.deepEqual([created.actor_kind, created.actor_pubkey], ['provider', pk]);
    assert.deepEqual(created.subject, { type: 'pool', id: poolId, pool_id: poolId });
    await refused(p, 409, () => call(h, p, 'POST', `${base(p)}/pools`, { name: 'europe-proxmox', location: 'europe', provisioner_type: 'proxmox' }));

    const upd = await audited(p, () => call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, { name: 'renamed' }));
    assert.equal(upd.kind, 'pool_updated');
    assert.deepEqual(upd.detail, { changes: { name: 'renamed' } });

    const tok = await audited(p, () => call(h, p, 'POST', `${base(p)}/pools/${poolId}/setup-tokens`, { label: 'rack-1' }));
    assert.equal(tok.kind, 'token_created');
    assert.equal(tok.subject.type, 'token');
    assert.equal(tok.subject.pool_id, poolId);
    assert.ok(!JSON.stringify(tok).includes('apt_'), 'the token secret is never in the audit log');
    const rev = await audited(p, () => call(h, p, 'DELETE', `${base(p)}/setup-tokens/${tok.subject.id}`));
    assert.equal(rev.kind, 'token_revoked');
    assert.equal(rev.subject.id, tok.subject.id);
    await refused(p, 404, () => call(h, p, 'DELETE', `${base(p)}/setup-tokens/${tok.subject.id}`));

    const n = await count(p);
    const agent = await registerAgent(h, p, poolId, 'node-1'); // token_created + agent_setup
    assert.equal(await count(p), n + 2);
    const setup = await newest(p);
    assert.equal(setup.kind, 'agent_setup');
    assert.deepEqual([setup.actor_kind, setup.actor_pubkey], ['agent', agent.publicKey]);
    assert.deepEqual(setup.subject, { type: 'agent', id: agent.publicKey, pool_id: poolId });

    // A second setup with the same key is refused (agent_exists): the new token's row only.
    const t2 = (await mustOk(call(h, p, 'POST', `${base(p)}/pools/${poolId}/setup-tokens`, {}))).body.token;
    await refused(p, 409, () => agentCall(h, agent, 'POST', '/api/v1/agents/setup', { token: t2, agent_pubkey: agent.publicKey }));

    await refused(p, 409, () => call(h, p, 'DELETE', `${base(p)}/pools/${poolId}`)); // pool_not_empty
    const revoked = await audited(p, () => call(h, p, 'DELETE', `${base(p)}/agents/${agent.publicKey}`));
    assert.equal(revoked.kind, 'agent_revoked');
    assert.equal(revoked.subject.pool_id, poolId);
    const again = await count(p);
    await mustOk(call(h, p, 'DELETE', `${base(p)}/agents/${agent.publicKey}`)); // idempotent, changes nothing
    assert.equal(await count(p), again);

    const del = await audited(p, () => call(h, p, 'DELETE', `${base(p)}/pools/${poolId}`));
    assert.equal(del.kind, 'pool_deleted');
    assert.deepEqual(del.detail, { name: 'renamed' });
  });

  test('offerings and the CSV import', async () => {
    const { provider: p } = await providerWithPool(h);
    const c = await audited(p, () => call(h, p, 'POST', `${base(p)}/offerings`, offeringInput('vps-1')));
    assert.deepEqual([c.kind, c.subject.type, c.subject.id], ['offering_created', 'offering', 'vps-1']);
    await refused(p, 409, () => call(h, p, 'POST', `${base(p)}/offerings`, offeringInput('vps-1')));
    const u = await audited(p, () => call(h, p, 'PUT', `${base(p)}/offerings/vps-1`, { monthly_price: 7 }));
    assert.deepEqual([u.kind, u.detail], ['offering_updated', { fields: ['monthly_price'] }]);
    const csv = 'offering_id,name,product_type,datacenter_country,monthly_price,currency\nvps-2,Two,compute,DE,5,EUR\nvps-3,Three,compute,FR,5,EUR\n';
    const imp = await audited(p, () => call(h, p, 'POST', `${base(p)}/offerings/import`, csv, { contentType: 'text/csv' }));
    assert.deepEqual([imp.kind, imp.detail], ['offerings_imported', { imported: 2, created: 2, updated: 0 }]);
    await refused(p, 400, () => call(h, p, 'POST', `${base(p)}/offerings/import`, csv + 'bad,Bad,compute,XX,5,EUR\n', { contentType: 'text/csv' }));
    const d = await audited(p, () => call(h, p, 'DELETE', `${base(p)}/offerings/vps-3`));
    assert.equal(d.kind, 'offering_deleted');
  });

  test('contracts and payments, with customer and operator actors', async () => {
    const { provider: p, poolId } = await providerWithPool(h);
    const customer = generateIdentity();
    const n0 = await count(p);
    const id = await paidContract(h, p, { offering_id: 'vps-1' }, customer); // offering_created, accepted, payment
    assert.equal(await count(p), n0 + 3);
    const items = (await mustOk(call(h, p, 'GET', `${base(p)}/audit?limit=2`))).body.items as Row[];
    assert.deepEqual(items.map((r) => r.kind), ['payment_recorded', 'contract_accepted']);
    assert.deepEqual([items[0]!.actor_kind, items[0]!.actor_pubkey, items[0]!.detail], ['operator', operator.publicKey, { payment_status: 'succeeded', previous: 'pending' }]);
    assert.deepEqual(items[1]!.subject, { type: 'contract', id, pool_id: null });
    await refused(p, 409, () => call(h, p, 'POST', `${base(p)}/contracts/${id}/accept`));
    await refused(p, 409, () => call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));

    const c2 = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'vps-1' }))).body.contract_id;
    const rej = await audited(p, () => call(h, p, 'POST', `${base(p)}/contracts/${c2}/reject`));
    assert.equal(rej.kind, 'contract_rejected');
    const c3 = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'vps-1' }))).body.contract_id;
    const can = await audited(p, () => call(h, customer, 'POST', `/api/v1/contracts/${c3}/cancel`));
    assert.deepEqual([can.kind, can.actor_kind, can.actor_pubkey], ['contract_cancelled', 'customer', customer.publicKey]);

    // Retry: fail the contract to provisioning_failed (one attempt allowed here), then retry.
    const a = await registerAgent(h, p, poolId);
    await refused(p, 409, () => call(h, p, 'POST', `${base(p)}/contracts/${id}/retry`));
    const g = await mustOk(agentCall(h, a, 'POST', `${base(p)}/contracts/${id}/lock`, {}));
    await h.db.query(`UPDATE contract_sign_requests SET attempts = 100 WHERE contract_id = $1`, [id]);
    await mustOk(agentCall(h, a, 'POST', `${base(p)}/contracts/${id}/failed`, { lock_token: g.body.lock_token, error_message: 'x' }));
    const ret = await audited(p, () => call(h, p, 'POST', `${base(p)}/contracts/${id}/retry`));
    assert.deepEqual([ret.kind, ret.actor_kind], ['contract_retried', 'provider']);
  });

  test('an audit row rolls back with its transaction', async () => {
    const { provider: p } = await providerWithPool(h);
    const n = await count(p);
    await assert.rejects(
      h.db.transaction(async (tx) => {
        await recordAudit(tx, { provider: p.publicKey, kind: 'pool_updated', actor: providerActor(p.publicKey), subject: { type: 'pool', id: 'x' } });
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    assert.equal(await count(p), n);
  });

  test("the table accepts every kind and actor core lists (the migration's CHECKs follow core)", async () => {
    const { provider: p } = await providerWithPool(h);
    const n = await count(p);
    await assert.rejects(
      h.db.transaction(async (tx) => {
        for (const kind of AUDIT_KINDS) {
          for (const kindOfActor of ACTOR_KINDS) {
            await recordAudit(tx, { provider: p.publicKey, kind, actor: { kind: kindOfActor, pubkey: null }, subject: { type: 'provider', id: p.publicKey } });
          }
        }
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal(await count(p), n);
  });

  test('agents and strangers cannot read it; each provider sees only its own', async () => {
    const { provider: p, poolId } = await providerWithPool(h);
    const { provider: q } = await providerWithPool(h);
    const a = await registerAgent(h, p, poolId);
    assertError(await agentCall(h, a, 'GET', `${base(p)}/audit`), 403);
    assertError(await call(h, q, 'GET', `${base(p)}/audit`), 403);
    const mine = (await mustOk(call(h, q, 'GET', `${base(q)}/audit`))).body.items as Row[];
    assert.deepEqual(mine.map((r) => r.kind), ['pool_created']);
  });
});

describe('paging', () => {
  let p: Identity;
  let all: number[];
  before(async () => {
    ({ provider: p } = await providerWithPool(h));
    await mustOk(call(h, p, 'POST', `${base(p)}/offerings`, offeringInput('vps-1')));
    for (let i = 0; i < 22; i++) await mustOk(call(h, p, 'PUT', `${base(p)}/offerings/vps-1`, { monthly_price: 6 + i }));
    all = (await h.db.query<{ id: string }>(`SELECT id FROM audit_events WHERE provider_pubkey = $1 ORDER BY id DESC`, [p.publicKey])).rows.map((r) => Number(r.id));
    assert.equal(all.length, 24);
  });

  test('before pages back newest first, every row once, next_before null at the end', async () => {
    const seen: number[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const r: Res = await mustOk(call(h, p, 'GET', `${base(p)}/audit?limit=7${before === null ? '' : `&before=${before}`}`));
      seen.push(...r.body.items.map((x: Row) => x.id));
      before = r.body.next_before;
      pages++;
    } while (before !== null);
    assert.deepEqual(seen, all);
    assert.equal(pages, 4);
  });

  test('after tails: the oldest rows newer than the cursor, answered newest first', async () => {
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const r: Res = await mustOk(call(h, p, 'GET', `${base(p)}/audit?limit=5&after=${after}`));
      const ids = r.body.items.map((x: Row) => x.id) as number[];
      if (ids.length === 0) break;
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
      seen.unshift(...ids);
      after = ids[0]!;
    }
    assert.deepEqual(seen, all);
  });

  test('kind filter', async () => {
    const r = await mustOk(call(h, p, 'GET', `${base(p)}/audit?kind=offering_updated&limit=500`));
    assert.equal(r.body.items.length, 22);
    assert.ok(r.body.items.every((x: Row) => x.kind === 'offering_updated'));
    assert.equal(r.body.next_before, null);
    const one = await mustOk(call(h, p, 'GET', `${base(p)}/audit?kind=pool_created`));
    assert.deepEqual(one.body.items.map((x: Row) => x.id), [all.at(-1)]);
  });

  test('bad queries are 400 in words', async () => {
    assertError(await call(h, p, 'GET', `${base(p)}/audit?limit=501`), 400);
    assertError(await call(h, p, 'GET', `${base(p)}/audit?kind=nope`), 400);
    const both = await call(h, p, 'GET', `${base(p)}/audit?before=5&after=1`);
    assertError(both, 400);
    assert.match(both.body.error.message, /either before or after/);
  });
});

describe('retention', () => {
  test('deletes only rows older than the retention', async () => {
    const { provider: p } = await providerWithPool(h);
    const pk = p.publicKey;
    for (const days of [400, 366, 364, 1]) {
      await h.db.query(
        `INSERT INTO audit_events (provider_pubkey, at, kind, actor_kind, actor_pubkey, subject_type, subject_id)
         VALUES ($1, now() - make_interval(days => $2), 'pool_updated', 'provider', $1, 'pool', $3)`,
        [pk, days, `d${days}`],
      );
    }
    // The sweeper's job, with DC_AUDIT_RETENTION_DAYS (365 by default).
    const job = jobs(h.server.ctx).find((j) => j.name === 'prune_audit')!;
    assert.equal(h.server.ctx.config.auditRetentionDays, 365);
    assert.ok((await job.run(h.server.ctx)) >= 2);
    assert.equal(await deleteOldAudit(h.db, 365), 0);
    const left = (await h.db.query<{ subject_id: string }>(`SELECT subject_id FROM audit_events WHERE provider_pubkey = $1 ORDER BY id`, [pk])).rows.map((r) => r.subject_id);
    assert.equal(left.length, 3);
    assert.deepEqual(left.slice(1), ['d364', 'd1']);
  });
});
