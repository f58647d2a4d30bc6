// Contracts seen by their provider: list, accept/reject/retry, lock history, and completing a
// contract an agent handed off (manual provisioning) with the instance details.
import type { Contract, ContractEvent, ContractStatus } from '@dc/core';
import { providerPath, type Client } from './client.js';

export interface ContractPage {
  items: Contract[];
  total: number;
}

export function listContracts(c: Client, q: { status?: ContractStatus; limit?: number; offset?: number }, signal?: AbortSignal): Promise<ContractPage> {
  return c.request<ContractPage>('GET', providerPath(c.publicKey, 'contracts'), { query: { ...q }, ...(signal ? { signal } : {}) });
}

export type ContractDecision = 'accept' | 'reject' | 'retry';

export function decideContract(c: Client, contractId: string, action: ContractDecision): Promise<Contract> {
  return c.request<Contract>('POST', providerPath(c.publicKey, 'contracts', contractId, action));
}

export async function listContractEvents(c: Client, contractId: string, signal?: AbortSignal): Promise<ContractEvent[]> {
  return (await c.request<{ items: ContractEvent[] }>('GET', providerPath(c.publicKey, 'contracts', contractId, 'events'), { ...(signal ? { signal } : {}) })).items;
}

/** Provider-signed confirmation of a handed-off contract. */
export function completeContract(c: Client, contractId: string, instanceDetails: Record<string, unknown>): Promise<Contract> {
  return c.request<Contract>('POST', providerPath(c.publicKey, 'contracts', contractId, 'provisioned'), { json: { instance_details: instanceDetails } });
}

/** Provider-signed failure of a handed-off contract (back to accepted with a back-off). */
export function failContract(c: Client, contractId: string, errorMessage: string): Promise<Contract> {
  return c.request<Contract>('POST', providerPath(c.publicKey, 'contracts', contractId, 'failed'), { json: { error_message: errorMessage } });
}
