// Answers serialised by PostgreSQL. A listing of wide rows (pending-provision: up to 100 work
// items of 37 fields) costs a replica more to parse into objects and serialise again than the
// query costs the database. There each item is selected as the JSON text its response schema
// gives, and the replica only joins the texts (BENCHMARKS.md, "Work items as JSON from the
// database").
//
// The SQL is derived from the schema, so a field added there is added here, in the schema's key
// order. Only types PostgreSQL renders exactly as fast-json-stringify does are accepted; any other
// (a float, an array, an object with declared properties) throws when this module's caller loads,
// so a change of the schema cannot silently change an answer. test/answer-json.test.ts compares
// both serialisations over contracts in every state.
import type { TObject, TSchema } from '@fastify/type-provider-typebox';

/** fast-json-stringify writes a date-time as Date#toISOString: UTC, milliseconds (truncated, as node-postgres parses them). */
const ISO_8601_MS = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const NAME_RE = /^[a-z_][a-z0-9_]*$/;

function rendered(column: string, name: string, schema: TSchema): string {
  const types = [schema.type].flat().filter((t) => t !== 'null');
  const type = types.length === 1 ? types[0] : undefined;
  if (type === 'string' && schema.format === 'date-time') return `to_char(${column} AT TIME ZONE 'UTC', ${ISO_8601_MS})`;
  if (type === 'string' && schema.format === undefined) return column;
  if (type === 'boolean') return column;
  // An integer column: PostgreSQL writes its digits; fast-json-stringify Number()s node-postgres's
  // int8 string, which agrees below 2^53 (fencing tokens and counters stay far below it).
  if (type === 'integer') return column;
  // jsonb as stored: the same keys and values (PostgreSQL puts a space after ':' and ',').
  if (type === 'object' && schema.additionalProperties === true && Object.keys(schema.properties ?? {}).length === 0) return column;
  throw new Error(`answer-json: field "${name}" (${JSON.stringify(schema)}) has no exact SQL rendering; serialise this answer in JS`);
}

/**
 * SQL: row `alias` (one column per property of `schema`, same names) as the JSON text the schema
 * serialises it to. Throws for a schema it cannot render exactly.
 */
export function rowJsonSql(schema: TObject, alias: string): string {
  const fields = Object.entries(schema.properties).map(([name, s]) => {
    if (!NAME_RE.test(name)) throw new Error(`answer-json: field "${name}" is not a plain column name`);
    return `${rendered(`${alias}.${name}`, name, s)} AS ${name}`;
  });
  return `(SELECT row_to_json(j) FROM (SELECT ${fields.join(', ')}) j)::text`;
}

/** `{"items":[…]}` from items already serialised (rowJsonSql): the body of a listOf answer. */
export function itemsAnswer(items: readonly string[]): string {
  return `{"items":[${items.join(',')}]}`;
}
