// What every provisioner does. Provisioners never talk to dc-api: the daemon owns leases and
// confirmations, a provisioner only creates and removes machines.
import type { ProvisionerType } from '@dc/core';
import type { Reader } from '../config-reader.js';
import type { Logger } from '../log.js';

/** One contract to provision, as the daemon hands it over. */
export interface ProvisionJob {
  contractId: string;
  offeringId: string;
  providerPubkey: string;
  customerPubkey: string;
  poolId: string;
  /** Customer-supplied: validated by the API, still never put in an environment or argv. */
  sshPubkey: string | null;
  instanceConfig: Record<string, unknown> | null;
  /** The offering's provisioner_config (provider-supplied). */
  provisionerConfig: Record<string, unknown> | null;
}

export type ProvisionOutcome =
  /** The machine exists; `details` are shown to the customer. */
  | { kind: 'provisioned'; details: Record<string, unknown> }
  /** A person completes it (manual provisioning). */
  | { kind: 'handoff'; note: string };

export interface Provisioner {
  readonly type: ProvisionerType;
  /**
   * Creates the machine. Must be idempotent for the same contract (a restarted agent resumes its
   * own lease) and should stop promptly when `signal` fires (lease lost, shutdown).
   */
  provision(job: ProvisionJob, signal: AbortSignal): Promise<ProvisionOutcome>;
  /** Removes whatever provision created for the contract; a no-op when there is nothing. */
  terminate(job: ProvisionJob, signal: AbortSignal, details?: Record<string, unknown> | null): Promise<void>;
  /** For doctor: checks the hypervisor or executable is reachable; resolves to a short description. */
  check(signal: AbortSignal): Promise<string>;
}

/** A failure whose message is meant for the provider (it becomes the contract's last_error). */
export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

/**
 * Everything the agent knows about one provisioner type, in that provisioner's module: how its
 * `[provisioner.<type>]` section is read and what setup writes and prints for it. The registry
 * (index.ts) maps each type to its module; nothing else switches on provisioner types.
 */
export interface ProvisionerModule<T extends ProvisionerType, C> {
  readonly type: T;
  /** Parses and validates its section from the `[provisioner]` table; errors name the field. */
  readConfig(provisioner: Reader): C;
  /** The `[provisioner.<type>]` lines setup writes, with placeholders where a person must decide. */
  readonly configTemplate: readonly string[];
  /** What setup prints: the keys a person fills in, one line each. */
  readonly nextSteps: readonly string[];
  create(cfg: C, log: Logger): Provisioner;
}
