// Batched confirmations (issue 14; DESIGN.md "v3, batches"): a lone confirmation goes out at once
// as its single call; confirmations that complete while one is in flight share one batch request,
// and each caller still gets its own item's outcome as the single call's ApiError. Against an
// older API (no batch route) the agent falls back to single calls. Requests are counted on the
// server side; batching is forced by the in-flight condition, never by timing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENDPOINTS, type WorkItem } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { ApiClient } from '../src/api/client.js';
import { ConfirmBatcher } from '../src/api/confirm-batcher.js';
import { ApiError, classify } from '../src/errors.js';
import { readKeyFile } from '../src/keys.js';
import { isAbortError } from '../src/util.js';
import {
  cleanup, contractOf, createOffering, createPool, createProvider, paidContract, readToml, setupScriptAgent, startApi, tempDir, waitFor, type TestApi,
} from './helpers.js';

let api: TestApi;
let dir: string;
let provider: Identity;
let client: ApiClient;
before(async () => {
  api = await startApi();
  dir = tempDir();
  provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: 'batches', location: 'europe', provisioner_type: 'script' });
  await createOffering(api, provider, { offering_id: 'vps' });
  const agent = await setupScriptAgent(api, provider, poolId, dir, { name: 'batcher' });
  const { identity } = readKeyFile(readToml(agent.config).keys.private_key_path);
  client = new ApiClient(api.url, identity, provider.publicKey);
});
after(async () => {
  client?.close();
  await api?.close();
  if (dir) cleanup(dir);
});

const SINGLE = '/api/v1/providers/:pubkey/contracts/:id/provisioned';
const BATCH = '/api/v1/providers/:pubkey/contracts/provisioned';

/** POSTs dc-api has answered so far, by route (its own request metrics). */
async function posts(route: string): Promise<number> {
  const m = await api.server.ctx.metrics.requests.get();
  return m.values.filter((v) => v.labels.method === 'POST' && v.labels.route === route).reduce((n, v) => n + v.value, 0);
}

/** A paid contract leased by our agent: its id and lease token. */
async function leased(): Promise<{ id: string; token: number }> {
  const { id } = await paidContract(api, provider, 'vps');
  const item: WorkItem = await client.contracts.lock(id);
  return { id, token: item.lock_token };
}

const details = (id: string) => ({ ip: '203.0.113.7', hostname: `vm-${id.slice(0, 8)}` });

test('a lone confirmation is sent at once as the single call: no batch request', async () => {
  // Sent inside submit itself, before any timer could run.
  let sent = 0;
  const stub = new ConfirmBatcher<{ contract_id: string }>({
    single: async () => void sent++,
    batch: async () => assert.fail('a lone item must not be batched'),
    describe: () => 'POST stub',
  });
  const pending = stub.submit({ contract_id: 'c-1' });
  assert.equal(sent, 1);
  await pending;

  const c = await leased();
  const [single0, batch0] = [await posts(SINGLE), await posts(BATCH)];
  const result = await client.contracts.provisioned(c.id, c.token, details(c.id));
  assert.equal(result, undefined);
  assert.equal((await posts(SINGLE)) - single0, 1);
  assert.equal((await posts(BATCH)) - batch0, 0);
  assert.equal((await contractOf(api, provider, c.id)).status, 'provisioned');
});

test('5 confirmations completing while one is in flight go out as one batch; each caller gets its own outcome', async () => {
  const first = await leased();
  const ok = [await leased(), await leased(), await leased(), await leased()];
  const lost = await leased();
  const [single0, batch0] = [await posts(SINGLE), await posts(BATCH)];

  // The first is in flight; the next five arrive in the same tick, so they queue behind it.
  const firstDone = client.contracts.provisioned(first.id, first.token, details(first.id));
  const rest = [
    ...ok.map((c) => client.contracts.provisioned(c.id, c.token, details(c.id))),
    // A token that is not the lease's: the single call answers 409 lease_lost.
    client.contracts.provisioned(lost.id, lost.token + 7, details(lost.id)),
  ];
  await firstDone;
  const outcomes = await Promise.allSettled(rest);

  assert.equal((await posts(SINGLE)) - single0, 1, 'only the first went out alone');
  assert.equal((await posts(BATCH)) - batch0, 1, 'the five shared one batch request');
  for (const o of outcomes.slice(0, 4)) assert.deepEqual(o, { status: 'fulfilled', value: undefined });
  const rejected = outcomes[4]!;
  assert.equal(rejected.status, 'rejected');
  const err = (rejected as PromiseRejectedResult).reason;
  assert.ok(err instanceof ApiError);
  assert.deepEqual(classify(err), { kind: 'lease_gone', code: 'lease_lost' });

  // The same ApiError the transport throws for that item's single call.
  const direct = await client.transport
    .call(ENDPOINTS.provisioned, { params: { pubkey: provider.publicKey, id: lost.id }, body: { lock_token: lost.token + 7, instance_details: details(lost.id) } })
    .then(() => assert.fail('the single call must be refused'), (e: unknown) => e);
  assert.ok(direct instanceof ApiError);
  assert.deepEqual({ status: err.status, code: err.code, message: err.message }, { status: direct.status, code: direct.code, message: direct.message });

  for (const c of [first, ...ok]) {
    const row = await contractOf(api, provider, c.id);
    assert.equal(row.status, 'provisioned');
    assert.deepEqual(row.instance_details, details(c.id));
  }
  assert.notEqual((await contractOf(api, provider, lost.id)).status, 'provisioned');
});

/** An API from before batches: the batch route is 404; the first single call is held open until released. */
class OldApi {
  readonly seen: { path: string; body: any }[] = [];
  private held: http.ServerResponse | null = null;
  private holdNext = true;
  private server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = req.url!.split('?')[0]!;
      this.seen.push({ path, body: JSON.parse(body) });
      if (/\/contracts\/(provisioned|failed|terminated)$/.test(path)) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { code: 'not_found', message: `No route for POST ${path}.` } }));
      }
      if (this.holdNext) {
        this.holdNext = false;
        this.held = res;
        return;
      }
      answer(res);
    });
  });
  url = '';

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  release(): void {
    answer(this.held!);
  }
  count(re: RegExp): number {
    return this.seen.filter((s) => re.test(s.path)).length;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
const answer = (res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{}');
};

test('an API without the batch route: the agent falls back to single calls for good; an item aborted while queued is dropped', async () => {
  const old = new OldApi();
  await old.listen();
  const pk = generateIdentity().publicKey;
  const c = new ApiClient(old.url, generateIdentity(), pk);
  try {
    const first = c.contracts.terminated('c-0', 1);
    await waitFor('the first request to be held', () => old.seen.length === 1);
    const aborted = new AbortController();
    const queued = [c.contracts.terminated('c-1', 1), c.contracts.terminated('c-2', 1), c.contracts.terminated('c-3', 1)];
    const dropped = c.contracts.terminated('c-4', 1, aborted.signal).then(
      () => assert.fail('an aborted item must not resolve'),
      (err: unknown) => err,
    );
    aborted.abort();
    old.release();
    await first;
    assert.deepEqual(await Promise.allSettled(queued), queued.map(() => ({ status: 'fulfilled', value: undefined })));
    assert.ok(isAbortError(await dropped));

    const batches = old.seen.filter((s) => /\/contracts\/terminated$/.test(s.path));
    assert.equal(batches.length, 1);
    assert.deepEqual(batches[0]!.body.items.map((i: { contract_id: string }) => i.contract_id), ['c-1', 'c-2', 'c-3'], 'the aborted item never went out');
    assert.equal(old.count(/\/contracts\/c-\d\/terminated$/), 4);
    assert.equal(old.count(/\/contracts\/c-4\/terminated$/), 0);

    // From now on every confirmation of that kind is a single call, even while others are in flight.
    const later = [c.contracts.terminated('c-5', 1), c.contracts.terminated('c-6', 1), c.contracts.terminated('c-7', 1)];
    await Promise.all(later);
    assert.equal(old.count(/\/contracts\/terminated$/), 1, 'no second batch request');
    assert.equal(old.count(/\/contracts\/c-\d\/terminated$/), 7);
  } finally {
    c.close();
    await old.close();
  }
});
