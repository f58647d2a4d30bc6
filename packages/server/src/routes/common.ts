// Every API route is registered from its ENDPOINTS entry in core: method, path, auth, schemas
// (validation, serialization, the OpenAPI document) and the handler's types come from one place.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  FastifyBaseLogger, FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault, RouteGenericInterface, RouteShorthandOptions,
} from 'fastify';
import type { SwaggerTransform } from '@fastify/swagger';
import type { Static, TSchema, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { responsesOf, type Endpoint } from '@dc/core';

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** The request schema of E as Fastify sees it; the TypeBox provider derives params/query/body types from it. */
interface RequestSchema<E extends Endpoint> {
  params: E['params'];
  querystring: E['query'];
  body: E['body'];
}
export type RequestOf<E extends Endpoint> = FastifyRequest<RouteGenericInterface, RawServerDefault, IncomingMessage, RequestSchema<E>, TypeBoxTypeProvider>;

/** What a handler returns: the success body (sent with E's success status); nothing for 204; text for raw answers (CSV). */
export type Answer<E extends Endpoint> = E['ok'][1] extends TSchema ? Static<E['ok'][1]> : E['ok'][0] extends 204 ? void : string;

export type Handler<E extends Endpoint> = (req: RequestOf<E>, reply: FastifyReply) => Promise<Answer<E>>;

/** Route options an endpoint may add: a rate limit before auth, a check before validation, a body limit, auth's extras. */
export type RouteExtras = Pick<RouteShorthandOptions, 'onRequest' | 'preValidation' | 'bodyLimit'> & {
  config?: Omit<FastifyContextConfig, 'auth'>;
};

/**
 * responsesOf(e), plus a raw success (the CSV export) documented under its own content type; not
 * as the schema's `produces`, which would list the JSON error bodies under that type too.
 */
function responses(e: Endpoint): Record<number, unknown> {
  const out: Record<number, unknown> = responsesOf(e);
  const [status, schema] = e.ok;
  if (schema === null && e.produces) {
    out[status] = { description: e.summary, content: Object.fromEntries(e.produces.map((type) => [type, { schema: { type: 'string' } }])) };
  }
  return out;
}

function rawBodyDoc(description: string): SwaggerTransform {
  return ({ schema, url }) => ({ url, schema: { ...schema, body: { type: 'string', description } } });
}

export function route<E extends Endpoint>(app: App, e: E, handler: Handler<E>, { config, ...extras }: RouteExtras = {}): void {
  app.route({
    method: e.method,
    url: e.path,
    config: {
      ...config,
      auth: e.auth,
      // A raw body (the CSV import) is read by the handler, not validated: documented for OpenAPI only.
      ...(e.consumes && !e.body && { swaggerTransform: rawBodyDoc(e.summary) }),
    },
    schema: {
      tags: [e.tag],
      summary: e.summary,
      ...(e.params && { params: e.params }),
      ...(e.query && { querystring: e.query }),
      ...(e.body && { body: e.body }),
      ...(e.consumes && { consumes: [...e.consumes] }),
      response: responses(e),
    },
    ...extras,
    handler: async (req, reply) => {
      const result = await handler(req as RequestOf<E>, reply);
      return reply.code(e.ok[0]).send(result);
    },
  });
}
