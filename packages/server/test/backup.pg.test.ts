// Backups (docs/operations.md "Backups and restore"): `npm run backup` dumps a live database,
// scripts/restore.mjs restores it into a fresh one, and a server on the restored database serves
// the same pools, agents and contracts: the delegations still verify against the same server key,
// agents keep working without a new setup, and a lease held at backup time can still be confirmed.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node scripts/run-tests.mjs backup
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { delegationMessage } from '@dc/core';
import { publicKeyFromHex, verifyMessage } from '@dc/core/node';
import { startServer } from '../src/server.js';
import {
  agentCall, connectTestDb, directUrl, base, call, mustOk, paidContract, providerWithPool, registerAgent, serverUrl, startHarness, testConfig, type Harness,
} from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function script(name: string, args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(DATABASE_|DC_BACKUP|RESTORE_)/.test(k)));
  return spawnSync(process.execPath, [join(ROOT, 'scripts', name), ...args], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8' });
}

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl()! });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

test('a dump restored into a fresh database serves the same pools, agents and contracts', { skip: serverUrl() ? false : 'needs TEST_DATABASE_URL (PostgreSQL)', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc-backup-'));
  const restoredName = `dct_restore_${process.pid}_${randomBytes(4).toString('hex')}`;
  let h: Harness | null = null;
  let restored: Harness | null = null;
  try {
    h = await startHarness();
    const { provider, poolId } = await providerWithPool(h);
    const a1 = await registerAgent(h, provider, poolId, 'node-1');
    const a2 = await registerAgent(h, provider, poolId, 'node-2');
    const done = await paidContract(h, provider, { offering_id: 'vps-de-1' });
    const leased = await paidContract(h, provider, { offering_id: 'vps-de-1' });
    const waiting = await paidContract(h, provider, { offering_id: 'vps-de-1' });
    // done: provisioned by a1; leased: a1 holds the lease when the backup runs; waiting: nobody yet.
    const g1 = await mustOk(agentCall(h, a1, 'POST', `${base(provider)}/contracts/${done}/lock`, {}));
    await mustOk(agentCall(h, a1, 'POST', `${base(provider)}/contracts/${done}/provisioned`, { lock_token: g1.body.lock_token, instance_details: { ip: '192.0.2.10' } }));
    const g2 = await mustOk(agentCall(h, a1, 'POST', `${base(provider)}/contracts/${leased}/lock`, {}));

    const snapshot = async (x: Harness) => ({
      serverKey: (await mustOk(call(x, null, 'GET', '/api/v1/server-key'))).body,
      pools: (await mustOk(call(x, provider, 'GET', `${base(provider)}/pools`))).body,
      pool: (await mustOk(call(x, provider, 'GET', `${base(provider)}/pools/${poolId}`))).body,
      contracts: (await mustOk(call(x, provider, 'GET', `${base(provider)}/contracts?limit=100`))).body,
      events: (await mustOk(call(x, provider, 'GET', `${base(provider)}/contracts/${done}/events`))).body,
      offerings: (await mustOk(call(x, provider, 'GET', `${base(provider)}/offerings`))).body,
    });
    const before = await snapshot(h);
    assert.equal(before.contracts.items.length, 3);

    // ---- backup, taken while the server keeps running ---------------------------------------------
    const file = join(dir, 'nightly.dump');
    const b = script('backup.mjs', [file], h.testDb.env);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /backup: wrote .*nightly\.dump/);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the dump holds the server key: owner-only');
    const missing = script('backup.mjs', [join(dir, 'x.dump')], {});
    assert.equal(missing.status, 2, 'without DATABASE_URL the backup refuses and says why');
    assert.match(missing.stderr, /DATABASE_URL is not set/);

    // ---- restore into a fresh database -------------------------------------------------------------
    await adminQuery(`CREATE DATABASE ${restoredName}`);
    const u = new URL(serverUrl()!);
    u.pathname = `/${restoredName}`;
    // Straight to PostgreSQL, never through a transaction pooler: pg_restore's session settings
    // (an empty search_path) would stay on a pooled server connection and break its next user.
    const target = directUrl(u.toString()) ?? u.toString();
    const r = script('restore.mjs', [file, target], {});
    assert.equal(r.status, 0, r.stderr);
    const again = script('restore.mjs', [file, target], {});
    assert.equal(again.status, 1, 'a second restore into a database that has the tables is refused');
    assert.match(again.stderr, /already has dc-api tables/);

    const db2 = connectTestDb(u.toString(), 4);
    const server2 = await startServer(testConfig(), { db: db2, listen: false, jobs: false, logger: false });
    const r2: Harness = {
      server: server2,
      testDb: { db: db2, url: u.toString(), env: {}, drop: async () => db2.close() },
      db: db2,
      signHost: h.signHost,
      close: async () => {
        await server2.close();
        await db2.close();
      },
    };
    restored = r2;
    const after = await snapshot(r2);
    assert.deepEqual(after.serverKey, before.serverKey, 'the same server key (no new one generated on start)');
    assert.deepEqual(after.pools, before.pools);
    assert.deepEqual(after.pool, before.pool);
    assert.deepEqual(after.contracts, before.contracts);
    assert.deepEqual(after.events, before.events);
    assert.deepEqual(after.offerings, before.offerings);

    // Delegations signed before the backup verify against the restored server's key.
    const key = publicKeyFromHex(after.serverKey.public_key);
    const rows = (await db2.query<{ agent_pubkey: string; provider_pubkey: string; pool_id: string; permissions: string[]; issued_at: Date; signature: string }>(
      `SELECT agent_pubkey, provider_pubkey, pool_id, permissions, issued_at, signature FROM provider_agent_delegations ORDER BY agent_pubkey`,
    )).rows;
    assert.equal(rows.length, 2);
    for (const d of rows) {
      const message = delegationMessage({ ...d, issued_at: d.issued_at.toISOString() });
      assert.ok(verifyMessage(key, message, d.signature), `delegation of ${d.agent_pubkey} verifies`);
    }

    // Agents carry on without a new setup: heartbeat, finish the held lease, claim the waiting work.
    await mustOk(agentCall(r2, a2, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0' }));
    const confirmed = await mustOk(agentCall(r2, a1, 'POST', `${base(provider)}/contracts/${leased}/provisioned`, { lock_token: g2.body.lock_token, instance_details: {} }));
    assert.equal(confirmed.body.status, 'provisioned');
    const claimed = await mustOk(agentCall(r2, a2, 'POST', `${base(provider)}/contracts/claim`, { max: 5 }));
    assert.deepEqual(claimed.body.items.map((i: { contract_id: string }) => i.contract_id), [waiting]);
    // The contract provisioned before the backup cannot be provisioned again.
    const twice = await agentCall(r2, a2, 'POST', `${base(provider)}/contracts/${done}/lock`, {});
    assert.equal(twice.status, 409, twice.text);
  } finally {
    await restored?.close();
    await h?.close();
    await adminQuery(`DROP DATABASE IF EXISTS ${restoredName} WITH (FORCE)`).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
