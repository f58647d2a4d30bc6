// The script provisioner: runs the provider's executable once per action. The contract travels
// as JSON on stdin only (customer-supplied values never reach an environment or argv, where a
// shell or `ps` would see them); the environment carries only DC_* values the provider or the
// platform chose. When dc-agent runs as root, the script runs as the configured unprivileged user.
// The script must mark what it creates with DC_CONTRACT_TAG (`dc-<contract_id>`) and, on
// terminate, remove whatever carries that tag: the agent has no other way to know its machines.
import { spawn, execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { PLACEHOLDER, tomlString, type Reader } from '../config-reader.js';
import type { Logger } from '../log.js';
import { AGENT_VERSION } from '../version.js';
import { Tail, abortErrorOf } from '../util.js';
import { contractOfTag, contractTag, defaultHostScope, inventoryOf, readHostScope } from './identity.js';
import { ContractInputError, ProvisionError, type ProvisionJob, type ProvisionOutcome, type Provisioner, type ProvisionerModule, type TeardownJob, type TeardownOutcome } from './types.js';

export interface ScriptConfig {
  command: string;
  /** Runs terminations instead of `command` when set. */
  terminateCommand?: string | null;
  /** Prints the contract ids of the machines it sees (heartbeat inventory); none when unset. */
  inventoryCommand?: string | null;
  /** Defaults to this host's name. */
  hostScope?: string | null;
  /** The unprivileged user the script runs as when the agent runs as root. */
  user: string;
  timeoutSeconds: number;
  /** Extra, provider-chosen environment for the script (never customer data). */
  env: Record<string, string>;
}

function readScriptConfig(p: Reader): ScriptConfig {
  const s = p.section('script');
  const cfg: ScriptConfig = {
    command: s.path('command', { required: true, hint: 'the path of your provisioning executable' })!,
    terminateCommand: s.path('terminate_command'),
    inventoryCommand: s.path('inventory_command'),
    hostScope: readHostScope(s),
    user: s.str('user', { dflt: 'dc-agent', pattern: /^[a-z_][a-z0-9_-]*\$?$/, hint: 'a user name' })!,
    timeoutSeconds: s.num('timeout_seconds', { dflt: 900, min: 0.1, max: 86_400, integer: false }),
    env: s.stringMap('env'),
  };
  s.noOthers();
  return cfg;
}

export const scriptProvisioner: ProvisionerModule<'script', ScriptConfig> = {
  type: 'script',
  readConfig: readScriptConfig,
  configTemplate: [
    `[provisioner.script]`,
    `# The executable that provisions one contract: the contract arrives as JSON on stdin,`,
    `# DC_ACTION=provision|terminate, DC_CONTRACT_ID, DC_CONTRACT_TAG and DC_OFFERING_ID in the`,
    `# environment; it prints the instance details as one JSON object on stdout and exits 0.`,
    `# It must tag what it creates with DC_CONTRACT_TAG (dc-<contract_id>), and on terminate remove`,
    `# everything carrying that tag (exit 0 when nothing does).`,
    `command = ${tomlString(PLACEHOLDER)}`,
    `# terminate_command = "/usr/local/bin/dc-terminate"  # default: command, with DC_ACTION=terminate`,
    `# Optional: prints a JSON array of the contract ids of the tagged machines it sees.`,
    `# inventory_command = "/usr/local/bin/dc-inventory"`,
    `# Agents with the same host_scope may tear down each other's machines (default: host name).`,
    `# host_scope = "rack-1"`,
    `# When dc-agent runs as root, the script runs as this unprivileged user.`,
    `user = "dc-agent"`,
    `timeout_seconds = 900`,
    `# env = { EXAMPLE = "value" }`,
  ],
  nextSteps: [
    `command          the path of your provisioning executable (contract JSON on stdin, instance details JSON on stdout);`,
    `                 it must tag each machine with DC_CONTRACT_TAG and remove the tagged machines on terminate`,
    `user             the unprivileged user it runs as when dc-agent runs as root (default dc-agent)`,
    `timeout_seconds  how long one run may take (default 900)`,
  ],
  create: (cfg, log) => new ScriptProvisioner(cfg, log),
};

const STDOUT_MAX_BYTES = 1024 * 1024;
const STDERR_TAIL_CHARS = 2000;
/** After SIGTERM, a script gets this long to clean up before SIGKILL. */
const KILL_GRACE_MS = 3000;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/**
 * sysexits.h EX_DATAERR: the script says the contract's own input is at fault (an image it does
 * not offer, a size it cannot build). Reported with error_class `contract`, so it does not count
 * toward this agent's cool-down; any other non-zero exit is the agent's (its host, its script).
 */
export const EXIT_CONTRACT_INPUT = 65;

export type ScriptAction = 'provision' | 'terminate' | 'inventory';

export interface RunAs {
  uid: number;
  gid: number;
  home: string;
  user: string;
}

/** Resolves a user name with the system's own tools (NSS, LDAP included). */
export function lookupUser(user: string): RunAs {
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    let home = '/';
    try {
      home = execFileSync('getent', ['passwd', user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[5] || '/';
    } catch {
      /* no getent: "/" will do */
    }
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('bad id output');
    return { uid, gid, home, user };
  } catch {
    throw new ProvisionError(`provisioner.script.user "${user}" does not exist on this host (create it, e.g. useradd --system ${user}).`);
  }
}

export class ScriptProvisioner implements Provisioner {
  readonly type = 'script' as const;
  readonly hostScope: string;

  constructor(
    private readonly cfg: ScriptConfig,
    private readonly log: Logger,
    /** Overridable for tests; by default root drops to cfg.user and anyone else runs as self. */
    private readonly isRoot: boolean = process.getuid?.() === 0,
  ) {
    this.hostScope = cfg.hostScope ?? defaultHostScope();
  }

  async provision(job: ProvisionJob, signal: AbortSignal): Promise<ProvisionOutcome> {
    const out = await this.run('provision', this.cfg.command, this.stdinDocument('provision', job, null), jobEnv(job), signal);
    let details: unknown;
    try {
      details = JSON.parse(out.stdout);
    } catch {
      throw new ProvisionError(`script printed no valid JSON on stdout (got ${JSON.stringify(out.stdout.slice(0, 200))})${tailNote(out.stderr)}`);
    }
    if (typeof details !== 'object' || details === null || Array.isArray(details)) {
      throw new ProvisionError(`script must print a JSON object of instance details on stdout, got ${JSON.stringify(details).slice(0, 200)}${tailNote(out.stderr)}`);
    }
    // The script may name a narrower scope itself; otherwise the agent's.
    return { kind: 'provisioned', details: { host_scope: this.hostScope, ...(details as Record<string, unknown>) } };
  }

  async terminate(job: TeardownJob, signal: AbortSignal): Promise<TeardownOutcome> {
    const command = this.cfg.terminateCommand ?? this.cfg.command;
    await this.run('terminate', command, this.stdinDocument('terminate', job, job.instanceDetails), jobEnv(job), signal);
    return { kind: 'terminated' };
  }

  /** inventory_command's answer: a JSON array of contract ids (or of `dc-<id>` tags). */
  async inventory(signal: AbortSignal): Promise<string[] | null> {
    if (!this.cfg.inventoryCommand) return null;
    const out = await this.run('inventory', this.cfg.inventoryCommand, { action: 'inventory', host_scope: this.hostScope }, {}, signal);
    let list: unknown;
    try {
      list = JSON.parse(out.stdout);
    } catch {
      list = null;
    }
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      throw new ProvisionError(`inventory_command must print a JSON array of contract ids, got ${JSON.stringify(out.stdout.slice(0, 200))}${tailNote(out.stderr)}`);
    }
    return inventoryOf(list.map((x: string) => contractOfTag(x) ?? contractOfTag(contractTag(x))).filter((id): id is string => id !== null));
  }

  async check(): Promise<string> {
    const commands: [string, string | null | undefined][] = [
      ['command', this.cfg.command],
      ['terminate_command', this.cfg.terminateCommand],
      ['inventory_command', this.cfg.inventoryCommand],
    ];
    let who = '';
    for (const [key, command] of commands) if (command) who = this.checkExecutable(key, command);
    return `${this.cfg.command} (${who}), host scope ${this.hostScope}`;
  }

  private checkExecutable(key: string, command: string): string {
    const st = statSync(command, { throwIfNoEntry: false });
    if (!st) throw new ProvisionError(`provisioner.script.${key} ${command} does not exist.`);
    if (!st.isFile()) throw new ProvisionError(`provisioner.script.${key} ${command} is not a file.`);
    if (this.isRoot) {
      const who = lookupUser(this.cfg.user);
      if ((st.mode & 0o001) === 0 && !(st.uid === who.uid && st.mode & 0o100) && !(st.gid === who.gid && st.mode & 0o010)) {
        throw new ProvisionError(`provisioner.script.${key} ${command} is not executable by user ${this.cfg.user}.`);
      }
      return `runs as ${who.user}, uid ${who.uid}`;
    }
    try {
      accessSync(command, constants.X_OK);
    } catch {
      throw new ProvisionError(`provisioner.script.${key} ${command} is not executable by this user.`);
    }
    return 'runs as this user';
  }

  /** The contract as the script reads it on stdin. */
  stdinDocument(action: 'provision' | 'terminate', job: ProvisionJob, details: Record<string, unknown> | null): Record<string, unknown> {
    return {
      action,
      contract_id: job.contractId,
      contract_tag: contractTag(job.contractId),
      host_scope: this.hostScope,
      offering_id: job.offeringId,
      provider_pubkey: job.providerPubkey,
      customer_pubkey: job.customerPubkey,
      pool_id: job.poolId,
      ssh_pubkey: job.sshPubkey,
      instance_config: job.instanceConfig ?? {},
      provisioner_config: job.provisionerConfig ?? {},
      ...(action === 'terminate' ? { instance_details: details } : {}),
    };
  }

  private run(action: ScriptAction, command: string, stdin: Record<string, unknown>, jobEnv: Record<string, string>, signal: AbortSignal): Promise<{ stdout: string; stderr: string }> {
    const runAs = this.isRoot ? lookupUser(this.cfg.user) : null;
    const env: Record<string, string> = {
      PATH: SAFE_PATH,
      LANG: 'C.UTF-8',
      HOME: runAs?.home ?? process.env.HOME ?? '/',
      ...(runAs ? { USER: runAs.user, LOGNAME: runAs.user } : {}),
      ...this.cfg.env,
      DC_ACTION: action,
      ...jobEnv,
      DC_HOST_SCOPE: this.hostScope,
      DC_AGENT_VERSION: AGENT_VERSION,
    };
    const input = JSON.stringify(stdin);
    const timeoutMs = this.cfg.timeoutSeconds * 1000;
    const log = this.log.child({ ...(jobEnv.DC_CONTRACT_ID ? { contract_id: jobEnv.DC_CONTRACT_ID } : {}), action });

    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortErrorOf(signal));
      let child;
      try {
        child = spawn(command, [], {
          cwd: '/',
          env,
          // Its own process group, so a timeout or abort also stops what the script started.
          detached: true,
          stdio: ['pipe', 'pipe', 'pipe'],
          ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
        });
      } catch (err) {
        return reject(new ProvisionError(`cannot run ${command}: ${(err as Error).message}`));
      }
      const stdout: Buffer[] = [];
      let stdoutBytes = 0;
      const stderr = new Tail(STDERR_TAIL_CHARS);
      let failure: Error | null = null;
      let killTimer: NodeJS.Timeout | undefined;
      const kill = (why: Error) => {
        if (failure) return;
        failure = why;
        killGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      };
      const timer = setTimeout(() => kill(new ProvisionError(`script timed out after ${this.cfg.timeoutSeconds} s (provisioner.script.timeout_seconds)`)), timeoutMs);
      const onAbort = () => kill(abortErrorOf(signal));
      signal.addEventListener('abort', onAbort, { once: true });

      child.stdout.on('data', (c: Buffer) => {
        stdoutBytes += c.length;
        if (stdoutBytes > STDOUT_MAX_BYTES) kill(new ProvisionError(`script printed more than ${STDOUT_MAX_BYTES} bytes on stdout`));
        else stdout.push(c);
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (c: string) => stderr.push(c));
      child.stdin.on('error', () => {
        /* the script need not read stdin (EPIPE) */
      });
      child.stdin.end(input);
      log.debug('script.started', `running ${command} (${action})`, { pid: child.pid, user: runAs?.user ?? null });

      // A background process the script left behind may hold stdout open: don't wait for it.
      child.on('exit', () => {
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, 2000).unref();
      });
      child.on('error', (err) => {
        failure ??= new ProvisionError(`cannot run ${command}: ${err.message}`);
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        // Leftovers of a timed-out or aborted script's group.
        if (failure) killGroup(child.pid, 'SIGKILL');
        const err = stderr.toString();
        if (failure) {
          if (failure instanceof ProvisionError) failure.message += tailNote(err);
          return reject(failure);
        }
        if (code === EXIT_CONTRACT_INPUT) return reject(new ContractInputError(`script exited with code ${code} (EX_DATAERR: the contract's input is at fault)${tailNote(err)}`));
        if (code !== 0) return reject(new ProvisionError(`script exited with ${code === null ? `signal ${sig}` : `code ${code}`}${tailNote(err)}`));
        resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: err });
      });
    });
  }
}

/** The contract's values a script may see in its environment (none of them customer-supplied). */
function jobEnv(job: ProvisionJob): Record<string, string> {
  return { DC_CONTRACT_ID: job.contractId, DC_CONTRACT_TAG: contractTag(job.contractId), DC_OFFERING_ID: job.offeringId, DC_POOL_ID: job.poolId };
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

function tailNote(stderr: string): string {
  return stderr ? `; stderr: ${stderr}` : '';
}
