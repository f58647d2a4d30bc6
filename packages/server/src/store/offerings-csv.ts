// CSV import (all-or-nothing upsert, every bad row reported with its line number) and export.
import { parse, CsvError } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { Ajv, type ErrorObject } from 'ajv';
import { OfferingCreate, type CsvRowError } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { DomainError } from '../errors.js';
import { lockRouting } from './routing.js';
import { inputProblem } from '../input-problem.js';
import { lockPools, offeringFieldProblems, poolProblem, regionDefaultTypes, resolveOffering, upsertOfferings, type OfferingRow } from './offerings.js';
import { providerActor, recordAudit } from './audit.js';

export const CSV_COLUMNS = [
  'offering_id', 'name', 'product_type', 'datacenter_country', 'monthly_price', 'currency',
  'provisioner_type', 'agent_pool_id', 'status', 'provisioner_config',
] as const;
const REQUIRED = ['offering_id', 'name', 'product_type', 'datacenter_country', 'monthly_price', 'currency'];
export const MAX_CSV_ROWS = 50_000;

/** Errors listed in the answer; the message counts them all. */
const MAX_LISTED_ERRORS = 1000;
/** Errors spelled out in the message itself (for a reader of the raw answer, e.g. curl). */
const ERRORS_IN_MESSAGE = 5;

function invalid(errors: CsvRowError[]): DomainError {
  const rows = new Set(errors.map((e) => e.line)).size;
  const shownErrors = errors.slice(0, ERRORS_IN_MESSAGE).map((e) => `line ${e.line}${e.field ? `, ${e.field}` : ''}: ${e.message}`);
  const more = errors.length > ERRORS_IN_MESSAGE ? `; and ${errors.length - ERRORS_IN_MESSAGE} more` : '';
  const listed = errors.length > MAX_LISTED_ERRORS ? ` The first ${MAX_LISTED_ERRORS} are listed in rows.` : '';
  return new DomainError(
    'invalid_csv',
    `${errors.length} error(s) in ${rows} row(s); nothing was imported. ${shownErrors.join('; ')}${more}.${listed}`,
    { rows: errors.slice(0, MAX_LISTED_ERRORS) },
  );
}

/** A data row: its first line, the cells as typed input, and problems found while reading the cells. */
type Parsed = { line: number; input: Record<string, unknown>; errors: CsvRowError[] };

// Rows are checked by the same engine and schema as JSON bodies, every error of a row at once.
// (TypeBox's Value checker ignores `enum`, so a bad status or provisioner_type used to reach a
// CHECK constraint: a 500.)
const validateRow = new Ajv({ strict: false, allErrors: true, coerceTypes: false, verbose: true }).compile(OfferingCreate);

const TYPE_WORDS: Record<string, string> = { string: 'text', number: 'a number', integer: 'a whole number', object: 'a JSON object', array: 'a list', null: 'empty' };

interface SchemaLike {
  description?: string;
  properties?: Record<string, SchemaLike>;
}

/** One schema error as "the rule in words (got …)": the field is reported beside it, never a regular expression. */
function rowError(e: ErrorObject): { field: string | null; message: string } {
  const params = e.params as Record<string, unknown>;
  const parent = e.parentSchema as SchemaLike | undefined;
  if (e.keyword === 'required') {
    const field = String(params.missingProperty);
    const rule = parent?.properties?.[field]?.description;
    return { field, message: `required (the cell is empty)${rule ? `: ${rule}` : ''}` };
  }
  const field = e.instancePath.replace(/^\//, '').split('/')[0] || null;
  const got = e.data === undefined ? '' : ` (got ${JSON.stringify(e.data)?.slice(0, 100)})`;
  const rule = parent?.description;
  switch (e.keyword) {
    case 'enum':
      return { field, message: `${rule ?? `one of ${(params.allowedValues as unknown[]).join(', ')}`}${got}` };
    case 'type':
      return { field, message: `${rule ?? [params.type].flat().map((t) => TYPE_WORDS[String(t)] ?? String(t)).join(' or ')}${got}` };
    case 'pattern':
      return { field, message: `${rule ?? 'in the documented format'}${got}` };
    case 'minLength':
      return { field, message: `at least ${String(params.limit)} character(s)${got}` };
    case 'maxLength':
      return { field, message: `at most ${String(params.limit)} characters (got ${String(e.data).length})` };
    case 'minimum':
      return { field, message: `at least ${String(params.limit)}${got}` };
    case 'maximum':
      return { field, message: `at most ${String(params.limit)}${got}` };
    default:
      return { field, message: `${rule ?? e.message ?? 'is invalid'}${got}` };
  }
}

/** A JSON number with nothing else: the schema and the decimals rule then judge it. */
const NUMERIC = /^-?\d+(\.\d+)?$/;

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
    // info.lines is the record's last line; a person looks for the line it starts on.
    const inside = raw.replace(/^\n+/, '').replace(/\n$/, '').split('\n').length - 1;
    const line = info.lines - inside;
    const input: Record<string, unknown> = {};
    const errors: CsvRowError[] = [];
    for (const [k, v] of Object.entries(record)) {
      if (v === '') continue;
      if (k === 'monthly_price') input[k] = NUMERIC.test(v) ? Number(v) : v;
      else if (k === 'provisioner_config') {
        try {
          input[k] = JSON.parse(v);
        } catch {
          errors.push({ line, field: k, message: 'a JSON object such as {"template_vmid": 9000}, or empty; this cell is not valid JSON' });
        }
      } else input[k] = v;
    }
    return { line, input, errors };
  });
}

export async function importOfferingsCsv(db: Db, provider: string, text: string): Promise<{ imported: number; created: number; updated: number }> {
  const rows = parseCsv(text);
  const seen = new Map<string, number>();
  for (const { line, input, errors } of rows) {
    if (!validateRow(input)) errors.push(...validateRow.errors!.map((e) => ({ line, ...rowError(e) })));
    const bad = new Set(errors.map((e) => e.field));
    if (!bad.has('provisioner_config')) {
      const deep = inputProblem('provisioner_config', input.provisioner_config);
      if (deep) errors.push({ line, field: 'provisioner_config', message: deep.replace(/^provisioner_config[^ ]* /, '').replace(/\.$/, '') });
    }
    // The rules the schema cannot express, for the fields it let through.
    for (const [field, message] of offeringFieldProblems(input)) if (!bad.has(field)) errors.push({ line, field, message });
    const id = input.offering_id;
    if (typeof id === 'string' && !bad.has('offering_id')) {
      const first = seen.get(id);
      if (first !== undefined) errors.push({ line, field: 'offering_id', message: `unique within the file; "${id}" is already on line ${first}` });
      else seen.set(id, line);
    }
  }

  // The pools are checked for every row too, so one answer lists every error (a person fixes the
  // file once), ordered by line.
  return db.transaction(async (tx) => {
    await lockRouting(tx, provider, 'offerings');
    const poolIds = [...new Set(rows.map((r) => r.input.agent_pool_id).filter((x): x is string => typeof x === 'string'))];
    const pools = await lockPools(tx, provider, poolIds);
    const regionTypes = await regionDefaultTypes(tx, provider);
    const resolved: OfferingRow[] = [];
    const errors: CsvRowError[] = [];
    for (const { line, input, errors: rowErrors } of rows) {
      const bad = new Set(rowErrors.map((e) => e.field));
      if (rowErrors.length > 0) {
        const poolId = typeof input.agent_pool_id === 'string' && !bad.has('agent_pool_id') ? input.agent_pool_id : null;
        const type = typeof input.provisioner_type === 'string' && !bad.has('provisioner_type') ? input.provisioner_type : undefined;
        const p = poolProblem(poolId, type, pools);
        errors.push(...rowErrors, ...(p ? [{ line, field: p[0], message: p[1] }] : []));
        continue;
      }
      const row = resolveOffering(input as unknown as OfferingCreate, pools, regionTypes);
      if (Array.isArray(row)) errors.push(...row.map(([field, message]) => ({ line, field, message })));
      else resolved.push(row);
    }
    // In reading order: by line, then by column.
    const column = (f: string | null) => (CSV_COLUMNS as readonly (string | null)[]).indexOf(f);
    if (errors.length) throw invalid(errors.sort((a, b) => a.line - b.line || column(a.field) - column(b.field)));
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
