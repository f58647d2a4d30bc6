// CSV import (all-or-nothing upsert, every bad row reported with its line number) and export.
import { parse, CsvError } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { Ajv, type ErrorObject } from 'ajv';
import { OfferingCreate, type CsvRowError } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { DomainError } from '../errors.js';
import { inputProblem } from '../input-problem.js';
import { lockPools, resolveOffering, upsertOfferings, type OfferingRow } from './offerings.js';
import { providerActor, recordAudit } from './audit.js';

export const CSV_COLUMNS = [
  'offering_id', 'name', 'product_type', 'datacenter_country', 'monthly_price', 'currency',
  'provisioner_type', 'agent_pool_id', 'status', 'provisioner_config',
] as const;
const REQUIRED = ['offering_id', 'name', 'product_type', 'datacenter_country', 'monthly_price', 'currency'];
export const MAX_CSV_ROWS = 50_000;

function invalid(errors: CsvRowError[]): DomainError {
  const n = new Set(errors.map((e) => e.line)).size;
  const first = errors[0]!;
  return new DomainError(
    'invalid_csv',
    `${n} row(s) have errors; nothing was imported. First: line ${first.line}${first.field ? ` (${first.field})` : ''}: ${first.message}`,
    { rows: errors.slice(0, 1000) },
  );
}

type Parsed = { line: number; input: Record<string, unknown> };

// Rows are checked by the same engine and schema as JSON bodies. (TypeBox's Value checker ignores
// `enum`, so a bad status or provisioner_type used to reach a CHECK constraint: a 500.)
const validateRow = new Ajv({ strict: false, allErrors: false, coerceTypes: false, verbose: true }).compile(OfferingCreate);

function rowError(e: ErrorObject): { field: string | null; message: string } {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required') return { field: String(params.missingProperty), message: 'is required' };
  const field = e.instancePath.replace(/^\//, '').split('/')[0] || null;
  const got = e.data === undefined ? '' : ` (got ${JSON.stringify(e.data)?.slice(0, 100)})`;
  switch (e.keyword) {
    case 'enum':
      return { field, message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}${got}` };
    case 'type':
      return { field, message: `must be ${[params.type].flat().join(' or ')}${got}` };
    case 'pattern': {
      // The rule in words (core's RuleString description), never the regular expression.
      const rule = (e.parentSchema as { description?: string } | undefined)?.description;
      return { field, message: `must be ${rule ?? 'in the documented format'}${got}` };
    }
    default:
      return { field, message: `${e.message ?? 'is invalid'}${got}` };
  }
}

function parseCsv(text: string): Parsed[] {
  let records: { record: Record<string, string>; info: { lines: number }; raw: string }[];
  // The header as written: the parsed records would hide a repeated or "__proto__" column.
  let header: string[] = [];
  const columns = (h: string[]) => (header = h.map(String));
  try {
    // One line ending: csv-parse counts a CRLF inside a quoted field as two lines, which would
    // shift every later line number of a file saved on Windows. Valid values never hold a CR.
    const lf = text.replace(/\r\n?/g, '\n');
    records = parse(lf, { columns, bom: true, skip_empty_lines: true, trim: true, info: true, raw: true, relax_column_count: false });
  } catch (err) {
    if (err instanceof CsvError) {
      const line = (err as CsvError & { lines?: number }).lines ?? 1;
      throw invalid([{ line, field: null, message: err.message.replace(/^Invalid Record Length: /, '') }]);
    }
    throw err;
  }
  if (records.length === 0) throw invalid([{ line: 1, field: null, message: 'the file has no data rows (is the header line missing?)' }]);
  if (records.length > MAX_CSV_ROWS) throw invalid([{ line: 1, field: null, message: `at most ${MAX_CSV_ROWS} rows per import` }]);
  const errors: CsvRowError[] = [];
  for (const [i, h] of header.entries()) {
    if (!(CSV_COLUMNS as readonly string[]).includes(h)) errors.push({ line: 1, field: h, message: `unknown column "${h}"; columns are ${CSV_COLUMNS.join(', ')}` });
    else if (header.indexOf(h) !== i) errors.push({ line: 1, field: h, message: `column "${h}" appears more than once` });
  }
  for (const r of REQUIRED) if (!header.includes(r)) errors.push({ line: 1, field: r, message: `required column "${r}" is missing` });
  if (errors.length) throw invalid(errors);

  return records.map(({ record, info, raw }) => {
    const input: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) {
      if (v === '') continue;
      if (k === 'monthly_price') input[k] = /^\d{1,10}(\.\d{1,2})?$/.test(v) ? Number(v) : v;
      else if (k === 'provisioner_config') {
        try {
          input[k] = JSON.parse(v);
        } catch {
          input[k] = v; // reported below as "must be object"
        }
      } else input[k] = v;
    }
    // info.lines is the record's last line; a person looks for the line it starts on.
    const inside = raw.replace(/^\n+/, '').replace(/\n$/, '').split('\n').length - 1;
    return { line: info.lines - inside, input };
  });
}

export async function importOfferingsCsv(db: Db, provider: string, text: string): Promise<{ imported: number; created: number; updated: number }> {
  const rows = parseCsv(text);
  const errors: CsvRowError[] = [];
  const seen = new Map<string, number>();
  const wellFormed: Parsed[] = [];
  for (const row of rows) {
    const { line, input } = row;
    if (!validateRow(input)) {
      errors.push({ line, ...rowError(validateRow.errors![0]!) });
      continue;
    }
    const deep = inputProblem('provisioner_config', input.provisioner_config);
    if (deep) {
      errors.push({ line, field: 'provisioner_config', message: deep.replace(/^provisioner_config[^ ]* /, '').replace(/\.$/, '') });
      continue;
    }
    const id = input.offering_id as string;
    if (seen.has(id)) errors.push({ line, field: 'offering_id', message: `"${id}" already appears on line ${seen.get(id)}` });
    else {
      seen.set(id, line);
      wellFormed.push(row);
    }
  }

  // The rows that passed the schema are also checked against the pools and the country list, so
  // one answer lists every bad row (a person fixes the file once), ordered by line.
  return db.transaction(async (tx) => {
    const poolIds = [...new Set(wellFormed.map((r) => r.input.agent_pool_id).filter((x): x is string => typeof x === 'string'))];
    const pools = await lockPools(tx, provider, poolIds);
    const resolved: OfferingRow[] = [];
    for (const { line, input } of wellFormed) {
      const row = resolveOffering(input as unknown as OfferingCreate, pools);
      if (Array.isArray(row)) errors.push({ line, field: row[0], message: row[1] });
      else resolved.push(row);
    }
    if (errors.length) throw invalid(errors.sort((a, b) => a.line - b.line));
    const { created, updated } = await upsertOfferings(tx, provider, resolved);
    const counts = { imported: resolved.length, created, updated };
    await recordAudit(tx, { provider, kind: 'offerings_imported', actor: providerActor(provider), subject: { type: 'provider', id: provider }, detail: counts });
    return counts;
  });
}

export async function exportOfferingsCsv(db: Queryable, provider: string): Promise<string> {
  const r = await db.query<Record<string, unknown>>(
    `SELECT offering_id, name, product_type, datacenter_country, monthly_price::text AS monthly_price, currency,
       provisioner_type, agent_pool_id, status, provisioner_config::text AS provisioner_config
     FROM provider_offerings WHERE provider_pubkey = $1 ORDER BY offering_id`,
    [provider],
  );
  return stringify(r.rows, { header: true, columns: [...CSV_COLUMNS], cast: { object: (v) => JSON.stringify(v) } });
}
