// Builds the dc-api Fastify app: body parsing that keeps raw bytes for signatures, two validators
// (strict for bodies, coercing for query strings), one error handler (catalogue codes only, 5xx
// details hidden), the API routes from core's ENDPOINTS (routes/common.ts), OpenAPI from the same
// schemas, and the ops, installer and dashboard routes.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { pino } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { AppContext } from './context.js';
import { DomainError, fail } from './errors.js';
import { isDatabaseUnavailable } from './db/db.js';
import { DB_RETRY_AFTER_SECONDS } from './timing.js';
import { registerAuth } from './http/auth.js';
import { registerCompression } from './http/compress.js';
import { registerEtags } from './http/etag.js';
import { describeValidation } from './http/validation.js';
import { opsRoutes } from './routes/ops.js';
import { providerRoutes } from './routes/providers.js';
import { poolRoutes } from './routes/pools.js';
import { agentRoutes, heartbeatRewriteAfterSeconds } from './routes/agents.js';
import { offeringRoutes } from './routes/offerings.js';
import { contractRoutes } from './routes/contracts.js';
import { provisioningRoutes } from './routes/provisioning.js';
import { installerRoutes } from './routes/installer.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { observabilityRoutes } from './routes/observability.js';
import { ERROR_CATALOGUE, authorityOf, type ErrorCode } from '@dc/core';

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
  const logRequests = logging && ['info', 'debug', 'trace'].includes(config.logLevel);
  const app = Fastify({
    logger: logStream ? { level: config.logLevel, stream: logStream } : false,
    // One JSON line per request, written by our onResponse hook (Fastify's own would write two).
    logController: new LogController({ disableRequestLogging: true }),
    // A per-request child logger (it binds reqId) only when request lines are written: below info
    // (warn, the usual production choice behind a load balancer's own log) a request costs no logger.
    childLoggerFactory: (logger, bindings, opts) => (logRequests ? logger.child(bindings, opts) : logger),
    bodyLimit: config.bodyLimitBytes,
    // Trust only the hops we were told about: the client's own X-Forwarded-For entries don't count.
    trustProxy: config.trustProxy > 0 ? (_address: string, hop: number) => hop < config.trustProxy : false,
    // Requests arriving while we drain are served (with Connection: close, below), not refused
    // with Fastify's own 503 body.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Node answers a missing Host with an empty 400; the onRequest hook answers with our body.
    http: { requireHostHeader: false },
    // Malformed HTTP (Node's parser refused it): our error body, not Fastify's.
    clientErrorHandler: answerClientError,
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

  // Node answers an Expect other than 100-continue with an empty 417 unless someone listens.
  app.server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    const body = errorJson('expectation_failed');
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });

  app.decorateRequest('rawBody', null as unknown as Buffer);
  app.decorateRequest('bodyError', null);
  // Hooks on every request take Fastify's callback form: no promise per hook per request.
  app.addHook('onRequest', (req, _reply, done) => {
    req.rawBody = EMPTY;
    const hosts = hostHeaders(req.raw.rawHeaders);
    if (hosts > 1) return done(fail('invalid_host', 'The request carries more than one Host header; send exactly one.'));
    if (hosts === 0 && req.raw.httpVersion === '1.1') return done(fail('invalid_host', 'An HTTP/1.1 request must carry a Host header.'));
    // Fastify never reads a GET's body; answering with it unread makes the kernel reset the
    // connection on close, cutting the response short. Read it and throw it away.
    if ((req.method === 'GET' || req.method === 'HEAD') && carriesBody(req.headers)) {
      return void discardBody(req.raw, config.bodyLimitBytes).then(() => done(), done);
    }
    done();
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
      if (err.code === 'database_unavailable') req.log.warn({ code: err.code, cause: (err.cause as Error | undefined)?.message }, err.message);
      else if (err.status >= 500) req.log.error({ code: err.code }, err.message);
      return sendError(reply, err);
    }
    if (err.validation) {
      // Bytes or text where a JSON object was expected: the content type is what to fix.
      const notJson = err.validationContext === 'body' && (typeof req.body === 'string' || Buffer.isBuffer(req.body));
      return sendError(reply, fail('invalid_input', notJson ? NOT_JSON : describeValidation(err)));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendError(reply, frameworkError(status, err.message));
    if (isDatabaseUnavailable(err)) {
      req.log.warn({ err: err.message }, 'database unavailable');
      return sendError(reply, new DomainError('database_unavailable', undefined, {}, DB_RETRY_AFTER_SECONDS));
    }
    req.log.error({ err }, 'unhandled error');
    return sendError(reply, fail('internal_error'));
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(reply, fail('not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`));
  });

  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    ctx.metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    ctx.metrics.requestSeconds.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    if (logRequests) {
      req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, ip: req.ip }, 'request');
    }
    done();
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

  // ETag before compression: the tag names the body, whatever its encoding.
  registerEtags(app);
  registerCompression(app);
  registerAuth(app, ctx.db, config.publicUrl ? authorityOf(config.publicUrl) : null, heartbeatRewriteAfterSeconds(config.agentOfflineAfterSeconds));

  await app.register(opsRoutes(ctx));
  await app.register(providerRoutes(ctx));
  await app.register(poolRoutes(ctx));
  await app.register(agentRoutes(ctx));
  await app.register(offeringRoutes(ctx));
  await app.register(contractRoutes(ctx));
  await app.register(provisioningRoutes(ctx));
  await app.register(installerRoutes(ctx));
  await app.register(dashboardRoutes(ctx));
  await app.register(observabilityRoutes(ctx));
  // Draining (SIGTERM): held long-polls answer (empty) before the server waits for in-flight
  // requests to finish, and every answer from now on closes its connection, so that keep-alive
  // clients reconnect to another replica instead of keeping this one open.
  let draining = false;
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('preClose', async () => {
    draining = true;
    await ctx.dispatcher.close();
  });
  return app;
}

function errorJson(code: ErrorCode, message: string = ERROR_CATALOGUE[code].message): string {
  return JSON.stringify({ error: { code, message } });
}

/** What Node's HTTP parser refused, in words (its error codes are llhttp's). */
const PARSE_ERRORS: Record<string, string> = {
  HPE_INVALID_METHOD: 'the method is unknown',
  HPE_INVALID_URL: 'the request target is not a valid path',
  HPE_INVALID_CONSTANT: 'the request line is not "METHOD /path HTTP/1.1"',
  HPE_INVALID_VERSION: 'the HTTP version is not 1.0 or 1.1',
  HPE_LF_EXPECTED: 'lines must end with CR LF',
  HPE_CR_EXPECTED: 'lines must end with CR LF',
  HPE_INVALID_HEADER_TOKEN: 'a header line is malformed',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length is given twice or together with chunked Transfer-Encoding',
  HPE_INVALID_CONTENT_LENGTH: 'Content-Length is not one number',
  HPE_INVALID_TRANSFER_ENCODING: 'the Transfer-Encoding is not chunked',
  HPE_INVALID_CHUNK_SIZE: 'a chunk size is not a hexadecimal number',
  HPE_STRICT: 'the request is not strictly valid HTTP',
};

/** Fastify's clientErrorHandler: a 4xx with our error body on the raw socket, then close. */
function answerClientError(err: NodeJS.ErrnoException & { reason?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'bad_request';
  const why = PARSE_ERRORS[err.code ?? ''] ?? err.reason ?? 'it could not be parsed';
  const body = code === 'bad_request' ? errorJson(code, `The request is not valid HTTP/1.1: ${why}.`) : errorJson(code);
  const status = ERROR_CATALOGUE[code].status;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function hostHeaders(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}

function carriesBody(h: IncomingHttpHeaders): boolean {
  return (h['content-length'] !== undefined && h['content-length'] !== '0') || h['transfer-encoding'] !== undefined;
}

function discardBody(req: IncomingMessage, limit: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const onData = (chunk: Buffer) => {
      n += chunk.length;
      if (n > limit) {
        req.off('data', onData);
        reject(fail('body_too_large'));
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve());
    req.once('error', reject);
  });
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
