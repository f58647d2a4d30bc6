// The deployment kit in deploy/ is checked by the tools that will run it: systemd-analyze on the
// unit, caddy and nginx on the proxy examples, and the environment example against config.ts.
// CI installs caddy, nginx-light and pgbouncer (.ci/run); on a machine without them the tool's
// check fails with the install command rather than passing silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const UNIT = readFileSync(join(DEPLOY, 'systemd', 'dc-api@.service'), 'utf8');
const ENV_EXAMPLE = readFileSync(join(DEPLOY, 'dc-api.env.example'), 'utf8');
const DESIGN_VARIABLES = [
  'PORT', 'HOST', 'DATABASE_URL', 'DC_DATA_DIR', 'DC_PUBLIC_URL', 'DC_LOCK_TTL_SECONDS', 'DC_LOCK_SWEEP_SECONDS',
  'DC_AGENT_OFFLINE_AFTER_SECONDS', 'DC_RETRY_BACKOFF_SECONDS', 'DC_MAX_PROVISION_ATTEMPTS', 'DC_SETUP_RATE_LIMIT_PER_MINUTE',
  'DC_TRUST_PROXY', 'DC_BODY_LIMIT_BYTES', 'DC_OPERATOR_PUBKEYS', 'LOG_LEVEL', 'DC_STICKY_GRACE_SECONDS',
  'DC_AGENT_FAILURE_THRESHOLD', 'DC_AGENT_COOLDOWN_SECONDS', 'DC_AUDIT_RETENTION_DAYS', 'DATABASE_LISTEN_URL',
  'DC_PREPARED_STATEMENTS', 'DC_RETRY_ELSEWHERE_SECONDS',
];

function tool(name: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${name}`]);
  assert.equal(r.status, 0, `${name} is not installed; install it (apt-get install ${name === 'nginx' ? 'nginx-light' : name === 'systemd-analyze' ? 'systemd' : name})`);
}

function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'dc-deploy-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every key=value line of an environment file. */
function envLines(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const hit = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (hit) m.set(hit[1]!, hit[2]!);
  }
  return m;
}

test('the systemd unit verifies cleanly and is hardened', () => {
  tool('systemd-analyze');
  for (const directive of [
    'User=dc-api', 'EnvironmentFile=/etc/dc-api/dc-api.env', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectSystem=strict',
    'ProtectHome=yes', 'Restart=always', 'KillSignal=SIGTERM', 'CapabilityBoundingSet=',
  ]) {
    assert.ok(UNIT.split('\n').includes(directive), `unit has ${directive}`);
  }
  withTemp((dir) => {
    // A template is verified as an instance; systemd-analyze verify exits 0 on unknown keys and bad
    // values (it only warns), so any output at all is a failure.
    const unit = join(dir, 'dc-api@8081.service');
    writeFileSync(unit, UNIT);
    const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(`${v.stdout}${v.stderr}`.trim(), '', 'systemd-analyze verify prints nothing');
    const s = spawnSync('systemd-analyze', ['security', '--offline=yes', unit], { encoding: 'utf8' });
    const level = /Overall exposure level for \S+: ([0-9.]+)/.exec(`${s.stdout}${s.stderr}`);
    assert.ok(level, `systemd-analyze security reports an exposure level: ${s.stdout}${s.stderr}`);
    assert.ok(Number(level[1]) <= 2.0, `exposure level ${level[1]} is at most 2.0 ("OK")`);
  });
});

test('systemd-analyze verify rejects a broken unit (the check above can fail)', () => {
  tool('systemd-analyze');
  withTemp((dir) => {
    const unit = join(dir, 'dc-api@8081.service');
    writeFileSync(unit, UNIT.replace('ProtectSystem=strict', 'ProtectSystem=bogus'));
    const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    assert.match(v.stderr, /ProtectSystem|protect system/i);
  });
});

test('the environment example names every variable and loads as a valid configuration', () => {
  const vars = envLines(ENV_EXAMPLE);
  // DESIGN.md "Running and configuration" (v3 included); config.ts may read more, which must be here too.
  const named = new Set(DESIGN_VARIABLES);
  const configSource = readFileSync(join(ROOT, 'packages', 'server', 'src', 'config.ts'), 'utf8');
  for (const m of configSource.matchAll(/['"`]((?:DC|DATABASE)_[A-Z_]+)['"`]|env\.((?:DC|DATABASE)_[A-Z_]+|PORT|HOST|LOG_LEVEL)/g)) named.add(m[1] ?? m[2]!);
  for (const v of named) assert.ok(vars.has(v), `deploy/dc-api.env.example sets ${v}`);
  const env = Object.fromEntries(vars);
  env.DC_OPERATOR_PUBKEYS = 'a'.repeat(64);
  const config = loadConfig(env);
  assert.equal(config.publicUrl, 'https://api.example.net');
  assert.equal(config.trustProxy, 1);
  assert.equal(config.host, '127.0.0.1');
});

test('the unit and the proxies agree on ports and the long-poll timeout is above 50 s', () => {
  const caddy = readFileSync(join(DEPLOY, 'caddy', 'Caddyfile'), 'utf8');
  const nginx = readFileSync(join(DEPLOY, 'nginx', 'dc-api.conf'), 'utf8');
  for (const port of [8081, 8082, 8083]) {
    assert.match(caddy, new RegExp(`127\\.0\\.0\\.1:${port}\\b`));
    assert.match(nginx, new RegExp(`server 127\\.0\\.0\\.1:${port}\\b`));
  }
  const seconds = (s: string) => Number(/^(\d+)s$/.exec(s)?.[1] ?? NaN);
  for (const m of caddy.matchAll(/^\s*(response_header_timeout|read_timeout)\s+(\S+)/gm)) assert.ok(seconds(m[2]!) > 50, `Caddy ${m[1]} ${m[2]} > 50 s`);
  for (const m of nginx.matchAll(/^\s*(proxy_read_timeout|proxy_send_timeout)\s+(\S+);/gm)) assert.ok(seconds(m[2]!) > 50, `nginx ${m[1]} ${m[2]} > 50 s`);
  assert.match(caddy, /response_header_timeout/);
  assert.match(nginx, /proxy_read_timeout/);
});

test('caddy validate accepts the Caddyfile', () => {
  tool('caddy');
  withTemp((dir) => {
    // Caddy writes its state under XDG dirs: keep it out of the caller's home.
    const env = { ...process.env, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config'), HOME: dir };
    const r = spawnSync('caddy', ['validate', '--config', join(DEPLOY, 'caddy', 'Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(`${r.stdout}${r.stderr}`, /Valid configuration/);
    const broken = join(dir, 'Caddyfile');
    writeFileSync(broken, readFileSync(join(DEPLOY, 'caddy', 'Caddyfile'), 'utf8').replace('lb_policy least_conn', 'lb_policy nonsense'));
    assert.notEqual(spawnSync('caddy', ['validate', '--config', broken, '--adapter', 'caddyfile'], { env }).status, 0, 'a broken Caddyfile fails');
  });
});

test('nginx -t accepts the site configuration', () => {
  tool('nginx');
  tool('openssl');
  withTemp((dir) => {
    // The example names Let's Encrypt's paths; a throwaway certificate stands in for them.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=api.example.net',
      '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const check = (site: string) => {
      writeFileSync(join(dir, 'dc-api.conf'), site
        .replace('/etc/letsencrypt/live/api.example.net/fullchain.pem', join(dir, 'cert.pem'))
        .replace('/etc/letsencrypt/live/api.example.net/privkey.pem', join(dir, 'key.pem')));
      mkdirSync(join(dir, 'logs'), { recursive: true });
      writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/dc-api.conf;\n}\n`);
      return spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { encoding: 'utf8' });
    };
    const site = readFileSync(join(DEPLOY, 'nginx', 'dc-api.conf'), 'utf8');
    const ok = check(site);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /test is successful/);
    assert.notEqual(check(site.replace('least_conn;', 'least_conn_typo;')).status, 0, 'a broken site fails nginx -t');
  });
});
