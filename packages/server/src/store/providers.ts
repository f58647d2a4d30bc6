// Provider registrations: a provider names itself once before it creates pools and offerings.
import type { Provider } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { notFound } from '../errors.js';

const PROVIDER_COLUMNS = 'pubkey, name, created_at, updated_at';

/** Registers the provider, or renames it when it is registered already. */
export async function putProvider(db: Queryable, pubkey: string, name: string): Promise<Provider> {
  const r = await db.query<Provider>(
    `INSERT INTO provider_registrations (pubkey, name) VALUES ($1, $2)
     ON CONFLICT (pubkey) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
     RETURNING ${PROVIDER_COLUMNS}`,
    [pubkey, name],
  );
  return r.rows[0]!;
}

export async function getProvider(db: Queryable, pubkey: string): Promise<Provider> {
  const r = await db.query<Provider>(`SELECT ${PROVIDER_COLUMNS} FROM provider_registrations WHERE pubkey = $1`, [pubkey]);
  if (!r.rows[0]) throw notFound('Provider registration');
  return r.rows[0];
}
