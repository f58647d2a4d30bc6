// The dashboard's pure helpers: the CSV preview reader, relative times, and core's field rules
// turned into HTML patterns that browsers (the `v` flag) accept and that agree with the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTRY, CURRENCY, LABEL, OFFERING_ID, POOL_NAME, type FieldRule } from '@dc/core';
import { parseCsvPreview } from '../src/api/csv.js';
import { countdown, relativeTime } from '../src/lib/time.js';
import { htmlPattern, PRICE } from '../src/lib/forms.js';
import { defaultProvisionerType, previewRoute } from '../src/lib/route-preview.js';
import type { Pool } from '@dc/core';

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

/** What a browser does with an input's `pattern` attribute (HTML spec: anchored, `v` flag). */
const asBrowser = (pattern: string) => new RegExp(`^(?:${pattern})$`, 'v');

const samples: [FieldRule, string[]][] = [
  [POOL_NAME, ['europe-proxmox', 'a', 'A.b_c-d', '-lead', '.x', 'has space', 'x'.repeat(64), 'x'.repeat(65), 'ünï', '']],
  [LABEL, ['node 1', 'proxmox-node-6', 'a_b.c', '<img>', 'x'.repeat(64), 'x'.repeat(65), 'tab\there', '']],
  [OFFERING_ID, ['vps-s-eu', 'VPS', '-x', 'a.b_c-d', 'x'.repeat(65)]],
  [COUNTRY, ['DE', 'us', 'DEU', 'd', '1A']],
  [CURRENCY, ['EUR', 'eur', 'EU', 'EURO']],
  [PRICE, ['5', '5.0', '5.00', '5.555', '-1', '1e3', '9999999999.99', '99999999999', '.5', '5.']],
];

test('core field rules become HTML patterns that compile with the v flag and accept exactly what the API accepts', () => {
  for (const [rule, inputs] of samples) {
    const api = new RegExp(rule.pattern, 'u');
    const browser = asBrowser(htmlPattern(rule));
    for (const s of inputs) assert.equal(browser.test(s), api.test(s), `${rule.pattern} on ${JSON.stringify(s)}`);
  }
});

test("the new-offering dialog's default type and route preview follow core's rule (oldest pool in the region, else proxmox)", () => {
  const pool = (pool_id: string, location: string, provisioner_type: Pool['provisioner_type'], created_at: string) =>
    ({ pool_id, name: pool_id, location, provisioner_type, created_at }) as Pool;
  const pools = [pool('eu-pve', 'europe', 'proxmox', '2025-01-02T00:00:00Z'), pool('eu-script', 'europe', 'script', '2025-01-01T00:00:00Z'), pool('na-man', 'na', 'manual', '2025-01-03T00:00:00Z')];
  assert.deepEqual(defaultProvisionerType('europe', pools, null), { type: 'script', from: pools[1], why: 'oldest' });
  assert.deepEqual(defaultProvisionerType('apac', pools, null), { type: 'proxmox', from: null, why: 'fallback' });
  assert.equal(defaultProvisionerType('europe', pools, 'na-man').type, 'manual');
  const route = (country: string, type: '' | 'proxmox' | 'script' | 'manual' = '', poolId = '') => previewRoute({ datacenter_country: country, provisioner_type: type, agent_pool_id: poolId }, pools);
  assert.deepEqual(route('de'), { kind: 'location', pool: pools[1], region: 'europe', type: 'script' });
  assert.equal((route('FR', 'proxmox') as { pool: Pool }).pool.pool_id, 'eu-pve');
  assert.deepEqual(route('US', 'proxmox'), { kind: 'none', region: 'na', type: 'proxmox', inRegion: [pools[2]] });
  assert.deepEqual(route('JP'), { kind: 'none', region: 'apac', type: 'proxmox', inRegion: [] });
  assert.deepEqual(route('XX'), { kind: 'incomplete', unknownCountry: 'XX' });
  assert.deepEqual(route('D'), { kind: 'incomplete' });
  assert.deepEqual(route('DE', 'proxmox', 'eu-script'), { kind: 'explicit', pool: pools[1], region: 'europe', type: 'proxmox', typeMismatch: true, otherRegion: false });
  assert.deepEqual(route('US', '', 'eu-script'), { kind: 'explicit', pool: pools[1], region: 'na', type: 'script', typeMismatch: false, otherRegion: true });
});
