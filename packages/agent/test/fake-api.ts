// A fake dc-api for what the real one cannot easily show: an older API without claim or
// long-poll, 5xx answers, and a record of every byte the agent sends. It verifies each request's
// signature with the same DC1 message the real API uses.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { delegationMessage, type AgentSetupResult, type HeartbeatResult, type WorkItem } from '@dc/core';
import { generateIdentity, publicKeyFromHex, requestMessage, signMessage, verifyMessage, type Identity } from '@dc/core/node';

export interface FakeContract {
  contract_id: string;
  offering_id: string;
  lock_agent: string | null;
  lock_token: number;
  status: 'accepted' | 'provisioned';
  provisioned_by: string | null;
  instance_details: Record<string, unknown> | null;
}

export interface Seen {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class FakeApi {
  readonly serverKey: Identity = generateIdentity();
  readonly provider = generateIdentity().publicKey;
  readonly poolId = 'pool-fake';
  readonly seen: Seen[] = [];
  readonly violations: string[] = [];
  readonly contracts = new Map<string, FakeContract>();
  /** false: answer claim with 404, like an API from before claim existed. */
  claimSupported = false;
  /** Answer this many pending-provision calls with 503 first. */
  failPending = 0;
  url = '';
  private server!: http.Server;

  /**
   * `takenBy`: another agent locks it between the agent's listing and its lock (the listing still
   * shows it free; the lock answers 409), the race the fallback must skip.
   */
  addContract(id: string, takenBy: string | null = null): void {
    this.contracts.set(id, { contract_id: id, offering_id: 'vps', lock_agent: takenBy, lock_token: takenBy ? 1 : 0, status: 'accepted', provisioned_by: null, instance_details: null });
    if (takenBy) this.raced.add(id);
  }
  private readonly raced = new Set<string>();

  count(method: string, suffix: string): number {
    return this.seen.filter((s) => s.method === method && s.path.split('?')[0]!.endsWith(suffix)).length;
  }

  async listen(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => this.handle(req, res, body));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** The wire shape is core's WorkItem, so the fake cannot drift from what the real API sends. */
  private item(c: FakeContract): WorkItem {
    const now = new Date().toISOString();
    return {
      contract_id: c.contract_id,
      provider_pubkey: this.provider,
      offering_id: c.offering_id,
      customer_pubkey: 'cd'.repeat(32),
      status: c.status,
      payment_status: 'succeeded',
      created_at: now,
      updated_at: now,
      lock_agent: c.lock_agent,
      lock_agent_label: null,
      lock_token: c.lock_token,
      lock_expires_at: c.lock_agent ? new Date(Date.now() + 300_000).toISOString() : null,
      lock_ttl_seconds: 300,
      attempts: 0,
      next_attempt_at: null,
      last_error: null,
      provisioned_by: c.provisioned_by,
      provisioned_by_label: null,
      provisioned_at: c.status === 'provisioned' ? now : null,
      instance_details: c.instance_details,
      provisioned_pool_id: c.status === 'provisioned' ? this.poolId : null,
      teardown_owner: null,
      host_scope: null,
      teardown_handed_off: false,
      terminated_at: null,
      terminated_by: null,
      ssh_pubkey: null,
      instance_config: null,
      offering_name: null,
      datacenter_region: null,
      action: 'provision',
      provisioner_type: 'script',
      provisioner_config: null,
      resolved_pool_id: this.poolId,
    };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    this.seen.push({ at: Date.now(), method, path: target, headers: req.headers, body });
    const send = (status: number, data: unknown) => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(data));
    };
    const error = (status: number, code: string, message: string) => send(status, { error: { code, message } });
    const path = target.split('?')[0]!;
    if (method === 'GET' && path === '/api/v1/server-key') return send(200, { public_key: this.serverKey.publicKey });

    const agent = String(req.headers['x-agent-pubkey'] ?? '');
    const msg = requestMessage({ method, host: String(req.headers.host), path: target, timestamp: String(req.headers['x-timestamp']), nonce: String(req.headers['x-nonce']), body });
    let ok = false;
    try {
      ok = verifyMessage(publicKeyFromHex(agent), msg, String(req.headers['x-signature']));
    } catch {
      ok = false;
    }
    if (!ok) {
      this.violations.push(`${method} ${target}: bad signature`);
      return error(401, 'bad_signature', 'The signature does not match this request.');
    }
    const json = body ? JSON.parse(body) : {};

    if (method === 'POST' && path === '/api/v1/agents/setup') {
      const delegation = { provider_pubkey: this.provider, agent_pubkey: json.agent_pubkey, pool_id: this.poolId, permissions: ['fetch_contracts', 'heartbeat', 'provision'], issued_at: new Date().toISOString() };
      const result: AgentSetupResult = {
        provider_pubkey: this.provider,
        pool_id: this.poolId,
        pool_name: 'fake-pool',
        pool_location: 'europe',
        provisioner_type: 'script',
        permissions: delegation.permissions,
        delegation,
        delegation_signature: signMessage(this.serverKey.privateKey, delegationMessage(delegation)),
      };
      return send(201, result);
    }
    const base = `/api/v1/providers/${this.provider}`;
    if (method === 'POST' && path === `${base}/heartbeat`) {
      const beat: HeartbeatResult = { acknowledged: true, pool_id: this.poolId, pool_name: 'fake-pool', next_heartbeat_seconds: 1 };
      return send(200, beat);
    }
    if (method === 'POST' && path === `${base}/contracts/claim`) {
      if (!this.claimSupported) return error(404, 'not_found', `No route for POST ${path}.`);
      return send(200, { items: [] });
    }
    if (method === 'GET' && path === `${base}/contracts/pending-provision`) {
      if (this.failPending > 0) {
        this.failPending--;
        return error(503, 'unavailable', 'The API is restarting.');
      }
      // No long-poll: answers at once, whatever `wait` says.
      const items = [...this.contracts.values()].filter((c) => c.status === 'accepted' && (c.lock_agent === null || c.lock_agent === agent || this.raced.has(c.contract_id)));
      return send(200, { items: items.map((c) => (this.raced.has(c.contract_id) ? { ...this.item(c), lock_agent: null, lock_token: 0 } : this.item(c))) });
    }
    const m = /^\/api\/v1\/providers\/[0-9a-f]{64}\/contracts\/([^/]+)\/(lock|provisioned|failed)$/.exec(path);
    const c = m ? this.contracts.get(m[1]!) : undefined;
    if (!m || !c) return error(404, 'not_found', `No route for ${method} ${path}.`);
    if (m[2] === 'lock' && method === 'POST') {
      if (c.lock_agent && c.lock_agent !== agent) return error(409, 'lock_held', 'Another agent holds a live lease on this contract.');
      if (c.lock_agent !== agent) {
        c.lock_agent = agent;
        c.lock_token++;
      }
      return send(200, this.item(c));
    }
    if (c.lock_agent !== agent || json.lock_token !== c.lock_token) return error(409, 'lease_lost', 'This lease is no longer yours.');
    if (m[2] === 'lock' && method === 'DELETE') {
      c.lock_agent = null;
      return send(200, this.item(c));
    }
    if (m[2] === 'provisioned') {
      c.status = 'provisioned';
      c.provisioned_by = agent;
      c.instance_details = json.instance_details;
      c.lock_agent = null;
      return send(200, this.item(c));
    }
    c.lock_agent = null;
    return send(200, this.item(c));
  }
}
