// README.md's "A first run", followed as written: the shell blocks marked `<!-- first-run: NAME -->`
// are read from README.md and run with bash, the dashboard steps are done in Chromium, and the
// one-liner is the one the Add Agent dialog shows. If the README and the product drift apart, this
// fails. What a test cannot do the way a person does is stood in for, and only that:
// - `~` is a temporary HOME; dc-api listens on a free port instead of 8080, so the README's
//   `http://127.0.0.1:8080` becomes that address (PostgreSQL: DATABASE_URL of a new database);
// - the one-liner installs under a prefix (`DC_AGENT_PREFIX`) without creating the `dc-agent` user
//   (`DC_AGENT_SKIP_USER=1`), so `/etc/dc-agent` and `/usr/local/bin` in the README are read
//   under that prefix; when the test runs as root, `nobody` stands in for `dc-agent` (it gets the
//   config directory, as the installer's chown would give it to dc-agent);
// - `sudo` runs the command (as that user with `-u`); `systemctl start dc-agent` runs the
//   ExecStart line of the unit the installer wrote, as the unit's user would.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { freePort, waitReady } from '@dc/testkit';
import { createTestDb, type TestDb } from '@dc/server/dist/test/helpers.js';
import { eventually, expectText, launchBrowser, screenshotPath, text, type Browser } from './support.js';

const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const README_URL = 'http://127.0.0.1:8080';
/** The unprivileged user standing in for the installer's dc-agent user when the test runs as root. */
const SERVICE_UID = 65534;
const isRoot = process.getuid?.() === 0;

/** The README's marked shell blocks, dedented to what a person copies. */
function firstRunBlocks(): Map<string, string> {
  const blocks = new Map<string, string>();
  const re = /<!-- first-run: ([a-z-]+) -->\n( *)```sh\n([\s\S]*?)\n\2```/g;
  for (const m of README.matchAll(re)) {
    const indent = m[2]!.length;
    blocks.set(m[1]!, m[3]!.split('\n').map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n'));
  }
  return blocks;
}

/** A value the README's prose gives (pool name, label, …), found by the words around it. */
function prose(re: RegExp, what: string): string[] {
  const m = re.exec(README.replace(/\s+/g, ' '));
  assert.ok(m, `README.md's first run no longer says ${what} (${re})`);
  return m.slice(1);
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

describe("README.md's first run, as written", { concurrency: false }, () => {
  const blocks = firstRunBlocks();
  let dir: string;
  let home: string;
  let prefix: string;
  let base: string;
  let testDb: TestDb | null = null;
  let server: ChildProcess | null = null;
  let serverOutput = '';
  let agent: ChildProcess | null = null;
  let agentExit: Promise<number> | null = null;
  let agentOutput = '';
  let browser: Browser;
  let page: Page;
  let poolId: string;
  let oneLiner: string;
  const [poolName, poolRegion, poolType] = prose(/Create a pool: `([^`]+)`, region `([^`]+)`, type `([^`]+)`/, 'which pool to create');
  const [agentLabel] = prose(/click \*\*Add Agent\*\* with the label `([^`]+)`/, 'the agent label');
  const [backupAs] = prose(/save it as `([^`]+)`/, 'where the key backup goes');
  const [dashboardUrl] = prose(/Open `([^`]+)`, generate a provider key/, 'the dashboard address');
  const exportsFile = () => join(dir, 'terminal.env');
  /** Steps depend on the ones before: after a failure the rest say so instead of waiting for timeouts. */
  let failedStep: string | null = null;
  const pageProblems: string[] = [];
  const step = (name: string, fn: () => Promise<void> | void) =>
    test(name, async () => {
      if (failedStep) throw new Error(`not run: "${failedStep}" failed`);
      try {
        await fn();
      } catch (err) {
        failedStep = name;
        if (pageProblems.length && err instanceof Error) err.message += `\nin the page: ${pageProblems.join('\n')}`;
        throw err;
      }
    });

  /** The environment of a person's terminal: no DC_* of the test runner's, npm without its network check. */
  function terminalEnv(extra: Record<string, string> = {}): Record<string, string> {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DC_') && !k.startsWith('TEST_') && !k.startsWith('npm_'))) as Record<string, string>;
    return { ...env, HOME: home, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, NPM_CONFIG_UPDATE_NOTIFIER: 'false', ...extra };
  }

  function bash(script: string, env: Record<string, string>, opts: { detached?: boolean } = {}): ChildProcess {
    return spawn('bash', ['-c', script], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: !!opts.detached });
  }

  function finish(child: ChildProcess): Promise<Ran> {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  }

  /** A block as it is in the README, with the stand-ins of the header applied. */
  function block(name: string): string {
    const b = blocks.get(name);
    assert.ok(b, `README.md has no first-run block "${name}"`);
    return b.replaceAll(README_URL, base);
  }

  /** Runs a block in "the second terminal": exports made by one block are there for the next. */
  async function terminal(name: string, env: Record<string, string> = {}): Promise<Ran> {
    const script = `set -eo pipefail\n[ -f "$EXPORTS" ] && . "$EXPORTS"\n${block(name)}\nexport -p > "$EXPORTS"\n`;
    const r = await finish(bash(script, terminalEnv({ EXPORTS: exportsFile(), ...env })));
    assert.equal(r.code, 0, `README block "${name}" failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}\n--- the agent's output:\n${agentOutput}`);
    return r;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dc-readme-'));
    // The prefix must be reachable by the unprivileged service user.
    chmodSync(dir, 0o755);
    home = join(dir, 'home');
    prefix = join(dir, 'host');
    mkdirSync(home);
    // Like a root file system, the prefix has /etc and /usr/local before the installer runs (it
    // creates what is missing private, with umask 077).
    for (const d of ['etc/systemd/system', 'usr/local/bin', 'usr/local/lib']) mkdirSync(join(prefix, d), { recursive: true, mode: 0o755 });
    base = `http://127.0.0.1:${await freePort()}`;
    browser = await launchBrowser({ width: 1280, height: 900 });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageProblems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageProblems.push(m.text());
    });
  });

  after(async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      await agentExit;
    }
    await browser?.close();
    if (server?.pid && server.exitCode === null) {
      // npm start runs dc-api in a child: stop the whole group this test started.
      const closed = new Promise((r) => server!.on('close', r));
      process.kill(-server.pid, 'SIGTERM');
      await closed;
    }
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  step('the README has every step this test follows', () => {
    assert.deepEqual([...blocks.keys()], ['start', 'provider-key', 'agent', 'contract', 'revoke']);
    assert.equal(dashboardUrl, `${README_URL}/dashboard/provider/pools`);
    assert.match(backupAs!, /^~\//);
  });

  step('1. the operator key, then npm start with it allowed', async () => {
    const env: Record<string, string> = { PORT: new URL(base).port, DC_DATA_DIR: join(dir, 'data') };
    if (process.env.TEST_DATABASE_URL) {
      testDb = await createTestDb();
      Object.assign(env, testDb.env);
    }
    server = bash(block('start'), terminalEnv(env), { detached: true });
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (serverOutput = (serverOutput + d).slice(-20_000)));
    server.stderr!.setEncoding('utf8').on('data', (d: string) => (serverOutput = (serverOutput + d).slice(-20_000)));
    await waitReady(base, { timeoutMs: 180_000, failed: () => (server!.exitCode !== null ? `npm start exited ${server!.exitCode}:\n${serverOutput}` : null) });
    const key = JSON.parse(readFileSync(join(home, 'dc-keys', 'operator.json'), 'utf8'));
    assert.equal(statSync(join(home, 'dc-keys', 'operator.json')).mode & 0o777, 0o600);
    assert.match(key.public_key, /^[0-9a-f]{64}$/);
  });

  step('2. dashboard: generate the provider key, save the backup, register; the backup is dcctl\'s key file', async () => {
    await page.goto(dashboardUrl!.replace(README_URL, base));
    await page.click('[data-action=generate]');
    const pubkey = await text(page, '[data-new-pubkey]');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=download-backup]')]);
    const backupPath = join(home, backupAs!.slice(2));
    await download.saveAs(backupPath);
    await page.check('input[type=checkbox]');
    await page.click('[data-action=continue]');
    await page.getByRole('heading', { name: 'Register as a provider' }).waitFor();
    await page.fill('input[name=provider-name]', 'Readme Hosting');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Agent pools' }).waitFor();

    const r = await terminal('provider-key');
    assert.equal(statSync(backupPath).mode & 0o777, 0o600);
    assert.match(r.stdout, new RegExp(`^pubkey +${pubkey}$`, 'm'));
    assert.match(r.stdout, /^name +Readme Hosting$/m);
  });

  step('3. dashboard: create the pool, Add Agent shows the one-liner', async () => {
    await page.getByRole('button', { name: '+ Create pool' }).click();
    const dlg = page.locator('[data-dialog=pool-form]');
    await dlg.locator('input[name=name]').fill(poolName!);
    await dlg.locator('select[name=location]').selectOption(poolRegion!);
    await dlg.locator('select[name=provisioner_type]').selectOption(poolType!);
    await dlg.getByRole('button', { name: 'Create pool' }).click();
    const row = page.locator(`table[data-table=pools] tbody tr[data-row^="${poolName}-"]`);
    await row.waitFor();
    poolId = (await row.getAttribute('data-row'))!;
    await page.click(`table[data-table=pools] tr[data-row="${poolId}"] td[data-col=location]`);
    await page.waitForURL(`**/dashboard/provider/pools/${poolId}`);
    await page.getByRole('heading', { name: `Pool: ${poolName}` }).waitFor();
    await expectText(page, 'table[data-table=agents] .dt-empty td', /No agents yet/);
    await page.getByRole('button', { name: '+ Add Agent' }).click();
    const add = page.locator('[data-dialog=add-agent]');
    await add.locator('input[name=label]').fill(agentLabel!);
    await add.getByRole('button', { name: 'Create token' }).click();
    oneLiner = await eventually(async () => {
      const t = await text(page, '[data-cmd=setup]');
      assert.match(t, /^curl .*\/setup \| bash -s -- --token apt_/);
      return t;
    });
    await page.screenshot({ path: screenshotPath('readme-03-add-agent') });
    await add.getByRole('button', { name: 'Done' }).click();
  });

  step('4. the one-liner installs the agent; the README block configures it and starts the service; it turns online', async () => {
    const install = await finish(bash(oneLiner, terminalEnv({ DC_AGENT_PREFIX: prefix, DC_AGENT_SKIP_USER: '1' })));
    assert.equal(install.code, 0, `the one-liner failed:\n${install.stdout}\n${install.stderr}`);
    assert.match(install.stdout, /Registered agent [0-9a-f]{64}/);
    const confDir = join(prefix, 'etc', 'dc-agent');
    // The installer gives the config directory to its service user.
    if (isRoot) for (const p of [confDir, ...readdirSync(confDir).map((f) => join(confDir, f))]) chownSync(p, SERVICE_UID, SERVICE_UID);

    const systemctlCalls = join(dir, 'systemctl.calls');
    const standIns = [
      `as_service_user() { ${isRoot ? `setpriv --reuid=${SERVICE_UID} --regid=${SERVICE_UID} --clear-groups -- "$@"` : '"$@"'}; }`,
      'sudo() { if [ "$1" = -u ]; then shift 2; as_service_user "$@"; else "$@"; fi; }',
      `systemctl() { printf '%s\\n' "$*" >> ${systemctlCalls}; }`,
    ].join('\n');
    const script = block('agent').replaceAll('/etc/dc-agent', confDir).replaceAll('/usr/local/bin', join(prefix, 'usr', 'local', 'bin'));
    const r = await finish(bash(`set -eo pipefail\n${standIns}\n${script}`, terminalEnv({ PATH: `${join(prefix, 'usr', 'local', 'bin')}:${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` })));
    assert.equal(r.code, 0, `README block "agent" failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /provisioner/, 'doctor reported its checks');
    assert.equal(readFileSync(systemctlCalls, 'utf8'), 'start dc-agent\n');

    // systemctl start dc-agent: the unit's ExecStart, as its user.
    const unit = readFileSync(join(prefix, 'etc', 'systemd', 'system', 'dc-agent.service'), 'utf8');
    assert.match(unit, /^User=dc-agent$/m);
    const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(' ');
    agent = spawn(execStart[0]!, execStart.slice(1), {
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot ? { uid: SERVICE_UID, gid: SERVICE_UID } : {}),
    });
    agent.stdout!.setEncoding('utf8').on('data', (d: string) => (agentOutput = (agentOutput + d).slice(-20_000)));
    agent.stderr!.setEncoding('utf8').on('data', (d: string) => (agentOutput = (agentOutput + d).slice(-20_000)));
    agentExit = new Promise((resolve) => agent!.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));

    const row = `table[data-table=agents] tbody tr[data-row]`;
    await expectText(page, `${row} td[data-col=label]`, agentLabel!, 30_000);
    await expectText(page, `${row} td[data-col=status]`, 'Online', 30_000);
    await page.screenshot({ path: screenshotPath('readme-04-agent-online') });
  });

  step('5. dcctl: offering, contract, acceptance, payment; the agent provisions it', async () => {
    const r = await terminal('contract');
    // The last command, contracts wait, printed the contract once it was provisioned.
    const shown = r.stdout.slice(r.stdout.lastIndexOf('contract_id '));
    assert.match(shown, /^status +provisioned$/m, `${r.stdout}\n${r.stderr}\nagent: ${agentOutput}`);
    assert.match(shown, /^payment_status +succeeded$/m);
    const id = /^contract_id +(\S+)$/m.exec(shown)![1]!;
    const details = JSON.parse(/^instance_details +(.+)$/m.exec(shown)![1]!);
    assert.equal(details.hostname, `dc-${id}`, 'the stand-in script made the details');
    assert.deepEqual(details.ipv4, ['192.0.2.10']);
    assert.match(shown, new RegExp(`^provisioned_by +${agentLabel} \\([0-9a-f]{64}\\)$`, 'm'));
    assert.match(shown, new RegExp(`^routed_pool_id +${poolId}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^routes to +${poolId} \\(auto: ${poolRegion}\\)$`, 'm'), 'the offering took the pool\'s type and region');
  });

  step('6. dcctl agents revoke: the agent exits with 78; the dashboard shows it revoked', async () => {
    const r = await terminal('revoke');
    assert.match(r.stdout, /^revoked agent [0-9a-f]{64}$/m);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([agentExit!, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), 120_000)))]);
    clearTimeout(timer);
    assert.equal(code, 78, agentOutput);
    assert.match(agentOutput, /revoked/);
    await expectText(page, 'table[data-table=agents] tbody tr[data-row] td[data-col=status]', 'Revoked', 15_000);
    assert.ok(existsSync(join(prefix, 'usr', 'local', 'bin', 'dc-demo-provision')));
  });
});
