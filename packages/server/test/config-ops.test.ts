// Configuration (DESIGN.md "Running and configuration": a bad value stops start-up naming the
// variable) and the operational endpoints: /healthz, /readyz, /metrics, OpenAPI and the docs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ENDPOINTS, type Endpoint } from '@dc/core';
import { generateIdentity } from '@dc/core/node';
import { sleep } from '@dc/testkit';
import { ConfigError, loadConfig } from '../src/config.js';
import { PostgresDb } from '../src/db/db.js';
import { agentCall, call, providerWithPool, registerAgent, serverUrl, startHarness, type Harness } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

/** The environment of a child process: PATH and friends, none of the DC_ variables of this one. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, ...extra };
}

describe('loadConfig', () => {
  test('defaults when the environment is empty', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.databaseUrl, null);
    assert.equal(c.dataDir, './data');
    assert.equal(c.publicUrl, null);
    assert.equal(c.lockTtlSeconds, 300);
    assert.equal(c.lockSweepSeconds, 60);
    assert.equal(c.agentOfflineAfterSeconds, 90);
    assert.equal(c.retryBackoffSeconds, 30);
    assert.equal(c.maxProvisionAttempts, 5);
    assert.equal(c.setupRateLimitPerMinute, 30);
    assert.equal(c.trustProxy, 0, 'no proxy is trusted unless configured');
    assert.equal(c.bodyLimitBytes, 1_048_576);
    assert.equal(c.csvBodyLimitBytes, 8 * 1_048_576);
    assert.deepEqual(c.operatorPubkeys, []);
    assert.equal(c.logLevel, 'info');
  });

  test('good values are read', () => {
    const op = generateIdentity().publicKey;
    const c = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u:p@db:5432/dc',
      DC_PUBLIC_URL: 'https://api.example.net/',
      DC_LOCK_TTL_SECONDS: '120',
      DC_TRUST_PROXY: 'true',
      DC_OPERATOR_PUBKEYS: ` ${op.toUpperCase()} ,`,
      LOG_LEVEL: 'warn',
      DC_BODY_LIMIT_BYTES: '2048',
    });
    assert.equal(c.port, 9000);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.databaseUrl, 'postgres://u:p@db:5432/dc');
    assert.equal(c.publicUrl, 'https://api.example.net');
    assert.equal(c.lockTtlSeconds, 120);
    assert.equal(c.trustProxy, 1, 'true trusts one proxy hop');
    assert.equal(loadConfig({ DC_TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig({ DC_TRUST_PROXY: 'false' }).trustProxy, 0);
    assert.deepEqual(c.operatorPubkeys, [op]);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.bodyLimitBytes, 2048);
    assert.equal(c.csvBodyLimitBytes, 8 * 1_048_576);
  });

  const bad: [string, string][] = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['DC_LOCK_TTL_SECONDS', '0'],
    ['DC_LOCK_TTL_SECONDS', '-5'],
    ['DC_LOCK_TTL_SECONDS', 'five'],
    ['DC_LOCK_TTL_SECONDS', '1.5'],
    ['DC_LOCK_SWEEP_SECONDS', '0'],
    ['DC_AGENT_OFFLINE_AFTER_SECONDS', 'x'],
    ['DC_RETRY_BACKOFF_SECONDS', '-1'],
    ['DC_MAX_PROVISION_ATTEMPTS', '0'],
    ['DC_SETUP_RATE_LIMIT_PER_MINUTE', '0'],
    ['DC_BODY_LIMIT_BYTES', '1mb'],
    ['DC_TRUST_PROXY', 'maybe'],
    ['DC_TRUST_PROXY', '-1'],
    ['DC_TRUST_PROXY', '100'],
    ['DC_PUBLIC_URL', 'not a url'],
    ['DC_PUBLIC_URL', 'ftp://api.example.net'],
    ['DC_PUBLIC_URL', 'api.example.net'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_URL', 'localhost:5432'],
    ['DC_OPERATOR_PUBKEYS', 'abc'],
    ['DC_OPERATOR_PUBKEYS', `${'a'.repeat(64)},${'b'.repeat(63)}`],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO!'],
  ];
  for (const [name, value] of bad) {
    test(`${name}=${JSON.stringify(value)} throws ConfigError naming ${name}`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (err: unknown) => err instanceof ConfigError && err.message.includes(name),
      );
    });
  }
});

describe('the dc-api binary', () => {
  test('PORT=abc: the real binary exits non-zero and prints the variable name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc-config-'));
    try {
      const r = spawnSync(process.execPath, [MAIN], { cwd: dir, env: cleanEnv({ PORT: 'abc' }), encoding: 'utf8', timeout: 60_000 });
      assert.notEqual(r.status, 0, `exit ${r.status}; stderr: ${r.stderr}`);
      assert.notEqual(r.status, null, 'the process did not exit by itself');
      assert.match(r.stderr, /PORT/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for a configuration error');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('LOG_LEVEL=loud and DC_PUBLIC_URL=nope: the binary names each variable', () => {
    for (const [name, value] of [['LOG_LEVEL', 'loud'], ['DC_PUBLIC_URL', 'nope'], ['DC_OPERATOR_PUBKEYS', 'xyz']] as const) {
      const r = spawnSync(process.execPath, [MAIN], { cwd: tmpdir(), env: cleanEnv({ [name]: value }), encoding: 'utf8', timeout: 60_000 });
      assert.notEqual(r.status, 0, `${name}: exit ${r.status}`);
      assert.match(r.stderr, new RegExp(name), `${name}: ${r.stderr}`);
    }
  });

  test('started on the embedded database it serves /healthz over HTTP and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'dc-run-'));
    const child = spawn(process.execPath, [MAIN], {
      cwd: dir,
      env: cleanEnv({ PORT: String(port), DC_DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => output.includes('dc-api listening'), () => output, exited);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(ready.status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      // One JSON line per request.
      assert.ok(output.split('\n').some((l) => l.startsWith('{') && l.includes('"/healthz"')), output);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Polls `cond` (no fixed sleep is asserted); fails with the output if the process exits first. */
async function waitFor(cond: () => boolean, out: () => string, exited: Promise<number | null>): Promise<void> {
  let done = false;
  let code: number | null = null;
  void exited.then((c) => {
    done = true;
    code = c;
  });
  for (let i = 0; i < 6000 && !cond(); i++) {
    if (done) assert.fail(`dc-api exited (${code}) before listening:\n${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(cond(), `dc-api did not start within 300 s:\n${out()}`);
}

describe('operational endpoints', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  test('/healthz is 200 {status: ok}', async () => {
    const r = await call(h, null, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ok' });
  });

  test('/readyz is 200 {status: ready} with migrations applied, 503 when one is missing', async () => {
    const r = await call(h, null, 'GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ready' });
    const saved = await h.db.query<{ version: number; name: string }>(`SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1`);
    const last = saved.rows[0]!;
    await h.db.query(`DELETE FROM schema_migrations WHERE version = $1`, [last.version]);
    try {
      const r2 = await call(h, null, 'GET', '/readyz');
      assert.equal(r2.status, 503);
      assert.notEqual(r2.body.status, 'ready');
      assert.equal((await call(h, null, 'GET', '/healthz')).status, 200, 'the process is still up');
    } finally {
      await h.db.query(`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, [last.version, last.name]);
    }
    assert.equal((await call(h, null, 'GET', '/readyz')).status, 200);
  });

  test('/readyz answers while every connection of the request pool is busy (a replica restarted under load)', { skip: serverUrl() ? false : 'PGlite has no connection pool: a probe is a query' }, async () => {
    assert.ok(h.db instanceof PostgresDb);
    const pool = h.db.pool;
    const held = await Promise.all(Array.from({ length: pool.options.max }, () => pool.connect()));
    try {
      assert.equal(pool.idleCount, 0, 'the request pool is exhausted');
      const queued = h.db.query(`SELECT 1`); // waits for a connection, as requests do under load
      const ready = await Promise.race([call(h, null, 'GET', '/readyz'), sleep(15_000).then(() => null)]);
      assert.ok(ready, '/readyz waited behind the request pool');
      assert.equal(ready.status, 200);
      assert.equal(pool.waitingCount, 1, 'the request still waits: the probe used a connection of its own');
      held.pop()!.release();
      await queued;
    } finally {
      for (const c of held) c.release();
    }
  });

  test('/metrics is Prometheus text with dc_http_requests_total and dc_agent_heartbeats_total', async () => {
    const { provider, poolId } = await providerWithPool(h);
    const agent = await registerAgent(h, provider, poolId);
    const hb = await agentCall(h, agent, 'POST', `/api/v1/providers/${provider.publicKey}/heartbeat`, { version: '1.0.0' });
    assert.equal(hb.status, 200, hb.text);
    const r = await call(h, null, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(r.text, /^# TYPE dc_http_requests_total counter$/m);
    assert.match(r.text, /^dc_http_requests_total\{[^}]*route="\/api\/v1\/providers\/:pubkey\/heartbeat"[^}]*\} \d+/m);
    assert.match(r.text, /^# TYPE dc_agent_heartbeats_total counter$/m);
    const beats = /^dc_agent_heartbeats_total (\d+)/m.exec(r.text);
    assert.ok(beats, r.text.slice(0, 500));
    assert.ok(Number(beats[1]) >= 1);
  });

  test('/api/v1/openapi.json is OpenAPI 3.1 and documents every ENDPOINTS entry with its params, query, body and responses', async () => {
    const r = await call(h, null, 'GET', '/api/v1/openapi.json');
    assert.equal(r.status, 200);
    const doc = r.body;
    assert.match(doc.openapi, /^3\.1\./);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    // OpenAPI 3.1 schemas are JSON Schema 2020-12: every one must compile as such.
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    const compiles = (schema: unknown, what: string) => assert.doesNotThrow(() => ajv.compile(schema as object), what);
    const keys = (schema: any) => Object.keys(schema?.properties ?? {}).sort();
    let operations = 0;
    for (const path of Object.keys(doc.paths)) operations += Object.keys(doc.paths[path]).length;
    assert.equal(operations, Object.keys(ENDPOINTS).length, 'one documented operation per endpoint, no others');

    for (const [name, e] of Object.entries<Endpoint>(ENDPOINTS)) {
      const path = e.path.replace(/:([a-z_]+)/g, '{$1}');
      const op = doc.paths[path]?.[e.method.toLowerCase()];
      assert.ok(op, `${name}: ${e.method} ${path} is not documented`);
      assert.equal(op.summary, e.summary, name);
      assert.deepEqual(op.tags, [e.tag], name);
      const params: any[] = op.parameters ?? [];
      for (const p of params) compiles(p.schema, `${name}: parameter ${p.name}`);
      const named = (where: string) => params.filter((p) => p.in === where).map((p) => p.name).sort();
      assert.deepEqual(named('path'), [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort(), `${name}: path parameters`);
      assert.deepEqual(named('path'), keys(e.params), `${name}: path parameters from the schema`);
      assert.deepEqual(named('query'), keys(e.query), `${name}: query parameters`);
      for (const p of params) if (p.in === 'path') assert.equal(p.required, true, `${name}: ${p.name} is required`);

      const content = op.requestBody?.content;
      if (e.body) {
        const schema = content?.['application/json']?.schema;
        assert.ok(schema, `${name}: JSON request body`);
        assert.deepEqual(keys(schema), keys(e.body), `${name}: body fields`);
        compiles(schema, `${name}: body`);
      } else if (e.consumes) {
        assert.deepEqual(Object.keys(content ?? {}), [...e.consumes], `${name}: body content types`);
      } else {
        assert.equal(op.requestBody, undefined, `${name}: no body`);
      }

      const [okStatus, okSchema] = e.ok;
      const expected = new Set([String(okStatus), ...e.errors.map(String), ...Object.keys(e.errorBodies ?? {})]);
      assert.deepEqual(Object.keys(op.responses).sort(), [...expected].sort(), `${name}: response statuses`);
      const ok = op.responses[String(okStatus)].content?.['application/json']?.schema;
      if (okSchema) {
        assert.ok(ok, `${name}: ${okStatus} schema`);
        assert.deepEqual(keys(ok), keys(okSchema), `${name}: ${okStatus} fields`);
        compiles(ok, `${name}: ${okStatus}`);
      } else {
        assert.equal(ok, undefined, `${name}: ${okStatus} has no JSON body`);
        for (const type of e.produces ?? []) assert.ok(op.responses[String(okStatus)].content[type], `${name}: ${okStatus} as ${type}`);
      }
      for (const status of e.errors) {
        const schema = op.responses[String(status)].content?.['application/json']?.schema;
        assert.deepEqual(keys(schema), ['error'], `${name}: ${status} is the error body`);
        assert.deepEqual(keys(schema.properties.error), ['code', 'message'], `${name}: ${status} error fields`);
        compiles(schema, `${name}: ${status}`);
      }
    }
  });

  test('/api/docs serves the rendered docs as HTML', async () => {
    const r = await call(h, null, 'GET', '/api/docs');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(r.text, /<html/i);
  });
});
