// The manual provisioner: tells a person (a log line, and a webhook when configured) and hands the
// contract off; the person completes it through the provider API or the dashboard. Teardowns are
// handed off the same way: a person removes the machine and marks the contract terminated.
import type { Reader } from '../config-reader.js';
import { errorMessage } from '../errors.js';
import { httpRequest } from '../http.js';
import type { Logger } from '../log.js';
import { AGENT_VERSION } from '../version.js';
import { defaultHostScope, readHostScope } from './identity.js';
import type { ProvisionJob, ProvisionOutcome, Provisioner, ProvisionerModule, TeardownJob, TeardownOutcome } from './types.js';

export interface ManualConfig {
  webhookUrl: string | null;
  webhookTimeoutSeconds: number;
  hostScope?: string | null;
}

/** Its section is optional: a manual pool works with no settings at all. */
function readManualConfig(p: Reader): ManualConfig {
  const m = p.section('manual', { optional: true });
  const cfg: ManualConfig = {
    webhookUrl: m.url('webhook_url'),
    webhookTimeoutSeconds: m.num('webhook_timeout_seconds', { dflt: 10, min: 0.1, max: 300, integer: false }),
    hostScope: readHostScope(m),
  };
  m.noOthers();
  return cfg;
}

export const manualProvisioner: ProvisionerModule<'manual', ManualConfig> = {
  type: 'manual',
  readConfig: readManualConfig,
  configTemplate: [
    `[provisioner.manual]`,
    `# Optional: POSTed a JSON summary of every contract handed to a person.`,
    `# webhook_url = "https://hooks.example.net/dc"`,
  ],
  nextSteps: [`webhook_url       optional: a URL that is POSTed each contract handed to a person`],
  create: (cfg, log) => new ManualProvisioner(cfg, log),
};

export class ManualProvisioner implements Provisioner {
  readonly type = 'manual' as const;
  readonly hostScope: string;

  constructor(
    private readonly cfg: ManualConfig,
    private readonly log: Logger,
  ) {
    this.hostScope = cfg.hostScope ?? defaultHostScope();
  }

  async provision(job: ProvisionJob, signal: AbortSignal): Promise<ProvisionOutcome> {
    const summary = this.summary('contract.handoff', job);
    this.log.info('manual.handoff', `contract ${job.contractId} (offering ${job.offeringId}) needs a person: provision it, then confirm it in the dashboard or with POST …/contracts/${job.contractId}/provisioned`, {
      contract_id: job.contractId,
      offering_id: job.offeringId,
    });
    let note = 'handed off to a person (manual provisioner)';
    if (this.cfg.webhookUrl) {
      try {
        await this.notify(summary, signal);
        note += '; webhook notified';
      } catch (err) {
        // The contract still shows as `provisioning` in the dashboard: handing off beats retrying.
        this.log.warn('manual.webhook_failed', `webhook ${this.cfg.webhookUrl} failed: ${errorMessage(err)}`, { contract_id: job.contractId });
        note += '; webhook failed';
      }
    }
    return { kind: 'handoff', note };
  }

  /** Hands the teardown to a person (with the contract's instance details, to find the machine). */
  async terminate(job: TeardownJob, signal: AbortSignal): Promise<TeardownOutcome> {
    if (job.why === 'cleanup') {
      // Nothing was built by the agent; a person may have been told already.
      this.log.warn('manual.withdrawn', `contract ${job.contractId} was handed off but its lease ended; make sure a person does not provision it twice`, { contract_id: job.contractId });
      if (this.cfg.webhookUrl) await this.notify(this.summary('contract.withdrawn', job), signal).catch(() => undefined);
      return { kind: 'terminated' };
    }
    this.log.warn('manual.terminate', `contract ${job.contractId} ended: a person must remove its machine, then mark it terminated in the dashboard or with POST …/contracts/${job.contractId}/terminated`, {
      contract_id: job.contractId,
    });
    let note = 'teardown handed off to a person (manual provisioner)';
    if (this.cfg.webhookUrl) {
      try {
        await this.notify({ ...this.summary('contract.terminate', job), instance_details: job.instanceDetails }, signal);
        note += '; webhook notified';
      } catch (err) {
        this.log.warn('manual.webhook_failed', `webhook ${this.cfg.webhookUrl} failed: ${errorMessage(err)}`, { contract_id: job.contractId });
        note += '; webhook failed';
      }
    }
    return { kind: 'handoff', note };
  }

  /** A person keeps the machines: the agent cannot list them. */
  async inventory(): Promise<null> {
    return null;
  }

  async check(): Promise<string> {
    return this.cfg.webhookUrl ? `hand-off with webhook ${new URL(this.cfg.webhookUrl).origin}` : 'hand-off, log only (no webhook_url)';
  }

  private summary(event: string, job: ProvisionJob): Record<string, unknown> {
    return {
      event,
      contract_id: job.contractId,
      offering_id: job.offeringId,
      provider_pubkey: job.providerPubkey,
      pool_id: job.poolId,
      instance_config: job.instanceConfig ?? {},
      ssh_pubkey: job.sshPubkey,
    };
  }

  private async notify(body: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    const url = new URL(this.cfg.webhookUrl!);
    const res = await httpRequest({
      method: 'POST',
      base: url,
      target: url.pathname + url.search,
      headers: { 'content-type': 'application/json', 'user-agent': `dc-agent/${AGENT_VERSION}` },
      body: JSON.stringify(body),
      signal,
      timeoutMs: this.cfg.webhookTimeoutSeconds * 1000,
      maxBytes: 64 * 1024,
    });
    if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  }
}
