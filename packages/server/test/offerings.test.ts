// Offerings API (DESIGN.md "Context" → offerings): CRUD, field rules, pool resolution fields,
// list filters and pagination, and the delete guard for unfinished contracts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import { call, mustOk, offeringInput, providerWithPool, registeredProvider, startHarness, type Harness, type Res, base, assertError } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});



async function create(p: Identity, id: string, over: Record<string, unknown> = {}): Promise<Res> {
  return call(h, p, 'POST', `${base(p)}/offerings`, offeringInput(id, over));
}

async function pool(p: Identity, name: string, location: string, provisioner_type: string): Promise<string> {
  const r = await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name, location, provisioner_type }));
  return r.body.pool_id as string;
}

async function list(p: Identity, query = ''): Promise<{ items: any[]; total: number }> {
  const r = await mustOk(call(h, p, 'GET', `${base(p)}/offerings${query}`));
  return r.body;
}
const ids = (items: { offering_id: string }[]) => items.map((o) => o.offering_id);

describe('offering CRUD', () => {
  test('create answers 201 with every DESIGN.md field, and GET returns the same offering', async () => {
    const { provider, poolId } = await providerWithPool(h);
    const r = await create(provider, 'vps-s-eu', { name: 'VPS Small', product_type: 'compute', monthly_price: 4.99 });
    assert.equal(r.status, 201, r.text);
    const o = r.body;
    assert.equal(o.offering_id, 'vps-s-eu');
    assert.equal(o.provider_pubkey, provider.publicKey);
    assert.equal(o.name, 'VPS Small');
    assert.equal(o.product_type, 'compute');
    assert.equal(o.datacenter_country, 'DE');
    assert.equal(o.datacenter_region, 'europe');
    assert.equal(o.monthly_price, 4.99);
    assert.equal(o.currency, 'EUR');
    assert.equal(o.provisioner_type, 'proxmox');
    assert.equal(o.provisioner_config, null);
    assert.equal(o.agent_pool_id, null);
    assert.equal(o.resolved_pool_id, poolId);
    assert.equal(o.pool_match, 'location');
    assert.equal(o.status, 'active');
    assert.match(o.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.match(o.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const g = await call(h, provider, 'GET', `${base(provider)}/offerings/vps-s-eu`);
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.body, o);
  });

  test('provisioner_config is stored as JSON and returned as the same object', async () => {
    const provider = await registeredProvider(h);
    const cfg = { template_vmid: 9000, storage: 'local-lvm', tags: ['a', 'b'], nested: { on: true, ratio: 0.5 } };
    const r = await mustOk(create(provider, 'cfg-1', { provisioner_config: cfg }));
    assert.deepEqual(r.body.provisioner_config, cfg);
    const arr = await create(provider, 'cfg-2', { provisioner_config: [1, 2] });
    assertError(arr, 400);
    const str = await create(provider, 'cfg-3', { provisioner_config: '{"a":1}' });
    assertError(str, 400);
  });

  test('PUT is a partial update: fields not sent keep their values', async () => {
    const { provider, poolId } = await providerWithPool(h);
    const created = (await mustOk(create(provider, 'part-1', { name: 'Before', provisioner_config: { a: 1 } }))).body;

    const r1 = await call(h, provider, 'PUT', `${base(provider)}/offerings/part-1`, { name: 'After' });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.body.name, 'After');
    for (const k of ['product_type', 'datacenter_country', 'datacenter_region', 'monthly_price', 'currency', 'provisioner_type', 'provisioner_config', 'agent_pool_id', 'status', 'created_at', 'resolved_pool_id', 'pool_match']) {
      assert.deepEqual(r1.body[k], created[k], `field ${k} changed`);
    }
    assert.ok(Date.parse(r1.body.updated_at) >= Date.parse(created.updated_at));

    const r2 = await mustOk(call(h, provider, 'PUT', `${base(provider)}/offerings/part-1`, { monthly_price: 12.5, status: 'inactive' }));
    assert.equal(r2.body.monthly_price, 12.5);
    assert.equal(r2.body.status, 'inactive');
    assert.equal(r2.body.name, 'After');

    // null clears the config; an explicit pool, then null again, goes back to location routing.
    const r3 = await mustOk(call(h, provider, 'PUT', `${base(provider)}/offerings/part-1`, { provisioner_config: null, agent_pool_id: poolId }));
    assert.equal(r3.body.provisioner_config, null);
    assert.equal(r3.body.agent_pool_id, poolId);
    assert.equal(r3.body.pool_match, 'explicit');
    const r4 = await mustOk(call(h, provider, 'PUT', `${base(provider)}/offerings/part-1`, { agent_pool_id: null }));
    assert.equal(r4.body.agent_pool_id, null);
    assert.equal(r4.body.resolved_pool_id, poolId);
    assert.equal(r4.body.pool_match, 'location');

    const g = await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/part-1`));
    assert.deepEqual(g.body, r4.body);
  });

  test('PUT with an empty body, an unknown field or offering_id is 400; PUT of an unknown offering is 404', async () => {
    const provider = await registeredProvider(h);
    await mustOk(create(provider, 'put-1'));
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/put-1`, {}), 400);
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/put-1`, { colour: 'red' }), 400);
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/put-1`, { offering_id: 'other' }), 400);
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/put-1`, { datacenter_country: 'XX' }), 400);
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/nope`, { name: 'x' }), 404);
    assert.equal((await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/put-1`))).body.datacenter_country, 'DE');
  });

  test('DELETE removes the offering (204); afterwards GET and DELETE are 404', async () => {
    const provider = await registeredProvider(h);
    await mustOk(create(provider, 'del-1'));
    const d = await call(h, provider, 'DELETE', `${base(provider)}/offerings/del-1`);
    assert.equal(d.status, 204, d.text);
    assertError(await call(h, provider, 'GET', `${base(provider)}/offerings/del-1`), 404);
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/offerings/del-1`), 404);
    assert.equal((await list(provider)).total, 0);
  });

  test('creating an offering before registering the provider is a 4xx, not a 500', async () => {
    const stranger = generateIdentity();
    const r = await create(stranger, 'x-1');
    assert.ok(r.status >= 400 && r.status < 500, r.text);
    assertError(r, r.status);
  });
});

describe('offering field rules', () => {
  test('datacenter_country is accepted in any case, stored upper case, and sets datacenter_region', async () => {
    const provider = await registeredProvider(h);
    const cases: [string, string, string][] = [
      ['de', 'DE', 'europe'],
      ['uS', 'US', 'na'],
      ['Br', 'BR', 'latam'],
      ['jp', 'JP', 'apac'],
      ['ae', 'AE', 'mena'],
      ['ng', 'NG', 'ssa'],
      ['kz', 'KZ', 'cis'],
      ['CR', 'CR', 'na'],
      ['eg', 'EG', 'mena'],
      ['tr', 'TR', 'mena'],
    ];
    for (const [i, [input, stored, region]] of cases.entries()) {
      const r = await mustOk(create(provider, `cc-${i}`, { datacenter_country: input }));
      assert.equal(r.body.datacenter_country, stored, input);
      assert.equal(r.body.datacenter_region, region, input);
    }
  });

  test('an unknown country code like XX is 400 naming datacenter_country', async () => {
    const provider = await registeredProvider(h);
    for (const bad of ['XX', 'xx', 'ZZ', 'D1', 'DEU', 'd', '', 'ÄÖ']) {
      const r = await create(provider, 'bad-cc', { datacenter_country: bad });
      assertError(r, 400);
      assert.match(r.body.error.message, /datacenter_country/, `${bad}: ${r.text}`);
    }
    assert.equal((await list(provider)).total, 0);
  });

  test('monthly_price is a JSON number with at most two decimals: 3 decimals, a string or a negative is 400', async () => {
    const provider = await registeredProvider(h);
    for (const [i, bad] of ([5.123, '5', '5.00', -1, 0.001, null, true, 1e12] as unknown[]).entries()) {
      const r = await create(provider, `price-bad-${i}`, { monthly_price: bad });
      assertError(r, 400);
      assert.match(r.body.error.message, /monthly_price/, `${String(bad)}: ${r.text}`);
    }
    for (const [i, good] of [0, 5, 5.1, 5.12, 0.07, 9999999999, 1234567.89].entries()) {
      const r = await mustOk(create(provider, `price-ok-${i}`, { monthly_price: good }));
      assert.equal(r.body.monthly_price, good);
    }
  });

  test('currency is three letters in any case, stored upper case', async () => {
    const provider = await registeredProvider(h);
    const r = await mustOk(create(provider, 'cur-1', { currency: 'usd' }));
    assert.equal(r.body.currency, 'USD');
    for (const bad of ['EURO', 'EU', 'E1R', '', 5]) {
      const b = await create(provider, 'cur-bad', { currency: bad });
      assertError(b, 400);
      assert.match(b.body.error.message, /currency/, b.text);
    }
  });

  test('offering_id must match [a-z0-9][a-z0-9._-]{0,63}', async () => {
    const provider = await registeredProvider(h);
    for (const good of ['a', '0', 'a._-9', 'x'.repeat(64)]) {
      const r = await create(provider, good);
      assert.equal(r.status, 201, `${good}: ${r.text}`);
    }
    for (const bad of ['A1', '-a', '.a', '_a', 'x'.repeat(65), 'a b', 'a/b', 'ä', '']) {
      assertError(await create(provider, bad), 400);
    }
  });

  test('an unknown body field, a missing required field or a wrong status is 400', async () => {
    const provider = await registeredProvider(h);
    assertError(await create(provider, 'uf-1', { colour: 'red' }), 400);
    const missing = offeringInput('uf-2');
    delete missing.name;
    assertError(await call(h, provider, 'POST', `${base(provider)}/offerings`, missing), 400);
    assertError(await create(provider, 'uf-3', { status: 'archived' }), 400);
    assertError(await create(provider, 'uf-4', { provisioner_type: 'docker' }), 400);
    assertError(await create(provider, 'uf-5', { name: '' }), 400);
    assertError(await create(provider, 'uf-6', { name: 'line\nbreak' }), 400);
    assert.equal((await list(provider)).total, 0);
  });

  test('provisioner_type defaults to the explicit pool\'s type, else the region\'s oldest pool\'s, else proxmox', async () => {
    const provider = await registeredProvider(h);
    const scriptPool = await pool(provider, 'eu-script', 'europe', 'script');
    const manualPool = await pool(provider, 'na-manual', 'na', 'manual');
    const a = await mustOk(create(provider, 'pt-1', { agent_pool_id: scriptPool }));
    assert.equal(a.body.provisioner_type, 'script');
    const b = await mustOk(create(provider, 'pt-2', { agent_pool_id: manualPool, datacenter_country: 'DE' }));
    assert.equal(b.body.provisioner_type, 'manual');
    assert.equal(b.body.resolved_pool_id, manualPool);
    // No pool named: the type of the oldest pool in the offering's region (v3), else proxmox.
    const c = await mustOk(create(provider, 'pt-3'));
    assert.equal(c.body.provisioner_type, 'script');
    const c2 = await mustOk(create(provider, 'pt-5', { datacenter_country: 'BR' }));
    assert.equal(c2.body.provisioner_type, 'proxmox');
    const d = await mustOk(create(provider, 'pt-4', { provisioner_type: 'script', agent_pool_id: scriptPool }));
    assert.equal(d.body.provisioner_type, 'script');

    // Re-pointing an existing offering to a pool without naming a type adopts the pool's type.
    const e = await mustOk(call(h, provider, 'PUT', `${base(provider)}/offerings/pt-3`, { agent_pool_id: manualPool }));
    assert.equal(e.body.provisioner_type, 'manual');
    assert.equal(e.body.pool_match, 'explicit');
  });

  test('an explicit pool of another provisioner type is 400 pool_type_mismatch (create and update)', async () => {
    const provider = await registeredProvider(h);
    const scriptPool = await pool(provider, 'eu-script', 'europe', 'script');
    assertError(await create(provider, 'mm-1', { agent_pool_id: scriptPool, provisioner_type: 'proxmox' }), 400, 'pool_type_mismatch');
    await mustOk(create(provider, 'mm-2', { agent_pool_id: scriptPool }));
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/mm-2`, { provisioner_type: 'manual' }), 400, 'pool_type_mismatch');
    await mustOk(create(provider, 'mm-3', { provisioner_type: 'manual' }));
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/mm-3`, { agent_pool_id: scriptPool, provisioner_type: 'manual' }), 400, 'pool_type_mismatch');
    const still = await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/mm-2`));
    assert.equal(still.body.provisioner_type, 'script');
    assertError(await call(h, provider, 'GET', `${base(provider)}/offerings/mm-1`), 404);
  });

  test('an unknown pool or another provider\'s pool is 400 unknown_pool', async () => {
    const provider = await registeredProvider(h);
    const other = await providerWithPool(h);
    const r1 = await create(provider, 'up-1', { agent_pool_id: 'no-such-pool' });
    assertError(r1, 400, 'unknown_pool');
    assert.match(r1.body.error.message, /agent_pool_id/);
    assertError(await create(provider, 'up-2', { agent_pool_id: other.poolId }), 400, 'unknown_pool');
    await mustOk(create(provider, 'up-3'));
    assertError(await call(h, provider, 'PUT', `${base(provider)}/offerings/up-3`, { agent_pool_id: other.poolId }), 400, 'unknown_pool');
    assert.equal((await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/up-3`))).body.agent_pool_id, null);
  });

  test('a duplicate offering_id is 409 offering_exists; another provider may use the same id', async () => {
    const provider = await registeredProvider(h);
    const other = await registeredProvider(h);
    await mustOk(create(provider, 'dup-1', { name: 'First' }));
    assertError(await create(provider, 'dup-1', { name: 'Second' }), 409, 'offering_exists');
    assert.equal((await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/dup-1`))).body.name, 'First');
    await mustOk(create(other, 'dup-1'));
  });

  test('concurrent creates of one offering_id: exactly one 201, the others 409, and the winner\'s data stays', async () => {
    const provider = await registeredProvider(h);
    for (let round = 0; round < 5; round++) {
      const id = `race-${round}`;
      const results = await Promise.all([0, 1, 2, 3].map((k) => create(provider, id, { name: `writer ${k}` })));
      const winners = results.filter((r) => r.status === 201);
      assert.equal(winners.length, 1, results.map((r) => `${r.status} ${r.text}`).join('\n'));
      for (const r of results) if (r.status !== 201) assertError(r, 409, 'offering_exists');
      const stored = await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/${id}`));
      assert.equal(stored.body.name, winners[0]!.body.name);
    }
  });
});

describe('pool resolution fields', () => {
  test('every offering carries datacenter_region, resolved_pool_id and pool_match explicit|location|none', async () => {
    const { provider, poolId: euPool } = await providerWithPool(h);
    const naScript = await pool(provider, 'na-script', 'na', 'script');
    await mustOk(create(provider, 'r-explicit', { datacenter_country: 'JP', agent_pool_id: naScript }));
    await mustOk(create(provider, 'r-location', { datacenter_country: 'fr' }));
    await mustOk(create(provider, 'r-none', { datacenter_country: 'BR' }));
    await mustOk(create(provider, 'r-none-type', { datacenter_country: 'DE', provisioner_type: 'manual' }));
    const expected: Record<string, [string, string | null, string]> = {
      'r-explicit': ['apac', naScript, 'explicit'],
      'r-location': ['europe', euPool, 'location'],
      'r-none': ['latam', null, 'none'],
      'r-none-type': ['europe', null, 'none'],
    };
    const { items } = await list(provider);
    assert.deepEqual(ids(items), Object.keys(expected).sort());
    for (const o of items) {
      const [region, resolved, match] = expected[o.offering_id]!;
      assert.equal(o.datacenter_region, region, o.offering_id);
      assert.equal(o.resolved_pool_id, resolved, o.offering_id);
      assert.equal(o.pool_match, match, o.offering_id);
      const one = await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/${o.offering_id}`));
      assert.deepEqual(one.body, o);
    }
  });
});

describe('offering list', () => {
  test('filters by resolved pool_id, product_type and status; inactive offerings are included by default', async () => {
    const { provider, poolId: eu } = await providerWithPool(h);
    const na = await pool(provider, 'na-script', 'na', 'script');
    await mustOk(create(provider, 'eu-a', { datacenter_country: 'DE', product_type: 'compute' }));
    await mustOk(create(provider, 'eu-b', { datacenter_country: 'FR', product_type: 'dedicated', status: 'inactive' }));
    await mustOk(create(provider, 'us-s', { datacenter_country: 'US', provisioner_type: 'script', product_type: 'compute' }));
    await mustOk(create(provider, 'ex-na', { datacenter_country: 'DE', agent_pool_id: na, product_type: 'dedicated' }));
    await mustOk(create(provider, 'jp-none', { datacenter_country: 'JP', product_type: 'compute' }));

    const all = await list(provider);
    assert.deepEqual(ids(all.items), ['eu-a', 'eu-b', 'ex-na', 'jp-none', 'us-s']);
    assert.equal(all.total, 5);

    const byEu = await list(provider, `?pool_id=${eu}`);
    assert.deepEqual(ids(byEu.items), ['eu-a', 'eu-b']);
    assert.equal(byEu.total, 2);
    // ex-na is in Germany, but explicitly routed to the na pool: the filter is the RESOLVED pool.
    const byNa = await list(provider, `?pool_id=${na}`);
    assert.deepEqual(ids(byNa.items), ['ex-na', 'us-s']);
    assert.deepEqual(ids((await list(provider, '?pool_id=unknown-pool')).items), []);

    assert.deepEqual(ids((await list(provider, '?product_type=dedicated')).items), ['eu-b', 'ex-na']);
    assert.deepEqual(ids((await list(provider, '?status=inactive')).items), ['eu-b']);
    assert.deepEqual(ids((await list(provider, '?status=active')).items), ['eu-a', 'ex-na', 'jp-none', 'us-s']);
    const combined = await list(provider, `?pool_id=${eu}&status=active&product_type=compute`);
    assert.deepEqual(ids(combined.items), ['eu-a']);
    assert.equal(combined.total, 1);
    assertError(await call(h, provider, 'GET', `${base(provider)}/offerings?status=archived`), 400);
  });

  test('q is a case-insensitive substring of id and name, with % and _ taken literally', async () => {
    const provider = await registeredProvider(h);
    await mustOk(create(provider, 'promo-1', { name: 'Summer 50% Off' }));
    await mustOk(create(provider, 'promo-2', { name: 'Plain 50 Off' }));
    await mustOk(create(provider, 'web_1', { name: 'Web one' }));
    await mustOk(create(provider, 'webx1', { name: 'Web x' }));
    await mustOk(create(provider, 'back', { name: 'C:\\path' }));
    const q = async (s: string) => ids((await list(provider, `?q=${encodeURIComponent(s)}`)).items);
    assert.deepEqual(await q('50%'), ['promo-1']);
    assert.deepEqual(await q('%'), ['promo-1']);
    assert.deepEqual(await q('_'), ['web_1']);
    assert.deepEqual(await q('b_1'), ['web_1']);
    assert.deepEqual(await q('WEB'), ['web_1', 'webx1']);
    assert.deepEqual(await q('summer'), ['promo-1']);
    assert.deepEqual(await q('PROMO'), ['promo-1', 'promo-2']);
    assert.deepEqual(await q('50 OFF'), ['promo-2']);
    assert.deepEqual(await q('\\'), ['back']);
    assert.deepEqual(await q('nothing-like-this'), []);
    assert.deepEqual(await q(''), ['back', 'promo-1', 'promo-2', 'web_1', 'webx1']);
    const t = await list(provider, '?q=web&limit=1');
    assert.equal(t.total, 2);
    assert.deepEqual(ids(t.items), ['web_1']);
  });

  test('pagination: limit and offset over offerings ordered by offering_id, with total', async () => {
    const provider = await registeredProvider(h);
    const idsInOrder = ['a-1', 'a-2', 'b-1', 'c.x', 'c_y', 'd', 'z9'];
    for (const id of [...idsInOrder].reverse()) await mustOk(create(provider, id, { status: id === 'd' ? 'inactive' : 'active' }));
    const p1 = await list(provider, '?limit=3');
    assert.deepEqual(ids(p1.items), idsInOrder.slice(0, 3));
    assert.equal(p1.total, 7);
    const p2 = await list(provider, '?limit=3&offset=3');
    assert.deepEqual(ids(p2.items), idsInOrder.slice(3, 6));
    const p3 = await list(provider, '?limit=3&offset=6');
    assert.deepEqual(ids(p3.items), idsInOrder.slice(6));
    assert.equal(p3.total, 7);
    const past = await list(provider, '?offset=100');
    assert.deepEqual(past.items, []);
    assert.equal(past.total, 7);
    assert.deepEqual(ids((await list(provider, '?limit=500')).items), idsInOrder);
    for (const bad of ['limit=0', 'limit=501', 'limit=-1', 'limit=abc', 'limit=1.5', 'offset=-1', 'offset=x']) {
      assertError(await call(h, provider, 'GET', `${base(provider)}/offerings?${bad}`), 400);
    }
  });
});

describe('deleting offerings with contracts', () => {
  test('delete with unfinished contracts or live machines is 409 offering_in_use; allowed once all are finished', async () => {
    const { provider } = await providerWithPool(h);
    await mustOk(create(provider, 'busy'));
    const customer = generateIdentity();
    const newContract = async () => {
      const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'busy' }));
      return c.body.contract_id as string;
    };
    const setStatus = (id: string, status: string) =>
      h.db.query(`UPDATE contract_sign_requests SET status = $2 WHERE contract_id = $1`, [id, status]);

    const requested = await newContract();
    const r1 = await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`);
    assertError(r1, 409, 'offering_in_use');

    await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${requested}/accept`));
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`), 409, 'offering_in_use');
    for (const status of ['provisioning', 'provisioning_failed']) {
      await setStatus(requested, status);
      assertError(await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`), 409, 'offering_in_use');
    }
    // v3: a machine that exists (provisioned, being torn down) keeps its offering too.
    for (const status of ['provisioned', 'terminating', 'termination_failed']) {
      await setStatus(requested, status);
      assertError(await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`), 409, 'offering_in_use');
    }
    await setStatus(requested, 'terminated');

    const toReject = await newContract();
    const toCancel = await newContract();
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`), 409, 'offering_in_use');
    await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${toReject}/reject`));
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`), 409, 'offering_in_use');
    await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${toCancel}/cancel`));

    assert.equal((await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings/busy`))).body.offering_id, 'busy');
    const d = await call(h, provider, 'DELETE', `${base(provider)}/offerings/busy`);
    assert.equal(d.status, 204, d.text);
    // Finished contracts outlive their offering and stay readable.
    for (const id of [requested, toReject, toCancel]) {
      const c = await call(h, customer, 'GET', `/api/v1/contracts/${id}`);
      assert.equal(c.status, 200, c.text);
      assert.equal(c.body.offering_id, 'busy');
    }
    // A contract can no longer be requested for the deleted offering.
    const again = await call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'busy' });
    assertError(again, 404);
  });
});
