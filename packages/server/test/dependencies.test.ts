// Dependencies fit the engines (issue 13): `npm ci` on the oldest Node the root package.json allows
// prints no EBADENGINE warning and no unreviewed install script, and the packages pinned for that
// (root "overrides") still do their work for the packages that use them. .ci/run also fails on
// either warning in the real `npm ci` output; this test catches it earlier, from the lockfile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness, type Harness } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const require = createRequire(import.meta.url);
const semver = require('semver') as {
  satisfies(version: string, range: string): boolean;
  minVersion(range: string): { version: string } | null;
};

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  hasInstallScript?: boolean;
  link?: boolean;
}
interface Lock {
  packages: Record<string, LockEntry>;
}
interface RootPackage {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
  overrides?: Record<string, Record<string, string>>;
}

const rootPackage = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as RootPackage;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;

/** "node_modules/a/node_modules/@b/c" → "@b/c". */
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

/** Every locked package whose engines.node refuses one of `nodes` (what npm warns EBADENGINE about). */
export function engineProblems(l: Lock, nodes: string[]): string[] {
  const out: string[] = [];
  for (const [path, entry] of Object.entries(l.packages)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!path.includes('node_modules/') || !range) continue;
    for (const node of nodes) {
      if (!semver.satisfies(node, range)) out.push(`${nameOf(path)}@${entry.version} needs Node ${range}, not ${node}`);
    }
  }
  return out;
}

/** Every locked package with an install script that the root allowScripts neither allows nor denies. */
export function unreviewedScripts(l: Lock, allowScripts: Record<string, boolean> = {}): string[] {
  const reviewed = (name: string, version: string | undefined) => name in allowScripts || `${name}@${version}` in allowScripts;
  return Object.entries(l.packages)
    .filter(([path, e]) => path.includes('node_modules/') && e.hasInstallScript && !reviewed(nameOf(path), e.version))
    .map(([path, e]) => `${nameOf(path)}@${e.version}`);
}

describe('package-lock.json fits the engines', () => {
  const oldest = semver.minVersion(rootPackage.engines.node)!.version;

  test('every locked package supports the oldest Node the root allows and the Node running this test', () => {
    assert.ok(semver.satisfies(oldest, '20'), `the root still supports Node 20 (engines ${rootPackage.engines.node})`);
    assert.deepEqual(engineProblems(lock, [oldest, process.versions.node]), []);
  });

  test('the check finds a package that needs a newer Node (cookie 2 needs Node 22)', () => {
    const bad: Lock = { packages: { '': {}, 'node_modules/light-my-request/node_modules/cookie': { version: '2.0.2', engines: { node: '>=22' } } } };
    assert.deepEqual(engineProblems(bad, ['20.19.0']), ['cookie@2.0.2 needs Node >=22, not 20.19.0']);
  });

  test('every dependency with an install script is reviewed in the root allowScripts (no install-scripts warning)', () => {
    assert.deepEqual(unreviewedScripts(lock, rootPackage.allowScripts), []);
    const bad: Lock = { packages: { 'node_modules/esbuild': { version: '0.28.2', hasInstallScript: true } } };
    assert.deepEqual(unreviewedScripts(bad, {}), ['esbuild@0.28.2']);
  });
});

describe('the pinned packages still work for their dependents', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.close();
  });

  /** The copy of `dep` that the last package of `chain` loads (each resolved from the one before), with its version. */
  function loadFor(chain: string[], dep: string): { version: string; mod: any } {
    let from = fileURLToPath(import.meta.url);
    for (const next of [...chain, dep]) from = createRequire(from).resolve(next);
    // Not every package exports its package.json: read it from the directory the entry is in.
    const marker = `node_modules/${dep}/`;
    const dir = from.slice(0, from.lastIndexOf(marker) + marker.length);
    const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    return { version, mod: createRequire(from)(from) };
  }

  test('the installed versions are the locked ones (run npm ci after changing overrides)', () => {
    for (const [dependent, pins] of Object.entries(rootPackage.overrides ?? {})) {
      for (const [dep, range] of Object.entries(pins)) {
        const chain = dependent === '@fastify/static' ? ['@fastify/swagger-ui', '@fastify/static'] : ['fastify', dependent];
        const { version } = loadFor(chain, dep);
        assert.ok(semver.satisfies(version, range), `${dep} under ${dependent} is ${version}, the override says ${range}: run npm ci`);
      }
    }
  });

  test('light-my-request sets cookies with its cookie (app.inject with cookies reaches the handler)', async () => {
    const { mod } = loadFor(['fastify', 'light-my-request'], 'cookie');
    assert.equal(mod.stringifySetCookie({ name: 'a', value: 'b c' }), 'a=b%20c');
    const r = await h.server.app.inject({ method: 'GET', url: '/healthz', headers: { host: 'api.test.local' }, cookies: { session: 'x y', other: '1' } });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.raw.req.headers.cookie, 'session=x%20y; other=1');
  });

  test('@fastify/static builds Content-Disposition with its content-disposition; the API docs\' files it serves load', async () => {
    const { mod } = loadFor(['@fastify/swagger-ui', '@fastify/static'], 'content-disposition');
    assert.equal(mod.create('offerings.csv'), 'attachment; filename=offerings.csv');
    const header = mod.create('prix é.csv');
    assert.equal(header, `attachment; filename="prix ?.csv"; filename*=UTF-8''prix%20%C3%A9.csv`);
    assert.equal(mod.parse(header).parameters.filename, 'prix é.csv');
    const css = await h.server.app.inject({ method: 'GET', url: '/api/docs/static/swagger-ui.css', headers: { host: 'api.test.local' } });
    assert.equal(css.statusCode, 200, css.body.slice(0, 200));
    assert.match(String(css.headers['content-type']), /text\/css/);
  });
});
