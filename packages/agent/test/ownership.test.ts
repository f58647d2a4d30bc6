// `dc-agent setup --force` on a host that is already set up keeps what the provider filled in,
// and (as root) hands the key and config to the service user; `doctor` finds files that user
// cannot read, or that others can, and prints the command that fixes them.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parseConfig } from '../src/config.js';
import { runDoctor } from '../src/doctor.js';
import { readKeyFile } from '../src/keys.js';
import { checkFiles, findUser } from '../src/ownership.js';
import { backupPath, provisionerSectionsText } from '../src/previous-config.js';
import { FakeApi } from './fake-api.js';
import { agentCli, cleanup, readToml, tempDir } from './helpers.js';

const isRoot = process.geteuid?.() === 0;
/** A user other than root that exists everywhere these tests run (the scripts' user too). */
const OTHER = findUser('nobody');

let dir: string;
let api: FakeApi;
before(async () => {
  dir = tempDir();
  api = new FakeApi();
  await api.listen();
});
after(async () => {
  await api.close();
  cleanup(dir);
});

const TOKEN = 'apt_europe_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const setup = (config: string, ...extra: string[]) =>
  agentCli(['setup', '--api-url', api.url, '--server-key', api.serverKey.publicKey, '--token', TOKEN, '--config', config, '--non-interactive', ...extra]);

/** What a provider writes into a fresh config: its script, with its own comments, and tuning. */
function fillIn(config: string): void {
  const text = readFileSync(config, 'utf8')
    .replace('command = "CHANGE-ME"', 'command = "/usr/local/bin/provision-vm"  # our own script')
    .replace('max_concurrent = 2', 'max_concurrent = 5\nlog_level = "debug"\nshutdown_grace_seconds = 300');
  writeFileSync(
    config,
    text +
      `\n# Terraform runs take long on this host.\n[provisioner.script.env]\nTF_WORKSPACE = "rack-4"\n\n[provisioner.proxmox]\napi_url = "https://pve4.example.net:8006"\napi_token_id = "dc@pve!agent"\napi_token_secret = "s3cret"\nnode = "pve4"\ntemplate_vmid = 9000\n`,
  );
}

describe('dc-agent setup --force', () => {
  test('keeps the [provisioner.*] sections as written (comments included) and the [agent] tunables; the identity is new', async () => {
    const home = join(dir, 'keep');
    const config = join(home, 'config.toml');
    const first = await setup(config);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Next: fill in the \[provisioner\.script\] section/);
    fillIn(config);
    const before = readToml(config);
    const oldKey = readKeyFile(join(home, 'agent.key')).identity.publicKey;
    const oldText = readFileSync(config, 'utf8');

    const again = await setup(config, '--force');
    assert.equal(again.code, 0, again.stderr);
    const after = readToml(config);
    const newKey = readKeyFile(join(home, 'agent.key')).identity.publicKey;
    assert.notEqual(newKey, oldKey, 'a new key');
    assert.equal(after.agent.agent_pubkey, newKey);
    assert.notEqual(after.delegation.signature, before.delegation.signature, 'a new delegation');
    assert.deepEqual(after.provisioner, before.provisioner, 'every provisioner setting kept');
    for (const k of ['max_concurrent', 'log_level', 'shutdown_grace_seconds', 'poll_interval_seconds', 'lock_timeout_seconds']) assert.equal(after.agent[k], before.agent[k], k);
    const text = readFileSync(config, 'utf8');
    for (const line of ['command = "/usr/local/bin/provision-vm"  # our own script', '# Terraform runs take long on this host.', '# The executable that provisions one contract: the contract arrives as JSON on stdin,']) {
      assert.ok(text.includes(line), `kept as written: ${line}`);
    }
    assert.equal(text.split('[provisioner.script]').length, 2, 'the section once, not the template beside it');
    assert.ok(oldText.includes('[provisioner.script]'));
    parseConfig(text, config); // complete and valid
    assert.match(again.stdout, /^ {2}kept: +\[provisioner\.script\]; \[provisioner\.proxmox\]; \[agent\] max_concurrent, shutdown_grace_seconds, log_level from the previous configuration$/m);
    assert.match(again.stdout, /^The configuration is complete\.$/m);
    assert.doesNotMatch(again.stdout, /Next: fill in/);
    assert.equal(statSync(config).mode & 0o777, 0o600);
  });

  test('a previous config that is not valid TOML is saved to a dated backup it names', async () => {
    const home = join(dir, 'backup');
    const config = join(home, 'config.toml');
    assert.equal((await setup(config)).code, 0);
    const broken = readFileSync(config, 'utf8').replace('[agent]', '[agent');
    writeFileSync(config, broken);
    const r = await setup(config, '--force');
    assert.equal(r.code, 0, r.stderr);
    const m = /^ {2}previous: +.*config\.toml could not be read \(.+\); saved as (\S+)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.match(m[1]!, /config\.toml\.bak-\d{8}T\d{6}Z$/);
    assert.equal(readFileSync(m[1]!, 'utf8'), broken, 'the old file, byte for byte');
    assert.equal(statSync(m[1]!).mode & 0o777, 0o600, 'it may hold secrets');
    assert.match(r.stdout, /Next: fill in the \[provisioner\.script\] section/);
    assert.equal(readToml(config).provisioner.script.command, 'CHANGE-ME', 'a fresh template');
    assert.match(backupPath('/etc/dc-agent/config.toml', new Date('2025-01-02T03:04:05.678Z')), /^\/etc\/dc-agent\/config\.toml\.bak-20250102T030405Z$/);
  });

  test(isRoot ? 'run as root: the key, the config and a directory it made belong to the service user' : 'not root: the files stay the caller\'s', async () => {
    const home = join(dir, 'owned', 'etc-dc-agent');
    mkdirSync(join(dir, 'owned'), { recursive: true });
    const config = join(home, 'config.toml');
    const r = await setup(config, '--service-user', 'nobody');
    assert.equal(r.code, 0, r.stderr);
    const want = isRoot ? OTHER! : { uid: process.geteuid!(), gid: process.getegid!() };
    for (const p of [config, join(home, 'agent.key'), home]) {
      const st = statSync(p);
      assert.equal(st.uid, want.uid, `${p} uid`);
      assert.equal(st.gid, want.gid, `${p} gid`);
    }
    assert.equal(statSync(join(home, 'agent.key')).mode & 0o777, 0o600);
    assert.ok(!readdirSync(home).some((f) => f.includes('.tmp') || f.endsWith('.new')), 'no temporary files left');
    if (isRoot) {
      assert.match(r.stdout, /^ {2}owner: +nobody \(key and config; the service runs as this user\)$/m);
      // A second run with --force hands the new files over too (the bug: root-owned files the service cannot read).
      const again = await setup(config, '--force', '--service-user', 'nobody');
      assert.equal(again.code, 0, again.stderr);
      assert.equal(statSync(join(home, 'agent.key')).uid, OTHER!.uid);
      assert.equal(statSync(config).uid, OTHER!.uid);
      // No such user: root keeps them, and says why.
      const none = await setup(join(dir, 'owned', 'nouser', 'config.toml'), '--service-user', 'no-such-user-dc');
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /^ {2}owner: +root: there is no user no-such-user-dc on this host \(the installer creates it\), so root keeps them$/m);
      assert.equal(statSync(join(dir, 'owned', 'nouser', 'config.toml')).uid, 0);
    }
  });
});

describe('dc-agent doctor: owner and mode of the key and config', () => {
  const svc = { user: 'svc', group: 'svcgrp', uid: 4242, gid: 4243 };

  test('files owned by someone else or open to others fail, with the exact command that fixes them', async () => {
    const home = join(dir, 'doc');
    const config = join(home, 'config.toml');
    assert.equal((await setup(config)).code, 0);
    const key = join(home, 'agent.key');
    chmodSync(home, 0o755);
    chmodSync(config, 0o644);
    const me = { user: 'me', group: 'megrp', uid: statSync(key).uid, gid: statSync(key).gid };

    // Owned by the right user, but the config is world-readable.
    const open = await runDoctor(config, { offline: true, owner: me });
    const files = open.checks.find((c) => c.name === 'files')!;
    assert.equal(files.ok, false);
    assert.match(files.message, new RegExp(`${config} is mode 0644: group or others may read it`));
    assert.equal(files.fix, `chmod 600 ${config}`);
    assert.equal(open.ok, false);

    // Owned by root, but the agent runs as another user: chown both, chmod the open one.
    const wrong = await runDoctor(config, { offline: true, owner: svc });
    const w = wrong.checks.find((c) => c.name === 'files')!;
    assert.equal(w.ok, false);
    assert.match(w.message, new RegExp(`${key} is owned by uid ${me.uid}, not svc \\(uid 4242\\), which runs the agent and must read it`));
    assert.equal(w.fix, `chown svc:svcgrp ${key} ${config} && chmod 600 ${config}`);

    // A directory the user cannot enter is named too.
    chmodSync(home, 0o700);
    const closed = checkFiles([key, config], svc);
    assert.equal(closed.fix, `chown svc:svcgrp ${home} ${key} ${config} && chmod 600 ${config}`);
    assert.ok(closed.problems.some((p) => p === `svc cannot enter ${home} (owner uid ${me.uid}, mode 0700)`));

    // No service user (an agent run as root): only the modes matter.
    chmodSync(config, 0o600);
    const rootRun = await runDoctor(config, { offline: true, owner: null });
    const rr = rootRun.checks.find((c) => c.name === 'files')!;
    assert.equal(rr.ok, true, rr.message);
    assert.match(rr.message, /key and config are owned by root \(there is no service user on this host\) and closed to group and others/);
  });

  test(isRoot ? 'as root: doctor --service-user prints the fix; running it makes doctor pass' : 'not root: files owned by this user pass', async () => {
    const home = join(dir, 'doc-cli');
    const config = join(home, 'config.toml');
    assert.equal((await setup(config, '--service-user', '')).code, 0);
    fillIn(config);
    chmodSync(home, 0o700);
    if (!isRoot) {
      const r = await agentCli(['doctor', '--config', config, '--offline', '--json']);
      assert.equal(JSON.parse(r.stdout).checks.find((c: { name: string }) => c.name === 'files').ok, true);
      return;
    }
    const r = await agentCli(['doctor', '--config', config, '--offline', '--service-user', 'nobody']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL {2}files +.*is owned by uid 0, not nobody/m);
    const fix = /^ +run: (.+)$/m.exec(r.stdout)?.[1];
    assert.ok(fix, r.stdout);
    const group = execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim();
    assert.equal(fix, `chown nobody:${group} ${home} ${join(home, 'agent.key')} ${config}`);
    execFileSync('sh', ['-c', fix]);
    const fixed = await agentCli(['doctor', '--config', config, '--offline', '--service-user', 'nobody', '--json']);
    const report = JSON.parse(fixed.stdout);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.deepEqual(
      report.checks.map((c: { name: string; ok: boolean; skipped?: boolean }) => [c.name, c.ok || (c.skipped ? 'skipped' : false)]),
      [['config', true], ['key', true], ['files', true], ['delegation', true], ['api', 'skipped'], ['provisioner', 'skipped']],
    );
    // A config the service user cannot read is still diagnosed when doctor itself cannot read it.
    chownSync(config, 0, 0);
    const asNobody = await runDoctor(config, { offline: true, owner: OTHER });
    assert.equal(asNobody.checks.find((c) => c.name === 'files')!.fix, `chown nobody:${group} ${config}`);
  });
});

test('provisionerSectionsText: the sections as written; re-serialised when the text cannot be split', () => {
  const text = `[agent]\nx = 1\n\n[provisioner]\ntype = "script"\n\n# mine\n[provisioner.script]\ncommand = "/x"  # why\n\n[keys]\ny = 2\n`;
  const doc = parseToml(text) as { provisioner: Record<string, unknown> };
  const { type: _type, ...sections } = doc.provisioner;
  assert.equal(provisionerSectionsText(text, sections), '[provisioner.script]\ncommand = "/x"  # why');
  // Dotted keys under [provisioner] are not in any [provisioner.*] block: re-serialised.
  const dotted = `[provisioner]\ntype = "script"\nscript.command = "/y"\n`;
  const d = parseToml(dotted) as { provisioner: Record<string, unknown> };
  const { type: _t, ...s2 } = d.provisioner;
  const out = provisionerSectionsText(dotted, s2);
  assert.equal(JSON.stringify((parseToml(`[provisioner]\n${out}\n`) as { provisioner: unknown }).provisioner), JSON.stringify({ script: { command: '/y' } }));
});
