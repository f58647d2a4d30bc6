// Offerings: CRUD, list with filters, CSV upsert. Region is computed on write (routing is then an
// indexed equality); resolved pool and match kind are computed on read by routing.ts.
import { countryToRegion, isCountryCode, type ErrorCode, type Offering, type OfferingCreate, type OfferingListQuery, type OfferingStatus, type OfferingUpdate } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { DomainError, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, fail, notFound, pgCode } from '../errors.js';
import { POOL_IS_DEFAULT, POOL_MATCH, RESOLVED_POOL_ID, ROUTE_JOIN } from './routing.js';
import { containsPattern } from './pools.js';
import { providerActor, recordAudit } from './audit.js';

export const OFFERING_COLUMNS = `o.offering_id, o.provider_pubkey, o.name, o.product_type, o.datacenter_country,
  o.datacenter_region, o.monthly_price::float8 AS monthly_price, o.currency, o.provisioner_type, o.provisioner_config,
  o.agent_pool_id, ${RESOLVED_POOL_ID} AS resolved_pool_id, ${POOL_MATCH} AS pool_match, o.status, o.created_at, o.updated_at`;

/** A fully specified offering, ready to write. */
export interface OfferingRow {
  offering_id: string;
  name: string;
  product_type: string;
  datacenter_country: string;
  datacenter_region: string;
  monthly_price: number;
  currency: string;
  provisioner_type: string;
  provisioner_config: Record<string, unknown> | null;
  agent_pool_id: string | null;
  status: OfferingStatus;
}

/** Ids that would be shadowed by the fixed routes GET …/offerings/export and POST …/offerings/import. */
export const RESERVED_OFFERING_IDS = new Set(['export', 'import']);

/** Field rules the JSON schema cannot express; returns [field, problem] or null. */
export function offeringFieldProblem(o: { offering_id?: string; datacenter_country?: string; monthly_price?: number }): [string, string] | null {
  if (o.offering_id !== undefined && RESERVED_OFFERING_IDS.has(o.offering_id)) {
    return ['offering_id', `"${o.offering_id}" is reserved (it names an endpoint); pick another id`];
  }
  if (o.datacenter_country !== undefined && !isCountryCode(o.datacenter_country)) {
    return ['datacenter_country', `"${o.datacenter_country}" is not an ISO 3166-1 alpha-2 country code`];
  }
  if (o.monthly_price !== undefined && !/^\d{1,10}(\.\d{1,2})?$/.test(String(o.monthly_price))) {
    return ['monthly_price', 'must be a non-negative number with at most two decimals'];
  }
  return null;
}

interface PoolInfo {
  pool_id: string;
  provisioner_type: string;
}

/** Locks the named pools (FOR SHARE: a concurrent type change or delete waits for us). */
export async function lockPools(tx: Queryable, provider: string, poolIds: string[]): Promise<Map<string, PoolInfo>> {
  if (poolIds.length === 0) return new Map();
  const r = await tx.query<PoolInfo>(
    `SELECT pool_id, provisioner_type FROM agent_pools WHERE provider_pubkey = $1 AND pool_id = ANY($2::text[]) FOR SHARE`,
    [provider, poolIds],
  );
  return new Map(r.rows.map((p) => [p.pool_id, p]));
}

/** Why an offering cannot be written: [field, problem in words, catalogue code]. */
export type OfferingProblem = [field: string, problem: string, code: ErrorCode];

/** Completes an offering: region from country, type from the explicit pool (else proxmox). */
export function resolveOffering(
  input: Omit<OfferingCreate, 'provisioner_type'> & { provisioner_type?: string | undefined },
  pools: Map<string, PoolInfo>,
): OfferingRow | OfferingProblem {
  const problem = offeringFieldProblem(input);
  if (problem) return [problem[0], problem[1], 'invalid_input'];
  const poolId = input.agent_pool_id ?? null;
  const pool = poolId ? pools.get(poolId) : undefined;
  if (poolId && !pool) return ['agent_pool_id', `pool "${poolId}" does not exist`, 'unknown_pool'];
  const type = input.provisioner_type ?? pool?.provisioner_type ?? 'proxmox';
  if (pool && pool.provisioner_type !== type) {
    return ['provisioner_type', `is ${type} but pool "${poolId}" is a ${pool.provisioner_type} pool`, 'pool_type_mismatch'];
  }
  const country = input.datacenter_country.toUpperCase();
  return {
    offering_id: input.offering_id,
    name: input.name,
    product_type: input.product_type,
    datacenter_country: country,
    datacenter_region: countryToRegion(country),
    monthly_price: input.monthly_price,
    currency: input.currency.toUpperCase(),
    provisioner_type: type,
    provisioner_config: input.provisioner_config ?? null,
    agent_pool_id: poolId,
    status: input.status ?? 'active',
  };
}

function refusal(p: OfferingProblem): DomainError {
  return new DomainError(p[2], `body.${p[0]} ${p[1]}.`);
}

// Upsert of many rows in one statement (CSV import) or one row (create/update).
const UPSERT_SQL = `
  INSERT INTO provider_offerings (provider_pubkey, offering_id, name, product_type, datacenter_country, datacenter_region,
    monthly_price, currency, provisioner_type, provisioner_config, agent_pool_id, status)
  SELECT $1, r.offering_id, r.name, r.product_type, r.datacenter_country, r.datacenter_region, r.monthly_price,
    r.currency, r.provisioner_type, r.provisioner_config, r.agent_pool_id, r.status
  FROM jsonb_to_recordset($2::jsonb) AS r(offering_id text, name text, product_type text, datacenter_country text,
    datacenter_region text, monthly_price numeric, currency text, provisioner_type text, provisioner_config jsonb,
    agent_pool_id text, status text)
  -- A fixed row order: two imports touching the same offerings lock them in the same order.
  ORDER BY r.offering_id
  ON CONFLICT (provider_pubkey, offering_id) DO UPDATE SET name = EXCLUDED.name, product_type = EXCLUDED.product_type,
    datacenter_country = EXCLUDED.datacenter_country, datacenter_region = EXCLUDED.datacenter_region,
    monthly_price = EXCLUDED.monthly_price, currency = EXCLUDED.currency, provisioner_type = EXCLUDED.provisioner_type,
    provisioner_config = EXCLUDED.provisioner_config, agent_pool_id = EXCLUDED.agent_pool_id, status = EXCLUDED.status,
    updated_at = now()
  RETURNING (xmax = 0) AS inserted`;

export async function upsertOfferings(tx: Queryable, provider: string, rows: OfferingRow[]): Promise<{ created: number; updated: number }> {
  if (rows.length === 0) return { created: 0, updated: 0 };
  try {
    const r = await tx.query<{ inserted: boolean }>(UPSERT_SQL, [provider, JSON.stringify(rows)]);
    const created = r.rows.filter((x) => x.inserted).length;
    return { created, updated: r.rows.length - created };
  } catch (err) {
    if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) {
      throw fail('provider_not_registered', 'Register the provider first with PUT /api/v1/providers/{pubkey}.');
    }
    throw err;
  }
}

export async function createOffering(db: Db, provider: string, input: OfferingCreate): Promise<Offering> {
  await db.transaction(async (tx) => {
    const pools = await lockPools(tx, provider, input.agent_pool_id ? [input.agent_pool_id] : []);
    const row = resolveOffering(input, pools);
    if (Array.isArray(row)) throw refusal(row);
    const exists = await tx.query(`SELECT 1 FROM provider_offerings WHERE provider_pubkey = $1 AND offering_id = $2`, [provider, input.offering_id]);
    if (exists.rowCount > 0) throw fail('offering_exists', `Offering "${input.offering_id}" already exists; use PUT to change it.`);
    try {
      // A concurrent create of the same id may commit between the check above and this write;
      // the upsert then updates its row instead of inserting. Refusing rolls that update back.
      const { created } = await upsertOfferings(tx, provider, [row]);
      if (created === 0) throw fail('offering_exists', `Offering "${input.offering_id}" already exists; use PUT to change it.`);
    } catch (err) {
      if (pgCode(err) === PG_UNIQUE_VIOLATION) throw fail('offering_exists', `Offering "${input.offering_id}" already exists.`);
      throw err;
    }
    await recordAudit(tx, { provider, kind: 'offering_created', actor: providerActor(provider), subject: { type: 'offering', id: input.offering_id }, detail: { name: input.name } });
  });
  return getOffering(db, provider, input.offering_id);
}

export async function updateOffering(db: Db, provider: string, offeringId: string, patch: OfferingUpdate): Promise<Offering> {
  await db.transaction(async (tx) => {
    const cur = (
      await tx.query<OfferingRow>(
        `SELECT offering_id, name, product_type, datacenter_country, monthly_price::float8 AS monthly_price, currency,
           provisioner_type, provisioner_config, agent_pool_id, status
         FROM provider_offerings WHERE provider_pubkey = $1 AND offering_id = $2 FOR UPDATE`,
        [provider, offeringId],
      )
    ).rows[0];
    if (!cur) throw notFound(`Offering ${offeringId}`);
    const poolId = patch.agent_pool_id !== undefined ? patch.agent_pool_id : cur.agent_pool_id;
    const pools = await lockPools(tx, provider, poolId ? [poolId] : []);
    // Re-pointing to a pool without naming a type adopts the pool's type.
    const type = patch.provisioner_type ?? (patch.agent_pool_id && pools.get(patch.agent_pool_id)?.provisioner_type) ?? cur.provisioner_type;
    const row = resolveOffering(
      {
        offering_id: offeringId,
        name: patch.name ?? cur.name,
        product_type: patch.product_type ?? cur.product_type,
        datacenter_country: patch.datacenter_country ?? cur.datacenter_country,
        monthly_price: patch.monthly_price ?? cur.monthly_price,
        currency: patch.currency ?? cur.currency,
        provisioner_type: type,
        provisioner_config: patch.provisioner_config !== undefined ? patch.provisioner_config : cur.provisioner_config,
        agent_pool_id: poolId,
        status: patch.status ?? cur.status,
      },
      pools,
    );
    if (Array.isArray(row)) throw refusal(row);
    await upsertOfferings(tx, provider, [row]);
    // Field names only: provisioner_config values may be sensitive.
    await recordAudit(tx, { provider, kind: 'offering_updated', actor: providerActor(provider), subject: { type: 'offering', id: offeringId }, detail: { fields: Object.keys(patch) } });
  });
  return getOffering(db, provider, offeringId);
}

export async function getOffering(db: Queryable, provider: string, offeringId: string): Promise<Offering> {
  const r = await db.query<Offering>(
    `SELECT ${OFFERING_COLUMNS} FROM provider_offerings o ${ROUTE_JOIN} WHERE o.provider_pubkey = $1 AND o.offering_id = $2`,
    [provider, offeringId],
  );
  if (!r.rows[0]) throw notFound(`Offering ${offeringId}`);
  return r.rows[0];
}

/**
 * One page of offerings with the filtered total from the same scan (count(*) OVER ()). Filters and
 * paging run on the table alone, in primary-key order, keeping only keys; the page's rows are then
 * read whole by key (a LATERAL probe: as a plain join the planner hash-joins the whole table) and
 * routed (ROUTE_JOIN). The pool filter is routing's rule in index-friendly form (routedToPool): explicit offerings
 * of the pool, or unpinned ones of its location and type when it is that pair's default pool.
 */
export async function listOfferings(db: Queryable, provider: string, q: OfferingListQuery): Promise<{ items: Offering[]; total: number }> {
  const where = ['o.provider_pubkey = $1'];
  const params: unknown[] = [provider];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replaceAll('?', `$${params.length}`));
  };
  if (q.pool_id !== undefined) {
    add(`(o.agent_pool_id = ? OR (o.agent_pool_id IS NULL AND (o.datacenter_region, o.provisioner_type) =
      (SELECT p.location, p.provisioner_type FROM agent_pools p WHERE p.pool_id = ? AND p.provider_pubkey = $1 AND ${POOL_IS_DEFAULT})))`, q.pool_id);
  }
  if (q.product_type !== undefined) add('o.product_type = ?', q.product_type);
  if (q.status !== undefined) add('o.status = ?', q.status);
  if (q.q !== undefined && q.q !== '') add('(o.offering_id ILIKE ? OR o.name ILIKE ?)', containsPattern(q.q));
  const filtered = `FROM provider_offerings o WHERE ${where.join(' AND ')}`;
  const limit = q.limit ?? 100;
  const offset = q.offset ?? 0;
  const r = await db.query<Offering & { total: number }>(
    `WITH page AS (SELECT o.offering_id, count(*) OVER ()::int AS total ${filtered} ORDER BY o.offering_id LIMIT ${limit} OFFSET ${offset})
     SELECT ${OFFERING_COLUMNS}, page.total
     FROM page CROSS JOIN LATERAL (
       SELECT * FROM provider_offerings x WHERE x.provider_pubkey = $1 AND x.offering_id = page.offering_id LIMIT 1) o
     ${ROUTE_JOIN}
     ORDER BY o.offering_id`,
    params,
  );
  // Past the last page no row carries the total: count it (a client paging beyond the end).
  const total = r.rows[0]?.total ?? (offset > 0 ? (await db.query<{ n: number }>(`SELECT count(*)::int AS n ${filtered}`, params)).rows[0]!.n : 0);
  return { items: r.rows.map(({ total: _total, ...o }) => o), total };
}

export async function deleteOffering(db: Db, provider: string, offeringId: string): Promise<void> {
  await db.transaction(async (tx) => {
    // FOR UPDATE first: contract creation takes FOR KEY SHARE on the offering, so after this lock
    // no new contract can appear for it until we commit (and then it finds the offering gone).
    const cur = await tx.query(`SELECT 1 FROM provider_offerings WHERE provider_pubkey = $1 AND offering_id = $2 FOR UPDATE`, [provider, offeringId]);
    if (cur.rowCount === 0) throw notFound(`Offering ${offeringId}`);
    const open = (
      await tx.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM contract_sign_requests WHERE provider_pubkey = $1 AND offering_id = $2
           AND status IN ('requested', 'accepted', 'provisioning', 'provisioning_failed', 'provisioned', 'terminating', 'termination_failed')`,
        [provider, offeringId],
      )
    ).rows[0]!.n;
    if (open > 0) {
      throw fail('offering_in_use', `${open} contract(s) for this offering are not finished or still have a machine; reject, cancel or end them first (or set status inactive).`);
    }
    await tx.query(`DELETE FROM provider_offerings WHERE provider_pubkey = $1 AND offering_id = $2`, [provider, offeringId]);
    await recordAudit(tx, { provider, kind: 'offering_deleted', actor: providerActor(provider), subject: { type: 'offering', id: offeringId } });
  });
}
