// A fake dc-api for what the real one cannot easily show: an older API without claim or
// long-poll, 5xx answers, and a record of every byte the agent sends. It verifies each request's
// signature with the same DC1 message the real API uses.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { STATE_REASON_MAX, delegationMessage, type AgentSetupResult, type AgentState, type HeartbeatResult, type PoolAgent, type StateSetter, type WorkItem } from '@dc/core';
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
  /** Fleet state (v3) of every agent, as GET/PUT …/agents/{pk} and the heartbeat answer show it. */
  readonly agents = new Map<string, { state: AgentState; reason: string | null; setBy: StateSetter | null; consecutiveFailures: number; cooldownUntil: string | null }>();
  /** Agents whose signed calls answer 401 agent_revoked. */
  readonly revoked = new Set<string>();
  /** Bodies of `failed` reports, by contract. */
  readonly failures = new Map<string, { error_message: string; error_class?: string }[]>();
  /** Contracts reported failed: not offered again (the real API backs off). */
  private readonly backingOff = new Set<string>();
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

  /** The fleet record of `agent` (created active on first use). */
  fleet(agent: string) {
    let a = this.agents.get(agent);
    if (!a) this.agents.set(agent, (a = { state: 'active', reason: null, setBy: null, consecutiveFailures: 0, cooldownUntil: null }));
    return a;
  }

  liveLeases(agent: string): number {
    return [...this.contracts.values()].filter((c) => c.lock_agent === agent && c.status === 'accepted').length;
  }

  /** What GET …/agents/{pk} answers: core's PoolAgent. */
  agentRecord(agent: string): PoolAgent {
    const f = this.fleet(agent);
    const live = this.liveLeases(agent);
    return {
      agent_pubkey: agent,
      label: 'fake-agent',
      status: 'online',
      version: '0.1.0',
      active_contracts: 0,
      last_seen_at: new Date().toISOString(),
      created_at: new Date().toISOString(),
      revoked_at: null,
      max_concurrent: 2,
      reported_active_contracts: live,
      pool_id: this.poolId,
      state: f.state,
      state_reason: f.reason,
      state_set_by: f.setBy,
      drained: f.state === 'draining' && live === 0,
      live_leases: live,
      consecutive_failures: f.consecutiveFailures,
      cooldown_until: f.cooldownUntil,
      success_rate_24h: null,
      host_scope: null,
    };
  }

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
      routed_pool_id: this.poolId,
      lease_pool_id: this.poolId,
      via_fallback: false,
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
    if (this.revoked.has(agent)) return error(401, 'agent_revoked', 'This agent has been revoked by its provider.');

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
      const r = this.agentRecord(agent);
      const beat: HeartbeatResult = { acknowledged: true, pool_id: this.poolId, pool_name: 'fake-pool', next_heartbeat_seconds: 1, state: r.state, drained: r.drained };
      return send(200, beat);
    }
    const agentPath = new RegExp(`^${base}/agents/([0-9a-f]{64})$`).exec(path);
    if (agentPath) {
      // The agent may read and set only itself (the real API: 403).
      if (agentPath[1] !== agent) return error(403, 'forbidden', 'An agent may read or change only itself.');
      if (method === 'GET') return send(200, this.agentRecord(agent));
      if (method === 'PUT') {
        const keys = Object.keys(json);
        if (keys.length === 0 || keys.some((k) => k !== 'state' && k !== 'reason')) return error(400, 'invalid_input', 'An agent may set only state and reason.');
        if (json.state !== undefined && json.state !== 'active' && json.state !== 'draining') return error(400, 'invalid_input', 'state: active or draining');
        if (json.reason !== undefined && json.reason !== null && (typeof json.reason !== 'string' || json.reason.length > STATE_REASON_MAX)) return error(400, 'invalid_input', `reason: at most ${STATE_REASON_MAX} characters`);
        const f = this.fleet(agent);
        if (json.state) {
          f.state = json.state;
          f.setBy = 'agent';
        }
        if (json.reason !== undefined) f.reason = json.reason;
        return send(200, this.agentRecord(agent));
      }
    }
    if (method === 'POST' && path === `${base}/contracts/claim`) {
      if (!this.claimSupported) return error(404, 'not_found', `No route for POST ${path}.`);
      // The agent's own leases first, then (unless it is draining) free contracts; like the real API.
      const max = typeof json.max === 'number' ? json.max : 1;
      const exclude = new Set<string>(Array.isArray(json.exclude) ? json.exclude : []);
      const open = [...this.contracts.values()].filter((c) => c.status === 'accepted' && !exclude.has(c.contract_id) && !this.backingOff.has(c.contract_id));
      const own = open.filter((c) => c.lock_agent === agent);
      const fresh = this.fleet(agent).state === 'active' ? open.filter((c) => c.lock_agent === null) : [];
      const items = [...own, ...fresh].slice(0, max).map((c) => {
        if (c.lock_agent !== agent) {
          c.lock_agent = agent;
          c.lock_token++;
        }
        return this.item(c);
      });
      return send(200, { items });
    }
    if (method === 'GET' && path === `${base}/contracts/pending-provision`) {
      if (this.failPending > 0) {
        this.failPending--;
        return error(503, 'unavailable', 'The API is restarting.');
      }
      // No long-poll: answers at once, whatever `wait` says.
      const items = [...this.contracts.values()].filter((c) => c.status === 'accepted' && !this.backingOff.has(c.contract_id) && (c.lock_agent === null || c.lock_agent === agent || this.raced.has(c.contract_id)));
      return send(200, { items: items.map((c) => (this.raced.has(c.contract_id) ? { ...this.item(c), lock_agent: null, lock_token: 0 } : this.item(c))) });
    }
    const m = /^\/api\/v1\/providers\/[0-9a-f]{64}\/contracts\/([^/]+)\/(lock|provisioned|failed)$/.exec(path);
    const c = m ? this.contracts.get(m[1]!) : undefined;
    if (!m || !c) return error(404, 'not_found', `No route for ${method} ${path}.`);
    if (m[2] === 'lock' && method === 'POST') {
      if (c.lock_agent && c.lock_agent !== agent) return error(409, 'lock_held', 'Another agent holds a live lease on this contract.');
      if (c.lock_agent !== agent && this.fleet(agent).state === 'draining') return error(409, 'agent_draining', 'This agent is draining: it gets no new provision work.');
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
    if (m[2] === 'failed') {
      const list = this.failures.get(c.contract_id) ?? [];
      list.push({ error_message: json.error_message, ...(json.error_class !== undefined ? { error_class: json.error_class } : {}) });
      this.failures.set(c.contract_id, list);
      if ((json.error_class ?? 'agent') === 'agent') this.fleet(agent).consecutiveFailures++;
      this.backingOff.add(c.contract_id);
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
