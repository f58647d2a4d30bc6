// Contracts (DESIGN.md "Context" → contracts, and "Leases and exactly-once" → Statuses): creation
// and its input rules, who may read, the full transition table, payments, the provider list and
// the events endpoint. Statuses only leases can reach are set with SQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { generateIdentity, type Identity } from '@dc/core/node';
import { call, mustOk, offeringInput, operator, providerWithPool, startHarness, type Harness, type Res, assertError } from './helpers.js';

let h: Harness;
let provider: Identity;
const customer = generateIdentity();
before(async () => {
  h = await startHarness();
  ({ provider } = await providerWithPool(h));
  await mustOk(call(h, provider, 'POST', `${P()}/offerings`, offeringInput('vps')));
  await mustOk(call(h, provider, 'POST', `${P()}/offerings`, offeringInput('retired', { status: 'inactive' })));
});
after(async () => {
  await h?.close();
});

const P = () => `/api/v1/providers/${provider.publicKey}`;


function request(body: Record<string, unknown> = {}, who: Identity = customer): Promise<Res> {
  return call(h, who, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'vps', ...body });
}

async function newContract(body: Record<string, unknown> = {}, who: Identity = customer): Promise<string> {
  const r = await request(body, who);
  assert.equal(r.status, 201, r.text);
  return r.body.contract_id as string;
}

async function read(id: string): Promise<any> {
  return (await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`))).body;
}

const setStatus = (id: string, status: string, extra = '') =>
  h.db.query(`UPDATE contract_sign_requests SET status = $2 ${extra} WHERE contract_id = $1`, [id, status]);

const act = (id: string, action: 'accept' | 'reject' | 'retry') => call(h, provider, 'POST', `${P()}/contracts/${id}/${action}`);
const cancel = (id: string, who: Identity = customer) => call(h, who, 'POST', `/api/v1/contracts/${id}/cancel`);
const pay = (id: string, status: string, who: Identity = operator) => call(h, who, 'POST', `/api/v1/contracts/${id}/payment`, { status });

// ---- OpenSSH keys built from real key pairs ------------------------------------------------------
function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}
function mpint(b: Buffer): Buffer {
  let x = b;
  while (x.length > 1 && x[0] === 0) x = x.subarray(1);
  return sshString(x[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), x]) : x);
}
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  assert.equal(raw.length, 32);
  return Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
}
function ed25519Key(comment?: string): string {
  return `ssh-ed25519 ${ed25519Blob().toString('base64')}${comment === undefined ? '' : ` ${comment}`}`;
}
function rsaKey(): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([sshString('ssh-rsa'), mpint(Buffer.from(jwk.e!, 'base64url')), mpint(Buffer.from(jwk.n!, 'base64url'))]);
  return `ssh-rsa ${blob.toString('base64')} rsa@test`;
}
function ecdsaKey(): string {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const blob = Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(point)]);
  return `ecdsa-sha2-nistp256 ${blob.toString('base64')}`;
}

describe('creating contracts', () => {
  test('a customer creates a contract: 201, status requested, payment pending, every DESIGN.md field', async () => {
    const r = await request();
    assert.equal(r.status, 201, r.text);
    const c = r.body;
    assert.match(c.contract_id, /^[A-Za-z0-9-]{1,64}$/);
    assert.equal(c.provider_pubkey, provider.publicKey);
    assert.equal(c.offering_id, 'vps');
    assert.equal(c.customer_pubkey, customer.publicKey);
    assert.equal(c.status, 'requested');
    assert.equal(c.payment_status, 'pending');
    assert.match(c.created_at, /Z$/);
    assert.equal(c.lock_agent, null);
    assert.equal(c.lock_token, 0);
    assert.equal(c.lock_expires_at, null);
    assert.equal(c.attempts, 0);
    assert.equal(c.next_attempt_at, null);
    assert.equal(c.last_error, null);
    assert.equal(c.provisioned_by, null);
    assert.equal(c.instance_details, null);
    assert.equal(c.ssh_pubkey, null);
    assert.equal(c.instance_config, null);
  });

  test('a valid ssh-ed25519 key is accepted with and without a comment, and stored verbatim', async () => {
    for (const key of [ed25519Key(), ed25519Key('alice@laptop'), ed25519Key('a comment with spaces & symbols!~'), rsaKey(), ecdsaKey()]) {
      const r = await request({ ssh_pubkey: key });
      assert.equal(r.status, 201, `${key.slice(0, 40)}: ${r.text}`);
      assert.equal(r.body.ssh_pubkey, key);
    }
  });

  test('a bad ssh_pubkey is 400: wrong type, not base64, blob of another type, two lines, over 8 KiB', async () => {
    const blob = ed25519Blob().toString('base64');
    const bad = [
      `ssh-dss ${blob}`,
      `ssh-ed448 ${blob}`,
      'ssh-ed25519 not*base64!',
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI', // truncated: not valid base64 length
      `ssh-rsa ${blob}`, // an ed25519 blob labelled rsa
      `ecdsa-sha2-nistp256 ${blob}`,
      `${ed25519Key('one')}\n${ed25519Key('two')}`,
      `${ed25519Key()}\n`,
      `${ed25519Key()}\r`,
      `ssh-ed25519 ${blob} ${'x'.repeat(9000)}`,
      `ssh-ed25519 ${blob} comment\u0007bell`,
      `ssh-ed25519 ${blob} café`,
      `ssh-ed25519`,
      ` ssh-ed25519 ${blob}`,
      `ssh-ed25519  ${blob}`,
      '',
      'AAAA',
      `ssh-ed25519 ${Buffer.from('short').toString('base64')}`,
    ];
    for (const key of bad) {
      const r = await request({ ssh_pubkey: key });
      assertError(r, 400);
      assert.match(r.body.error.message, /ssh_pubkey/, `${JSON.stringify(key.slice(0, 60))}: ${r.text}`);
    }
    assertError(await request({ ssh_pubkey: 42 }), 400);
    assertError(await request({ ssh_pubkey: null }), 400);
  });

  test('instance_config accepts hostname, os_image, cpu_cores, memory_mb and disk_gb', async () => {
    const config = { hostname: 'web-01', os_image: 'debian-12.5_amd64', cpu_cores: 4, memory_mb: 8192, disk_gb: 80 };
    const r = await request({ instance_config: config });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body.instance_config, config);
    for (const hostname of ['a', '0', 'a-b', 'x'.repeat(63), '9lives']) {
      const ok = await request({ instance_config: { hostname } });
      assert.equal(ok.status, 201, `${hostname}: ${ok.text}`);
    }
    const empty = await request({ instance_config: {} });
    assert.equal(empty.status, 201, empty.text);
  });

  test('a bad instance_config is 400: bad hostnames, extra keys, non-integer or non-positive sizes', async () => {
    const bad: Record<string, unknown>[] = [
      { hostname: '-a' },
      { hostname: 'a-' },
      { hostname: 'A' },
      { hostname: 'a_b' },
      { hostname: 'a.b' },
      { hostname: 'x'.repeat(64) },
      { hostname: '' },
      { hostname: 'a;rm -rf /' },
      { hostname: '$(id)' },
      { os_image: 'debian 12' },
      { os_image: '../../etc/passwd' },
      { os_image: 'x'.repeat(65) },
      { cpu_cores: 1.5 },
      { cpu_cores: '2' },
      { cpu_cores: 0 },
      { cpu_cores: -1 },
      { memory_mb: 0.5 },
      { disk_gb: 'big' },
      { disk_gb: null },
      { user_data: '#!/bin/sh' },
      { hostname: 'ok', extra: true },
    ];
    for (const instance_config of bad) {
      const r = await request({ instance_config });
      assertError(r, 400);
      assert.match(r.body.error.message, /instance_config/, `${JSON.stringify(instance_config)}: ${r.text}`);
    }
    assertError(await request({ instance_config: 'hostname=a' }), 400);
    assertError(await request({ instance_config: [] }), 400);
  });

  test('an inactive, unknown or other provider\'s offering is 404; unknown body fields are 400', async () => {
    assertError(await request({ offering_id: 'retired' }), 404);
    assertError(await request({ offering_id: 'no-such-offering' }), 404);
    assertError(await request({ provider_pubkey: generateIdentity().publicKey }), 404);
    assertError(await request({ extra: 1 }), 400);
    assertError(await request({ provider_pubkey: 'not-a-key' }), 400);
    assertError(await call(h, customer, 'POST', '/api/v1/contracts', { offering_id: 'vps' }), 400);
    assertError(await call(h, null, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'vps' }), 401);
  });
});

describe('reading contracts', () => {
  test('GET /contracts/{id} answers the customer and the provider (200) and 404 to anyone else', async () => {
    const id = await newContract();
    const byCustomer = await call(h, customer, 'GET', `/api/v1/contracts/${id}`);
    assert.equal(byCustomer.status, 200, byCustomer.text);
    const byProvider = await call(h, provider, 'GET', `/api/v1/contracts/${id}`);
    assert.equal(byProvider.status, 200, byProvider.text);
    assert.deepEqual(byProvider.body, byCustomer.body);
    assertError(await call(h, generateIdentity(), 'GET', `/api/v1/contracts/${id}`), 404);
    assertError(await call(h, operator, 'GET', `/api/v1/contracts/${id}`), 404);
    assertError(await call(h, customer, 'GET', `/api/v1/contracts/no-such-contract`), 404);
    assertError(await call(h, null, 'GET', `/api/v1/contracts/${id}`), 401);
  });
});

describe('the transition table', () => {
  test('requested → accepted, then accepted → cancelled by the customer', async () => {
    const id = await newContract();
    const a = await act(id, 'accept');
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.status, 'accepted');
    const c = await cancel(id);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.status, 'cancelled');
  });

  test('requested → rejected', async () => {
    const id = await newContract();
    const r = await act(id, 'reject');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'rejected');
  });

  test('requested → cancelled', async () => {
    const id = await newContract();
    const r = await cancel(id);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'cancelled');
  });

  test('provisioning → cancelled and provisioning_failed → cancelled', async () => {
    for (const status of ['provisioning', 'provisioning_failed']) {
      const id = await newContract();
      await mustOk(act(id, 'accept'));
      await setStatus(id, status);
      const r = await cancel(id);
      assert.equal(r.status, 200, `${status}: ${r.text}`);
      assert.equal(r.body.status, 'cancelled');
    }
  });

  test('provisioning_failed → accepted by retry, attempts reset, and a retried event recorded', async () => {
    const id = await newContract();
    await mustOk(act(id, 'accept'));
    await setStatus(id, 'provisioning_failed', `, attempts = 5, last_error = 'disk full', next_attempt_at = now() + interval '1 hour'`);
    const r = await act(id, 'retry');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, 'accepted');
    assert.equal(r.body.attempts, 0);
    assert.equal(r.body.next_attempt_at, null);
    const ev = await mustOk(call(h, provider, 'GET', `${P()}/contracts/${id}/events`));
    assert.deepEqual(ev.body.items.map((e: any) => e.event), ['retried']);
  });

  test('every other transition is 409 and leaves the contract as it was', async () => {
    const cases: { name: string; from: string; via: 'accept' | 'reject' | 'retry' | 'cancel' }[] = [];
    const statuses = ['requested', 'accepted', 'rejected', 'provisioning', 'provisioned', 'provisioning_failed', 'cancelled'];
    const allowed = new Set([
      'requested:accept', 'requested:reject', 'requested:cancel',
      'accepted:cancel',
      'provisioning:cancel',
      'provisioning_failed:retry', 'provisioning_failed:cancel',
      'provisioned:cancel', // v3: starts the teardown
    ]);
    for (const from of statuses) {
      for (const via of ['accept', 'reject', 'retry', 'cancel'] as const) {
        if (!allowed.has(`${from}:${via}`)) cases.push({ name: `${via} a ${from} contract`, from, via });
      }
    }
    assert.equal(cases.length, 7 * 4 - allowed.size);
    for (const c of cases) {
      const id = await newContract();
      await setStatus(id, c.from);
      const before = await read(id);
      const r = c.via === 'cancel' ? await cancel(id) : await act(id, c.via);
      assertError(r, 409);
      const after = await read(id);
      assert.deepEqual(after, before, `${c.name} changed the contract`);
    }
  });

  test('named cases: accept twice, reject after accept, cancel a rejected or cancelled one, retry an accepted one', async () => {
    const a = await newContract();
    await mustOk(act(a, 'accept'));
    assertError(await act(a, 'accept'), 409);
    assertError(await act(a, 'reject'), 409);
    assertError(await act(a, 'retry'), 409);
    const r = await newContract();
    await mustOk(act(r, 'reject'));
    assertError(await cancel(r), 409);
    assertError(await act(r, 'accept'), 409);
    const c = await newContract();
    await mustOk(cancel(c));
    assertError(await cancel(c), 409);
    assertError(await act(c, 'accept'), 409);
    assertError(await act(c, 'retry'), 409);
  });

  test('the customer cannot accept (403 under the provider\'s path, 404 under its own) and nothing changes', async () => {
    const id = await newContract();
    assertError(await call(h, customer, 'POST', `${P()}/contracts/${id}/accept`), 403);
    assertError(await call(h, customer, 'POST', `${P()}/contracts/${id}/reject`), 403);
    const own = await call(h, customer, 'POST', `/api/v1/providers/${customer.publicKey}/contracts/${id}/accept`);
    assertError(own, 404);
    assert.equal((await read(id)).status, 'requested');
  });

  test('the provider cannot cancel as if it were the customer (404) and nothing changes', async () => {
    const id = await newContract();
    await mustOk(act(id, 'accept'));
    const r = await cancel(id, provider);
    assertError(r, 404);
    assert.equal((await read(id)).status, 'accepted');
    assertError(await cancel(id, generateIdentity()), 404);
    assertError(await cancel(id, operator), 404);
    assert.equal((await read(id)).status, 'accepted');
  });

  test('concurrent accepts and rejects of one contract: exactly one wins, the others are 409', async () => {
    for (let round = 0; round < 5; round++) {
      const id = await newContract();
      const results = await Promise.all([act(id, 'accept'), act(id, 'reject'), act(id, 'accept'), act(id, 'reject')]);
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.text}`).join('\n'));
      for (const r of results) if (r.status !== 200) assertError(r, 409);
      assert.equal((await read(id)).status, ok[0]!.body.status);
    }
    const id = await newContract();
    const cancels = await Promise.all([cancel(id), cancel(id), cancel(id)]);
    assert.equal(cancels.filter((r) => r.status === 200).length, 1, cancels.map((r) => r.text).join('\n'));
    const ev = await mustOk(call(h, provider, 'GET', `${P()}/contracts/${id}/events`));
    assert.deepEqual(ev.body.items.map((e: any) => e.event), ['cancelled'], 'one cancelled event');
  });

  test('unknown contract ids are 404 for every action', async () => {
    for (const action of ['accept', 'reject', 'retry'] as const) assertError(await act('no-such-id', action), 404);
    assertError(await cancel('no-such-id'), 404);
    assertError(await pay('no-such-id', 'succeeded'), 404);
    assertError(await call(h, provider, 'GET', `${P()}/contracts/no-such-id/events`), 404);
  });
});

describe('payments', () => {
  test('only operator keys (DC_OPERATOR_PUBKEYS) may record payments; others get 403', async () => {
    const id = await newContract();
    assertError(await pay(id, 'succeeded', customer), 403);
    assertError(await pay(id, 'succeeded', provider), 403);
    assertError(await pay(id, 'succeeded', generateIdentity()), 403);
    assertError(await call(h, null, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }), 401);
    assert.equal((await read(id)).payment_status, 'pending');
  });

  test('pending → succeeded and pending → failed; before or after acceptance', async () => {
    const early = await newContract();
    const r1 = await pay(early, 'succeeded');
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.body.payment_status, 'succeeded');
    assert.equal(r1.body.status, 'requested');
    assert.equal((await mustOk(act(early, 'accept'))).body.payment_status, 'succeeded');

    const late = await newContract();
    await mustOk(act(late, 'accept'));
    const r2 = await pay(late, 'failed');
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.body.payment_status, 'failed');
    assert.equal(r2.body.status, 'accepted');
  });

  test('succeeded → refunded cancels a contract never granted a lease (cancelled event); a provisioned one starts its teardown', async () => {
    for (const status of ['requested', 'accepted', 'provisioning', 'provisioned', 'provisioning_failed']) {
      const id = await newContract();
      await mustOk(pay(id, 'succeeded'));
      await setStatus(id, status);
      const r = await pay(id, 'refunded');
      assert.equal(r.status, 200, `${status}: ${r.text}`);
      assert.equal(r.body.payment_status, 'refunded');
      const teardown = status === 'provisioned';
      assert.equal(r.body.status, teardown ? 'terminating' : 'cancelled', `refund of a ${status} contract`);
      const ev = await mustOk(call(h, provider, 'GET', `${P()}/contracts/${id}/events`));
      assert.deepEqual(ev.body.items.map((e: any) => e.event), [teardown ? 'terminate_requested' : 'cancelled'], status);
    }
  });

  test('a refund leaves a rejected or cancelled contract as it is', async () => {
    const id = await newContract();
    await mustOk(pay(id, 'succeeded'));
    await mustOk(act(id, 'reject'));
    const r = await pay(id, 'refunded');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.status, r.body.payment_status], ['rejected', 'refunded']);
  });

  test('every other payment transition is 409: succeeded twice, failed → succeeded, pending → refunded, …', async () => {
    const cases: [string, string][] = [
      ['pending', 'refunded'],
      ['succeeded', 'succeeded'],
      ['succeeded', 'failed'],
      ['failed', 'succeeded'],
      ['failed', 'failed'],
      ['failed', 'refunded'],
      ['refunded', 'refunded'],
      ['refunded', 'succeeded'],
      ['refunded', 'failed'],
    ];
    for (const [from, to] of cases) {
      const id = await newContract();
      await h.db.query(`UPDATE contract_sign_requests SET payment_status = $2 WHERE contract_id = $1`, [id, from]);
      const before = await read(id);
      const r = await pay(id, to);
      assertError(r, 409);
      assert.deepEqual(await read(id), before, `${from} → ${to} changed the contract`);
    }
  });

  test('concurrent payment outcomes for one pending contract: exactly one is recorded', async () => {
    for (let round = 0; round < 5; round++) {
      const id = await newContract();
      const results = await Promise.all([pay(id, 'succeeded'), pay(id, 'failed'), pay(id, 'succeeded')]);
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.text}`).join('\n'));
      for (const r of results) if (r.status !== 200) assertError(r, 409);
      assert.equal((await read(id)).payment_status, ok[0]!.body.payment_status);
    }
  });

  test('a payment status other than succeeded, failed or refunded is 400', async () => {
    const id = await newContract();
    for (const body of [{ status: 'pending' }, { status: 'paid' }, { status: 1 }, {}, { status: 'succeeded', amount: 5 }]) {
      assertError(await call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, body), 400);
    }
  });
});

describe('the provider\'s contract list', () => {
  test('newest first, status filter, limit 1–500, offset, total', async () => {
    const { provider: p } = await providerWithPool(h);
    const base = `/api/v1/providers/${p.publicKey}`;
    await mustOk(call(h, p, 'POST', `${base}/offerings`, offeringInput('o')));
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: p.publicKey, offering_id: 'o' }));
      ids.push(c.body.contract_id);
      // Distinct, known creation times (no sleeping): contract i is i minutes after 2024-01-01.
      await h.db.query(`UPDATE contract_sign_requests SET created_at = '2024-01-01T00:00:00Z'::timestamptz + make_interval(mins => $2) WHERE contract_id = $1`, [c.body.contract_id, i]);
    }
    await mustOk(call(h, p, 'POST', `${base}/contracts/${ids[1]}/accept`));
    await mustOk(call(h, p, 'POST', `${base}/contracts/${ids[4]}/accept`));
    await mustOk(call(h, p, 'POST', `${base}/contracts/${ids[2]}/reject`));
    const newestFirst = [...ids].reverse();

    const all = (await mustOk(call(h, p, 'GET', `${base}/contracts`))).body;
    assert.deepEqual(all.items.map((c: any) => c.contract_id), newestFirst);
    assert.equal(all.total, 6);

    const accepted = (await mustOk(call(h, p, 'GET', `${base}/contracts?status=accepted`))).body;
    assert.deepEqual(accepted.items.map((c: any) => c.contract_id), [ids[4], ids[1]]);
    assert.equal(accepted.total, 2);
    const requested = (await mustOk(call(h, p, 'GET', `${base}/contracts?status=requested&limit=2`))).body;
    assert.deepEqual(requested.items.map((c: any) => c.contract_id), [ids[5], ids[3]]);
    assert.equal(requested.total, 3);

    const page = (await mustOk(call(h, p, 'GET', `${base}/contracts?limit=2&offset=2`))).body;
    assert.deepEqual(page.items.map((c: any) => c.contract_id), newestFirst.slice(2, 4));
    assert.equal(page.total, 6);
    const past = (await mustOk(call(h, p, 'GET', `${base}/contracts?offset=50`))).body;
    assert.deepEqual([past.items, past.total], [[], 6]);
    assert.equal((await mustOk(call(h, p, 'GET', `${base}/contracts?limit=500`))).body.items.length, 6);
    assert.equal((await mustOk(call(h, p, 'GET', `${base}/contracts?limit=1`))).body.items.length, 1);

    for (const q of ['limit=0', 'limit=501', 'limit=-5', 'limit=x', 'offset=-1', 'status=paid', 'status=']) {
      assertError(await call(h, p, 'GET', `${base}/contracts?${q}`), 400);
    }
  });
});

describe('contract events', () => {
  test('the events endpoint lists cancelled and retried events, oldest first, with their fields', async () => {
    const id = await newContract();
    await mustOk(act(id, 'accept'));
    await setStatus(id, 'provisioning_failed', ', attempts = 5');
    await mustOk(act(id, 'retry'));
    await mustOk(cancel(id));
    const ev = await mustOk(call(h, provider, 'GET', `${P()}/contracts/${id}/events`));
    const items = ev.body.items as any[];
    assert.deepEqual(items.map((e) => e.event), ['retried', 'cancelled']);
    for (const e of items) {
      assert.equal(typeof e.event_id, 'number');
      assert.match(e.at, /Z$/);
      assert.equal(e.lock_token, 0);
      assert.equal(e.agent_pubkey, null);
      assert.equal(typeof e.detail, 'string');
    }
    assert.ok(items[0].event_id < items[1].event_id);
    // The customer is not the provider: the events path is the provider's.
    assertError(await call(h, customer, 'GET', `${P()}/contracts/${id}/events`), 403);
  });

  test('a contract without transitions has no events', async () => {
    const id = await newContract();
    const ev = await mustOk(call(h, provider, 'GET', `${P()}/contracts/${id}/events`));
    assert.deepEqual(ev.body.items, []);
  });
});
