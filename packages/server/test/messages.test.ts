// Refusals a person reads (issue 9, DESIGN.md "HTTP conventions"): invalid input names the field
// and the rule in words, never a regular expression; the framework's own 4xx answers carry
// catalogue codes; every error body is {"error": {code, message}}.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLAIM_MAX, ERROR_CATALOGUE, OFFERING_ID, POOL_NAME, REGION_IDS } from '@dc/core';
import { type Identity } from '@dc/core/node';
import { agentCall, assertError, base, call, providerWithPool, registerAgent, startHarness, type Harness, type Res } from './helpers.js';

let h: Harness;
let provider: Identity;
let agent: Identity;
let poolId: string;

before(async () => {
  h = await startHarness();
  ({ provider, poolId } = await providerWithPool(h));
  agent = await registerAgent(h, provider, poolId);
});
after(async () => {
  await h?.close();
});

/** No pattern syntax reaches a person: anchors, character classes, quantifiers, escapes. */
const REGEX_SYNTAX = /\^|\$|\[[^\]]*-[^\]]*\]|\{\d+,\d*\}|\\[dswu]/;

function invalid(r: Res, message: string): void {
  assertError(r, 400, 'invalid_input');
  assert.equal(r.body.error.message, message);
  assert.doesNotMatch(r.body.error.message, REGEX_SYNTAX);
}

const pool = (over: Record<string, unknown>) => call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'p1', location: 'europe', provisioner_type: 'proxmox', ...over });
const claim = (body: unknown, query = '') => agentCall(h, agent, 'POST', `${base(provider)}/contracts/claim${query}`, body);

describe('invalid input names the field and the rule in words', () => {
  test('a pattern is described by its rule, not shown', async () => {
    invalid(await pool({ name: 'bad name!' }), `body.name: ${POOL_NAME.rule}.`);
    const r = await call(h, provider, 'GET', `${base(provider)}/offerings/Not_Lower`);
    invalid(r, `path.offering_id: ${OFFERING_ID.rule}.`);
  });

  test('an enum lists the allowed values', async () => {
    invalid(await pool({ location: 'mars' }), `body.location must be one of: ${REGION_IDS.join(', ')}.`);
  });

  test('a missing field is named with what it must be', async () => {
    invalid(await call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'p2', location: 'europe' }), 'body.provisioner_type is required: proxmox, script or manual.');
  });

  test('an unknown field is named with the allowed ones', async () => {
    invalid(await pool({ region: 'europe' }), 'body has an unknown field "region"; allowed: name, location, provisioner_type, paused, fallback_pool_id, fallback_after_seconds, fallback_cross_region.');
  });

  test('types, bounds, lengths and list sizes are said in words', async () => {
    invalid(await claim({ max: '2' }), 'body.max must be a whole number.');
    invalid(await claim({ max: CLAIM_MAX + 1 }), `body.max must be at most ${CLAIM_MAX}.`);
    invalid(await claim({ max: 0 }), 'body.max must be at least 1.');
    invalid(await claim({ exclude: ['x'.repeat(65)] }), 'body.exclude[0] must be at most 64 characters long.');
    invalid(await claim({ exclude: 'c1' }), 'body.exclude must be a list.');
    invalid(await claim([]), 'body must be an object.');
    invalid(await call(h, provider, 'PUT', `${base(provider)}/pools/${poolId}`, {}), 'body must set at least 1 field.');
    invalid(await call(h, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, { expires_in_hours: 0 }), 'body.expires_in_hours must be greater than 0.');
    invalid(await call(h, provider, 'PUT', base(provider), { name: '' }), 'body.name must not be empty.');
  });

  test('query strings are checked after coercion and named as query', async () => {
    invalid(await claim({}, '?wait=51'), 'query.wait must be at most 50.');
    invalid(await agentCall(h, agent, 'GET', `${base(provider)}/contracts/pending-provision?limit=0`), 'query.limit must be at least 1.');
    invalid(await agentCall(h, agent, 'GET', `${base(provider)}/contracts/pending-provision?limit=many`), 'query.limit must be a whole number.');
  });
});

describe('the framework refuses with catalogue codes', () => {
  test('a body over the limit is 413 body_too_large', async () => {
    const r = await call(h, provider, 'PUT', base(provider), { name: 'x'.repeat(2_000_000) });
    assertError(r, 413, 'body_too_large');
    assert.equal(r.body.error.message, ERROR_CATALOGUE.body_too_large.message);
  });

  test('a body in another content type is 400 saying to send JSON', async () => {
    const json = 'The body must be a JSON object sent with Content-Type: application/json.';
    invalid(await call(h, provider, 'PUT', base(provider), '<name/>', { contentType: 'application/xml' }), json);
    invalid(await call(h, provider, 'PUT', base(provider), 'name=x', { contentType: 'text/plain' }), json);
  });

  test('a body that is not JSON is 400 invalid_json, after the signature is checked', async () => {
    assertError(await call(h, provider, 'PUT', base(provider), '{"name":', { contentType: 'application/json' }), 400, 'invalid_json');
    assertError(await call(h, null, 'PUT', base(provider), '{"name":', { contentType: 'application/json' }), 401, 'unauthenticated');
  });

  test('an unknown route is 404 not_found naming the route', async () => {
    const r = await call(h, null, 'GET', '/api/v1/nope?x=1');
    assertError(r, 404, 'not_found');
    assert.equal(r.body.error.message, 'No route for GET /api/v1/nope.');
  });
});
