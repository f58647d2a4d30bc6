// The one-liner shown to providers (DESIGN.md "dc-agent and the installer").
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { badRequest } from '../http/errors.js';

/** The API base URL clients use: DC_PUBLIC_URL, else what this request came in on. */
export function publicBaseUrl(config: Config, req: FastifyRequest): string {
  if (config.publicUrl) return config.publicUrl;
  const url = `${req.protocol}://${req.host}`;
  try {
    new URL(url);
  } catch {
    throw badRequest('The Host header is not a valid host; set DC_PUBLIC_URL or send a proper Host.', 'invalid_host');
  }
  return url;
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

export function setupCommand(apiUrl: string, token: string, serverKey: string): string {
  // curl refuses anything but https, unless the API is on this machine (tests, local trials).
  const curl = new URL(apiUrl).protocol === 'http:' && isLoopback(apiUrl) ? 'curl -fsSL' : `curl --proto '=https' -fsSL`;
  return `${curl} ${apiUrl}/setup | bash -s -- --token ${token} --api-url ${apiUrl} --server-key ${serverKey}`;
}
