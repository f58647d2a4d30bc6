// Builds the dc-api Fastify app: body parsing that keeps raw bytes for signatures, two validators
// (strict for bodies, coercing for query strings), one error handler, routes, OpenAPI.
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { pino } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { AppContext } from './context.js';
import { ApiError, badRequest } from './http/errors.js';
import { registerAuth } from './http/auth.js';
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
      reply.code(400).send({ error: { code: 'bad_request', message: `The request is malformed: ${err.message}` } });
    }) as never,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });

  // Bodies are never coerced: "5" is not a number and an unknown field is an error a person sees.
  const bodyAjv = addFormats(new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false }));
  const queryAjv = addFormats(new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, strict: false }));
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
      req.bodyError = badRequest(`The body is not valid JSON (${(e as Error).message}).`, 'invalid_json');
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

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      return reply.code(err.statusCode).headers(err.headers).send({ error: { code: err.code, message: err.message, ...extra(err) } });
    }
    if ((err as FastifyError).validation) {
      return reply.code(400).send({ error: { code: 'invalid_input', message: describeValidation(err as FastifyError) } });
    }
    const status = (err as FastifyError).statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      const message = status === 413 ? `The body is larger than the limit for this endpoint.` : err.message;
      return reply.code(status).send({ error: { code, message } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'internal_error', message: 'The server failed to handle this request; the error has been logged.' } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { code: 'not_found', message: `No route for ${req.method} ${req.url.split('?')[0]}.` } });
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
  await app.register(providerRoutes(ctx), { prefix: '/api/v1' });
  await app.register(poolRoutes(ctx), { prefix: '/api/v1' });
  await app.register(agentRoutes(ctx), { prefix: '/api/v1' });
  await app.register(offeringRoutes(ctx), { prefix: '/api/v1' });
  await app.register(contractRoutes(ctx), { prefix: '/api/v1' });
  await app.register(provisioningRoutes(ctx), { prefix: '/api/v1' });
  await app.register(installerRoutes(ctx));
  await app.register(dashboardRoutes(ctx));
  // Held long-polls answer (empty) before the server waits for in-flight requests to finish.
  app.addHook('preClose', async () => ctx.dispatcher.close());
  return app;
}

function extra(err: ApiError): Record<string, unknown> {
  return err.details;
}

function describeValidation(err: FastifyError): string {
  const part = err.validationContext ?? 'body';
  const v = err.validation?.[0];
  if (!v) return `The ${part} is invalid.`;
  const params = v.params as Record<string, unknown>;
  const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const at = path ? `${part}.${path}` : part;
  switch (v.keyword) {
    case 'required':
      return `${part}${path ? '.' + path : ''}.${String(params.missingProperty)} is required.`;
    case 'additionalProperties':
      return `${at} has an unknown field "${String(params.additionalProperty)}".`;
    case 'pattern':
      return `${at} has an invalid format (must match ${String(params.pattern)}).`;
    case 'enum':
      return `${at} must be one of: ${(params.allowedValues as unknown[]).join(', ')}.`;
    case 'type':
      return `${at} must be of type ${String(params.type)}.`;
    default:
      return `${at} ${v.message ?? 'is invalid'}.`;
  }
}

