// Units of the statistics figures and chart axes (src/components/charts/format.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketWords, durationUnit, formatDuration, formatRate, rateClass } from '../src/components/charts/format.js';

test('durations read in the largest unit that keeps them short', () => {
  assert.equal(formatDuration(null), '—');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(4_200), '4.2 s');
  assert.equal(formatDuration(60_000), '60 s');
  assert.equal(formatDuration(119_000), '119 s');
  assert.equal(formatDuration(300_000), '5.0 min');
  assert.equal(formatDuration(600_000), '10 min');
  assert.equal(formatDuration(3 * 3600_000), '3.0 h');
});

test('rates are percent; near 100 % one decimal rounded down, so 100 % means nothing failed', () => {
  assert.equal(formatRate(null), '—');
  assert.equal(formatRate(0), '0 %');
  assert.equal(formatRate(0.8), '80 %');
  assert.equal(formatRate(0.934), '93 %');
  assert.equal(formatRate(0.9999), '99.9 %');
  assert.equal(formatRate(1), '100 %');
  assert.deepEqual([null, 0.5, 0.8, 0.95, 1].map(rateClass), ['muted', 'bad', 'warn', 'ok', 'ok']);
});

test('bucket widths of the three windows, and the unit of the time axis', () => {
  assert.deepEqual([60, 1440, 10_080].map(bucketWords), ['1 min', '24 min', '2.8 h']);
  assert.deepEqual(durationUnit(90_000), { unit: 's', perMs: 1000 });
  assert.deepEqual(durationUnit(600_000), { unit: 'min', perMs: 60_000 });
  assert.deepEqual(durationUnit(3 * 3600_000), { unit: 'h', perMs: 3600_000 });
});
