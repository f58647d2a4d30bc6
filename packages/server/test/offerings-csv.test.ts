// CSV import/export of offerings (DESIGN.md: POST /import is an all-or-nothing upsert with
// per-row errors; GET /export is CSV; CSV bodies may be 8 MiB, other bodies DC_BODY_LIMIT_BYTES).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import { call, mustOk, offeringInput, registeredProvider, startHarness, type Harness, type Res, base } from './helpers.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

const HEADER = 'offering_id,name,product_type,datacenter_country,monthly_price,currency';

function importCsv(p: Identity, text: string, contentType = 'text/csv'): Promise<Res> {
  return call(h, p, 'POST', `${base(p)}/offerings/import`, text, { contentType });
}

async function listAll(p: Identity): Promise<any[]> {
  return (await mustOk(call(h, p, 'GET', `${base(p)}/offerings?limit=500`))).body.items;
}

/** The offering without its timestamps: what an import must reproduce. */
function content(o: any): any {
  const { created_at: _c, updated_at: _u, ...rest } = o;
  return rest;
}

function expectCsvError(r: Res): { line: number; field: string | null; message: string }[] {
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body?.error?.code, 'invalid_csv', r.text);
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(Array.isArray(r.body.error.rows), `error.rows missing: ${r.text}`);
  for (const row of r.body.error.rows) {
    assert.equal(typeof row.line, 'number', r.text);
    assert.equal(typeof row.message, 'string', r.text);
    assert.ok(row.field === null || typeof row.field === 'string', r.text);
  }
  return r.body.error.rows;
}

describe('CSV import', () => {
  test('a valid file creates offerings and reports created/updated counts; a second import updates', async () => {
    const p = await registeredProvider(h);
    const csv = [HEADER, 'vps-1,VPS One,compute,de,5,eur', 'vps-2,VPS Two,compute,US,10.5,USD', 'ded-1,Dedicated,dedicated,JP,99.99,JPY', ''].join('\n');
    const r = await importCsv(p, csv);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { imported: 3, created: 3, updated: 0 });
    const items = await listAll(p);
    assert.deepEqual(items.map((o) => o.offering_id), ['ded-1', 'vps-1', 'vps-2']);
    const vps1 = items.find((o) => o.offering_id === 'vps-1');
    assert.equal(vps1.datacenter_country, 'DE');
    assert.equal(vps1.datacenter_region, 'europe');
    assert.equal(vps1.currency, 'EUR');
    assert.equal(vps1.provisioner_type, 'proxmox');
    assert.equal(vps1.status, 'active');
    assert.equal(items.find((o) => o.offering_id === 'vps-2').monthly_price, 10.5);

    const r2 = await importCsv(p, [HEADER, 'vps-1,VPS One Renamed,compute,DE,6,EUR', 'vps-3,VPS Three,compute,FR,7,EUR'].join('\n'));
    assert.equal(r2.status, 200, r2.text);
    assert.deepEqual(r2.body, { imported: 2, created: 1, updated: 1 });
    const after2 = await listAll(p);
    assert.equal(after2.length, 4);
    assert.equal(after2.find((o) => o.offering_id === 'vps-1').name, 'VPS One Renamed');
    assert.equal(after2.find((o) => o.offering_id === 'vps-1').monthly_price, 6);
    // Not in the file: left as it was (upsert, not replace).
    assert.equal(after2.find((o) => o.offering_id === 'ded-1').name, 'Dedicated');
  });

  test('one bad country on line 3 is 400 invalid_csv naming line 3 and datacenter_country, and nothing is imported', async () => {
    const p = await registeredProvider(h);
    await mustOk(call(h, p, 'POST', `${base(p)}/offerings`, offeringInput('existing', { name: 'Keep me' })));
    const before = await listAll(p);
    const csv = [HEADER, 'good-1,Good,compute,DE,5,EUR', 'bad-1,Bad,compute,XX,5,EUR', 'good-2,Good,compute,FR,5,EUR', 'existing,Changed,compute,DE,9,EUR'].join('\n');
    const rows = expectCsvError(await importCsv(p, csv));
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.line, 3);
    assert.equal(rows[0]!.field, 'datacenter_country');
    assert.match(rows[0]!.message, /XX/);
    assert.deepEqual(await listAll(p), before);
  });

  test('every bad row is reported with its line number, whatever the kind of error', async () => {
    const p = await registeredProvider(h);
    const csv = [
      HEADER, // line 1
      'ok-1,Fine,compute,DE,5,EUR', // 2
      'bad-price,Bad,compute,DE,5.123,EUR', // 3: three decimals
      'ok-2,Fine,compute,DE,5,EUR', // 4
      'bad-cc,Bad,compute,ZZ,5,EUR', // 5: unknown country (checked with the pools, after the schema)
      'BAD ID,Bad,compute,DE,5,EUR', // 6: offering_id pattern
      'bad-cur,Bad,compute,DE,5,EURO', // 7: currency
      'bad-missing,,compute,DE,5,EUR', // 8: empty name
      'ok-1,Duplicate,compute,DE,5,EUR', // 9: duplicate of line 2
    ].join('\n');
    const rows = expectCsvError(await importCsv(p, csv));
    const byLine = new Map(rows.map((r) => [r.line, r]));
    assert.deepEqual([...byLine.keys()].sort((a, b) => a - b), [3, 5, 6, 7, 8, 9], JSON.stringify(rows));
    assert.equal(byLine.get(3)!.field, 'monthly_price');
    assert.equal(byLine.get(5)!.field, 'datacenter_country');
    assert.equal(byLine.get(6)!.field, 'offering_id');
    assert.equal(byLine.get(7)!.field, 'currency');
    assert.equal(byLine.get(8)!.field, 'name');
    assert.equal(byLine.get(9)!.field, 'offering_id');
    assert.match(byLine.get(9)!.message, /line 2/);
    // Reported in file order.
    assert.deepEqual(rows.map((r) => r.line), [...rows.map((r) => r.line)].sort((a, b) => a - b));
    assert.deepEqual(await listAll(p), []);
  });

  test('a duplicate offering_id within the file is reported on its second line', async () => {
    const p = await registeredProvider(h);
    const rows = expectCsvError(await importCsv(p, [HEADER, 'a,A,compute,DE,5,EUR', 'b,B,compute,DE,5,EUR', 'a,A again,compute,DE,5,EUR'].join('\n')));
    assert.deepEqual(rows.map((r) => [r.line, r.field]), [[4, 'offering_id']]);
    assert.deepEqual(await listAll(p), []);
  });

  test('an unknown column is 400 naming the column on line 1', async () => {
    const p = await registeredProvider(h);
    const rows = expectCsvError(await importCsv(p, `${HEADER},colour\na,A,compute,DE,5,EUR,red\n`));
    assert.equal(rows[0]!.line, 1);
    assert.equal(rows[0]!.field, 'colour');
    assert.deepEqual(await listAll(p), []);
  });

  test('a repeated column or a "__proto__" column is 400 on line 1, not silently merged', async () => {
    const p = await registeredProvider(h);
    const dup = expectCsvError(await importCsv(p, `${HEADER},name\na,A,compute,DE,5,EUR,B\n`));
    assert.deepEqual(dup.map((r) => [r.line, r.field]), [[1, 'name']]);
    const proto = expectCsvError(await importCsv(p, `${HEADER},__proto__\na,A,compute,DE,5,EUR,x\n`));
    assert.deepEqual(proto.map((r) => [r.line, r.field]), [[1, '__proto__']]);
    assert.deepEqual(await listAll(p), []);
  });

  test('a missing required column is 400 naming the column on line 1', async () => {
    const p = await registeredProvider(h);
    const rows = expectCsvError(await importCsv(p, 'offering_id,name,product_type,datacenter_country,currency\na,A,compute,DE,EUR\n'));
    assert.deepEqual(rows.map((r) => [r.line, r.field]), [[1, 'monthly_price']]);
    const empty = expectCsvError(await importCsv(p, ''));
    assert.equal(empty[0]!.line, 1);
    const headerOnly = expectCsvError(await importCsv(p, `${HEADER}\n`));
    assert.equal(headerOnly[0]!.line, 1);
  });

  test('a row with the wrong number of fields or a broken quote is 400 invalid_csv, not a 500', async () => {
    const p = await registeredProvider(h);
    const short = expectCsvError(await importCsv(p, `${HEADER}\na,A,compute,DE,5\n`));
    assert.equal(short[0]!.line, 2);
    expectCsvError(await importCsv(p, `${HEADER}\na,"unterminated,compute,DE,5,EUR\n`));
    expectCsvError(await importCsv(p, `${HEADER}\na,x"y"z,compute,DE,5,EUR\n`));
    assert.deepEqual(await listAll(p), []);
  });

  test('quoted fields keep commas, quotes and newlines; line numbers after a multi-line row stay right', async () => {
    const p = await registeredProvider(h);
    const cols = `${HEADER},provisioner_config`;
    const csv = [
      cols,
      'q-1,"Big, ""fast"" box",compute,DE,5,EUR,"{',
      '  ""template_vmid"": 9000,',
      '  ""note"": ""a, b""',
      '}"',
      'q-2,"Comma, inside",compute,FR,5,EUR,',
    ].join('\r\n');
    const r = await importCsv(p, csv);
    assert.equal(r.status, 200, r.text);
    const items = await listAll(p);
    assert.equal(items[0].name, 'Big, "fast" box');
    assert.deepEqual(items[0].provisioner_config, { template_vmid: 9000, note: 'a, b' });
    assert.equal(items[1].name, 'Comma, inside');
    assert.equal(items[1].provisioner_config, null);

    // The record on line 6 follows a record spanning lines 2-5.
    const bad = expectCsvError(await importCsv(p, csv.replace('q-2,"Comma, inside",compute,FR', 'q-2,"Comma, inside",compute,QQ')));
    assert.deepEqual(bad.map((e) => [e.line, e.field]), [[6, 'datacenter_country']]);
    // An error in the multi-line record itself is reported on the line where the record starts.
    const own = expectCsvError(await importCsv(p, csv.replace('compute,DE,5,EUR,"{', 'compute,QQ,5,EUR,"{')));
    assert.deepEqual(own.map((e) => [e.line, e.field]), [[2, 'datacenter_country']]);
    // The same file with LF line endings gives the same line numbers.
    const lf = expectCsvError(await importCsv(p, csv.replace('q-2,"Comma, inside",compute,FR', 'q-2,"Comma, inside",compute,QQ').replace(/\r\n/g, '\n')));
    assert.deepEqual(lf.map((e) => [e.line, e.field]), [[6, 'datacenter_country']]);
    // A newline inside a name is refused (names are one line), naming the field.
    const nl = expectCsvError(await importCsv(p, `${HEADER}\nq-3,"two\nlines",compute,DE,5,EUR\n`));
    assert.equal(nl[0]!.field, 'name');
  });

  test('the provisioner_config column takes a JSON object; bad JSON or a non-object is reported for that row', async () => {
    const p = await registeredProvider(h);
    const cols = `${HEADER},provisioner_config`;
    const ok = await importCsv(p, `${cols}\ncfg-1,C,compute,DE,5,EUR,"{""vmid"":100,""tags"":[""x""]}"\n`);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual((await listAll(p))[0].provisioner_config, { vmid: 100, tags: ['x'] });
    const rows = expectCsvError(
      await importCsv(p, `${cols}\ncfg-2,C,compute,DE,5,EUR,{not json}\ncfg-3,C,compute,DE,5,EUR,"[1,2]"\ncfg-4,C,compute,DE,5,EUR,42\n`),
    );
    assert.deepEqual(rows.map((r) => [r.line, r.field]), [[2, 'provisioner_config'], [3, 'provisioner_config'], [4, 'provisioner_config']]);
    assert.equal((await listAll(p)).length, 1);
  });

  test('pools: an explicit pool sets the type; an unknown or foreign pool row and a type mismatch are reported', async () => {
    const p = await registeredProvider(h);
    const other = await registeredProvider(h);
    const scriptPool = (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: 'na-script', location: 'na', provisioner_type: 'script' }))).body.pool_id;
    const foreign = (await mustOk(call(h, other, 'POST', `${base(other)}/pools`, { name: 'eu', location: 'europe', provisioner_type: 'proxmox' }))).body.pool_id;
    const cols = `${HEADER},agent_pool_id,provisioner_type,status`;
    const rows = expectCsvError(
      await importCsv(
        p,
        [
          cols,
          `p-1,P,compute,DE,5,EUR,${scriptPool},,`,
          'p-2,P,compute,DE,5,EUR,no-such-pool,,',
          `p-3,P,compute,DE,5,EUR,${foreign},,`,
          `p-4,P,compute,DE,5,EUR,${scriptPool},manual,`,
          'p-5,P,compute,DE,5,EUR,,,archived',
        ].join('\n'),
      ),
    );
    assert.deepEqual(rows.map((r) => [r.line, r.field]), [[3, 'agent_pool_id'], [4, 'agent_pool_id'], [5, 'provisioner_type'], [6, 'status']]);
    assert.deepEqual(await listAll(p), []);

    const ok = await importCsv(p, [cols, `p-1,P,compute,DE,5,EUR,${scriptPool},,inactive`, 'p-2,P,compute,US,5,EUR,,script,'].join('\n'));
    assert.equal(ok.status, 200, ok.text);
    const [p1, p2] = await listAll(p);
    assert.deepEqual([p1.provisioner_type, p1.agent_pool_id, p1.pool_match, p1.status], ['script', scriptPool, 'explicit', 'inactive']);
    assert.deepEqual([p2.provisioner_type, p2.resolved_pool_id, p2.pool_match, p2.status], ['script', scriptPool, 'location', 'active']);
  });

  test('a bad status or provisioner_type on its own is a row error (400), never a database error (500)', async () => {
    const p = await registeredProvider(h);
    const cols = `${HEADER},provisioner_type,status`;
    const st = expectCsvError(await importCsv(p, `${cols}\ns-1,S,compute,DE,5,EUR,,archived\n`));
    assert.deepEqual(st.map((r) => [r.line, r.field]), [[2, 'status']]);
    assert.match(st[0]!.message, /active/);
    const pt = expectCsvError(await importCsv(p, `${cols}\ns-2,S,compute,DE,5,EUR,docker,\n`));
    assert.deepEqual(pt.map((r) => [r.line, r.field]), [[2, 'provisioner_type']]);
    const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const dp = expectCsvError(await importCsv(p, `${HEADER},provisioner_config\ns-3,S,compute,DE,5,EUR,"${deep.replace(/"/g, '""')}"\n`));
    assert.deepEqual(dp.map((r) => [r.line, r.field]), [[2, 'provisioner_config']]);
    const nul = await importCsv(p, `${HEADER}\ns-4,S\u0000,compute,DE,5,EUR\n`);
    assert.equal(nul.status, 400, nul.text);
    assert.deepEqual(await listAll(p), []);
  });

  test('the import needs Content-Type text/csv: a JSON body is 400 invalid_csv', async () => {
    const p = await registeredProvider(h);
    const r = await call(h, p, 'POST', `${base(p)}/offerings/import`, { rows: [] });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'invalid_csv');
  });

  test('a UTF-8 BOM and surrounding spaces are ignored', async () => {
    const p = await registeredProvider(h);
    const r = await importCsv(p, `\ufeff${HEADER}\n bom-1 , Spaced name ,compute, de ,5,EUR\n`);
    assert.equal(r.status, 200, r.text);
    const [o] = await listAll(p);
    assert.deepEqual([o.offering_id, o.name, o.datacenter_country], ['bom-1', 'Spaced name', 'DE']);
  });
});

describe('CSV export', () => {
  test('GET /export returns text/csv that re-imports as a no-op round trip (export, delete all, import)', async () => {
    const p = await registeredProvider(h);
    const eu = (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: 'eu', location: 'europe', provisioner_type: 'proxmox' }))).body.pool_id;
    const manual = (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: 'm', location: 'apac', provisioner_type: 'manual' }))).body.pool_id;
    const offerings = [
      offeringInput('a-plain'),
      offeringInput('b-tricky', { name: 'Big, "fast"; 50% off_now', product_type: 'dedicated server', monthly_price: 1234.5, currency: 'usd', datacenter_country: 'us' }),
      offeringInput('c-config', { provisioner_config: { template_vmid: 9000, note: 'line1\nline2, "quoted"', list: [1, 'two', null], nested: { ok: true } } }),
      offeringInput('d-explicit', { agent_pool_id: manual, datacenter_country: 'JP' }),
      offeringInput('e-inactive', { status: 'inactive', monthly_price: 0, agent_pool_id: eu }),
      offeringInput('f-script', { provisioner_type: 'script', datacenter_country: 'NG', monthly_price: 0.07 }),
      offeringInput('g-unicode', { name: 'Serveur à Zürich — 東京', product_type: 'vps' }),
    ];
    for (const o of offerings) await mustOk(call(h, p, 'POST', `${base(p)}/offerings`, o));
    const before = (await listAll(p)).map(content);

    const ex = await call(h, p, 'GET', `${base(p)}/offerings/export`);
    assert.equal(ex.status, 200, ex.text);
    assert.match(String(ex.headers['content-type']), /^text\/csv/);
    const lines = ex.text.split(/\r?\n/);
    assert.equal(lines[0], 'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id,status,provisioner_config');

    // Re-importing on top is a no-op for the content.
    const same = await importCsv(p, ex.text);
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(same.body, { imported: offerings.length, created: 0, updated: offerings.length });
    assert.deepEqual((await listAll(p)).map(content), before);

    for (const o of offerings) assert.equal((await call(h, p, 'DELETE', `${base(p)}/offerings/${o.offering_id}`)).status, 204);
    assert.deepEqual(await listAll(p), []);
    const back = await importCsv(p, ex.text);
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(back.body, { imported: offerings.length, created: offerings.length, updated: 0 });
    assert.deepEqual((await listAll(p)).map(content), before);

    // And the second export is byte-for-byte the first.
    const ex2 = await mustOk(call(h, p, 'GET', `${base(p)}/offerings/export`));
    assert.equal(ex2.text, ex.text);
  });

  test('export of a provider without offerings is just the header line', async () => {
    const p = await registeredProvider(h);
    const ex = await mustOk(call(h, p, 'GET', `${base(p)}/offerings/export`));
    assert.equal(ex.text.trim(), 'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id,status,provisioner_config');
  });
});

describe('body limits', () => {
  test('a CSV body over 8 MiB is 413', async () => {
    const p = await registeredProvider(h);
    const row = 'x-000000,Name,compute,DE,5,EUR\n';
    const big = HEADER + '\n' + row.repeat(Math.ceil((8 * 1024 * 1024) / row.length) + 1);
    assert.ok(Buffer.byteLength(big) > 8 * 1024 * 1024);
    const r = await importCsv(p, big);
    assert.equal(r.status, 413, r.text.slice(0, 300));
    assert.equal(r.body.error.code, 'body_too_large');
    assert.equal(typeof r.body.error.message, 'string');
    assert.deepEqual(await listAll(p), []);
  });

  test('a CSV body just under 8 MiB is imported, although it is far over the 1 MiB JSON limit', async () => {
    const p = await registeredProvider(h);
    const pad = 'p'.repeat(800);
    const rows: string[] = [];
    let size = HEADER.length + 20;
    for (let i = 0; size < 8 * 1024 * 1024 - 2000; i++) {
      const row = `big-${String(i).padStart(6, '0')},Name ${i},compute,DE,5,EUR,"{""pad"":""${pad}""}"`;
      rows.push(row);
      size += row.length + 1;
    }
    const text = `${HEADER},provisioner_config\n${rows.join('\n')}\n`;
    assert.ok(Buffer.byteLength(text) > 7 * 1024 * 1024 && Buffer.byteLength(text) < 8 * 1024 * 1024);
    const r = await importCsv(p, text);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.deepEqual(r.body, { imported: rows.length, created: rows.length, updated: 0 });
    const page = await mustOk(call(h, p, 'GET', `${base(p)}/offerings?limit=1`));
    assert.equal(page.body.total, rows.length);
  });
});

describe('body limits with DC_BODY_LIMIT_BYTES=2048', () => {
  let small: Harness;
  before(async () => {
    small = await startHarness({ DC_BODY_LIMIT_BYTES: '2048' });
  });
  after(async () => {
    await small?.close();
  });

  test('a JSON body over the limit is 413 on other endpoints; the CSV import still takes 8 MiB', async () => {
    const p = generateIdentity();
    const reg = await call(small, p, 'PUT', `${base(p)}`, { name: 'x' });
    assert.equal(reg.status, 200, reg.text);
    const big = offeringInput('big', { name: 'n'.repeat(150), provisioner_config: { pad: 'p'.repeat(3000) } });
    const r = await call(small, p, 'POST', `${base(p)}/offerings`, big);
    assert.equal(r.status, 413, r.text);
    assert.equal(r.body.error.code, 'body_too_large');
    const r2 = await call(small, p, 'PUT', `${base(p)}`, { name: 'n'.repeat(3000) });
    assert.equal(r2.status, 413, r2.text);

    const fits = await call(small, p, 'POST', `${base(p)}/offerings`, offeringInput('fits'));
    assert.equal(fits.status, 201, fits.text);

    const rows = Array.from({ length: 200 }, (_, i) => `csv-${i},Name ${i},compute,DE,5,EUR`).join('\n');
    const csv = `${HEADER}\n${rows}\n`;
    assert.ok(Buffer.byteLength(csv) > 2048);
    const imp = await call(small, p, 'POST', `${base(p)}/offerings/import`, csv, { contentType: 'text/csv' });
    assert.equal(imp.status, 200, imp.text);
    assert.deepEqual(imp.body, { imported: 200, created: 200, updated: 0 });
  });
});
