// Location routing and exactly-once across agents: two agents in a europe pool, one in a na pool,
// 50 contracts across both regions. Each contract is provisioned exactly once, by an agent of the
// pool its offering routes to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanup, createOffering, createPool, createProvider, eventsOf, paidContract, setupScriptAgent, sharedDir, startAgent, startApi, tempDir, waitFor,
  type AgentProcess, type TestApi,
} from './helpers.js';

let api: TestApi;
let dir: string;
before(async () => {
  api = await startApi({ DC_LOCK_TTL_SECONDS: '10' });
  dir = tempDir();
});
after(async () => {
  await api.close();
  cleanup(dir);
});

test('two agents in one pool, a third in another region: 50 contracts, each provisioned exactly once by an agent of the right pool', async () => {
  const provider = await createProvider(api);
  const eu = await createPool(api, provider, { name: 'europe-script', location: 'europe', provisioner_type: 'script' });
  const na = await createPool(api, provider, { name: 'na-script', location: 'na', provisioner_type: 'script' });
  await createOffering(api, provider, { offering_id: 'vps-de', datacenter_country: 'DE' });
  await createOffering(api, provider, { offering_id: 'vps-us', datacenter_country: 'US' });
  const records = sharedDir(dir, 'records');
  const script = (name: string) => ({ env: { RECORD_DIR: records, AGENT_NAME: name, SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '0.2' } });
  const agents = {
    'eu-1': await setupScriptAgent(api, provider, eu, dir, { name: 'eu-1', records, script: script('eu-1') }),
    'eu-2': await setupScriptAgent(api, provider, eu, dir, { name: 'eu-2', records, script: script('eu-2') }),
    'na-1': await setupScriptAgent(api, provider, na, dir, { name: 'na-1', records, script: script('na-1') }),
  };
  const poolOf: Record<string, string> = { [agents['eu-1'].pubkey]: eu, [agents['eu-2'].pubkey]: eu, [agents['na-1'].pubkey]: na };
  const running: AgentProcess[] = Object.values(agents).map((a) => startAgent(a));
  try {
    await Promise.all(running.map((p) => p.waitForLog((l) => l.event === 'heartbeat.ok')));
    const contracts: { id: string; pool: string }[] = [];
    for (let i = 0; i < 50; i++) {
      const us = i % 2 === 1;
      const { id } = await paidContract(api, provider, us ? 'vps-us' : 'vps-de');
      contracts.push({ id, pool: us ? na : eu });
    }
    await waitFor('all 50 provisioned', async () => {
      const r = await api.ok(provider, 'GET', `/api/v1/providers/${provider.publicKey}/contracts?status=provisioned&limit=100`);
      return r.total === 50;
    }, 60_000, 250);

    const all = (await api.ok(provider, 'GET', `/api/v1/providers/${provider.publicKey}/contracts?limit=100`)).items as any[];
    const byId = new Map(all.map((c) => [c.contract_id, c]));
    const provisions = readFileSync(join(records, 'calls.log'), 'utf8').trim().split('\n').filter((l) => l.startsWith('provision '));
    const perAgent: Record<string, number> = {};
    for (const { id, pool } of contracts) {
      const c = byId.get(id);
      assert.equal(c.status, 'provisioned');
      assert.equal(poolOf[c.provisioned_by], pool, `contract ${id} was provisioned by an agent of its pool`);
      const runs = provisions.filter((l) => l.split(' ')[1] === id);
      assert.equal(runs.length, 1, `contract ${id}'s script ran once`);
      const name = runs[0]!.split(' ')[2]!;
      assert.equal(agents[name as keyof typeof agents].pubkey, c.provisioned_by, 'the agent that ran the script is the one that confirmed');
      assert.equal(c.instance_details.agent, name);
      perAgent[name] = (perAgent[name] ?? 0) + 1;
      const ev = (await eventsOf(api, provider, id)).map((e) => e.event);
      assert.equal(ev.filter((e) => e === 'provisioned').length, 1);
      assert.equal(ev.filter((e) => e === 'granted').length, 1, `granted once: ${ev.join(',')}`);
    }
    assert.equal(perAgent['na-1'], 25);
    assert.equal((perAgent['eu-1'] ?? 0) + (perAgent['eu-2'] ?? 0), 25);
    assert.ok((perAgent['eu-1'] ?? 0) > 0 && (perAgent['eu-2'] ?? 0) > 0, `both europe agents took work: ${JSON.stringify(perAgent)}`);
  } finally {
    const codes = await Promise.all(running.map((p) => p.stop()));
    assert.deepEqual(codes, [0, 0, 0], running.map((p) => p.stderr()).join('\n'));
  }
});
