// The API base URL the setup one-liner and its fields name (DESIGN.md "dc-agent and the installer");
// the command itself is core's setupOneLiner.
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { fail } from '../errors.js';

/** The API base URL clients use: DC_PUBLIC_URL, else what this request came in on. */
export function publicBaseUrl(config: Config, req: FastifyRequest): string {
  if (config.publicUrl) return config.publicUrl;
  const url = `${req.protocol}://${req.host}`;
  try {
    new URL(url);
  } catch {
    throw fail('invalid_host');
  }
  return url;
}
