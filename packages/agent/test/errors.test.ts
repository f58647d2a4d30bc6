// classify(): the one place that decides which errors stop the agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, ConfigError, NetworkError, classify } from '../src/errors.js';
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

test('back-off doubles up to its cap, with jitter in the upper half of each step', () => {
  const lo = new Backoff(1000, 8000, () => 0);
  assert.deepEqual([lo.next(), lo.next(), lo.next(), lo.next(), lo.next()], [500, 1000, 2000, 4000, 4000]);
  const hi = new Backoff(1000, 8000, () => 1);
  assert.deepEqual([hi.next(), hi.next(), hi.next(), hi.next(), hi.next()], [1000, 2000, 4000, 8000, 8000]);
  hi.reset();
  assert.equal(hi.next(), 1000);
});
