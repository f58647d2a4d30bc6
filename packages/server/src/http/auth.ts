// Signature verification and authorization (DESIGN.md "Request signing"). One preValidation hook
// for every route: verify the Ed25519 signature over the DC1 message, spend the nonce in the
// database (so a replay is refused by every replica), then resolve who is calling.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { KeyObject } from 'node:crypto';
import {
  HEX_KEY_RE,
  HEX_SIG_RE,
  MAX_CLOCK_FUTURE_MS,
  MAX_CLOCK_PAST_MS,
  NONCE_RE,
  TIMESTAMP_RE,
  publicKeyFromHex,
  requestMessage,
  verifyMessage,
} from '@dc/core';
import type { Db } from '../db/db.js';
import { ApiError, forbidden, unauthenticated } from './errors.js';
import { assertSafeInput } from './input-guard.js';

/**
 * - `none`: unsigned.
 * - `key`: any X-Public-Key signer (customers, operators); the handler decides what it may do.
 * - `setup`: X-Agent-Pubkey of a key not yet registered (agent setup).
 * - `{provider, agent}`: under /providers/{pubkey}: the provider itself and/or its active agents.
 */
export type AuthMode = 'none' | 'key' | 'setup' | { provider: boolean; agent: boolean };

export type Signer =
  | { kind: 'key'; pubkey: string }
  | { kind: 'agent'; pubkey: string; providerPubkey: string; poolId: string | null };

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
  interface FastifyRequest {
    rawBody: Buffer;
    /** A JSON syntax error, reported only after the signature check (auth before input). */
    bodyError: ApiError | null;
    signer: Signer | null;
  }
}

const KEY_CACHE_MAX = 50_000;

/** Parsed public keys, reused across requests (parsing DER costs more than verifying). */
class KeyCache {
  private readonly keys = new Map<string, KeyObject>();
  get(hex: string): KeyObject {
    let k = this.keys.get(hex);
    if (!k) {
      if (this.keys.size >= KEY_CACHE_MAX) this.keys.clear();
      k = publicKeyFromHex(hex);
      this.keys.set(hex, k);
    }
    return k;
  }
}

interface SpendRow {
  in_window: boolean;
  fresh: number;
}
interface AgentRow extends SpendRow {
  provider_pubkey: string | null;
  pool_id: string | null;
  revoked: boolean | null;
}

/** Coarse sanity bound checked before the database (keeps absurd timestamps out of SQL). */
const TIMESTAMP_SANITY_MS = 86_400_000;

// One round trip, its own autocommitted statement (outside any handler transaction, so the nonce
// stays spent when the request is refused): check the timestamp window against the database
// clock, so every replica draws the same line that nonce pruning uses, then spend the nonce.
const SPEND_NONCE_CTES = `
  t AS (SELECT to_timestamp($3::bigint / 1000.0) AS ts),
  win AS (SELECT ts, ts BETWEEN now() - make_interval(secs => ${MAX_CLOCK_PAST_MS / 1000})
                          AND now() + make_interval(secs => ${MAX_CLOCK_FUTURE_MS / 1000}) AS in_window FROM t),
  spent AS (
    INSERT INTO request_nonces (pubkey, nonce, request_at) SELECT $1, $2, ts FROM win WHERE in_window
    ON CONFLICT DO NOTHING RETURNING 1)`;
const SPEND_NONCE_SQL = `WITH ${SPEND_NONCE_CTES}
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh`;
// Agents: the same, plus the delegation (read on every call, so a revocation applies at once).
const SPEND_NONCE_AND_READ_AGENT_SQL = `WITH ${SPEND_NONCE_CTES}
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh,
         d.provider_pubkey, d.pool_id, d.revoked_at IS NOT NULL AS revoked
  FROM (SELECT 1) AS one
  LEFT JOIN provider_agent_delegations d ON d.agent_pubkey = $1`;

const stale = () => unauthenticated('X-Timestamp is outside the accepted window (300 s past to 30 s future); check the clock.', 'stale_request');
const replayed = () => unauthenticated('This nonce was already used; sign every request with a new nonce.', 'replayed_request');

function spendChecks(row: SpendRow): void {
  if (!row.in_window) throw stale();
  if (row.fresh === 0) throw replayed();
}

export function registerAuth(app: FastifyInstance, db: Db, publicAuthority: string | null): void {
  const keys = new KeyCache();
  app.decorateRequest('signer', null);

  app.addHook('preValidation', async (req) => {
    const mode = req.routeOptions.config.auth ?? 'none';
    if (mode !== 'none') req.signer = await authenticate(req, mode);
    if (req.bodyError) throw req.bodyError;
    // A POST without a body validates as {}, so optional bodies need no special schema.
    if (req.body == null && req.method !== 'GET' && req.method !== 'HEAD' && req.rawBody.length === 0) req.body = {};
  });
  // After every route's own checks and schema validation (so DESIGN's order "signature, then
  // input" holds), before any handler: input the database or the JSON code would fail on.
  app.addHook('preHandler', async (req) => assertSafeInput(req));

  async function authenticate(req: FastifyRequest, mode: Exclude<AuthMode, 'none'>): Promise<Signer> {
    const h = req.headers;
    const publicKey = header(h['x-public-key']);
    const agentKey = header(h['x-agent-pubkey']);
    const timestamp = header(h['x-timestamp']);
    const nonce = header(h['x-nonce']);
    const signature = header(h['x-signature']);
    if (publicKey === undefined && agentKey === undefined) {
      throw unauthenticated('This endpoint needs a signed request: send X-Public-Key (or X-Agent-Pubkey), X-Timestamp, X-Nonce and X-Signature.');
    }
    if (publicKey !== undefined && agentKey !== undefined) {
      throw unauthenticated('Send either X-Public-Key or X-Agent-Pubkey, not both.', 'bad_signature');
    }
    const pubkey = (publicKey ?? agentKey) as string;
    const isAgent = agentKey !== undefined;
    if (!HEX_KEY_RE.test(pubkey)) throw unauthenticated('The public key header must be 64 lowercase hex characters.', 'bad_signature');
    if (timestamp === undefined || !TIMESTAMP_RE.test(timestamp)) {
      throw unauthenticated('X-Timestamp must be the Unix time in milliseconds.', 'bad_signature');
    }
    if (nonce === undefined || !NONCE_RE.test(nonce)) {
      throw unauthenticated('X-Nonce must be 16 to 64 characters of [A-Za-z0-9_-].', 'bad_signature');
    }
    if (signature === undefined || !HEX_SIG_RE.test(signature)) {
      throw unauthenticated('X-Signature must be 128 lowercase hex characters.', 'bad_signature');
    }
    if (Math.abs(Number(timestamp) - Date.now()) > TIMESTAMP_SANITY_MS) throw stale();
    const host = publicAuthority ?? (req.headers.host ?? '').toLowerCase();
    const message = requestMessage({ method: req.method, host, path: req.url, timestamp, nonce, body: req.rawBody });
    let ok = false;
    try {
      ok = verifyMessage(keys.get(pubkey), message, signature);
    } catch {
      ok = false; // not a valid curve point
    }
    if (!ok) throw unauthenticated('The signature does not match this request.', 'bad_signature');

    if (isAgent && mode !== 'setup') {
      const r = await db.query<AgentRow>(SPEND_NONCE_AND_READ_AGENT_SQL, [pubkey, nonce, timestamp], { prepare: 'dc_auth_agent' });
      const row = r.rows[0] as AgentRow;
      spendChecks(row);
      if (row.provider_pubkey === null) throw unauthenticated('This agent key is not registered.', 'unknown_agent');
      if (row.revoked) throw unauthenticated('This agent has been revoked by its provider.', 'agent_revoked');
      const signer: Signer = { kind: 'agent', pubkey, providerPubkey: row.provider_pubkey, poolId: row.pool_id };
      if (typeof mode !== 'object' || !mode.agent) throw forbidden('Agents may not call this endpoint.');
      const params = req.params as { pubkey?: string };
      if (params.pubkey !== row.provider_pubkey) throw forbidden('This agent belongs to another provider.');
      return signer;
    }
    spendChecks((await db.query<SpendRow>(SPEND_NONCE_SQL, [pubkey, nonce, timestamp], { prepare: 'dc_auth_key' })).rows[0]!);
    if (mode === 'setup') {
      if (!isAgent) throw unauthenticated('Agent setup must be signed with X-Agent-Pubkey by the key being registered.', 'bad_signature');
      return { kind: 'key', pubkey };
    }
    if (isAgent) throw forbidden('Agents may not call this endpoint.');
    if (mode === 'key') return { kind: 'key', pubkey };
    if (!mode.provider) throw forbidden('Only the provider\'s agents may call this endpoint.');
    const params = req.params as { pubkey?: string };
    if (params.pubkey !== pubkey) throw forbidden('A provider may only act on its own resources.');
    return { kind: 'key', pubkey };
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
