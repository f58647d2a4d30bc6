// Agent registration (setup with a one-time token), revocation, heartbeats, and the fleet
// controls of DESIGN.md "Fleet operations (v3)": drain/resume (state) and reset-health. Every
// change of an agent's row is an UPDATE of it, which takes the row lock grants take first
// (eligibility.ts lockAgent): once a drain has answered, no grant to that agent commits.
import { PERMISSIONS, delegationMessage, type AgentSetupResult, type AgentState, type AgentUpdate, type PoolAgent, type StateSetter } from '@dc/core';
import { hashSetupToken, signMessage, type Identity } from '@dc/core/node';
import type { Db, Queryable } from '../db/db.js';
import { DomainError, fail, notFound } from '../errors.js';
import { releaseLeasesOfAgent } from './leases.js';
import { agentActor, providerActor, recordAudit, type Actor } from './audit.js';
import { readAgent } from './pools.js';
import { notifyAgentEligible } from './work-notify.js';

interface TokenRow {
  token_id: string;
  pool_id: string;
  label: string | null;
  used: boolean;
  expired: boolean;
}

/**
 * Registers `agentPubkey` with a setup token. Exactly one of any number of concurrent calls with
 * one token succeeds: the token row is locked (FOR UPDATE) for the whole transaction, and it is
 * marked used in the same transaction that inserts the delegation. A key already registered
 * rolls the transaction back, so the token stays usable.
 */
export async function setupAgent(
  db: Db,
  serverKey: Identity,
  input: { token: string; agentPubkey: string; label: string | null },
): Promise<AgentSetupResult> {
  return db.transaction(async (tx) => {
    // Lock order pool, then token: deleting a pool locks the pool and then (by cascade) its
    // tokens, so taking them the other way round here could deadlock with a pool deletion.
    const poolOf = (
      await tx.query<{ pool_id: string }>(`SELECT pool_id FROM agent_setup_tokens WHERE token_hash = $1`, [hashSetupToken(input.token)])
    ).rows[0];
    if (poolOf) await tx.query(`SELECT 1 FROM agent_pools WHERE pool_id = $1 FOR KEY SHARE`, [poolOf.pool_id]);
    const token = (
      await tx.query<TokenRow>(
        `SELECT token_id, pool_id, label, used_at IS NOT NULL AS used, expires_at <= now() AS expired
         FROM agent_setup_tokens WHERE token_hash = $1 FOR UPDATE`,
        [hashSetupToken(input.token)],
      )
    ).rows[0];
    if (!token) throw fail('invalid_token', 'This setup token is not valid; create a new one in the dashboard.');
    if (token.used) throw fail('token_used', 'This setup token was already used; create a new one for each agent.');
    if (token.expired) throw fail('token_expired', 'This setup token has expired; create a new one in the dashboard.');

    const pool = (
      await tx.query<{ provider_pubkey: string; name: string; location: string; provisioner_type: string; issued_at: Date }>(
        `SELECT provider_pubkey, name, location, provisioner_type, date_trunc('milliseconds', now()) AS issued_at
         FROM agent_pools WHERE pool_id = $1`,
        [token.pool_id],
      )
    ).rows[0]!;
    const delegation = {
      provider_pubkey: pool.provider_pubkey,
      agent_pubkey: input.agentPubkey,
      pool_id: token.pool_id,
      permissions: [...PERMISSIONS],
      issued_at: pool.issued_at.toISOString(),
    };
    const signature = signMessage(serverKey.privateKey, delegationMessage(delegation));
    const inserted = await tx.query(
      `INSERT INTO provider_agent_delegations
         (agent_pubkey, provider_pubkey, pool_id, permissions, label, issued_at, signature, setup_token_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (agent_pubkey) DO NOTHING`,
      [input.agentPubkey, pool.provider_pubkey, token.pool_id, delegation.permissions, input.label ?? token.label, delegation.issued_at, signature, token.token_id],
    );
    if (inserted.rowCount === 0) {
      throw fail('agent_exists', 'This agent key is already registered; generate a new key (dc-agent setup --force) or revoke the old agent.');
    }
    await tx.query(`UPDATE agent_setup_tokens SET used_at = now(), used_by_agent = $2 WHERE token_id = $1`, [token.token_id, input.agentPubkey]);
    await recordAudit(tx, {
      provider: pool.provider_pubkey, kind: 'agent_setup', actor: agentActor(input.agentPubkey),
      subject: { type: 'agent', id: input.agentPubkey, pool_id: token.pool_id },
      detail: { label: input.label ?? token.label, token_id: token.token_id },
    });
    return {
      provider_pubkey: pool.provider_pubkey,
      pool_id: token.pool_id,
      pool_name: pool.name,
      pool_location: pool.location,
      provisioner_type: pool.provisioner_type,
      permissions: delegation.permissions,
      delegation,
      delegation_signature: signature,
    };
  });
}

/** Revokes an agent: its next signed call is 401 and its leases are released. Idempotent. */
export async function revokeAgent(db: Db, provider: string, agentPubkey: string, offlineAfterSeconds: number): Promise<void> {
  await db.transaction(async (tx) => {
    const r = await tx.query<{ pool_id: string | null; label: string | null; newly: boolean }>(
      `UPDATE provider_agent_delegations SET revoked_at = COALESCE(revoked_at, now())
       WHERE agent_pubkey = $1 AND provider_pubkey = $2 RETURNING pool_id, label, revoked_at = now() AS newly`,
      [agentPubkey, provider],
    );
    const agent = r.rows[0];
    if (!agent) throw notFound(`Agent ${agentPubkey}`);
    // A repeated revoke changes nothing and is not recorded again.
    if (agent.newly) {
      await recordAudit(tx, {
        provider, kind: 'agent_revoked', actor: providerActor(provider),
        subject: { type: 'agent', id: agentPubkey, pool_id: agent.pool_id }, detail: { label: agent.label },
      });
    }
    await releaseLeasesOfAgent(tx, agentPubkey, 'agent revoked', offlineAfterSeconds);
  });
}

/** What a heartbeat answers besides the acknowledgement: the pool, and the agent's state and whether it is drained. */
export interface HeartbeatState {
  pool_id: string | null;
  pool_name: string | null;
  state: AgentState;
  /** Draining and holding no live lease (of either action): safe to stop. */
  drained: boolean;
}

export interface HeartbeatReport {
  version: string;
  provisioner_type?: string;
  active_contracts?: number;
  max_concurrent?: number;
  capabilities?: Record<string, unknown>;
}

interface AgentRow {
  pool_id: string | null;
  state: AgentState;
  state_reason: string | null;
  consecutive_failures: number;
  cooldown_until: Date | null;
}

/**
 * Locks the provider's (un-revoked) agent row for a change: the same lock every grant takes first.
 * 404 when the provider has no such agent, or it is revoked (nothing about it can change any more).
 */
async function lockAgentOf(tx: Queryable, provider: string, agentPubkey: string): Promise<AgentRow> {
  const r = await tx.query<AgentRow & { revoked: boolean }>(
    `SELECT pool_id, state, state_reason, consecutive_failures, CASE WHEN cooldown_until > now() THEN cooldown_until END AS cooldown_until,
       revoked_at IS NOT NULL AS revoked
     FROM provider_agent_delegations WHERE agent_pubkey = $1 AND provider_pubkey = $2 FOR NO KEY UPDATE`,
    [agentPubkey, provider],
  );
  const row = r.rows[0];
  if (!row) throw notFound(`Agent ${agentPubkey}`);
  if (row.revoked) throw new DomainError('not_found', `Agent ${agentPubkey} is revoked; a revoked agent cannot be changed.`);
  return row;
}

/**
 * PUT …/agents/{agent_pubkey}: drain or resume (`state`, `reason`), relabel (`label`, provider
 * only: the route refuses an agent's). Records who set the state; a state change is audited
 * (`agent_state_changed`), and a resume wakes the agent's held long-poll. Changing the state
 * without a reason clears the old one; a reason alone replaces it.
 */
export async function updateAgent(
  db: Db, provider: string, agentPubkey: string, by: Actor & { kind: StateSetter }, input: AgentUpdate, offlineAfterSeconds: number,
): Promise<PoolAgent> {
  await db.transaction(async (tx) => {
    const cur = await lockAgentOf(tx, provider, agentPubkey);
    const state = input.state ?? cur.state;
    const changed = state !== cur.state;
    const reason = input.reason !== undefined ? input.reason : changed ? null : cur.state_reason;
    await tx.query(
      `UPDATE provider_agent_delegations SET state = $2, state_reason = $3,
         state_set_by = CASE WHEN $4::text IS NULL THEN state_set_by ELSE $4 END, label = COALESCE($5, label)
       WHERE agent_pubkey = $1`,
      [agentPubkey, state, reason, input.state !== undefined ? by.kind : null, input.label ?? null],
    );
    if (changed) {
      await recordAudit(tx, {
        provider, kind: 'agent_state_changed', actor: by, subject: { type: 'agent', id: agentPubkey, pool_id: cur.pool_id },
        detail: { from: cur.state, to: state, reason, set_by: by.kind },
      });
    }
    if (changed && state === 'active') await notifyAgentEligible(tx, provider, cur.pool_id, agentPubkey);
  });
  return readAgent(db, provider, agentPubkey, offlineAfterSeconds);
}

/** POST …/agents/{agent_pubkey}/reset-health: zero the failure counts and end a cool-down (audit `agent_health_reset`). */
export async function resetAgentHealth(db: Db, provider: string, agentPubkey: string, offlineAfterSeconds: number): Promise<PoolAgent> {
  await db.transaction(async (tx) => {
    const cur = await lockAgentOf(tx, provider, agentPubkey);
    await tx.query(
      `UPDATE provider_agent_delegations SET consecutive_failures = 0, cooldowns_since_success = 0, cooldown_until = NULL WHERE agent_pubkey = $1`,
      [agentPubkey],
    );
    await recordAudit(tx, {
      provider, kind: 'agent_health_reset', actor: providerActor(provider), subject: { type: 'agent', id: agentPubkey, pool_id: cur.pool_id },
      detail: { consecutive_failures: cur.consecutive_failures, cooldown_until: cur.cooldown_until },
    });
    if (cur.state === 'active') await notifyAgentEligible(tx, provider, cur.pool_id, agentPubkey);
  });
  return readAgent(db, provider, agentPubkey, offlineAfterSeconds);
}

/** Replaces the agent's last inventory (contract ids of the tagged machines it sees). */
export async function recordInventory(db: Queryable, agentPubkey: string, contractIds: readonly string[]): Promise<void> {
  await db.query(
    `INSERT INTO agent_inventory (agent_pubkey, contract_ids, reported_at) VALUES ($1, $2, now())
     ON CONFLICT (agent_pubkey) DO UPDATE SET contract_ids = EXCLUDED.contract_ids, reported_at = EXCLUDED.reported_at`,
    [agentPubkey, [...new Set(contractIds)]],
  );
}

/** The server's delegation key: one row, created by whichever replica starts first. */
export async function loadServerKey(db: Queryable, candidate: Identity, candidateSeedHex: string): Promise<{ seed_hex: string }> {
  await db.query(
    `INSERT INTO server_keys (id, seed_hex, public_key) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`,
    [candidateSeedHex, candidate.publicKey],
  );
  return (await db.query<{ seed_hex: string }>(`SELECT seed_hex FROM server_keys WHERE id = 1`)).rows[0]!;
}
