// GET /setup and the agent bundle downloads (routes/installer.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { AppContext } from '../src/context.js';
import { installerRoutes } from '../src/routes/installer.js';

async function appWith(files: { script?: string; bundle?: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'dc-installer-'));
  mkdirSync(join(dir, 'installer'));
  mkdirSync(join(dir, 'dist'));
  if (files.script !== undefined) writeFileSync(join(dir, 'installer', 'setup.sh'), files.script);
  if (files.bundle !== undefined) writeFileSync(join(dir, 'dist', 'dc-agent.mjs'), files.bundle);
  const app = Fastify();
  await app.register(installerRoutes({} as AppContext, { agentDir: dir }));
  await app.ready();
  return { app, dir, close: async () => (await app.close(), rmSync(dir, { recursive: true, force: true })) };
}

test('serves the installer, the bundle and a checksum that matches the bytes served', async () => {
  const bundle = '#!/usr/bin/env node\nconsole.log("agent");\n';
  const { app, close } = await appWith({ script: '#!/usr/bin/env bash\nmain() { :; }\nmain "$@"\n', bundle });
  try {
    const s = await app.inject({ method: 'GET', url: '/setup' });
    assert.equal(s.statusCode, 200);
    assert.match(String(s.headers['content-type']), /^text\/x-shellscript/);
    assert.match(s.body, /main "\$@"\n$/);
    const b = await app.inject({ method: 'GET', url: '/downloads/dc-agent.mjs' });
    assert.equal(b.statusCode, 200);
    assert.equal(b.body, bundle);
    const sha = createHash('sha256').update(bundle).digest('hex');
    assert.equal(b.headers['x-checksum-sha256'], sha);
    const c = await app.inject({ method: 'GET', url: '/downloads/dc-agent.mjs.sha256' });
    assert.equal(c.body, `${sha}  dc-agent.mjs\n`);
  } finally {
    await close();
  }
});

test('503 with a clear JSON error while the bundle is not built; served once it appears', async () => {
  const { app, dir, close } = await appWith({ script: 'x' });
  try {
    for (const url of ['/downloads/dc-agent.mjs', '/downloads/dc-agent.mjs.sha256']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 503);
      assert.equal(r.json().error.code, 'agent_bundle_missing');
      assert.match(r.json().error.message, /npm run build/);
    }
    writeFileSync(join(dir, 'dist', 'dc-agent.mjs'), 'built');
    const r = await app.inject({ method: 'GET', url: '/downloads/dc-agent.mjs.sha256' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, `${createHash('sha256').update('built').digest('hex')}  dc-agent.mjs\n`);
  } finally {
    await close();
  }
});

test('the real installer is served by the real app (packages/agent/installer/setup.sh)', async () => {
  const app = Fastify();
  await app.register(installerRoutes({} as AppContext));
  const r = await app.inject({ method: 'GET', url: '/setup' });
  assert.equal(r.statusCode, 200);
  assert.match(r.body, /^dc_agent_install "\$@"$/m);
  await app.close();
});
