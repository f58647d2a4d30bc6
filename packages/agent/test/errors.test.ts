// classify(): the one place that decides which errors stop the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '@dc/core';
import { ApiError, ConfigError, NetworkError, classify, type Disposition } from '../src/errors.js';
import { Backoff } from '../src/util.js';

test('revoked or unknown agents are fatal with exit code 78; lease endings and outages are not fatal', () => {
  const kind = (e: unknown) => classify(e).kind;
  assert.deepEqual(classify(new ApiError(401, 'agent_revoked', 'revoked')), {
    kind: 'fatal',
    exitCode: 78,
    message:
      'this agent has been revoked by its provider (401 agent_revoked); it stops and will not retry. To bring this host back, create a new setup token for the pool and run "dc-agent setup --force".',
  });
  assert.equal((classify(new ApiError(401, 'unknown_agent', 'x')) as { exitCode: number }).exitCode, 78);
  assert.equal((classify(new ApiError(403, 'forbidden', 'This agent belongs to another provider.')) as { exitCode: number }).exitCode, 3);
  assert.equal((classify(new ConfigError('bad')) as { exitCode: number }).exitCode, 3);
  assert.equal(kind(new ApiError(403, 'not_routed', 'another pool')), 'rejected', 'one contract routed elsewhere does not stop the agent');
  assert.deepEqual(classify(new ApiError(409, 'lease_lost', 'x')), { kind: 'lease_gone', code: 'lease_lost' });
  assert.deepEqual(classify(new ApiError(409, 'contract_cancelled', 'x')), { kind: 'lease_gone', code: 'contract_cancelled' });
  assert.equal(kind(new ApiError(409, 'lock_held', 'x')), 'rejected');
  for (const e of [new NetworkError('refused'), new ApiError(503, 'http_503', 'x'), new ApiError(500, 'internal_error', 'x'), new ApiError(429, 'rate_limited', 'x'), new ApiError(401, 'stale_request', 'clock')]) {
    assert.equal(kind(e), 'transient', String(e));
  }
  assert.equal(kind(new Error('bug')), 'rejected');
});

/** What each catalogue code means to the agent (fatal ones carry their exit code). */
const EXPECTED: Record<ErrorCode, Disposition['kind'] | 78 | 3> = {
  agent_revoked: 78,
  unknown_agent: 78,
  forbidden: 3,
  lease_lost: 'lease_gone',
  contract_cancelled: 'lease_gone',
  internal_error: 'transient',
  request_timeout: 'transient',
  database_unavailable: 'transient',
  agent_bundle_missing: 'transient',
  installer_missing: 'transient',
  dashboard_not_built: 'transient',
  rate_limited: 'transient',
  unauthenticated: 'transient',
  bad_signature: 'transient',
  stale_request: 'transient',
  replayed_request: 'transient',
  invalid_token: 'transient',
  sticky_owner: 'rejected',
  pool_paused: 'rejected',
  agent_draining: 'rejected',
  agent_cooling_down: 'rejected',
  agent_at_capacity: 'rejected',
  retry_elsewhere: 'rejected',
  lock_held: 'rejected',
  backing_off: 'rejected',
  not_routed: 'rejected',
  not_provisionable: 'rejected',
  not_paid: 'rejected',
  invalid_transition: 'rejected',
  invalid_input: 'rejected',
  invalid_json: 'rejected',
  invalid_csv: 'rejected',
  invalid_host: 'rejected',
  bad_request: 'rejected',
  unknown_pool: 'rejected',
  pool_type_mismatch: 'rejected',
  fallback_mismatch: 'rejected',
  fallback_cycle: 'rejected',
  not_found: 'rejected',
  provider_not_registered: 'rejected',
  offering_not_found: 'rejected',
  token_used: 'rejected',
  agent_exists: 'rejected',
  pool_name_taken: 'rejected',
  pool_not_empty: 'rejected',
  pool_in_use: 'rejected',
  offering_exists: 'rejected',
  offering_in_use: 'rejected',
  token_expired: 'rejected',
  body_too_large: 'rejected',
  unsupported_media_type: 'rejected',
  expectation_failed: 'rejected',
  headers_too_large: 'rejected',
};

test('every catalogue code, answered with its catalogue status, has the disposition of the table', () => {
  assert.deepEqual(Object.keys(EXPECTED).sort(), [...ERROR_CODES].sort());
  for (const code of ERROR_CODES) {
    const d = classify(new ApiError(ERROR_CATALOGUE[code].status, code, ERROR_CATALOGUE[code].message));
    assert.equal(d.kind === 'fatal' ? d.exitCode : d.kind, EXPECTED[code], code);
    if (d.kind === 'lease_gone') assert.equal(d.code, code);
  }
});

test('answers without a catalogue code, or with a code at another status (a proxy), are judged by status', () => {
  const kind = (status: number, code: string) => classify(new ApiError(status, code, 'x')).kind;
  for (const s of [500, 502, 503, 504, 429, 408, 401]) assert.equal(kind(s, `http_${s}`), 'transient', String(s));
  for (const s of [400, 403, 404, 405, 409, 410, 413]) assert.equal(kind(s, `http_${s}`), 'rejected', String(s));
  assert.equal(kind(503, 'unavailable'), 'transient');
  // Only dc-api's own 401/403 stop the agent: the same code with another status does not.
  assert.equal(kind(403, 'agent_revoked'), 'rejected');
  assert.equal(kind(502, 'forbidden'), 'transient');
  assert.equal(kind(400, 'lease_lost'), 'rejected');
});

test('back-off doubles up to its cap, with jitter in the upper half of each step', () => {
  const lo = new Backoff(1000, 8000, () => 0);
  assert.deepEqual([lo.next(), lo.next(), lo.next(), lo.next(), lo.next()], [500, 1000, 2000, 4000, 4000]);
  const hi = new Backoff(1000, 8000, () => 1);
  assert.deepEqual([hi.next(), hi.next(), hi.next(), hi.next(), hi.next()], [1000, 2000, 4000, 8000, 8000]);
  hi.reset();
  assert.equal(hi.next(), 1000);
});
