// Setup tokens and the one-liner (DESIGN.md "Pools, tokens, agents" and "dc-agent and the
// installer"). Token text: `apt_{location}_{secret}`; generation is in `@dc/core/node`.
export const SETUP_TOKEN_RE = /^apt_([a-z]+)_([A-Za-z0-9_-]{22,128})$/;

export function looksLikeSetupToken(token: string): boolean {
  return SETUP_TOKEN_RE.test(token);
}

/** What an agent needs to join: built into the one-liner and into `dc-agent setup` from these fields. */
export interface SetupFields {
  api_url: string;
  token: string;
  server_key: string;
}

/** The API base URL without a trailing slash (what setup commands and agents use). */
export function normalizeApiUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

function isLoopback(url: URL): boolean {
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

/** curl refuses anything but https, unless the API is plain http on this machine (tests, local trials). */
function curlProto(apiUrl: string): string {
  const u = new URL(apiUrl);
  return u.protocol === 'http:' && isLoopback(u) ? '' : "--proto '=https' ";
}

/** Single-quotes a value for a POSIX shell when it is not made of safe characters only. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@=+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The arguments `dc-agent setup` takes, in order (the installer passes them through). */
export function setupArgs(f: SetupFields): string[] {
  return ['--token', f.token, '--api-url', normalizeApiUrl(f.api_url), '--server-key', f.server_key];
}

/** The one-liner: `curl … {API}/setup | bash -s -- --token T --api-url {API} --server-key K`. */
export function setupOneLiner(f: SetupFields): string {
  const api = normalizeApiUrl(f.api_url);
  return `curl ${curlProto(api)}-fsSL ${shellWord(`${api}/setup`)} | bash -s -- ${setupArgs(f).map(shellWord).join(' ')}`;
}

/** The same join as a direct `dc-agent setup` call (for hosts where the agent is installed). */
export function agentSetupCommand(f: SetupFields): string {
  return ['dc-agent', 'setup', ...setupArgs(f)].map(shellWord).join(' ');
}
