// Signature verification and authorization (DESIGN.md "Request signing"). One preValidation hook
// for every route: verify the Ed25519 signature over the DC1 message, spend the nonce in the
// database (so a replay is refused by every replica), then resolve who is calling.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { KeyObject } from 'node:crypto';
import { HEX_KEY_RE, HEX_SIG_RE, NONCE_RE, TIMESTAMP_RE, type EndpointAuth } from '@dc/core';
import { publicKeyFromHex, requestMessage, verifyMessage } from '@dc/core/node';
import type { Db } from '../db/db.js';
import { DomainError, fail } from '../errors.js';
import { AgentAuthBatcher } from '../store/agent-auth.js';
import type { HeartbeatReport, HeartbeatState } from '../store/agents.js';
import { spendNonce, type NonceSpend } from '../store/auth.js';
import { assertSafeInput } from './input-guard.js';

export type Signer =
  | { kind: 'key'; pubkey: string }
  | { kind: 'agent'; pubkey: string; providerPubkey: string; poolId: string | null };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call (core's EndpointAuth); routes without it (ops, installer, dashboard) are public. */
    auth?: EndpointAuth;
    /** The heartbeat route: a valid heartbeat is recorded with the nonce (routes/agents.ts). */
    heartbeat?: HeartbeatWithNonce;
  }
  interface FastifyRequest {
    rawBody: Buffer;
    /** A JSON syntax error, reported only after the signature check (auth before input). */
    bodyError: DomainError | null;
    signer: Signer | null;
    /** Set by auth when it recorded this request's heartbeat with the nonce. */
    heartbeat: HeartbeatState | null;
  }
}

export interface HeartbeatWithNonce {
  /** The heartbeat to record, or null when the request is not valid input (the usual pipeline then refuses it). */
  report(req: FastifyRequest): HeartbeatReport | null;
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

/** Coarse sanity bound checked before the database (keeps absurd timestamps out of SQL). */
const TIMESTAMP_SANITY_MS = 86_400_000;

const stale = () => fail('stale_request');
const replayed = () => fail('replayed_request');

function spendChecks(row: NonceSpend): void {
  if (!row.in_window) throw stale();
  if (row.fresh === 0) throw replayed();
}

/** `heartbeatRewriteAfterSeconds`: how long an unchanged heartbeat is not rewritten (routes/agents.ts). */
export function registerAuth(app: FastifyInstance, db: Db, publicAuthority: string | null, heartbeatRewriteAfterSeconds: number): void {
  const keys = new KeyCache();
  const agentAuth = new AgentAuthBatcher(db, heartbeatRewriteAfterSeconds);
  app.decorateRequest('signer', null);
  app.decorateRequest('heartbeat', null);

  app.addHook('preValidation', async (req) => {
    const mode = req.routeOptions.config.auth ?? 'public';
    if (mode !== 'public') req.signer = await authenticate(req, mode);
    if (req.bodyError) throw req.bodyError;
    // A POST without a body validates as {}, so optional bodies need no special schema.
    if (req.body == null && req.method !== 'GET' && req.method !== 'HEAD' && req.rawBody.length === 0) req.body = {};
  });
  // After every route's own checks and schema validation (so DESIGN's order "signature, then
  // input" holds), before any handler: input the database or the JSON code would fail on.
  // A heartbeat auth recorded was checked already (routes/agents.ts heartbeatReport).
  app.addHook('preHandler', (req, _reply, done) => {
    if (req.heartbeat) return done();
    try {
      assertSafeInput(req);
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  async function authenticate(req: FastifyRequest, mode: Exclude<EndpointAuth, 'public'>): Promise<Signer> {
    const h = req.headers;
    const publicKey = header(h['x-public-key']);
    const agentKey = header(h['x-agent-pubkey']);
    const timestamp = header(h['x-timestamp']);
    const nonce = header(h['x-nonce']);
    const signature = header(h['x-signature']);
    if (publicKey === undefined && agentKey === undefined) {
      throw fail('unauthenticated', 'This endpoint needs a signed request: send X-Public-Key (or X-Agent-Pubkey), X-Timestamp, X-Nonce and X-Signature.');
    }
    if (publicKey !== undefined && agentKey !== undefined) {
      throw fail('bad_signature', 'Send either X-Public-Key or X-Agent-Pubkey, not both.');
    }
    const pubkey = (publicKey ?? agentKey) as string;
    const isAgent = agentKey !== undefined;
    if (!HEX_KEY_RE.test(pubkey)) throw fail('bad_signature', 'The public key header must be 64 lowercase hex characters.');
    if (timestamp === undefined || !TIMESTAMP_RE.test(timestamp)) {
      throw fail('bad_signature', 'X-Timestamp must be the Unix time in milliseconds.');
    }
    if (nonce === undefined || !NONCE_RE.test(nonce)) {
      throw fail('bad_signature', 'X-Nonce must be 16 to 64 letters, digits, dashes or underscores.');
    }
    if (signature === undefined || !HEX_SIG_RE.test(signature)) {
      throw fail('bad_signature', 'X-Signature must be 128 lowercase hex characters.');
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
    if (!ok) throw fail('bad_signature', 'The signature does not match this request.');

    const agentsMayCall = mode === 'agent' || mode === 'provider_or_agent';
    if (isAgent && mode !== 'setup') {
      const report = req.routeOptions.config.heartbeat?.report(req) ?? undefined;
      const row = await agentAuth.spend({ agentPubkey: pubkey, nonce, timestampMs: timestamp, pathProvider: pathPubkey(req) ?? '', heartbeat: report });
      req.heartbeat = row.heartbeat;
      spendChecks(row);
      if (row.provider_pubkey === null) throw fail('unknown_agent');
      if (row.revoked) throw fail('agent_revoked');
      if (!agentsMayCall) throw fail('forbidden', 'Agents may not call this endpoint.');
      if (pathPubkey(req) !== row.provider_pubkey) throw fail('forbidden', 'This agent belongs to another provider.');
      return { kind: 'agent', pubkey, providerPubkey: row.provider_pubkey, poolId: row.pool_id };
    }
    spendChecks(await spendNonce(db, pubkey, nonce, timestamp));
    if (mode === 'setup') {
      if (!isAgent) throw fail('bad_signature', 'Agent setup must be signed with X-Agent-Pubkey by the key being registered.');
      return { kind: 'key', pubkey };
    }
    if (isAgent) throw fail('forbidden', 'Agents may not call this endpoint.');
    if (mode === 'key') return { kind: 'key', pubkey };
    if (mode === 'agent') throw fail('forbidden', "Only the provider's agents may call this endpoint.");
    if (pathPubkey(req) !== pubkey) throw fail('forbidden', 'A provider may only act on its own resources.');
    return { kind: 'key', pubkey };
  }
}

/** The provider a /providers/{pubkey}/… path names (checked before schema validation). */
function pathPubkey(req: FastifyRequest): string | undefined {
  return (req.params as Record<string, string | undefined>).pubkey;
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
