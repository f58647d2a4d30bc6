// The dashboard keeps copies of a few core enumerations (core cannot be bundled: node:crypto);
// these tests fail when the copies drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTRACT_STATUSES as CORE_STATUSES, LABEL_PATTERN as CORE_LABEL, OFFERING_ID_PATTERN as CORE_OFFERING_ID, POOL_NAME_PATTERN as CORE_POOL_NAME, REGION_IDS as CORE_REGIONS, ProvisionerType } from '@dc/core';
import { CONTRACT_STATUSES, LABEL_PATTERN, OFFERING_ID_PATTERN, POOL_NAME_PATTERN, PROVISIONER_TYPES, REGION_IDS } from '../src/api/constants.js';
import { parseCsvPreview } from '../src/api/csv.js';
import { countdown, relativeTime } from '../src/lib/time.js';
import { dcAgentCommand, parseSetupCommand } from '../src/api/tokens.js';

test('region ids, provisioner types, contract statuses and patterns match @dc/core', () => {
  assert.deepEqual([...REGION_IDS], [...CORE_REGIONS]);
  assert.deepEqual([...CONTRACT_STATUSES], [...CORE_STATUSES]);
  const coreTypes = (ProvisionerType as unknown as { anyOf: { const: string }[] }).anyOf.map((x) => x.const);
  assert.deepEqual([...PROVISIONER_TYPES], coreTypes);
  assert.equal(POOL_NAME_PATTERN, CORE_POOL_NAME);
  assert.equal(LABEL_PATTERN, CORE_LABEL);
  assert.equal(OFFERING_ID_PATTERN, CORE_OFFERING_ID);
});

test('CSV preview parser: quotes, embedded newlines and commas, CRLF, BOM, start lines', () => {
  const csv = '\uFEFFoffering_id,name\r\na,"Small, cheap"\r\nb,"two\nlines"\nc,"say ""hi"""\n\n';
  const p = parseCsvPreview(csv);
  assert.deepEqual(p.header, ['offering_id', 'name']);
  assert.deepEqual(
    p.records.map((r) => [r.line, ...r.cells]),
    [
      [2, 'a', 'Small, cheap'],
      [3, 'b', 'two\nlines'],
      [5, 'c', 'say "hi"'],
    ],
  );
});

test('relative times and countdowns', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.equal(relativeTime(null, now), 'never');
  assert.equal(relativeTime('2025-01-01T11:59:30Z', now), '30s ago');
  assert.equal(relativeTime('2025-01-01T11:58:00Z', now), '2m ago');
  assert.equal(relativeTime('2025-01-01T10:00:00Z', now), '2h ago');
  assert.equal(countdown('2025-01-02T11:55:00Z', now), '23h 55m');
  assert.equal(countdown('2025-01-01T12:04:10Z', now), '4m 10s');
  assert.equal(countdown('2025-01-01T11:00:00Z', now), 'expired');
});

test('the dc-agent command is built from the one-liner\'s token, API URL and server key', () => {
  const key = 'ab'.repeat(32);
  const one = `curl -fsSL http://127.0.0.1:8080/setup | bash -s -- --token apt_europe_XyZ --api-url http://127.0.0.1:8080 --server-key ${key}`;
  assert.deepEqual(parseSetupCommand(one), { token: 'apt_europe_XyZ', apiUrl: 'http://127.0.0.1:8080', serverKey: key });
  assert.equal(dcAgentCommand(one), `dc-agent setup --token apt_europe_XyZ --api-url http://127.0.0.1:8080 --server-key ${key}`);
  assert.equal(dcAgentCommand('nonsense'), null);
});
