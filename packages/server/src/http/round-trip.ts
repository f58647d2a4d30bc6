// GET → PUT round trips (issue 13): a PUT of an offering or a pool accepts the object GET returned.
// Before schema validation, the read-only fields (core's OFFERING_READ_ONLY_FIELDS and
// POOL_READ_ONLY_FIELDS) are taken out of the body, so validation stays strict for every other
// field (an unknown one is still 400). The ids must equal the path; the rest is checked where the
// stored values are: offerings in store/offerings.ts (within the update's transaction), pools here.
import type { FastifyRequest } from 'fastify';
import { OFFERING_READ_ONLY_FIELDS, OfferingUpdate, POOL_READ_ONLY_FIELDS, PoolUpdate } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { invalidInput } from '../errors.js';
import { inputProblem } from '../input-problem.js';

const taken = new WeakMap<FastifyRequest, Record<string, unknown>>();

/** The read-only fields the hook took out of this request's body ({} when none). */
export function sentReadOnly(req: FastifyRequest): Record<string, unknown> {
  return taken.get(req) ?? {};
}

const shown = (v: unknown) => JSON.stringify(v)?.slice(0, 100) ?? String(v);

/**
 * Removes `fields` from a JSON object body and keeps them for the handler; an id that is not the
 * one in the path (`ids`: body field → path value) is 400 before anything is read.
 */
function strip(
  req: FastifyRequest,
  fields: readonly string[],
  settable: readonly string[],
  ids: Record<string, string | undefined>,
  what: string,
): Record<string, unknown> {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (!Object.hasOwn(body, f)) continue;
    out[f] = (body as Record<string, unknown>)[f];
    delete (body as Record<string, unknown>)[f];
  }
  for (const [field, inPath] of Object.entries(ids)) {
    if (field in out && out[field] !== inPath) {
      throw invalidInput(
        `body.${field} is ${shown(out[field])} but the path names ${what} ${shown(inPath)}; ${field} is read-only. Leave it out or send the value GET returned.`,
      );
    }
  }
  if (Object.keys(out).length > 0 && Object.keys(body).length === 0) {
    throw invalidInput(`body has only read-only fields (${Object.keys(out).join(', ')}); it must set at least one of: ${settable.join(', ')}.`);
  }
  taken.set(req, out);
  return out;
}

type Params = Record<string, string | undefined>;

/** preValidation of PUT …/offerings/{offering_id}. */
export async function offeringRoundTrip(req: FastifyRequest): Promise<void> {
  const p = req.params as Params;
  strip(req, OFFERING_READ_ONLY_FIELDS, Object.keys(OfferingUpdate.properties), { offering_id: p.offering_id, provider_pubkey: p.pubkey }, 'offering');
}

/**
 * preValidation of PUT …/pools/{pool_id}. created_at never changes, so it is compared with the
 * stored value outside the update's transaction. The counts, agents and statistics move between
 * the GET and the PUT (a heartbeat, a contract), so they are ignored whatever their value.
 */
export function poolRoundTrip(db: Queryable) {
  return async (req: FastifyRequest): Promise<void> => {
    const p = req.params as Params;
    const sent = strip(req, POOL_READ_ONLY_FIELDS, Object.keys(PoolUpdate.properties), { pool_id: p.pool_id, provider_pubkey: p.pubkey }, 'pool');
    // A path the schema or the input guard will refuse is not looked up.
    if (!('created_at' in sent) || inputProblem('path', p)) return;
    const row = (await db.query<{ created_at: Date }>(`SELECT created_at FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2`, [p.pool_id, p.pubkey])).rows[0];
    if (!row) return; // the handler answers 404
    const stored = new Date(row.created_at);
    if (typeof sent.created_at !== 'string' || Date.parse(sent.created_at) !== stored.getTime()) {
      throw invalidInput(`body.created_at is read-only: it is ${stored.toISOString()}, not ${shown(sent.created_at)}. Leave it out or send the value GET returned.`);
    }
  };
}
