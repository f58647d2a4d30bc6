// Issue 13, the first hour of a new provider, server side: an offering without a pool or a type
// takes the type of the provider's oldest pool in its region (DESIGN.md v3), a PUT accepts the
// object GET returned (offerings and pools), and a CSV import reports every error of every row
// with the rule in words.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity } from '@dc/core/node';
import { assertError, base, call, mustOk, offeringInput, registerAgent, registeredProvider, startHarness, type Harness, type Res } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

async function pool(p: Identity, name: string, location: string, provisioner_type: string): Promise<string> {
  return (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name, location, provisioner_type }))).body.pool_id as string;
}
const create = (p: Identity, id: string, over: Record<string, unknown> = {}) => call(h, p, 'POST', `${base(p)}/offerings`, offeringInput(id, over));
const put = (p: Identity, id: string, body: unknown) => call(h, p, 'PUT', `${base(p)}/offerings/${id}`, body);
const get = async (p: Identity, id: string) => (await mustOk(call(h, p, 'GET', `${base(p)}/offerings/${id}`))).body;
const importCsv = (p: Identity, text: string) => call(h, p, 'POST', `${base(p)}/offerings/import`, text, { contentType: 'text/csv' });

async function auditCount(p: Identity, kind: string): Promise<number> {
  const r = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE provider_pubkey = $1 AND kind = $2`, [p.publicKey, kind]);
  return r.rows[0]!.n;
}

describe('routing default: an offering without a pool or a type', () => {
  test('takes the type of the provider\'s oldest pool in its region, and routes there', async () => {
    const p = await registeredProvider(h);
    const none = await mustOk(create(p, 'no-pools'));
    assert.equal(none.body.provisioner_type, 'proxmox', 'no pool anywhere: proxmox');

    const euScript = await pool(p, 'eu-script', 'europe', 'script');
    await pool(p, 'eu-proxmox', 'europe', 'proxmox');
    const apacManual = await pool(p, 'apac-manual', 'apac', 'manual');
    const de = await mustOk(create(p, 'de-default'));
    assert.deepEqual([de.body.provisioner_type, de.body.resolved_pool_id, de.body.pool_match], ['script', euScript, 'location']);
    const jp = await mustOk(create(p, 'jp-default', { datacenter_country: 'jp' }));
    assert.deepEqual([jp.body.provisioner_type, jp.body.resolved_pool_id, jp.body.pool_match], ['manual', apacManual, 'location']);
    // No pool in the region: proxmox, and it routes nowhere (the dashboard warns).
    const us = await mustOk(create(p, 'us-default', { datacenter_country: 'US' }));
    assert.deepEqual([us.body.provisioner_type, us.body.pool_match], ['proxmox', 'none']);
    // The offering created before any pool keeps its type.
    assert.equal((await get(p, 'no-pools')).provisioner_type, 'proxmox');
  });

  test('"oldest" is by created_at, then pool_id; another provider\'s pools do not count', async () => {
    const p = await registeredProvider(h);
    const other = await registeredProvider(h);
    const foreign = await pool(other, 'old-manual', 'na', 'manual');
    // created_at is moved with SQL (the API never changes it); offerings created afterwards route by it.
    await h.db.query(`UPDATE agent_pools SET created_at = now() - interval '10 days' WHERE pool_id = $1`, [foreign]);
    const first = await pool(p, 'na-proxmox', 'na', 'proxmox');
    const later = await pool(p, 'na-script', 'na', 'script');
    assert.equal((await mustOk(create(p, 'a', { datacenter_country: 'US' }))).body.provisioner_type, 'proxmox');

    // Backdated: the script pool is now the older one.
    await h.db.query(`UPDATE agent_pools SET created_at = now() - interval '1 day' WHERE pool_id = $1`, [later]);
    const b = await mustOk(create(p, 'b', { datacenter_country: 'CA' }));
    assert.deepEqual([b.body.provisioner_type, b.body.resolved_pool_id], ['script', later]);

    // Same created_at: the smaller pool_id wins.
    await h.db.query(`UPDATE agent_pools SET created_at = '2024-01-01T00:00:00Z' WHERE pool_id = ANY($1::text[])`, [[first, later]]);
    const [winner, loser] = [first, later].sort();
    const expected = winner === first ? 'proxmox' : 'script';
    const c = await mustOk(create(p, 'c', { datacenter_country: 'MX' }));
    assert.deepEqual([c.body.provisioner_type, c.body.resolved_pool_id], [expected, winner], `tie between ${winner} and ${loser}`);
  });

  test('an explicit type or pool wins over the region default', async () => {
    const p = await registeredProvider(h);
    await pool(p, 'eu-script', 'europe', 'script');
    const euManual = await pool(p, 'eu-manual', 'europe', 'manual');
    const typed = await mustOk(create(p, 'typed', { provisioner_type: 'proxmox' }));
    assert.deepEqual([typed.body.provisioner_type, typed.body.pool_match], ['proxmox', 'none']);
    const pinned = await mustOk(create(p, 'pinned', { agent_pool_id: euManual }));
    assert.deepEqual([pinned.body.provisioner_type, pinned.body.pool_match], ['manual', 'explicit']);
  });

  test('PUT: moving to another region or leaving the pool without a type re-derives it; other changes keep it', async () => {
    const p = await registeredProvider(h);
    const euScript = await pool(p, 'eu-script', 'europe', 'script');
    const naManual = await pool(p, 'na-manual', 'na', 'manual');
    await mustOk(create(p, 'o'));
    assert.equal((await get(p, 'o')).provisioner_type, 'script');

    const renamed = await mustOk(put(p, 'o', { name: 'Renamed', datacenter_country: 'FR' }));
    assert.deepEqual([renamed.body.provisioner_type, renamed.body.resolved_pool_id], ['script', euScript], 'same region: the type stays');

    const moved = await mustOk(put(p, 'o', { datacenter_country: 'US' }));
    assert.deepEqual([moved.body.provisioner_type, moved.body.resolved_pool_id, moved.body.pool_match], ['manual', naManual, 'location']);

    const typed = await mustOk(put(p, 'o', { datacenter_country: 'DE', provisioner_type: 'proxmox' }));
    assert.deepEqual([typed.body.provisioner_type, typed.body.pool_match], ['proxmox', 'none'], 'a type in the body is kept');

    const pinned = await mustOk(put(p, 'o', { agent_pool_id: euScript }));
    assert.equal(pinned.body.provisioner_type, 'script', 're-pointing adopts the pool\'s type');
    const moveWhilePinned = await mustOk(put(p, 'o', { datacenter_country: 'CA' }));
    assert.deepEqual([moveWhilePinned.body.provisioner_type, moveWhilePinned.body.resolved_pool_id], ['script', euScript], 'a pinned offering keeps its pool\'s type');
    const unpinned = await mustOk(put(p, 'o', { agent_pool_id: null }));
    assert.deepEqual([unpinned.body.provisioner_type, unpinned.body.resolved_pool_id, unpinned.body.pool_match], ['manual', naManual, 'location']);
  });

  test('CSV rows with an empty provisioner_type take the region default; a type or a pool in the row wins', async () => {
    const p = await registeredProvider(h);
    const euScript = await pool(p, 'eu-script', 'europe', 'script');
    const apacManual = await pool(p, 'apac-manual', 'apac', 'manual');
    const csv = [
      'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id',
      'c-de,DE,compute,DE,5,EUR,,',
      'c-jp,JP,compute,JP,5,EUR,,',
      'c-br,BR,compute,BR,5,EUR,,',
      'c-typed,Typed,compute,DE,5,EUR,proxmox,',
      `c-pinned,Pinned,compute,US,5,EUR,,${apacManual}`,
    ].join('\n');
    const r = await importCsv(p, csv);
    assert.equal(r.status, 200, r.text);
    const items = (await mustOk(call(h, p, 'GET', `${base(p)}/offerings`))).body.items as any[];
    const by = Object.fromEntries(items.map((o) => [o.offering_id, [o.provisioner_type, o.resolved_pool_id]]));
    assert.deepEqual(by, {
      'c-de': ['script', euScript],
      'c-jp': ['manual', apacManual],
      'c-br': ['proxmox', null],
      'c-typed': ['proxmox', null],
      'c-pinned': ['manual', apacManual],
    });
  });
});

describe('offering round trip: PUT accepts what GET returned', () => {
  async function setup(): Promise<{ p: Identity; poolId: string; got: any }> {
    const p = await registeredProvider(h);
    const poolId = await pool(p, 'eu', 'europe', 'proxmox');
    await mustOk(create(p, 'rt', { provisioner_config: { template_vmid: 9000, storage: 'local-lvm', nested: { b: 1, a: [1, 2] } } }));
    return { p, poolId, got: await get(p, 'rt') };
  }

  test('GET → PUT unchanged is 200 and changes nothing (not even updated_at; no audit record)', async () => {
    const { p, got } = await setup();
    assert.ok('resolved_pool_id' in got && 'datacenter_region' in got && 'pool_match' in got && 'created_at' in got);
    const audits = await auditCount(p, 'offering_updated');
    const r = await put(p, 'rt', got);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, got);
    assert.deepEqual(await get(p, 'rt'), got);
    assert.equal(await auditCount(p, 'offering_updated'), audits);
  });

  test('GET → edit → PUT changes the edited fields; stale derived fields of the old values are accepted', async () => {
    const { p, poolId, got } = await setup();
    const audits = await auditCount(p, 'offering_updated');
    const renamed = await mustOk(put(p, 'rt', { ...got, name: 'Renamed', monthly_price: 7.5 }));
    assert.equal(await auditCount(p, 'offering_updated'), audits + 1);
    const detail = await h.db.query<{ detail: unknown }>(`SELECT detail FROM audit_events WHERE provider_pubkey = $1 AND kind = 'offering_updated' ORDER BY id DESC LIMIT 1`, [p.publicKey]);
    assert.deepEqual(detail.rows[0]!.detail, { fields: ['name', 'monthly_price'] }, 'the audit names the fields that changed, not every field sent');
    assert.equal(renamed.body.name, 'Renamed');
    assert.equal(renamed.body.monthly_price, 7.5);
    assert.ok(Date.parse(renamed.body.updated_at) >= Date.parse(got.updated_at));
    for (const k of ['datacenter_region', 'resolved_pool_id', 'pool_match', 'created_at', 'provisioner_config']) assert.deepEqual(renamed.body[k], got[k], k);

    // A new country: the region and the route follow it; the copy still says europe/eu pool.
    const moved = await mustOk(put(p, 'rt', { ...got, datacenter_country: 'US' }));
    assert.deepEqual([moved.body.datacenter_region, moved.body.resolved_pool_id, moved.body.pool_match], ['na', null, 'none']);
    // And a copy that matches the result (what a careful client sends) is accepted too.
    const back = await mustOk(put(p, 'rt', { ...moved.body, datacenter_country: 'DE', datacenter_region: 'europe', resolved_pool_id: poolId, pool_match: 'location' }));
    assert.deepEqual([back.body.datacenter_region, back.body.resolved_pool_id], ['europe', poolId]);
  });

  test('a read-only field that contradicts the path or the offering is 400 naming it, and nothing changes', async () => {
    const { p, got } = await setup();
    const cases: [string, unknown, RegExp][] = [
      ['offering_id', 'other', /offering_id.*"other".*"rt"/],
      ['provider_pubkey', 'f'.repeat(64), /provider_pubkey/],
      ['datacenter_region', 'apac', /datacenter_region.*datacenter_country/],
      ['resolved_pool_id', 'some-other-pool', /resolved_pool_id.*agent_pool_id/],
      ['pool_match', 'explicit', /pool_match/],
      ['created_at', '2020-01-01T00:00:00.000Z', /created_at/],
      ['updated_at', 12, /updated_at/],
    ];
    for (const [field, value, message] of cases) {
      const r = await put(p, 'rt', { ...got, name: 'Should not stick', [field]: value });
      assertError(r, 400, 'invalid_input');
      assert.match(r.body.error.message, message, `${field}: ${r.text}`);
      assert.doesNotMatch(r.body.error.message, /\^|\[a-z/, 'no regular expression in the message');
    }
    assert.deepEqual(await get(p, 'rt'), got);
  });

  test('validation stays strict: an unknown field is still 400; only read-only fields leave nothing to set', async () => {
    const { p, got } = await setup();
    const unknown = await put(p, 'rt', { ...got, colour: 'red' });
    assertError(unknown, 400, 'invalid_input');
    assert.match(unknown.body.error.message, /colour/);
    const onlyReadOnly = await put(p, 'rt', { offering_id: 'rt', datacenter_region: got.datacenter_region });
    assertError(onlyReadOnly, 400, 'invalid_input');
    assert.match(onlyReadOnly.body.error.message, /only read-only fields \(offering_id, datacenter_region\); it must set at least one of: name, /);
    assert.deepEqual(await get(p, 'rt'), got);
    // created_at in another notation of the same instant is the same value.
    const sameInstant = await put(p, 'rt', { ...got, created_at: new Date(got.created_at).toISOString().replace('Z', '+00:00') });
    assert.equal(sameInstant.status, 200, sameInstant.text);
  });
});

describe('pool round trip: PUT accepts what GET returned', () => {
  async function setup(): Promise<{ p: Identity; poolId: string; got: any }> {
    const p = await registeredProvider(h);
    const poolId = await pool(p, 'rt-pool', 'europe', 'proxmox');
    await registerAgent(h, p, poolId, 'agent one');
    await mustOk(create(p, 'on-pool'));
    const got = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}`))).body;
    assert.equal(got.agents.length, 1);
    return { p, poolId, got };
  }
  const settable = (x: any) => ({ name: x.name, location: x.location, provisioner_type: x.provisioner_type, created_at: x.created_at });

  test('GET → PUT unchanged is 200 and changes nothing; GET → edit → PUT changes the edit', async () => {
    const { p, poolId, got } = await setup();
    const r: Res = await call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, got);
    assert.equal(r.status, 200, r.text);
    const again = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}`))).body;
    assert.deepEqual(settable(again), settable(got));
    // Live counts in the copy are ignored whatever they say (they move between GET and PUT).
    const edited = await call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, { ...got, name: 'renamed', agents_count: 99, waiting: 7, agents: [] });
    assert.equal(edited.status, 200, edited.text);
    assert.equal(edited.body.name, 'renamed');
    assert.equal(edited.body.agents_count, 1);
  });

  test('pool_id, provider_pubkey or created_at contradicting the path or the pool is 400, and nothing changes', async () => {
    const { p, poolId, got } = await setup();
    const cases: [string, unknown, RegExp][] = [
      ['pool_id', 'another-pool', /pool_id.*"another-pool".*path/],
      ['provider_pubkey', 'e'.repeat(64), /provider_pubkey/],
      ['created_at', '2020-01-01T00:00:00.000Z', /created_at/],
      ['created_at', 'yesterday', /created_at/],
    ];
    for (const [field, value, message] of cases) {
      const r = await call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, { ...got, name: 'should-not-stick', [field]: value });
      assertError(r, 400, 'invalid_input');
      assert.match(r.body.error.message, message, r.text);
    }
    const unknown = await call(h, p, 'PUT', `${base(p)}/pools/${poolId}`, { ...got, colour: 'red' });
    assertError(unknown, 400, 'invalid_input');
    assert.match(unknown.body.error.message, /colour/);
    const now = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${poolId}`))).body;
    assert.deepEqual(settable(now), settable(got));
    // A pool that does not exist is still 404, with or without a copied created_at.
    assertError(await call(h, p, 'PUT', `${base(p)}/pools/nope`, { ...got, pool_id: 'nope' }), 404);
  });
});

describe('CSV import: every error of every row, the rule in words', () => {
  const HEADER = 'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id,status,provisioner_config';

  function rowsOf(r: Res): { line: number; field: string | null; message: string }[] {
    assertError(r, 400, 'invalid_csv');
    return r.body.error.rows;
  }

  test('a row with several problems reports each one with its field and rule; nothing is imported', async () => {
    const p = await registeredProvider(h);
    const csv = [
      HEADER,
      'ok-1,Fine,compute,DE,5,EUR,,,,', // 2
      'bad-1,Bad,compute,XX,5.123,EUR,,,archived,', // 3: country, price, status
      'BAD 2,,compute,DE,abc,EURO,docker,no-such-pool,,{oops', // 4: id, name, price, currency, type, pool, config
      'ok-1,Dup,compute,DE,-1,EUR,,,,', // 5: duplicate id, negative price
    ].join('\n');
    const rows = rowsOf(await importCsv(p, csv));
    const got = rows.map((e) => `${e.line} ${e.field}: ${e.message}`);
    const expect = (line: number, field: string, message: RegExp) =>
      assert.ok(rows.some((e) => e.line === line && e.field === field && message.test(e.message)), `no ${line} ${field} ${message} in\n${got.join('\n')}`);
    expect(3, 'datacenter_country', /^an ISO 3166-1 alpha-2 country code such as DE or us; "XX" is not one$/);
    expect(3, 'monthly_price', /^at most two decimals \(got 5\.123\)$/);
    expect(3, 'status', /^active or inactive \(got "archived"\)$/);
    expect(4, 'offering_id', /^1–64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit \(got "BAD 2"\)$/);
    expect(4, 'name', /^required \(the cell is empty\)/);
    expect(4, 'monthly_price', /^a price of at least 0 with at most two decimals \(got "abc"\)$/);
    expect(4, 'currency', /^a three-letter currency code such as EUR \(got "EURO"\)$/);
    expect(4, 'provisioner_type', /^proxmox, script or manual \(got "docker"\)$/);
    expect(4, 'agent_pool_id', /"no-such-pool" does not exist/);
    expect(4, 'provisioner_config', /JSON object/);
    expect(5, 'offering_id', /"ok-1" is already on line 2/);
    expect(5, 'monthly_price', /^at least 0 \(got -1\)$/);
    assert.deepEqual(rows.filter((e) => e.line === 3).map((e) => e.field), ['datacenter_country', 'monthly_price', 'status'], 'a row\'s errors in column order');
    assert.equal(rows.filter((e) => e.line === 4).length, 7, got.join('\n'));
    assert.equal(rows.filter((e) => e.line === 5).length, 2, got.join('\n'));
    assert.deepEqual(rows.map((e) => e.line), [...rows.map((e) => e.line)].sort((a, b) => a - b), 'in file order');
    for (const e of rows) assert.doesNotMatch(e.message, /\^|\$\)|\[A-Z|\{0,/, `a rule in words, not a pattern: ${e.message}`);
    assert.equal((await mustOk(call(h, p, 'GET', `${base(p)}/offerings`))).body.total, 0, 'all-or-nothing');
  });

  test('the message counts every error and spells out the first ones', async () => {
    const p = await registeredProvider(h);
    const bad = Array.from({ length: 8 }, (_, i) => `b-${i},B,compute,XX,5,EUR,,,,`);
    const r = await importCsv(p, [HEADER, ...bad].join('\n'));
    const rows = rowsOf(r);
    assert.equal(rows.length, 8);
    assert.match(r.body.error.message, /^8 error\(s\) in 8 row\(s\); nothing was imported\. line 2, datacenter_country: an ISO 3166-1 alpha-2 country code/);
    assert.match(r.body.error.message, /and 3 more/);
  });

  test('a type mismatch with an explicit pool is reported with the pool\'s type', async () => {
    const p = await registeredProvider(h);
    const script = await pool(p, 'eu-script', 'europe', 'script');
    const rows = rowsOf(await importCsv(p, [HEADER, `m-1,M,compute,DE,5,EUR,manual,${script},,`].join('\n')));
    assert.deepEqual(rows.map((e) => [e.line, e.field]), [[2, 'provisioner_type']]);
    assert.match(rows[0]!.message, /is a script pool, not manual/);
  });
});
