// The dashboard's pure helpers: the CSV preview reader, relative times, and core's field rules
// turned into HTML patterns that browsers (the `v` flag) accept and that agree with the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTRY, CURRENCY, LABEL, OFFERING_ID, POOL_NAME, type FieldRule } from '@dc/core';
import { parseCsvPreview } from '../src/api/csv.js';
import { countdown, relativeTime } from '../src/lib/time.js';
import { htmlPattern } from '../src/lib/forms.js';

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
];

test('core field rules become HTML patterns that compile with the v flag and accept exactly what the API accepts', () => {
  for (const [rule, inputs] of samples) {
    const api = new RegExp(rule.pattern, 'u');
    const browser = asBrowser(htmlPattern(rule));
    for (const s of inputs) assert.equal(browser.test(s), api.test(s), `${rule.pattern} on ${JSON.stringify(s)}`);
  }
});
