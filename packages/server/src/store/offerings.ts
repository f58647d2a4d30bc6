// Offerings: CRUD, list with filters, CSV upsert. Region is computed on write (routing is then an
// indexed equality), and so is the route (routing.ts refreshRoutes, after every write here).
import { COUNTRY, countryToRegion, isCountryCode, type ErrorCode, type Offering, type OfferingCreate, type OfferingListQuery, type OfferingStatus, type OfferingUpdate } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { DomainError, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION, fail, invalidInput, notFound, pgCode } from '../errors.js';
import { POOL_MATCH, lockRouting, refreshRoutes } from './routing.js';
import { containsPattern } from './pools.js';
import { providerActor, recordAudit } from './audit.js';

export const OFFERING_COLUMNS = `o.offering_id, o.provider_pubkey, o.name, o.product_type, o.datacenter_country,
  o.datacenter_region, o.monthly_price::float8 AS monthly_price, o.currency, o.provisioner_type, o.provisioner_config,
  o.agent_pool_id, o.route_pool_id AS resolved_pool_id, ${POOL_MATCH} AS pool_match, o.status, o.created_at, o.updated_at`;

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

const PRICE_DECIMALS = /^\d{1,10}(\.\d{1,2})?$/;

/** A refused field: [field, the rule in words with what was sent, catalogue code]. */
export type OfferingProblem = [field: string, problem: string, code: ErrorCode];

const shown = (v: unknown) => JSON.stringify(v)?.slice(0, 100) ?? String(v);

/**
 * Field rules the JSON schema cannot express, every one that fails (the CSV import reports them
 * all). Fields of the wrong type are skipped: the schema reports those.
 */
export function offeringFieldProblems(o: { offering_id?: unknown; datacenter_country?: unknown; monthly_price?: unknown }): OfferingProblem[] {
  const out: OfferingProblem[] = [];
  if (typeof o.offering_id === 'string' && RESERVED_OFFERING_IDS.has(o.offering_id)) {
    out.push(['offering_id', `any id but export or import, which are reserved (they name endpoints); got ${shown(o.offering_id)}`, 'invalid_input']);
  }
  if (typeof o.datacenter_country === 'string' && !isCountryCode(o.datacenter_country)) {
    out.push(['datacenter_country', `${COUNTRY.rule}; ${shown(o.datacenter_country)} is not one`, 'invalid_input']);
  }
  if (typeof o.monthly_price === 'number' && !PRICE_DECIMALS.test(String(o.monthly_price))) {
    out.push(['monthly_price', `at most two decimals (got ${shown(o.monthly_price)})`, 'invalid_input']);
  }
  return out;
}

interface PoolInfo {
  pool_id: string;
  provisioner_type: string;
}

/** Locks the named pools (FOR SHARE: a concurrent type change or delete waits for us). */
export async function lockPools(tx: Queryable, provider: string, poolIds: string[]): Promise<Map<string, PoolInfo>> {
  if (poolIds.length === 0) return new Map();
  const r = await tx.query<PoolInfo>(
    `SELECT pool_id, provisioner_type FROM agent_pools WHERE provider_pubkey = $1 AND pool_id = ANY($2::text[]) ORDER BY pool_id FOR SHARE`,
    [provider, poolIds],
  );
  return new Map(r.rows.map((p) => [p.pool_id, p]));
}

/**
 * Per region, the provisioner type of the provider's oldest pool there (created_at, then pool_id):
 * the type an offering gets when it names neither a pool nor a type (DESIGN.md v3). Not locked:
 * it is a default taken at write time, like the rest of routing's inputs it may change later.
 */
export async function regionDefaultTypes(tx: Queryable, provider: string): Promise<Map<string, string>> {
  const r = await tx.query<{ location: string; provisioner_type: string }>(
    `SELECT DISTINCT ON (location) location, provisioner_type FROM agent_pools
     WHERE provider_pubkey = $1 ORDER BY location, created_at, pool_id`,
    [provider],
  );
  return new Map(r.rows.map((p) => [p.location, p.provisioner_type]));
}

/** The type an offering without one gets when no region has a pool. */
export const FALLBACK_PROVISIONER_TYPE = 'proxmox';

/** An unknown explicit pool, or one of another type than the offering's; null when the pool is fine. */
export function poolProblem(poolId: string | null, type: string | undefined, pools: Map<string, PoolInfo>): OfferingProblem | null {
  if (!poolId) return null;
  const pool = pools.get(poolId);
  if (!pool) return ['agent_pool_id', `a pool id of this provider (or none, to route by location); pool ${shown(poolId)} does not exist`, 'unknown_pool'];
  if (type !== undefined && pool.provisioner_type !== type) {
    return ['provisioner_type', `the type of the pool named in agent_pool_id; pool ${shown(poolId)} is a ${pool.provisioner_type} pool, not ${type}`, 'pool_type_mismatch'];
  }
  return null;
}

/**
 * Completes an offering: region from country; type as sent, else the explicit pool's, else that of
 * the provider's oldest pool in the region (`regionTypes`), else proxmox. Every problem, or the row.
 */
export function resolveOffering(
  input: Omit<OfferingCreate, 'provisioner_type'> & { provisioner_type?: string | undefined },
  pools: Map<string, PoolInfo>,
  regionTypes: Map<string, string>,
): OfferingRow | OfferingProblem[] {
  const problems = offeringFieldProblems(input);
  const poolId = input.agent_pool_id ?? null;
  const pool = poolId ? pools.get(poolId) : undefined;
  const bad = poolProblem(poolId, input.provisioner_type, pools);
  if (bad) problems.push(bad);
  if (problems.length > 0) return problems;
  const country = input.datacenter_country.toUpperCase();
  const region = countryToRegion(country);
  return {
    offering_id: input.offering_id,
    name: input.name,
    product_type: input.product_type,
    datacenter_country: country,
    datacenter_region: region,
    monthly_price: input.monthly_price,
    currency: input.currency.toUpperCase(),
    provisioner_type: input.provisioner_type ?? pool?.provisioner_type ?? regionTypes.get(region) ?? FALLBACK_PROVISIONER_TYPE,
    provisioner_config: input.provisioner_config ?? null,
    agent_pool_id: poolId,
    status: input.status ?? 'active',
  };
}

/** The first problem as the API's 400 (a JSON body is refused at its first error, like the schema). */
function refusal(problems: OfferingProblem[]): DomainError {
  const [field, problem, code] = problems[0]!;
  return new DomainError(code, `body.${field}: ${problem}.`);
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

/** Writes offerings and their routes; the transaction began with lockRouting(tx, provider, 'offerings'). */
export async function upsertOfferings(tx: Queryable, provider: string, rows: OfferingRow[]): Promise<{ created: number; updated: number }> {
  if (rows.length === 0) return { created: 0, updated: 0 };
  try {
    const r = await tx.query<{ inserted: boolean }>(UPSERT_SQL, [provider, JSON.stringify(rows)]);
    await refreshRoutes(tx, provider, rows.map((row) => row.offering_id));
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
    await lockRouting(tx, provider, 'offerings');
    const pools = await lockPools(tx, provider, input.agent_pool_id ? [input.agent_pool_id] : []);
    const regionTypes = input.provisioner_type === undefined && !input.agent_pool_id ? await regionDefaultTypes(tx, provider) : new Map<string, string>();
    const row = resolveOffering(input, pools, regionTypes);
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

/** Read-only fields a GET → PUT round trip sent back, taken out of the body by http/round-trip.ts. */
export type SentReadOnly = Record<string, unknown>;

const DERIVED: [field: 'datacenter_region' | 'resolved_pool_id' | 'pool_match', why: string][] = [
  ['datacenter_region', 'it follows datacenter_country'],
  ['resolved_pool_id', 'routing computes it; set agent_pool_id to choose a pool'],
  ['pool_match', 'routing computes it; set agent_pool_id to choose a pool'],
];

/**
 * A derived field sent back must be what GET showed (the stored value) or what this update makes
 * it (a new country moves the region): anything else is an attempt to set it. created_at never
 * changes; updated_at changes on every write, so a stale copy of it is ignored.
 */
function readOnlyProblem(sent: SentReadOnly, before: Offering, after: Offering): string | null {
  for (const [field, why] of DERIVED) {
    if (!(field in sent) || sent[field] === before[field] || sent[field] === after[field]) continue;
    return `body.${field} is read-only (${why}): it is ${shown(after[field])}, not ${shown(sent[field])}. Leave it out or send the value GET returned.`;
  }
  if ('created_at' in sent && !sameInstant(sent.created_at, before.created_at)) {
    return `body.created_at is read-only: it is ${new Date(before.created_at).toISOString()}, not ${shown(sent.created_at)}. Leave it out or send the value GET returned.`;
  }
  if ('updated_at' in sent && typeof sent.updated_at !== 'string') {
    return `body.updated_at is read-only: leave it out or send the value GET returned.`;
  }
  return null;
}

function sameInstant(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string') return false;
  return Date.parse(a) === new Date(b as string | Date).getTime();
}

/** JSON with sorted keys: jsonb reorders an object's keys, so a config sent back unchanged compares equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const WRITTEN_FIELDS = ['name', 'product_type', 'datacenter_country', 'monthly_price', 'currency', 'provisioner_type', 'agent_pool_id', 'status'] as const;

/** The fields whose value the write would change. */
function changedFields(row: OfferingRow, cur: Offering): string[] {
  const out: string[] = WRITTEN_FIELDS.filter((k) => row[k] !== cur[k]);
  if (canonical(row.provisioner_config) !== canonical(cur.provisioner_config)) out.push('provisioner_config');
  return out;
}

/**
 * PUT: a partial update. Without a type in the body, re-pointing to a pool adopts its type, and an
 * offering that leaves its pool or its region takes the type a new one would (the region's oldest
 * pool's, else proxmox); otherwise the type stays. An update that changes nothing writes nothing
 * (no updated_at, no audit record): a GET → PUT round trip is a no-op.
 */
export async function updateOffering(db: Db, provider: string, offeringId: string, patch: OfferingUpdate, sent: SentReadOnly = {}): Promise<Offering> {
  return db.transaction(async (tx) => {
    await lockRouting(tx, provider, 'offerings');
    const before = (
      await tx.query<Offering>(
        `SELECT ${OFFERING_COLUMNS} FROM provider_offerings o WHERE o.provider_pubkey = $1 AND o.offering_id = $2 FOR UPDATE OF o`,
        [provider, offeringId],
      )
    ).rows[0];
    if (!before) throw notFound(`Offering ${offeringId}`);
    const poolId = patch.agent_pool_id !== undefined ? patch.agent_pool_id : before.agent_pool_id;
    const pools = await lockPools(tx, provider, poolId ? [poolId] : []);
    const country = patch.datacenter_country ?? before.datacenter_country;
    const movesRegion = isCountryCode(country) && countryToRegion(country) !== before.datacenter_region;
    const unpinned = patch.agent_pool_id === null && before.agent_pool_id !== null;
    const rederive = poolId === null && (movesRegion || unpinned);
    // undefined: resolveOffering takes the explicit pool's type, else the region's default.
    const type = patch.provisioner_type ?? (patch.agent_pool_id || rederive ? undefined : before.provisioner_type);
    const regionTypes = type === undefined && poolId === null ? await regionDefaultTypes(tx, provider) : new Map<string, string>();
    const row = resolveOffering(
      {
        offering_id: offeringId,
        name: patch.name ?? before.name,
        product_type: patch.product_type ?? before.product_type,
        datacenter_country: country,
        monthly_price: patch.monthly_price ?? before.monthly_price,
        currency: patch.currency ?? before.currency,
        provisioner_type: type,
        provisioner_config: patch.provisioner_config !== undefined ? patch.provisioner_config : before.provisioner_config,
        agent_pool_id: poolId,
        status: patch.status ?? before.status,
      },
      pools,
      regionTypes,
    );
    if (Array.isArray(row)) throw refusal(row);
    let after = before;
    const fields = changedFields(row, before);
    if (fields.length > 0) {
      await upsertOfferings(tx, provider, [row]);
      // Field names only (the changed ones): provisioner_config values may be sensitive.
      await recordAudit(tx, { provider, kind: 'offering_updated', actor: providerActor(provider), subject: { type: 'offering', id: offeringId }, detail: { fields } });
      after = await getOffering(tx, provider, offeringId);
    }
    // Checked against the result, so a refusal here rolls the write back.
    const problem = readOnlyProblem(sent, before, after);
    if (problem) throw invalidInput(problem);
    return after;
  });
}

export async function getOffering(db: Queryable, provider: string, offeringId: string): Promise<Offering> {
  const r = await db.query<Offering>(
    `SELECT ${OFFERING_COLUMNS} FROM provider_offerings o WHERE o.provider_pubkey = $1 AND o.offering_id = $2`,
    [provider, offeringId],
  );
  if (!r.rows[0]) throw notFound(`Offering ${offeringId}`);
  return r.rows[0];
}

/**
 * One page of offerings with the filtered total from the same scan (count(*) OVER ()). Filters and
 * paging run on the table alone, in primary-key order, keeping only keys; the page's rows are then
 * read whole by key (a LATERAL probe: as a plain join the planner hash-joins the whole table). The
 * pool filter is the stored route.
 */
export async function listOfferings(db: Queryable, provider: string, q: OfferingListQuery): Promise<{ items: Offering[]; total: number }> {
  const where = ['o.provider_pubkey = $1'];
  const params: unknown[] = [provider];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replaceAll('?', `$${params.length}`));
  };
  if (q.pool_id !== undefined) {
    add('o.route_pool_id = ?', q.pool_id);
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
