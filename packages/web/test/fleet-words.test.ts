// Fleet-operation words and choices of the dashboard: fallback timers, capacity, cool-downs, and
// which pools the pool form offers as a fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pool } from '@dc/core';
import { capacityText, coolingDown, fallbackCandidates, fallbackWhen, secondsWords } from '../src/lib/fleet.js';

test('fallback timers in words: null is "only when no agent can take work", 0 is "at once"', () => {
  assert.equal(fallbackWhen(null), 'only when no agent can take work');
  assert.equal(fallbackWhen(0), 'at once');
  assert.equal(fallbackWhen(45), 'after 45 s');
  assert.equal(fallbackWhen(90), 'after 90 s');
  assert.equal(fallbackWhen(120), 'after 2 min');
  assert.equal(fallbackWhen(300), 'after 5 min');
  assert.equal(fallbackWhen(3600), 'after 1 h');
  assert.equal(fallbackWhen(5400), 'after 1 h 30 min');
  assert.equal(fallbackWhen(86_400), 'after 1 d');
  assert.equal(secondsWords(125), '2 min 5 s');
});

test('capacity reads live leases over the limit, ∞ when the agent sets none', () => {
  assert.equal(capacityText({ live_leases: 2, max_concurrent: 4 }), '2 / 4');
  assert.equal(capacityText({ live_leases: 2, max_concurrent: null }), '2 / ∞');
});

test('a cool-down runs until its time, not after', () => {
  const until = '2030-01-01T00:00:00.000Z';
  assert.equal(coolingDown(until, Date.parse(until) - 1), true);
  assert.equal(coolingDown(until, Date.parse(until)), false);
  assert.equal(coolingDown(null, 0), false);
});

test('fallback candidates: same type, same region unless another is allowed, never the pool itself', () => {
  const pool = (pool_id: string, name: string, location: Pool['location'], provisioner_type: Pool['provisioner_type']) => ({ pool_id, name, location, provisioner_type }) as Pool;
  const all = [
    pool('p1', 'eu-main', 'europe', 'proxmox'),
    pool('p2', 'eu-spare', 'europe', 'proxmox'),
    pool('p3', 'na-main', 'na', 'proxmox'),
    pool('p4', 'eu-script', 'europe', 'script'),
    pool('p5', 'apac-main', 'apac', 'proxmox'),
    pool('p6', 'eu-a', 'europe', 'proxmox'),
  ];
  const ids = (cross: boolean) => fallbackCandidates(all, { pool_id: 'p1', location: 'europe', provisioner_type: 'proxmox', cross_region: cross }).map((p) => p.pool_id);
  assert.deepEqual(ids(false), ['p6', 'p2']);
  // The pool's own region first, then the others by region.
  assert.deepEqual(ids(true), ['p6', 'p2', 'p5', 'p3']);
  // A new pool (no id yet) may choose any matching pool.
  assert.deepEqual(
    fallbackCandidates(all, { location: 'europe', provisioner_type: 'script', cross_region: false }).map((p) => p.pool_id),
    ['p4'],
  );
});
