#!/usr/bin/env node
// `node scripts/restore.mjs FILE [TARGET_URL]`: restores a dump made by `npm run backup` into an
// EMPTY database (TARGET_URL, else RESTORE_DATABASE_URL), in one transaction: it either completes
// or leaves the database empty. It refuses a database that already has dc-api's tables. Ownership
// and grants are not restored: the role in TARGET_URL owns what it restores. TARGET_URL must reach
// PostgreSQL directly, not through PgBouncer in transaction mode: pg_restore's session settings
// (an empty search_path) would stay on a pooled server connection and break dc-api's next query.
// Stop every replica (or point them at the new database only after this finishes); see
// docs/operations.md "Backups and restore".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const [file, target = process.env.RESTORE_DATABASE_URL] = process.argv.slice(2);
if (!file || !target) {
  console.error('usage: node scripts/restore.mjs FILE TARGET_URL   (or RESTORE_DATABASE_URL=… node scripts/restore.mjs FILE)');
  process.exit(2);
}
if (!existsSync(file)) {
  console.error(`restore: ${file} does not exist`);
  process.exit(2);
}
const psql = process.env.PSQL ?? 'psql';
const probe = spawnSync(psql, ['--no-password', '-Atqc', "SELECT to_regclass('public.schema_migrations') IS NOT NULL", target], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  console.error(`restore: cannot connect to the target database: ${probe.error?.message ?? probe.stderr.trim()}`);
  process.exit(1);
}
if (probe.stdout.trim() === 't') {
  console.error('restore: the target database already has dc-api tables; restore into a new, empty database (createdb) instead.');
  process.exit(1);
}
const r = spawnSync(
  process.env.PG_RESTORE ?? 'pg_restore',
  ['--no-password', '--no-owner', '--no-acl', '--single-transaction', '--exit-on-error', `--dbname=${target}`, file],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
if (r.error || r.status !== 0) {
  console.error(`restore: pg_restore failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status})`}; the target database is unchanged`);
  process.exit(1);
}
console.log(`restore: ${file} restored`);
