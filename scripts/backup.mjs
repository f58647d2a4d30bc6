#!/usr/bin/env node
// `npm run backup [-- FILE]`: a consistent pg_dump (custom format) of dc-api's PostgreSQL database,
// taken while replicas keep serving (pg_dump reads one snapshot). Restore with scripts/restore.mjs;
// docs/operations.md "Backups and restore" explains both and what a dump contains (the server key).
//
// Source: DC_BACKUP_DATABASE_URL, else DATABASE_LISTEN_URL (a direct connection when DATABASE_URL
// goes through PgBouncer in transaction mode, which cannot carry pg_dump's session), else DATABASE_URL.
// FILE defaults to backups/dc-api-<UTC time>.dump (created mode 0600: it holds the server's key).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const url = process.env.DC_BACKUP_DATABASE_URL || process.env.DATABASE_LISTEN_URL || process.env.DATABASE_URL;
if (!url) {
  console.error(
    'backup: DATABASE_URL is not set. The embedded database (PGlite) is backed up by stopping dc-api and copying DC_DATA_DIR; see docs/operations.md.',
  );
  process.exit(2);
}
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const file = resolve(process.argv[2] ?? `backups/dc-api-${stamp}.dump`);
mkdirSync(dirname(file), { recursive: true });
// Written next to its final name and renamed when complete: a failed dump never looks like a backup.
const partial = `${file}.partial`;
closeSync(openSync(partial, 'w', 0o600));
chmodSync(partial, 0o600);
const r = spawnSync(process.env.PG_DUMP ?? 'pg_dump', ['--format=custom', '--compress=6', '--no-password', `--file=${partial}`, `--dbname=${url}`], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (r.error || r.status !== 0) {
  rmSync(partial, { force: true });
  console.error(`backup: pg_dump failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status})`}`);
  process.exit(1);
}
renameSync(partial, file);
console.log(`backup: wrote ${file} (${statSync(file).size} bytes)`);
