// Agent request auth, coalesced: the nonce spend and delegation read of every agent call (and, for
// a heartbeat, its record and answer) from requests that arrive together at one replica go to the
// database as one statement. Under load that is one round trip, one write syscall and one commit
// for many requests instead of one each; a lone request waits for nothing (it is sent at the end
// of the event-loop turn that brought it). Each item keeps its own outcome: its own window check,
// its own nonce, its own delegation, its own heartbeat write.
import { HEX_KEY_RE } from '@dc/core';
import { isDatabaseUnavailable, type Queryable } from '../db/db.js';
import type { HeartbeatReport, HeartbeatState } from './agents.js';
import { inRequestWindow, type NonceSpend } from './auth.js';

export interface AgentAuthRequest {
  agentPubkey: string;
  nonce: string;
  /** X-Timestamp as sent (Unix milliseconds, digits only: checked by the caller). */
  timestampMs: string;
  /**
   * The provider the path names ('' when none): a heartbeat is recorded only under its own
   * provider. Anything but a well-formed key is sent as '' (it can match no provider), so no
   * path can make the shared statement fail.
   */
  pathProvider: string;
  /** A heartbeat to record when every check passes; undefined for any other call. */
  heartbeat?: HeartbeatReport;
}

/** The nonce spend and delegation (auth's checks), with the heartbeat's answer when one was recorded. */
export interface AgentAuthOutcome extends NonceSpend {
  /** null: no such agent. */
  provider_pubkey: string | null;
  pool_id: string | null;
  revoked: boolean | null;
  heartbeat: HeartbeatState | null;
}

/** Items per statement: past this the statement's own time, not the round trip, dominates. */
const MAX_BATCH = 64;
/**
 * Statements in flight per replica. Requests arriving meanwhile queue for the next one, which is
 * what makes batches form under load; more than a few would only take pool connections from claims.
 */
const MAX_IN_FLIGHT = 4;

// Items come as one JSON array (k: the item's index). Every agent appears at most once per batch
// (the batcher holds a second request of the same agent for the next statement), so `spent`,
// keyed by agent, tells each item's own nonce apart, and the heartbeat upsert touches each status
// row once. Rows are written in agent order, so two replicas' batches cannot deadlock. The
// lookups are LATERAL … LIMIT 1: one index probe per item, where a join estimated from the JSON's
// default 100 rows scanned every delegation.
//
// A heartbeat is written only if the item passes every check auth then makes in JS (in the
// window, nonce fresh, agent of the path's provider, not revoked), so a refused request writes
// nothing but its spent nonce. `last_seen_at` is not rewritten while it is younger than $2
// seconds and the report is unchanged: such a beat changes nothing a reader sees
// (routes/agents.ts heartbeatRewriteAfterSeconds says why the bound is safe).
function agentAuthSql(heartbeats: boolean): string {
  const nonceAndDelegation = `
WITH i AS (
  SELECT x.*, to_timestamp(x.ts / 1000.0) AS request_at, ${inRequestWindow('to_timestamp(x.ts / 1000.0)')} AS in_window
  FROM jsonb_to_recordset($1::jsonb) AS x(k int, agent text, nonce text, ts bigint, provider text, hb boolean,
    version text, ptype text, active int, caps jsonb, maxc int)),
spent AS (
  INSERT INTO request_nonces (pubkey, nonce, request_at)
  SELECT agent, nonce, request_at FROM i WHERE in_window ORDER BY agent
  ON CONFLICT DO NOTHING RETURNING pubkey),
d AS (
  SELECT i.k, dl.provider_pubkey, dl.pool_id, dl.revoked_at IS NOT NULL AS revoked, dl.state,
    (i.hb AND dl.provider_pubkey = i.provider AND dl.revoked_at IS NULL AND i.agent IN (SELECT pubkey FROM spent)) AS recorded
  FROM i CROSS JOIN LATERAL (
    SELECT provider_pubkey, pool_id, revoked_at, state FROM provider_agent_delegations WHERE agent_pubkey = i.agent LIMIT 1) dl)`;
  const answer = `
SELECT i.k, i.in_window, (i.agent IN (SELECT pubkey FROM spent))::int AS fresh, d.provider_pubkey, d.pool_id, d.revoked`;
  if (!heartbeats) return `${nonceAndDelegation}${answer}, false AS recorded\nFROM i LEFT JOIN d USING (k)`;
  return `${nonceAndDelegation},
beat AS (
  INSERT INTO agent_status (agent_pubkey, last_seen_at, version, provisioner_type, active_contracts, capabilities, max_concurrent)
  SELECT i.agent, now(), i.version, i.ptype, i.active, i.caps, i.maxc FROM i JOIN d USING (k) WHERE d.recorded ORDER BY i.agent
  ON CONFLICT (agent_pubkey) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at, version = EXCLUDED.version,
    provisioner_type = EXCLUDED.provisioner_type, active_contracts = EXCLUDED.active_contracts,
    capabilities = EXCLUDED.capabilities,
    -- omitted keeps the last value (DESIGN.md "Capacity")
    max_concurrent = COALESCE(EXCLUDED.max_concurrent, agent_status.max_concurrent)
  WHERE agent_status.last_seen_at <= now() - make_interval(secs => $2::float8)
    OR agent_status.version IS DISTINCT FROM EXCLUDED.version
    OR agent_status.provisioner_type IS DISTINCT FROM EXCLUDED.provisioner_type
    OR agent_status.active_contracts IS DISTINCT FROM EXCLUDED.active_contracts
    OR agent_status.capabilities IS DISTINCT FROM EXCLUDED.capabilities
    OR agent_status.max_concurrent IS DISTINCT FROM COALESCE(EXCLUDED.max_concurrent, agent_status.max_concurrent)
  RETURNING 1)${answer},
  COALESCE(d.recorded, false) AS recorded, p.name AS pool_name, d.state,
  CASE WHEN d.recorded THEN d.state = 'draining' AND NOT EXISTS (
    SELECT 1 FROM contract_sign_requests l WHERE l.provisioning_lock_agent = i.agent AND l.provisioning_lock_expires_at > now()) END AS drained
FROM i
LEFT JOIN d USING (k)
LEFT JOIN LATERAL (SELECT name FROM agent_pools WHERE pool_id = d.pool_id AND d.recorded LIMIT 1) p ON true`;
}
/** For a batch with a heartbeat in it; one without skips the status upsert and the answer's reads. */
const WITH_HEARTBEATS_SQL = agentAuthSql(true);
const NONCES_ONLY_SQL = agentAuthSql(false);

type Row = Omit<AgentAuthOutcome, 'heartbeat'> & { k: number; recorded: boolean; pool_name: string | null; state: HeartbeatState['state']; drained: boolean | null };

interface Pending {
  req: AgentAuthRequest;
  resolve(outcome: AgentAuthOutcome): void;
  reject(err: unknown): void;
}

/** One per replica (http/auth.ts): spends agent nonces, and records heartbeats, in batches. */
export class AgentAuthBatcher {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;

  /** `heartbeatRewriteAfterSeconds`: the bound under which an unchanged heartbeat is not rewritten. */
  constructor(
    private readonly db: Queryable,
    private readonly heartbeatRewriteAfterSeconds: number,
  ) {}

  spend(req: AgentAuthRequest): Promise<AgentAuthOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.schedule();
    });
  }

  // Sent at the end of this event-loop turn, so every request parsed in it joins the batch.
  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      const batch: Pending[] = [];
      const later: Pending[] = [];
      const agents = new Set<string>();
      for (const p of this.queue) {
        if (batch.length < MAX_BATCH && !agents.has(p.req.agentPubkey)) {
          agents.add(p.req.agentPubkey);
          batch.push(p);
        } else {
          later.push(p);
        }
      }
      this.queue = later;
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    const items = batch.map(({ req }, k) => {
      const hb = req.heartbeat;
      return {
        k, agent: req.agentPubkey, nonce: req.nonce, ts: req.timestampMs, provider: HEX_KEY_RE.test(req.pathProvider) ? req.pathProvider : '', hb: hb !== undefined,
        // Absent keys read as SQL NULL (a JSON null would be the jsonb value null).
        version: hb?.version, ptype: hb?.provisioner_type, active: hb?.active_contracts, caps: hb?.capabilities, maxc: hb?.max_concurrent,
      };
    });
    let rows: Row[];
    try {
      const json = JSON.stringify(items);
      rows = (items.some((x) => x.hb)
        ? await this.db.query<Row>(WITH_HEARTBEATS_SQL, [json, this.heartbeatRewriteAfterSeconds], { prepare: 'dc_agent_auth_heartbeats' })
        : await this.db.query<Row>(NONCES_ONLY_SQL, [json], { prepare: 'dc_agent_auth' })).rows;
    } catch (err) {
      // Input is checked before it joins a batch; should an item still break the statement, it
      // must fail alone, so each item is sent again on its own (one after another, within this
      // batch's slot). A lost database fails them all.
      if (batch.length > 1 && !isDatabaseUnavailable(err)) {
        for (const p of batch) await this.send([p]);
      } else {
        for (const p of batch) p.reject(err);
      }
      return;
    }
    const byIndex = new Map(rows.map((r) => [r.k, r]));
    batch.forEach((p, k) => {
      const r = byIndex.get(k);
      if (!r) return p.reject(new Error(`agent auth statement returned no row for item ${k}`));
      const { k: _k, recorded, pool_name, state, drained, ...spend } = r;
      p.resolve({ ...spend, heartbeat: recorded ? { pool_id: spend.pool_id, pool_name, state, drained: drained === true } : null });
    });
  }
}
