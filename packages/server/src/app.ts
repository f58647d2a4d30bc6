// Builds the dc-api Fastify app: body parsing that keeps raw bytes for signatures, two validators
// (strict for bodies, coercing for query strings), one error handler (catalogue codes only, 5xx
// details hidden), the API routes from core's ENDPOINTS (routes/common.ts), OpenAPI from the same
// schemas, and the ops, installer and dashboard routes.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { pino } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { AppContext } from './context.js';
import { DomainError, fail } from './errors.js';
import { registerAuth } from './http/auth.js';
import { describeValidation } from './http/validation.js';
import { opsRoutes } from './routes/ops.js';
import { providerRoutes } from './routes/providers.js';
import { poolRoutes } from './routes/pools.js';
import { agentRoutes } from './routes/agents.js';
import { offeringRoutes } from './routes/offerings.js';
import { contractRoutes } from './routes/contracts.js';
import { provisioningRoutes } from './routes/provisioning.js';
import { installerRoutes } from './routes/installer.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { authorityOf } from '@dc/core';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;
const EMPTY = Buffer.alloc(0);
const NOT_JSON = 'The body must be a JSON object sent with Content-Type: application/json.';

export interface BuildOptions {
  logger?: boolean;
}

export async function buildApp(ctx: AppContext, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const { config } = ctx;
  const logging = !(opts.logger === false || config.logLevel === 'silent');
  // Asynchronous stdout: under load, log lines queue while a write is in flight instead of one
  // blocking write per request; flushed when the app closes.
  const logStream = logging ? pino.destination({ dest: 1, sync: false }) : null;
  const app = Fastify({
    logger: logStream ? { level: config.logLevel, stream: logStream } : false,
    // One JSON line per request, written by our onResponse hook (Fastify's own would write two).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Trust only the hops we were told about: the client's own X-Forwarded-For entries don't count.
    trustProxy: config.trustProxy > 0 ? (_address: string, hop: number) => hop < config.trustProxy : false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Errors Fastify raises before routing (a malformed URL) get our error body too.
    frameworkErrors: ((err: Error, _req: unknown, reply: FastifyReply) => {
      sendError(reply, fail('bad_request', `The request is malformed: ${err.message}`));
    }) as never,
  });

  // Bodies are never coerced: "5" is not a number and an unknown field is an error a person sees.
  // `verbose` gives each error its schema, whose description says the rule in words.
  const bodyAjv = addFormats(new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false, verbose: true }));
  const queryAjv = addFormats(new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false, verbose: true }));
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema));

  app.decorateRequest('rawBody', null as unknown as Buffer);
  app.decorateRequest('bodyError', null);
  app.addHook('onRequest', async (req) => {
    req.rawBody = EMPTY;
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    if (buf.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(buf.toString('utf8')));
    } catch (e) {
      req.bodyError = fail('invalid_json', `The body is not valid JSON (${(e as Error).message}).`);
      done(null, undefined);
    }
  });
  app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, (body as Buffer).toString('utf8'));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, body);
  });

  if (logStream) app.addHook('onClose', async () => logStream.flushSync());

  app.setErrorHandler((err: FastifyError | DomainError, req, reply) => {
    if (err instanceof DomainError) {
      if (err.status >= 500) req.log.error({ code: err.code }, err.message);
      return sendError(reply, err);
    }
    if (err.validation) {
      // Bytes or text where a JSON object was expected: the content type is what to fix.
      const notJson = err.validationContext === 'body' && (typeof req.body === 'string' || Buffer.isBuffer(req.body));
      return sendError(reply, fail('invalid_input', notJson ? NOT_JSON : describeValidation(err)));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendError(reply, frameworkError(status, err.message));
    req.log.error({ err }, 'unhandled error');
    return sendError(reply, fail('internal_error'));
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(reply, fail('not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`));
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    ctx.metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    ctx.metrics.requestSeconds.observe({ method: req.method, route }, seconds);
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, ip: req.ip }, 'request');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'dc-api',
        version: '0.1.0',
        description: 'Agent pools control plane. Signed requests: see DESIGN.md "Request signing" (DC1 message, Ed25519).',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  registerAuth(app, ctx.db, config.publicUrl ? authorityOf(config.publicUrl) : null);

  await app.register(opsRoutes(ctx));
  await app.register(providerRoutes(ctx));
  await app.register(poolRoutes(ctx));
  await app.register(agentRoutes(ctx));
  await app.register(offeringRoutes(ctx));
  await app.register(contractRoutes(ctx));
  await app.register(provisioningRoutes(ctx));
  await app.register(installerRoutes(ctx));
  await app.register(dashboardRoutes(ctx));
  // Held long-polls answer (empty) before the server waits for in-flight requests to finish.
  app.addHook('preClose', async () => ctx.dispatcher.close());
  return app;
}

/** The one error body: `{"error": {code, message, ...details}}` with the catalogue's status. */
function sendError(reply: FastifyReply, err: DomainError): FastifyReply {
  if (err.retryAfterSeconds !== null) reply.header('retry-after', String(err.retryAfterSeconds));
  return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...err.details } });
}

/** A 4xx Fastify raised itself (body limit, content type, unreadable body) as a catalogue error. */
function frameworkError(status: number, message: string): DomainError {
  switch (status) {
    case 413:
      return fail('body_too_large');
    case 415:
      return fail('unsupported_media_type');
    case 404:
      return fail('not_found');
    default:
      return fail('bad_request', message);
  }
}
