// What every provisioner does. Provisioners never talk to dc-api: the daemon owns leases and
// confirmations, a provisioner only creates and removes machines.
import type { ErrorClass, ProvisionerType } from '@dc/core';
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

/** A teardown: the contract and the instance details its provision reported (null if none were confirmed). */
export interface TeardownJob extends ProvisionJob {
  instanceDetails: Record<string, unknown> | null;
  /**
   * `teardown`: the contract ended (a teardown lease). `cleanup`: this agent removes what its own
   * provision attempt created, before reporting it failed or after losing its lease.
   */
  why: 'teardown' | 'cleanup';
}

export type ProvisionOutcome =
  /** The machine exists; `details` are shown to the customer. */
  | { kind: 'provisioned'; details: Record<string, unknown> }
  /** A person completes it (manual provisioning). */
  | { kind: 'handoff'; note: string };

export type TeardownOutcome =
  /** Nothing carrying the contract's tag exists any more (also when nothing ever did). */
  | { kind: 'terminated' }
  /** A person removes it (manual provisioning). */
  | { kind: 'handoff'; note: string };

export interface Provisioner {
  readonly type: ProvisionerType;
  /**
   * The hypervisor or cluster this agent manages (heartbeat `capabilities.host_scope`, and every
   * provision's `instance_details.host_scope`): agents with the same scope can see each other's
   * machines, so one may tear down what another built.
   */
  readonly hostScope: string;
  /**
   * Creates the machine. Must be idempotent for the same contract (a restarted agent resumes its
   * own lease) and should stop promptly when `signal` fires (lease lost, shutdown).
   */
  provision(job: ProvisionJob, signal: AbortSignal): Promise<ProvisionOutcome>;
  /**
   * Removes every machine that carries the contract's tag (never one found by a recorded numeric
   * id: hypervisors reuse them); nothing to remove is success. Idempotent.
   */
  terminate(job: TeardownJob, signal: AbortSignal): Promise<TeardownOutcome>;
  /** The contract ids of the tagged machines it sees, or null when it cannot tell. */
  inventory(signal: AbortSignal): Promise<string[] | null>;
  /** For doctor: checks the hypervisor or executable is reachable; resolves to a short description. */
  check(signal: AbortSignal): Promise<string>;
}

/** A failure whose message is meant for the provider (it becomes the contract's last_error). */
export class ProvisionError extends Error {
  override name = 'ProvisionError';
  /** `failed`'s error_class: `agent` counts toward this agent's cool-down, `contract` does not. */
  readonly errorClass: ErrorClass = 'agent';
}

/**
 * The contract's own input is at fault (an os_image the offering does not offer, a template the
 * offering names that does not exist, a script's exit 65): every agent would fail it alike, so it
 * is reported with error_class `contract` and does not cool this agent down.
 */
export class ContractInputError extends ProvisionError {
  override name = 'ContractInputError';
  override readonly errorClass: ErrorClass = 'contract';
}

/** The error_class a failed attempt is reported with: `agent` unless a provisioner said otherwise. */
export function errorClassOf(err: unknown): ErrorClass {
  return err instanceof ProvisionError ? err.errorClass : 'agent';
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
