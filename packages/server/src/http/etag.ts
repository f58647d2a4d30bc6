// Conditional refreshes: a provider's GET answers carry an ETag, and a request whose If-None-Match
// names it gets 304 with no body. The dashboard polls pool detail, agents and lists every few
// seconds; an unchanged answer then costs its headers only.
//
// The tag is a hash of the serialized body, not a version read from the database: an agent's
// status (online/offline) follows from now() and its last heartbeat, so no stored version marks
// every change of the answer. Hashing ~20 KB (a page of 100 agents) takes tens of microseconds.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Weak: the same tag names the identity, gzip and brotli forms of one body. */
export function etagOf(body: string | Buffer): string {
  return `W/"${createHash('sha1').update(body).digest('base64url')}"`;
}

/** If-None-Match lists tags separated by commas (or is `*`); the weak comparison ignores W/. */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === opaque;
  });
}

function conditional(req: FastifyRequest, reply: FastifyReply): boolean {
  return req.method === 'GET' && reply.statusCode === 200 && req.routeOptions.config.auth === 'provider';
}

export function registerEtags(app: FastifyInstance): void {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (!conditional(req, reply) || (typeof payload !== 'string' && !Buffer.isBuffer(payload))) return done(null, payload);
    const etag = etagOf(payload);
    // no-cache: a browser keeps the answer but asks again (with If-None-Match) before using it.
    reply.header('etag', etag).header('cache-control', 'private, no-cache');
    if (!matchesIfNoneMatch(req.headers['if-none-match'], etag)) return done(null, payload);
    reply.code(304).removeHeader('content-type').removeHeader('content-length');
    done(null, '');
  });
}
