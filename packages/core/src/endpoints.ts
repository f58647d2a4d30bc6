// Every API endpoint once: method, path, who may call it, and its params, query, body and response
// schemas. The server registers its routes from these (validation, serialization, handler types and
// the OpenAPI document), and the dashboard, dcctl, the agent and the test kit call them by name.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ErrorCode } from './errors.js';
import {
  AgentParams, ContractParams, ErrorBody, OfferingParams, PoolParams, ProviderContractParams, ProviderParams, TokenParams, listOf, pageOf,
} from './schemas/common.js';
import { Provider, ProviderInput } from './schemas/providers.js';
import { AgentUpdate, Pool, PoolAgent, PoolAgentListQuery, PoolCreate, PoolDetail, PoolDetailQuery, PoolUpdate, SetupTokenCreate, SetupTokenCreated, SetupTokenInfo } from './schemas/pools.js';
import { AgentSetupInput, AgentSetupResult, HeartbeatInput, HeartbeatResult, ServerKey } from './schemas/agents.js';
import { CsvImportErrorBody, CsvImportResult, Offering, OfferingCreate, OfferingListQuery, OfferingUpdate } from './schemas/offerings.js';
import { Contract, ContractCreate, ContractEvent, ContractListQuery, ContractPage, PaymentInput, TerminateInput } from './schemas/contracts.js';
import {
  BatchResult, ClaimInput, FailedBatchInput, FailedInput, HandoffInput, LockInput, PendingProvisionQuery, ProvisionedBatchInput, ProvisionedInput,
  ReleaseInput, TerminatedBatchInput, TerminatedInput, WaitQuery, WorkItem,
} from './schemas/provisioning.js';
import { AuditPage, AuditQuery, PoolStats, StatsQuery } from './schemas/observability.js';

/**
 * Who may call: `public` (unsigned), `key` (any signed key: customers, operators, providers),
 * `setup` (signed by the agent key being registered), `provider` (the path's provider),
 * `agent` (an agent of the path's provider), `provider_or_agent`.
 */
export type EndpointAuth = 'public' | 'key' | 'setup' | 'provider' | 'agent' | 'provider_or_agent';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Endpoint {
  readonly method: HttpMethod;
  /** Fastify-style path (`:name` parameters), including `/api/v1`. */
  readonly path: string;
  readonly auth: EndpointAuth;
  readonly tag: string;
  readonly summary: string;
  readonly params?: TSchema;
  readonly query?: TSchema;
  readonly body?: TSchema;
  /** Body content types other than JSON (the CSV import). */
  readonly consumes?: readonly string[];
  readonly produces?: readonly string[];
  /** The success status and its schema (null: no body). */
  readonly ok: readonly [number, TSchema | null];
  /** Error statuses the endpoint answers with (all use ErrorBody unless listed in errorBodies). */
  readonly errors: readonly number[];
  readonly errorBodies?: Readonly<Record<number, TSchema>>;
}

const ep = <const E extends Endpoint>(e: E): E => e;
const V1 = '/api/v1';
const P = `${V1}/providers/:pubkey`;

export const ENDPOINTS = {
  // ---- providers
  putProvider: ep({ method: 'PUT', path: P, auth: 'provider', tag: 'providers', summary: 'Register or rename the provider', params: ProviderParams, body: ProviderInput, ok: [200, Provider], errors: [400, 401, 403] }),
  getProvider: ep({ method: 'GET', path: P, auth: 'provider', tag: 'providers', summary: "The provider's registration", params: ProviderParams, ok: [200, Provider], errors: [401, 403, 404] }),
  // ---- pools and setup tokens
  createPool: ep({ method: 'POST', path: `${P}/pools`, auth: 'provider', tag: 'pools', summary: 'Create a pool', params: ProviderParams, body: PoolCreate, ok: [201, Pool], errors: [400, 401, 403, 404, 409] }),
  listPools: ep({ method: 'GET', path: `${P}/pools`, auth: 'provider', tag: 'pools', summary: 'List pools with agent, online, contract and offering counts', params: ProviderParams, ok: [200, listOf(Pool)], errors: [401, 403] }),
  getPool: ep({ method: 'GET', path: `${P}/pools/:pool_id`, auth: 'provider', tag: 'pools', summary: 'Pool detail with its agents (revoked ones included; agents_limit caps them)', params: PoolParams, query: PoolDetailQuery, ok: [200, PoolDetail], errors: [400, 401, 403, 404] }),
  listPoolAgents: ep({ method: 'GET', path: `${P}/pools/:pool_id/agents`, auth: 'provider', tag: 'pools', summary: "A page of the pool's agents (filters: status, q on label or key)", params: PoolParams, query: PoolAgentListQuery, ok: [200, pageOf(PoolAgent)], errors: [400, 401, 403, 404] }),
  updatePool: ep({ method: 'PUT', path: `${P}/pools/:pool_id`, auth: 'provider', tag: 'pools', summary: 'Update a pool (partial)', params: PoolParams, body: PoolUpdate, ok: [200, Pool], errors: [400, 401, 403, 404, 409] }),
  deletePool: ep({ method: 'DELETE', path: `${P}/pools/:pool_id`, auth: 'provider', tag: 'pools', summary: 'Delete a pool (409 while agents or offerings use it)', params: PoolParams, ok: [204, null], errors: [401, 403, 404, 409] }),
  poolStats: ep({ method: 'GET', path: `${P}/pools/:pool_id/stats`, auth: 'provider', tag: 'pools', summary: 'Pool statistics over a window: rates, time to provision, waiting work and a 60-bucket series', params: PoolParams, query: StatsQuery, ok: [200, PoolStats], errors: [400, 401, 403, 404] }),
  createSetupToken: ep({ method: 'POST', path: `${P}/pools/:pool_id/setup-tokens`, auth: 'provider', tag: 'setup tokens', summary: 'Create a one-time setup token (shown once)', params: PoolParams, body: SetupTokenCreate, ok: [201, SetupTokenCreated], errors: [400, 401, 403, 404] }),
  listSetupTokens: ep({ method: 'GET', path: `${P}/pools/:pool_id/setup-tokens`, auth: 'provider', tag: 'setup tokens', summary: 'List pending (unused, unexpired) tokens', params: PoolParams, ok: [200, listOf(SetupTokenInfo)], errors: [401, 403, 404] }),
  revokeSetupToken: ep({ method: 'DELETE', path: `${P}/setup-tokens/:token_id`, auth: 'provider', tag: 'setup tokens', summary: 'Revoke an unused setup token', params: TokenParams, ok: [204, null], errors: [401, 403, 404, 409] }),
  // ---- agents
  serverKey: ep({ method: 'GET', path: `${V1}/server-key`, auth: 'public', tag: 'agents', summary: 'The server key that signs agent delegations', ok: [200, ServerKey], errors: [] }),
  setupAgent: ep({ method: 'POST', path: `${V1}/agents/setup`, auth: 'setup', tag: 'agents', summary: 'Register an agent with a one-time setup token (signed by the key being registered)', body: AgentSetupInput, ok: [201, AgentSetupResult], errors: [400, 401, 409, 410, 429] }),
  getAgent: ep({ method: 'GET', path: `${P}/agents/:agent_pubkey`, auth: 'provider_or_agent', tag: 'agents', summary: 'One agent with its state, health and capacity (the provider, or the agent itself)', params: AgentParams, ok: [200, PoolAgent], errors: [401, 403, 404] }),
  updateAgent: ep({ method: 'PUT', path: `${P}/agents/:agent_pubkey`, auth: 'provider_or_agent', tag: 'agents', summary: 'Drain or resume an agent, or relabel it (the agent itself may set only state and reason)', params: AgentParams, body: AgentUpdate, ok: [200, PoolAgent], errors: [400, 401, 403, 404] }),
  resetAgentHealth: ep({ method: 'POST', path: `${P}/agents/:agent_pubkey/reset-health`, auth: 'provider', tag: 'agents', summary: "End an agent's cool-down and zero its failure count", params: AgentParams, ok: [200, PoolAgent], errors: [401, 403, 404] }),
  revokeAgent: ep({ method: 'DELETE', path: `${P}/agents/:agent_pubkey`, auth: 'provider', tag: 'agents', summary: 'Revoke an agent (its leases are released)', params: AgentParams, ok: [204, null], errors: [401, 403, 404] }),
  heartbeat: ep({ method: 'POST', path: `${P}/heartbeat`, auth: 'agent', tag: 'agents', summary: 'Agent heartbeat', params: ProviderParams, body: HeartbeatInput, ok: [200, HeartbeatResult], errors: [400, 401, 403] }),
  // ---- audit
  listAudit: ep({ method: 'GET', path: `${P}/audit`, auth: 'provider', tag: 'audit', summary: 'Audit log, newest first (before/after id cursors, kind filter)', params: ProviderParams, query: AuditQuery, ok: [200, AuditPage], errors: [400, 401, 403] }),
  // ---- offerings
  listOfferings: ep({ method: 'GET', path: `${P}/offerings`, auth: 'provider', tag: 'offerings', summary: 'List offerings (filters: resolved pool_id, product_type, status, q)', params: ProviderParams, query: OfferingListQuery, ok: [200, pageOf(Offering)], errors: [400, 401, 403] }),
  createOffering: ep({ method: 'POST', path: `${P}/offerings`, auth: 'provider', tag: 'offerings', summary: 'Create an offering', params: ProviderParams, body: OfferingCreate, ok: [201, Offering], errors: [400, 401, 403, 404, 409] }),
  exportOfferings: ep({ method: 'GET', path: `${P}/offerings/export`, auth: 'provider', tag: 'offerings', summary: 'Export all offerings as CSV', params: ProviderParams, produces: ['text/csv'], ok: [200, null], errors: [401, 403] }),
  importOfferings: ep({ method: 'POST', path: `${P}/offerings/import`, auth: 'provider', tag: 'offerings', summary: 'Import offerings from CSV (upsert, all or nothing)', params: ProviderParams, consumes: ['text/csv'], ok: [200, CsvImportResult], errors: [401, 403, 404, 413], errorBodies: { 400: CsvImportErrorBody } }),
  getOffering: ep({ method: 'GET', path: `${P}/offerings/:offering_id`, auth: 'provider', tag: 'offerings', summary: 'One offering', params: OfferingParams, ok: [200, Offering], errors: [401, 403, 404] }),
  updateOffering: ep({ method: 'PUT', path: `${P}/offerings/:offering_id`, auth: 'provider', tag: 'offerings', summary: 'Update an offering (partial)', params: OfferingParams, body: OfferingUpdate, ok: [200, Offering], errors: [400, 401, 403, 404] }),
  deleteOffering: ep({ method: 'DELETE', path: `${P}/offerings/:offering_id`, auth: 'provider', tag: 'offerings', summary: 'Delete an offering (409 while it has unfinished contracts)', params: OfferingParams, ok: [204, null], errors: [401, 403, 404, 409] }),
  // ---- contracts (customers, operators, providers)
  createContract: ep({ method: 'POST', path: `${V1}/contracts`, auth: 'key', tag: 'contracts', summary: 'Request a contract (customer-signed)', body: ContractCreate, ok: [201, Contract], errors: [400, 401, 403, 404] }),
  getContract: ep({ method: 'GET', path: `${V1}/contracts/:id`, auth: 'key', tag: 'contracts', summary: 'A contract (its customer or provider only)', params: ContractParams, ok: [200, Contract], errors: [401, 404] }),
  cancelContract: ep({ method: 'POST', path: `${V1}/contracts/:id/cancel`, auth: 'key', tag: 'contracts', summary: 'Cancel a contract (customer)', params: ContractParams, ok: [200, Contract], errors: [401, 404, 409] }),
  recordPayment: ep({ method: 'POST', path: `${V1}/contracts/:id/payment`, auth: 'key', tag: 'contracts', summary: 'Record a payment outcome (operator keys only)', params: ContractParams, body: PaymentInput, ok: [200, Contract], errors: [400, 401, 403, 404, 409] }),
  listContracts: ep({ method: 'GET', path: `${P}/contracts`, auth: 'provider', tag: 'contracts', summary: "The provider's contracts, newest first", params: ProviderParams, query: ContractListQuery, ok: [200, ContractPage], errors: [400, 401, 403] }),
  acceptContract: ep({ method: 'POST', path: `${P}/contracts/:id/accept`, auth: 'provider', tag: 'contracts', summary: 'Accept a requested contract', params: ProviderContractParams, ok: [200, Contract], errors: [401, 403, 404, 409] }),
  rejectContract: ep({ method: 'POST', path: `${P}/contracts/:id/reject`, auth: 'provider', tag: 'contracts', summary: 'Reject a requested contract', params: ProviderContractParams, ok: [200, Contract], errors: [401, 403, 404, 409] }),
  retryContract: ep({ method: 'POST', path: `${P}/contracts/:id/retry`, auth: 'provider', tag: 'contracts', summary: 'Send a provisioning_failed contract back to accepted, or a termination_failed one back to terminating (attempts reset)', params: ProviderContractParams, ok: [200, Contract], errors: [401, 403, 404, 409] }),
  terminateContract: ep({ method: 'POST', path: `${P}/contracts/:id/terminate`, auth: 'provider', tag: 'contracts', summary: 'End a contract: its machine is torn down by the agent that built it (never-granted contracts become cancelled)', params: ProviderContractParams, body: TerminateInput, ok: [200, Contract], errors: [400, 401, 403, 404, 409] }),
  contractEvents: ep({ method: 'GET', path: `${P}/contracts/:id/events`, auth: 'provider', tag: 'contracts', summary: 'Lock history of a contract, oldest first', params: ProviderContractParams, ok: [200, listOf(ContractEvent)], errors: [401, 403, 404] }),
  // ---- provisioning (agents; providers complete handed-off contracts)
  pendingProvision: ep({ method: 'GET', path: `${P}/contracts/pending-provision`, auth: 'agent', tag: 'provisioning', summary: 'Work this agent may take now: teardowns first (when asked with actions), then provisions oldest first', params: ProviderParams, query: PendingProvisionQuery, ok: [200, listOf(WorkItem)], errors: [400, 401, 403] }),
  claim: ep({ method: 'POST', path: `${P}/contracts/claim`, auth: 'agent', tag: 'provisioning', summary: 'Atomically lease up to max contracts (teardowns first when asked; own leases first, renewed)', params: ProviderParams, query: WaitQuery, body: ClaimInput, ok: [200, listOf(WorkItem)], errors: [400, 401, 403] }),
  lock: ep({ method: 'POST', path: `${P}/contracts/:id/lock`, auth: 'agent', tag: 'provisioning', summary: 'Grant or renew a lease', params: ProviderContractParams, body: LockInput, ok: [200, WorkItem], errors: [400, 401, 403, 404, 409] }),
  release: ep({ method: 'DELETE', path: `${P}/contracts/:id/lock`, auth: 'agent', tag: 'provisioning', summary: 'Give up a lease (idempotent)', params: ProviderContractParams, body: ReleaseInput, ok: [200, WorkItem], errors: [400, 401, 403, 404, 409] }),
  provisioned: ep({ method: 'POST', path: `${P}/contracts/:id/provisioned`, auth: 'provider_or_agent', tag: 'provisioning', summary: 'Confirm provisioning (agent with lock_token; provider for handed-off contracts)', params: ProviderContractParams, body: ProvisionedInput, ok: [200, WorkItem], errors: [400, 401, 403, 404, 409] }),
  failed: ep({ method: 'POST', path: `${P}/contracts/:id/failed`, auth: 'provider_or_agent', tag: 'provisioning', summary: 'Report a failed attempt (agent with lock_token; provider for handed-off contracts)', params: ProviderContractParams, body: FailedInput, ok: [200, WorkItem], errors: [400, 401, 403, 404, 409] }),
  terminated: ep({ method: 'POST', path: `${P}/contracts/:id/terminated`, auth: 'provider_or_agent', tag: 'provisioning', summary: 'Confirm a teardown (agent with lock_token; provider by hand on terminating or termination_failed)', params: ProviderContractParams, body: TerminatedInput, ok: [200, WorkItem], errors: [400, 401, 403, 404, 409] }),
  handoff: ep({ method: 'POST', path: `${P}/contracts/:id/handoff`, auth: 'agent', tag: 'provisioning', summary: 'Hand a contract off to a person (manual provisioning)', params: ProviderContractParams, body: HandoffInput, ok: [200, WorkItem], errors: [400, 401, 403, 404, 409] }),
  // v3 batches: each item answered with the status and error its single call would have had.
  provisionedBatch: ep({ method: 'POST', path: `${P}/contracts/provisioned`, auth: 'agent', tag: 'provisioning', summary: 'Confirm up to 100 provisions in one request (each item fenced on its own, answered in request order)', params: ProviderParams, body: ProvisionedBatchInput, ok: [200, BatchResult], errors: [400, 401, 403] }),
  failedBatch: ep({ method: 'POST', path: `${P}/contracts/failed`, auth: 'agent', tag: 'provisioning', summary: 'Report up to 100 failed attempts in one request (each item fenced on its own, answered in request order)', params: ProviderParams, body: FailedBatchInput, ok: [200, BatchResult], errors: [400, 401, 403] }),
  terminatedBatch: ep({ method: 'POST', path: `${P}/contracts/terminated`, auth: 'agent', tag: 'provisioning', summary: 'Confirm up to 100 teardowns in one request (each item fenced on its own, answered in request order)', params: ProviderParams, body: TerminatedBatchInput, ok: [200, BatchResult], errors: [400, 401, 403] }),
} as const;

export type EndpointName = keyof typeof ENDPOINTS;

type StaticOr<T, D> = T extends TSchema ? Static<T> : D;
/** Typed pieces of a call to endpoint E (what a client sends and gets back). */
export type ParamsOf<E extends Endpoint> = StaticOr<E['params'], Record<string, never>>;
export type QueryOf<E extends Endpoint> = StaticOr<E['query'], Record<string, never>>;
export type BodyOf<E extends Endpoint> = StaticOr<E['body'], undefined>;
export type ResultOf<E extends Endpoint> = E['ok'][1] extends TSchema ? Static<E['ok'][1]> : undefined;

/** The request target of endpoint E with its parameters filled in (values are URL-encoded). */
export function pathOf(e: Endpoint, params: Record<string, string> = {}, query?: Record<string, unknown>): string {
  const path = e.path.replace(/:([a-z_]+)/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`${e.path}: missing path parameter ${name}`);
    return encodeURIComponent(v);
  });
  if (!query) return path;
  const qs = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return qs ? `${path}?${qs}` : path;
}

/** Response schemas of E for Fastify and OpenAPI: the success body and one error body per status. */
export function responsesOf(e: Endpoint): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  // A body-less success is documented as null only for 204; other raw answers (CSV) go unchecked.
  if (e.ok[1] !== null) out[e.ok[0]] = e.ok[1];
  else if (e.ok[0] === 204) out[204] = Type.Null();
  for (const s of e.errors) out[s] = ErrorBody;
  for (const [s, schema] of Object.entries(e.errorBodies ?? {})) out[Number(s)] = schema;
  return out;
}

/** The error codes a client may see from any endpoint are ErrorCode; re-exported for clients' switches. */
export type { ErrorCode };
