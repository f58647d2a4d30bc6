// Schema validation failures in words a person can act on: the field, then the rule. A pattern is
// never shown; the schema's `description` (core's RuleString puts the rule in words there) is.
// Needs Ajv's `verbose` option, which gives each error its `parentSchema`.
import type { FastifyError, FastifySchemaValidationError } from 'fastify';

/** How the message names each part of the request (the same names the input guard uses). */
const PART_NAMES: Record<string, string> = { body: 'body', params: 'path', querystring: 'query', headers: 'headers' };

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

const FORMAT_WORDS: Record<string, string> = {
  'date-time': 'a date and time such as 2025-01-31T12:00:00Z',
  date: 'a date such as 2025-01-31',
  uri: 'an absolute URL',
  email: 'an email address',
  uuid: 'a UUID',
};

interface SchemaLike {
  description?: string;
  properties?: Record<string, SchemaLike>;
}

/** Ajv's error with `verbose: true`. */
type VerboseError = FastifySchemaValidationError & { parentSchema?: SchemaLike };

export function describeValidation(err: Pick<FastifyError, 'validation' | 'validationContext'>): string {
  const part = PART_NAMES[err.validationContext ?? 'body'] ?? String(err.validationContext);
  const e: VerboseError | undefined = err.validation?.[0];
  if (!e) return `The ${part} is invalid.`;
  const at = fieldName(part, e.instancePath);
  const p = e.params as Record<string, unknown>;
  const rule = e.parentSchema?.description;
  switch (e.keyword) {
    case 'required': {
      const name = String(p.missingProperty);
      const wanted = e.parentSchema?.properties?.[name]?.description;
      return `${at}.${name} is required${wanted ? `: ${wanted}` : ''}.`;
    }
    case 'additionalProperties': {
      const allowed = Object.keys(e.parentSchema?.properties ?? {});
      return `${at} has an unknown field "${String(p.additionalProperty)}"${allowed.length ? `; allowed: ${allowed.join(', ')}` : ''}.`;
    }
    case 'pattern':
      return rule ? `${at}: ${rule}.` : `${at} is not in the expected format.`;
    case 'enum':
      return `${at} must be one of: ${(p.allowedValues as unknown[]).map(String).join(', ')}.`;
    case 'const':
      return `${at} must be ${JSON.stringify(p.allowedValue)}.`;
    case 'type':
      return `${at} must be ${String(p.type).split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ')}.`;
    case 'format':
      return `${at} must be ${FORMAT_WORDS[String(p.format)] ?? `a valid ${String(p.format)}`}.`;
    case 'minLength':
      return p.limit === 1 ? `${at} must not be empty.` : `${at} must be at least ${plural(p.limit, 'character')} long.`;
    case 'maxLength':
      return `${at} must be at most ${plural(p.limit, 'character')} long.`;
    case 'minimum':
      return `${at} must be at least ${String(p.limit)}.`;
    case 'maximum':
      return `${at} must be at most ${String(p.limit)}.`;
    case 'exclusiveMinimum':
      return `${at} must be greater than ${String(p.limit)}.`;
    case 'exclusiveMaximum':
      return `${at} must be less than ${String(p.limit)}.`;
    case 'multipleOf':
      return `${at} must be a multiple of ${String(p.multipleOf)}.`;
    case 'minItems':
      return `${at} must have at least ${plural(p.limit, 'item')}.`;
    case 'maxItems':
      return `${at} must have at most ${plural(p.limit, 'item')}.`;
    case 'uniqueItems':
      return `${at} must not repeat an item.`;
    case 'minProperties':
      return `${at} must set at least ${plural(p.limit, 'field')}.`;
    case 'maxProperties':
      return `${at} must set at most ${plural(p.limit, 'field')}.`;
    default:
      return rule ? `${at}: ${rule}.` : `${at} is invalid.`;
  }
}

/** `body.exclude[2]` from part `body` and JSON pointer `/exclude/2`. */
function fieldName(part: string, pointer: string): string {
  let out = part;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^[0-9]+$/.test(seg) ? `[${seg}]` : `.${seg}`;
  }
  return out;
}

function plural(n: unknown, word: string): string {
  return `${String(n)} ${word}${n === 1 ? '' : 's'}`;
}
